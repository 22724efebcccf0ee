"""Rich renderables for `lossdoctor analyze`: the library returns data, this draws it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..analysis import Analysis
from ..config import DEFAULT, Config
from ..diagnose import Diagnosis
from ..facts import Fact, Facts
from ..run import Run
from .findings import WideOrLines, bullets, hanging, render_diagnosis
from .names import title_names

BLOCKS = "▁▂▃▄▅▆▇█"
# config keys shown even when they kept train.py's default: they shape the loss curve
KEY_CONFIG = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "gradient_accumulation_steps",
              "dropout", "bias", "learning_rate", "min_lr", "max_iters", "lr_decay_iters",
              "warmup_iters", "decay_lr", "weight_decay", "beta2", "grad_clip", "eval_interval",
              "eval_iters", "log_interval", "init_from", "device", "dtype", "compile", "dataset")
MAX_EVENTS = 12


def render(analysis: Analysis, verbose: bool = False) -> RenderableType:
    """The verdict first, then each run's findings and the gap between runs; `verbose` adds
    each run's config with origins, curves, every fact and the events, and the gap's
    tables and methods."""
    from .verdict import render_verdict
    diagnoses = analysis.diagnoses or (None,) * len(analysis.runs)
    parts = [render_verdict(analysis)]
    many = len(analysis.runs) > 1
    names = title_names([r.source for r in analysis.runs])
    common = shared_notes(analysis.runs)
    parts += [render_run(r, f, d, verbose, name=n if many else None, said=common)
              for r, f, d, n in zip(analysis.runs, analysis.facts, diagnoses, names, strict=True)]
    if common:
        parts.append(Panel(bullets(list(common)), title=f"Notes for each of the {len(analysis.runs)} runs",
                           title_align="left", border_style="yellow"))
    if analysis.comparison is not None:
        from .compare import render as render_comparison
        parts.append(render_comparison(analysis.comparison, list(analysis.runs), verbose))
    if analysis.rule_errors:
        parts.append(Panel(bullets(list(analysis.rule_errors)),
                           title="Rule files that did not load (the others did)", title_align="left",
                           border_style="red"))
    return Group(*parts)


def shared_notes(runs: tuple[Run, ...]) -> tuple[str, ...]:
    """The notes every one of several runs carries, in the first's order: said once, not
    once per run (a runs table's 64 rows had printed one Notes box 64 times)."""
    if len(runs) < 2:
        return ()
    rest = [set(r.notes) for r in runs[1:]]
    return tuple(n for n in dict.fromkeys(runs[0].notes) if all(n in r for r in rest))


def render_run(run: Run, facts: Facts, diagnosis: Diagnosis | None = None,
               verbose: bool = True, name: str | None = None, said: tuple[str, ...] = ()) -> RenderableType:
    """A run's findings; `verbose` first shows its config with origins, curves, every fact
    and its events. `name` titles the findings when several runs are shown; `said`: notes
    shown once for all of them (shared_notes), left out here."""
    parts: list[RenderableType] = []
    if verbose:
        parts += [_title(run), _config_table(run, facts), _curve(run, facts), _facts_table(facts), _events(run)]
    if diagnosis is not None:
        parts.append(render_diagnosis(diagnosis, verbose, title=name))
    notes = [n for n in run.notes if n not in said] + ([unparsed_note(run)] if run.n_unparsed else [])
    if notes:
        parts.append(Panel(bullets(notes), title="Notes", title_align="left",
                           border_style="yellow"))
    return Group(*parts)


def unparsed_note(run: Run) -> str:
    """The note on a run's lines that no pattern understood (Run.n_unparsed above 0)."""
    first = run.unparsed[0]
    kept = "kept" if len(run.unparsed) == run.n_unparsed else f"the first {len(run.unparsed):,} kept"
    lines = f"{run.n_unparsed:,} line{'s' if run.n_unparsed != 1 else ''}"
    return f"{lines} not understood ({kept}; first at line {first.line}: {first.text.strip()[:70]!r})"


def _title(run: Run) -> RenderableType:
    counts = run.line_counts
    read = ", ".join(f"{counts[k]:,} {k}" for k in ("iter", "eval", "header", "config") if counts.get(k))
    lines = [Text.assemble((run.source, "bold"), f"  ({run.format})")]
    if counts:
        lines.append(Text(f"{counts.get('total', 0):,} lines: {read or 'no metric lines'}; "
                          f"{run.n_unparsed:,} not understood"))
    if len(run.segments) > 1:
        segs = "; ".join(f"{s.index + 1}: {s.init_from or 'start not printed'}, "
                         + (f"steps {s.first_step}–{s.last_step}" if s.first_step is not None else "no steps")
                         for s in run.segments)
        lines.append(Text(f"{len(run.segments)} runs in this file ({segs})"))
    return Panel(Group(*lines), title="lossdoctor analyze", title_align="left")


def config_cell(cfg: Config, key: str) -> str:
    """A config value as the config tables show it: unknown (with what was written), a
    machine-dependent default as unknown (the facts say what it implies), a default the log
    does not vouch for (no config header) as unknown with the default beside it, else the
    value."""
    cv = cfg.values[key]
    if not cv.known:
        return f"unknown: {cv.raw}"
    if (machine := cfg.machine_default(key)) is not None:
        return f"unknown: {machine}"
    shown = repr(cv.value) if isinstance(cv.value, str) else str(cv.value)
    return f"unknown (default {shown})" if cv.origin == DEFAULT and not cfg.defaults_trusted else shown


def _config_table(run: Run, facts: Facts) -> RenderableType:
    title = "Config (effective value and where it came from)"
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False,
              min_width=len(title))  # a few short rows: the title on one line, not folded to them
    # a name cut short is another name: its column keeps the longest whole (the notes fold)
    t.add_column("key", overflow="fold", min_width=max((len(k) for k in run.config.values), default=3))
    t.add_column("value", overflow="fold")
    t.add_column("origin", overflow="fold")
    cfg = run.config
    for key, cv in cfg.values.items():
        if cv.origin == DEFAULT and key not in KEY_CONFIG:
            continue
        if (model := model_value(cfg, key, facts)) is not None:
            t.add_row(key, *model)
            continue
        t.add_row(key, config_cell(cfg, key) + _inferred(cfg, key, facts), origin_cell(cfg, key))
    return t


