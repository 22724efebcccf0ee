"""`--format markdown`: a report to paste into a GitHub issue.

The answer and the tables people compare (the verdict, the findings, the attribution of a
gap, the predicted losses) are GitHub tables; the rest (each finding's evidence, the
methods, the config, the facts) sits in `<details>` blocks that open on a click.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..analysis import Analysis
from ..compare import LEVEL, Comparison, Reachable
from ..diagnose import Diagnosis, EffectEstimate
from ..facts import Facts
from ..fit.results import Estimate, Extrapolation
from ..run import Run
from .advice import continued_text, instead_do, rerun_do, stop_text, unreachable_do, went_on_text
from .compare import interval_text
from .findings import effect_text, evidence_value, no_findings
from .names import short_name
from .terminal import config_cell, format_fact, model_value, origin_cell, shared_notes, unparsed_note
from .verdict import (
    TOP,
    TOP_COMPARED,
    apart,
    gap_text,
    gone_text,
    in_the_do,
    length_in_do,
    level,
    no_gap_reason,
    records_text,
    remark,
    remarks,
    sooner_text,
    spent_text,
    top_findings,
)

MAX_FOLDED_RUNS = 8  # runs whose facts and config the report folds in; more are in the JSON


def _cell(text: object) -> str:
    """Text safe inside a table cell: no pipe, no newline, no tag (_prose)."""
    return _prose(str(text).replace("|", "\\|").replace("\n", " "))


def _prose(text: str) -> str:
    """Text from a log made safe as Markdown outside its code spans: `&` and a `<` that would
    open an HTML tag (a traceback's `hellaswag.py:<module>`, which GitHub drops) as
    entities, `*` and a `_` that could open emphasis escaped (`torch/__init__.py` is no bold
    `init`); the `<br>` of a cell kept."""
    parts = re.split(r"(`+[^`]*`+)", text)
    return "".join(p if i % 2 else _plain(p) for i, p in enumerate(parts))


def _plain(text: str) -> str:
    text = text.replace("&", "&amp;")
    text = re.sub(r"<(?!br>)", "&lt;", text)
    # `*` anywhere, `_` where it is no word's inner underscore (weight_decay stays, __init__ is escaped)
    return re.sub(r"\*|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", lambda m: "\\" + m.group(0), text)


def _code(text: str) -> str:
    """`text` as inline code, fenced with one more backtick than any run of them inside it (an
    assertion's `total_batch_size % ...' quoted in a log), so that none of them ends it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    head = list(header)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def _details(summary: str, lines: list[str]) -> list[str]:
    return ["<details><summary>" + summary + "</summary>", "", *lines, "", "</details>", ""]


def analysis_markdown(analysis: Analysis) -> str:
    runs, facts = list(analysis.runs), list(analysis.facts)
    diagnoses: list[Diagnosis | None] = list(analysis.diagnoses) or [None] * len(runs)
    many = len(runs) > 1
    out = ["# lossdoctor analyze", "", "## Verdict", ""]
    c = analysis.comparison
    if c is not None and c.gap is not None and c.comparable:
        out += _gap(c, runs)
    elif c is not None:
        out += [f"**Gap:** not split into causes: {no_gap_reason(c)}.", ""]
    if analysis.records is not None:
        out += [records_text(analysis.records), ""]
    top = TOP_COMPARED if many else TOP
    rows = []
    for i, (run, f, d) in enumerate(zip(runs, facts, diagnoses, strict=True)):
        contested, gone = remarks(c, i)
        in_do, steps = length_in_do(c, i), f.value("steps_done")
        first = top_findings(d, top, gone) if d else []
        unit = " bpb" if f["final_val"].unit == "bpb" else ""
        name = short_name(run.source, [r.source for r in runs]) if many else run.source
        lines = [f"{x.rule.split('-', 1)[0]} {x.title} ({in_do})" if in_the_do(x, in_do, steps)
                 else f"{x.rule.split('-', 1)[0]} {x.title}"
                 + (f" ({said})" if (said := remark(x.rule, contested)) else "") + (f": `{x.flags}`" if x.flags else "")
                 for x in first]
        if d is not None and (went := gone_text(gone, d)) is not None:
            lines.append(went)
        rows.append([f"`{name}`", _num(f.value("final_val")) + unit, _best(f, unit), "<br>".join(lines) or "none"])
    out += _table(["run", "final val", "best val", "top findings, root cause first"], rows)
    common = shared_notes(tuple(runs))
    if common:
        out += [f"## Notes for each of the {len(runs)} runs", "", *(f"- {_prose(n)}" for n in common), ""]
    folds = len(runs) <= MAX_FOLDED_RUNS
    if not folds:  # a runs table of 64 rows: their facts and config would pass an issue's 65,536 characters
        out += [f"Each run's findings in full, facts and config are left out here ({len(runs)} runs): "
                "`--format json` has them.", ""]
    for run, f, d in zip(runs, facts, diagnoses, strict=True):
        name = short_name(run.source, [r.source for r in runs])
        out += _findings(run, d, name if many else run.source, common, detail=folds)
        out += _facts(run, f, name) if folds else []
    if c is not None and c.gap is not None and c.comparable and not level(c):  # a level finish has no causes
        out += _methods(c)
    return "\n".join(out)


def _effect_cell(e: EffectEstimate) -> str:
    """The expected effect without its source: the value, or why there is none, whole."""
    if e.kind == "unknown":
        return "not estimated"
    if e.kind != "none" and e.value is None:
        return f"not computed: {e.note}"
    return effect_text(e).split("; ")[0]


def _num(v: object) -> str:
    return "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def _best(f: Facts, unit: str = "") -> str:
    best, step = f.value("best_val"), f.value("best_val_step")
    return "-" if best is None else f"{best:.4f}{unit} (step {step:,})" if step is not None else f"{best:.4f}{unit}"


def _runs_table(c: Comparison) -> list[str]:
    """Three or more runs against the best final (the rich report's runs table)."""
    if not c.table:
        return []
    rows = [[f"`{short_name(r.run, [q.run for q in c.table])}`" + (" (best)" if r.reference else ""), _num(r.final),
             "-" if r.gap is None else f"{r.gap:+.4f}", _num(r.best_val),
             "-" if r.params is None else f"{r.params:,.0f}", "-" if r.tokens_seen is None else f"{r.tokens_seen:,.0f}"]
            for r in c.table]
    return _table(["run", f"final {c.metric}", "gap", "best val", "parameters", "tokens seen"], rows)


def _causes(c: Comparison) -> list[str]:
    """The gap's causes as a table, or why there are none."""
    causes = sorted(list(c.attribution) + ([c.unexplained] if c.unexplained else []), key=lambda a: -abs(a.delta_val))
    if causes:
        return _table(["cause", f"share ({c.unit})", "80% interval"],
                      [[a.cause, gap_text(a.delta_val), interval_text(a)] for a in causes])
    if c.unattributed is not None and c.unattributed not in c.notes:  # (a note says it already)
        return [f"The gap is not attributed: {c.unattributed}.", ""]
    if c.unattributed is not None:
        return []
    return ["No gap and no differing config: nothing to attribute.", ""]


def _gap(c: Comparison, runs: list[Run]) -> list[str]:
    assert c.gap is not None
    out = _runs_table(c)
    sources = [r.source for r in runs]
    worse, better = short_name(runs[c.other].source, sources), short_name(runs[c.reference].source, sources)
    if level(c):
        sooner = sooner_text(c, f"`{worse}`", f"`{better}`")
        out += [f"**Gap:** none: `{worse}` and `{better}` end at the same final {c.metric}"
                + (f"; {sooner}." if sooner else ".") + f" Below, `{worse}` is called the worse run and "
                f"`{better}` the better (the reference: {spent_text(c)}); a level finish has no gap to attribute.",
                ""]
    else:
        noise = f", within the evals' noise (80%: ±{c.within_noise:.3f})" if c.within_noise is not None else ""
        out += [f"**Gap:** `{worse}` and `{better}` {apart(c)}." if abs(c.gap) < LEVEL
                else f"**Gap:** `{worse}` ends **{c.gap:+.4f} {c.unit}** above `{better}` (final {c.metric}){noise}.",
                ""]
    out += [] if level(c) else _causes(c)  # a level finish says so in its gap line
    own = c.continues or c.went_on is not None  # one run's two stretches
    r = None if own else c.to_reach
    if c.continues:
        out += [f"**Do:** {continued_text(f'`{worse}`', f'`{better}`', c.held)}.", ""]
    if c.went_on is not None:
        out += [f"**Do:** {went_on_text(f'`{worse}`', f'`{better}`', c.went_on)}.", ""]
    if r is None and not own and (stop := stop_text(c)):
        out += [f"**Do:** {stop}.", ""]
    if r is not None:
        if isinstance(r, Reachable) and r.instead is not None:
            out += [f"**Do:** {instead_do(r)}: `{r.instead}`", ""]
        elif isinstance(r, Reachable):
            out += [f"**Do:** {rerun_do(r)}: `{r.flags}`", ""]
        else:
            out += [f"**Do:** {unreachable_do(r, c, inline=True)}.", ""]
    # what the gap's split rests on, as the terminal's Gap panel says it: not folded away
    return out + ([f"- {n}" for n in c.notes] + [""] if c.notes else [])


def _findings(run: Run, d: Diagnosis | None, name: str, said: tuple[str, ...] = (), detail: bool = True
              ) -> list[str]:
    """A run's findings, after its notes less those `said` once for every run; `detail`: each
    finding in full and the rules that did not apply, folded (left out for many runs)."""
    if d is None:
        return []
    out = [f"## Findings: `{name}`", ""]
    notes = [n for n in run.notes if n not in said] + ([unparsed_note(run)] if run.n_unparsed else [])
    out += [f"- {_prose(n)}" for n in notes] + ([""] if notes else [])
    skipped = _details(f"{len(d.not_applicable)} rules not applicable to this run",
                       [f"- {n.rule}: {_prose(n.reason)}" for n in d.not_applicable]) \
        if d.not_applicable and detail else []
    if not d.findings:
        return out + [f"{no_findings(d)}.", ""] + skipped
    rows = [[i, f.severity, f.rule, f.title + (f" (explains {', '.join(r.split('-')[0] for r in f.explains)})"
                                                 if f.explains else ""),
             f"`{f.flags}`" if f.flags else "", _effect_cell(f.expected_effect)]
            for i, f in enumerate(d.findings, 1)]
    out += _table(["#", "severity", "rule", "finding", "flags", "expected effect"], rows)
    if not detail:
        return out
    full = []
    for i, f in enumerate(d.findings, 1):
        full += [f"**{i}. {f.rule}**: {_prose(f.message)}", ""]
        if f.advice:
            full += [f"Do: {_prose(f.advice)}", ""]
        full += [f"Effect: {_prose(effect_text(f.expected_effect))}", ""]
        if f.evidence:
            full += ["Evidence: " + ", ".join(_code(f"{k}={evidence_value(v.value, v.status)}")
                                              for k, v in f.evidence.items()), ""]
    return out + _details("Each finding in full", full) + skipped


def _facts(run: Run, f: Facts, name: str) -> list[str]:
    rows = [[name, format_fact(x), x.status, x.source + (f"; {x.note}" if x.note else "")] for name, x in f.items()]
    config = [[k, *(model_value(run.config, k, f) or (config_cell(run.config, k), origin_cell(run.config, k)))]
              for k in run.config.values]
    return (_details(f"Facts of `{name}`", _table(["fact", "value", "status", "source"], rows))
            + _details(f"Config of `{name}`", _table(["key", "value", "origin"], config)))


def _methods(c: Comparison) -> list[str]:
    rows = list(c.attribution) + ([c.unexplained] if c.unexplained else [])
    diff = [[d.key, "unknown" if d.other is None else repr(d.other), "unknown" if d.reference is None
             else repr(d.reference), d.kind] for d in c.diff]
    return (_details("How each cause of the gap was measured", [f"- **{a.cause}**: {a.method}" for a in rows])
            + _details("Config differences", _table(["key", "worse run", "better run", "kind"], diff)))


def extrapolation_markdown(run: Run, x: Extrapolation) -> str:
    from .extrapolation import detail_lines, level_percent, no_val
    first = (x.scenarios[0].val or x.scenarios[0].train) if x.scenarios else None
    level = f"; [lo, hi]: the {level_percent(first.level)}% interval" if first is not None else ""
    out = ["# lossdoctor extrapolate", "",
           f"`{run.source}`: step {x.last_step:,} -> {x.target_step:,} ({x.horizon_ratio:.2f}x the observed "
           f"steps{level}); the flags go after the run's own train.py command", ""]
    rows = [[s.name, _est(s.val) if s.val else no_val(x, s),
             _est(s.train) if s.train else "-", f"`{s.flags}`" if s.flags else "(the law fitted to the run)"]
            for s in x.scenarios]
    out += _table(["scenario", f"val at step {x.target_step:,}", "train", "nanoGPT flags"], rows)
    return "\n".join(out + _details("The model, the fit and its backtests", [f"- {line}" for line in detail_lines(x)]))


def _est(e: Estimate) -> str:
    return f"{e.mean:.4f} [{e.lo:.4f}, {e.hi:.4f}]"