def model_value(cfg: Config, key: str, facts: Facts) -> tuple[str, str] | None:
    """(value, origin) of a model-shape key where the model the run built is not its
    config's (init_from='gpt2*': nanoGPT forces GPT-2's vocab_size, block_size and bias;
    a checkpoint's model_args): the model's, with the config's said beside it; None where
    the config's value is the model's."""
    from ..nanogpt import SHAPE_KEYS
    fact = facts.get(key)
    if key not in SHAPE_KEYS or fact is None or not fact.known or fact.status not in ("read", "inferred"):
        return None
    if not (fact.source or "").startswith(("init_from=", "ckpt model_args")) or fact.value == cfg.values[key].value:
        return None
    said = f" ({fact.status})" if fact.status == "inferred" else ""
    return str(fact.value) + said, f"{fact.source}; the config's: {config_cell(cfg, key)}, {origin_cell(cfg, key)}"


def _inferred(cfg: Config, key: str, facts: Facts) -> str:
    """What the facts infer of a key whose config value is not known (unknown, a machine's
    default, an untrusted default): the built-in trainer's CPU run in float32, a save policy
    read off the saves."""
    cv, fact = cfg.values[key], facts.get(key)
    unsure = not cv.known or cfg.machine_default(key) is not None or (cv.origin == DEFAULT
                                                                       and not cfg.defaults_trusted)
    if not unsure or fact is None or fact.status != "inferred" or not fact.known:
        return ""
    return f"; inferred {fact.value!r} (facts)" if isinstance(fact.value, str) else f"; inferred {fact.value} (facts)"


def origin_cell(cfg: Config, key: str) -> str:
    """Where a config value came from, as the config tables show it: its origin and line,
    or for a default whether it depends on the machine and whether the log vouches for it."""
    cv = cfg.values[key]
    if cv.origin != DEFAULT:
        return cv.origin + (f" (line {cv.line})" if cv.line else "")
    return ("default" + (", machine-dependent" if cfg.machine_default(key) else "")
            + ("" if cfg.defaults_trusted else ", not trusted"))


def sparkline(values: np.ndarray, width: int = 40) -> str:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return ""
    v = v / max(1.0, float(np.abs(v).max()))  # the shape only: 1e308s neither overflow nor lose it
    if len(v) > width:  # mean of equal chunks
        v = np.array([c.mean() for c in np.array_split(v, width)])
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        return BLOCKS[0] * len(v)
    idx = np.clip(np.round((v - lo) / (hi - lo) * (len(BLOCKS) - 1)).astype(int), 0, len(BLOCKS) - 1)
    return "".join(BLOCKS[i] for i in idx)


def _curve(run: Run, facts: Facts) -> RenderableType:
    ev, it = run.curves()
    t = Table(title="Curves (the run's lineage)", title_justify="left", show_edge=False,
              pad_edge=False)
    t.add_column("series")
    t.add_column("points", justify="right")
    t.add_column("steps")
    t.add_column("first → last", justify="right")
    t.add_column("shape")
    m = run.measures
    rows = [(f"val {'bpb' if m.val == 'bpb' else 'loss'} (eval)", ev.step, ev.val),
            ("train loss (eval)", ev.step, ev.train if m.eval_train else ev.step[:0]),
            (f"train loss ({'EMA' if m.train == 'ema' else 'iter'})", it.step, it.loss)]
    for name, steps, vals in rows:
        if len(steps) == 0 or len(vals) == 0:
            continue
        t.add_row(name, f"{len(steps):,}", f"{int(steps[0])}–{int(steps[-1])}",
                  f"{_num(vals[0])} → {_num(vals[-1])}", sparkline(vals))
    for name, x in run.series.items():
        if len(x.step):
            t.add_row(name, f"{len(x.step):,}", f"{int(x.step[0])}–{int(x.step[-1])}",
                      f"{_num(x.value[0])} → {_num(x.value[-1])}", sparkline(x.value))
    if not len(ev) and not len(it):
        return Text("No loss curve in this input.", style="yellow")
    return t


def _facts_table(facts: Facts) -> RenderableType:
    return _Facts(facts)


class _Facts(WideOrLines):
    """The derived facts as a table of fact, value, how and source; on a console too narrow
    for the four side by side (a name or a formula would be cut), each fact as a line of
    name, value and how, its source indented under it."""

    WIDE = 100  # columns the table needs for the longest names and the formulas beside them
    TITLE = "Derived facts"

    def __init__(self, facts: Facts) -> None:
        self.facts = facts

    def lines(self) -> Iterator[RenderableType]:
        for name, f in self.facts.items():
            yield Text.assemble((name, "bold"), "  ", format_fact(f), "  ", (f"({f.status})", "dim"))
            yield hanging("    ", Text(_note(f)))

    def table(self) -> Table:
        t = Table(title=self.TITLE, title_justify="left", show_edge=False, pad_edge=False)
        t.add_column("fact", overflow="fold")
        t.add_column("value", justify="right", overflow="fold")
        t.add_column("how", overflow="fold")
        t.add_column("source / note", overflow="fold")
        for name, f in self.facts.items():
            t.add_row(name, format_fact(f), f.status, _note(f))
        return t


def _note(f: Fact) -> str:
    return f.source + (f"; {f.note}" if f.note else "")


EVENT_CHARS = 120  # of an event's text in the table


def _events(run: Run) -> RenderableType:
    if not run.events:
        return Text("")
    counts = Counter(e.kind for e in run.events)
    t = Table(title="Events (" + ", ".join(f"{n} {k}" for k, n in counts.items()) + ")",
              title_justify="left", show_edge=False, pad_edge=False)
    t.add_column("line", justify="right")
    t.add_column("step", justify="right")
    t.add_column("event")
    t.add_column("text", overflow="fold")
    shown = [e for e in run.events if e.kind != "checkpoint_saved"][:MAX_EVENTS]
    saves = [e for e in run.events if e.kind == "checkpoint_saved"]
    if saves:
        last = saves[-1]
        shown.append(last)
    for e in sorted(shown, key=lambda e: e.line or 0):
        text = e.text.strip()
        if e.kind == "checkpoint_saved" and len(saves) > 1:
            text = f"{text} (last of {len(saves)} saves)"
        cut = _middle_cut(text, EVENT_CHARS)  # the JSON has it whole
        t.add_row(str(e.line or ""), "" if e.step is None else str(e.step), e.kind, cut)
    return t


def _middle_cut(text: str, n: int) -> str:
    """`text` in at most about n characters: its head and its tail, the middle left out,
    where a line glued to another's ends with what matters (Slurm's `CANCELLED ... DUE TO
    TIME LIMIT` after a step line)."""
    if len(text) <= n:
        return text
    head, tail = text[:n * 2 // 3], text[len(text) - (n - n * 2 // 3 - 3):]
    # at a space where one is near, not inside a word
    cut_head = head.rsplit(" ", 1)[0] if " " in head[-20:] else head
    cut_tail = tail.split(" ", 1)[1] if " " in tail[:20] else tail
    return f"{cut_head.rstrip()} … {cut_tail.lstrip()}"


def format_fact(f: Fact) -> str:
    """A fact's value with its unit, for people."""
    v = f.value
    if v is None:
        return "none" if f.known else "unknown"  # a known null: nan_step of a run without NaN
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(_num(x) for x in v)
    unit = f.unit
    if not isinstance(v, (int, float, np.floating, np.integer)):
        return f"{v} {unit}".strip()
    x = float(v)
    if unit in ("FLOPs", "FLOPs/s"):
        return f"{x:.3g} {unit}"
    if unit in ("params", "tokens") and abs(x) >= 1e4:
        return f"{int(x):,} ({si(x)})"
    if unit == "%":
        return f"{x:.3g}%"
    if unit == "fraction":
        return f"{x:.3f}"
    if unit in ("steps", "tokens", "params", "lines") or isinstance(v, (int, np.integer)):
        return f"{int(x):,} {unit}".strip()
    if unit == "nats" and 0.1 <= abs(x) < 1e4:  # a loss, to the 4 decimals logs print (3.0002, not 3)
        return f"{x:.4f} nats"
    return f"{_num(x)} {unit}".strip()


def si(x: float) -> str:
    """Three significant digits with k, M, G or T: 795,904 -> '796k'; rounded before the
    suffix is chosen, so 999,936 is '1M', not '1e+03k'."""
    x = float(f"{x:.3g}")
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def _num(x: Any) -> str:
    x = float(x)
    if not np.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
        return f"{x:.3g}"
    return f"{x:.4g}"
