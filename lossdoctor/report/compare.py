"""The gap report: rich rendering and the JSON `comparison` object."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..compare import UNKNOWN_ORIGIN, Cause, Comparison, Reachable, ToReach
from ..compare.results import Overlap
from ..compare.sides import shows_config
from ..run import Run
from .advice import instead_do, rerun_do, unreachable_do
from .findings import bullets
from .names import title_names
from .numbers import signed
from .verdict import gap_text, level, sooner_text, spent_text

LABELS = {"params": "parameters", "tokens_per_iter": "tokens / iteration", "steps_done": "steps",
          "tokens_seen": "tokens seen", "train_flops": "training FLOPs", "epochs": "epochs",
          "lr_final": "final LR", "eval_iters": "eval_iters", "eval_se": "eval std. error (nats)",
          "dropout": "dropout", "best_val": "best val", "best_val_step": "best val step",
          "final_val": "final val", "final_train": "final train", "mfu_printed": "printed MFU (%)",
          "time_per_iter_ms": "ms / iteration"}


def to_dict(c: Comparison, runs: list[Run]) -> dict[str, Any]:
    return {
        "reference": runs[c.reference].source,
        "other": runs[c.other].source,
        "metric": c.metric,
        "gap": c.gap,
        "unit": c.unit,
        "comparable": c.comparable,
        "unattributed": c.unattributed,
        "within_noise": c.within_noise,
        "diff": [{"key": d.key, "other": d.other, "reference": d.reference,
                  "origin_other": d.origin_other, "origin_reference": d.origin_reference, "kind": d.kind}
                 for d in c.diff],
        "derived": {} if c.derived is None else
        {k: {"other": v.other, "reference": v.reference} for k, v in c.derived.items()},
        "derived_status": {k: {"other": ma or None, "reference": mb or None} for k, ma, mb in c.derived_status},
        "overlap": {axis: [{"x": p.x, "a": p.a, "b": p.b, "diff": p.diff} for p in pts]  # every axis, [] where none
                    for axis, pts in (c.overlap or Overlap()).items()},
        "attribution": [{"cause": a.cause, "delta_val": a.delta_val, "method": a.method,
                         "interval": list(a.interval)} for a in c.attribution],
        "unexplained": None if c.unexplained is None else
        {"delta_val": c.unexplained.delta_val, "interval": list(c.unexplained.interval),
         "method": c.unexplained.method},
        "to_reach": None if c.to_reach is None else _reach_dict(c.to_reach),
        "stop_at_best": None if c.stop_at_best is None else {"step": c.stop_at_best[0], "val": c.stop_at_best[1]},
        "not_borne_out": list(c.not_borne_out),
        "gone_on": list(c.gone_on),
        "held": c.held,
        "continues": c.continues,
        "went_on": None if c.went_on is None else {"step": c.went_on.step, "rewarmed": c.went_on.rewarmed,
                                                   "overwritten": c.went_on.overwritten, "lr": c.went_on.lr,
                                                   "end": c.went_on.end},
        "notes": list(c.notes),
        "table": [{"run": r.run, "final": r.final, "gap": r.gap, "params": r.params, "tokens_seen": r.tokens_seen,
                   "best_val": r.best_val, "reference": r.reference, "metric": r.metric} for r in c.table],
    }


def _reach_dict(r: ToReach) -> dict[str, Any]:
    if isinstance(r, Reachable):
        return {"reachable": True, "target": r.target, "target_is": r.what, "steps": r.steps, "val": r.val,
                "lo": r.lo, "hi": r.hi, "flags": r.flags, "ratio": r.ratio,
                "instead": None if r.instead is None else {"flags": r.instead, "steps": r.instead_steps,
                                                           "stopped": None if r.stopped is None else list(r.stopped),
                                                           "resume_from": r.resume_from, "finish": r.finish}}
    out: dict[str, Any] = {"reachable": False, "target": r.target, "target_is": r.what}
    if r.steps_tried is not None:
        out["steps_tried"] = r.steps_tried
    out["why"] = r.why
    out["flags"] = r.flags  # null: no flags given (`same_config` true: another trainer's run)
    out["same_config"] = r.same_config
    out["unshown"] = r.unshown
    out["resume_from"] = r.resume_from
    out["resume_to"] = r.resume_to
    out["cannot_tell"] = r.cannot_tell
    out["may_reach"] = r.may_reach
    out["cost"] = None if r.cost is None else {"ratio": r.cost.ratio, "hours": r.cost.hours, "steps": r.cost.steps,
                                               "approximate": r.cost.approximate, "own_hours": r.cost.own_hours}
    out["final"] = None if r.final is None else _reach_dict(r.final)
    return out


def render(c: Comparison, runs: list[Run], verbose: bool = True) -> RenderableType:
    """The gap, its attribution and what it takes to close it; `verbose` adds the config
    differences, the runs side by side, the curves where they overlap, and each cause's
    method as a numbered note under the attribution table."""
    a, b = runs[c.other].source, runs[c.reference].source
    parts: list[RenderableType] = []
    if c.table:
        parts.append(_table(c))
    if c.gap is None:
        parts.append(Text("\n".join(c.notes)))
        return Panel(Group(*parts), title="Gap between runs", title_align="left")
    if not c.comparable:  # across tokenizers or datasets: a difference of numbers, no worse run
        head = (f"higher: {a}\nlower: {b}\ndifference in final {c.metric}: {gap_text(c.gap)} {c.unit}, not a gap: "
                "the losses do not compare (below, the higher is called the worse run)")
    else:
        head = (f"worse: {a}\nbetter (reference): {b}\n" if not level(c) else
                f"the runs end level (no worse run): {a}\nagainst (reference): {b}\n(below, the first is called "
                f"the worse run and the second the better: {spent_text(c)})\n")
        head += f"gap in final {c.metric}: {gap_text(c.gap)} {c.unit}"
    parts.append(Text(head))
    if level(c) and (sooner := sooner_text(c, a, b)) is not None:
        parts.append(Text(sooner, style="bold"))
    blind = not shows_config(runs[c.other]) and not shows_config(runs[c.reference])  # neither shows its config
    if verbose:
        parts += [_diff(c, blind=blind), _derived(c)]
        ov = _overlap(c)
        if ov is not None:
            parts.append(ov)
    else:
        # a key one run does not show, or leaves to the machine (train.py's dtype), is unknown there
        shown = [d for d in c.diff if not any(o == UNKNOWN_ORIGIN or o.startswith("unknown: train.py's default")
                                              for o in (d.origin_other, d.origin_reference))]
        learning = sum(1 for d in shown if d.kind == "learning")
        unknown = len(c.diff) - len(shown)
        blind = blind and not c.diff
        keys = ("no config key differs" if not shown else "1 config key differs" if len(shown) == 1
                else f"{len(shown)} config keys differ")
        keys += f" ({learning} that change{'s' if learning == 1 else ''} learning)" if shown else ""
        more = (f", {unknown} more {'is' if unknown == 1 else 'are'} unknown for a run whose log does not show them"
                if unknown else "")
        parts.append(Text(("neither log shows its config: which keys differ is unknown" if blind else keys) + more
                          + f"; -v shows {'them, ' if shown or unknown else ''}the runs side by side and each "
                          "cause's method", style="dim"))
    if level(c):
        parts.append(Text("A level finish: no gap to attribute."))
    elif c.attribution or c.unexplained is not None:
        parts += _attribution(c, verbose)
    elif c.comparable and c.gap == 0 and not c.diff:
        parts.append(Text("No gap and no differing config: nothing to attribute."))
    elif c.unattributed is not None and c.unattributed not in c.notes:  # (a note says it already)
        parts.append(Text(f"The gap is not attributed: {c.unattributed}."))
    if c.continues and verbose:  # one run's two stretches: no advice (the verdict's Do says so)
        parts.append(Text("Nothing to change: the better run's log is the worse run resumed.", style="bold"))
    elif c.went_on is not None and verbose:
        keep = "Run the better run's command again" if c.went_on.overwritten else "Keep the better run's model"
        parts.append(Text(keep + ": the worse run is the better run gone on.", style="bold"))
    elif c.to_reach is not None and verbose:  # else the verdict says it
        parts.append(Text(_reach(c.to_reach, c), style="bold"))
    if c.notes:
        parts.append(bullets(list(c.notes)))
    return Panel(Group(*parts), title="Gap between runs", title_align="left")


def _diff(c: Comparison, blind: bool = False) -> RenderableType:
    """The differing keys; `blind`: neither log shows its config (no row is "none" then)."""
    title = "config differences (value and where it came from)"
    t = Table(title=title, title_justify="left", min_width=len(title))  # its title unfolded
    for col in ("key", "worse run", "better run", "kind"):
        t.add_column(col, overflow="fold")
    hidden = [d for d in c.diff if UNKNOWN_ORIGIN in (d.origin_other, d.origin_reference)]
    for d in c.diff:
        if d not in hidden:
            t.add_row(d.key, _config_cell(d.other, d.origin_other), _config_cell(d.reference, d.origin_reference),
                      d.kind)
    if hidden:  # one row, not one per key: a log without a header hides all of them at once
        shown = f"set or default: {', '.join(d.key for d in hidden)}"
        unknown = "unknown: the log does not show them"
        cells = (unknown, shown) if hidden[0].other is None else (shown, unknown)
        t.add_row(f"{len(hidden)} keys", *cells, "unknown")
    if not c.diff:
        t.add_row(*(("(unknown)", "no config shown", "no config shown", "") if blind else ("(none)", "", "", "")))
    return t


def _config_cell(value: object, origin: str) -> str:
    return origin if value is None else f"{value!r} ({origin})"


def _derived(c: Comparison) -> RenderableType:
    t = Table(title="side by side", title_justify="left")
    for col in ("quantity", "worse run", "better run"):
        t.add_column(col, justify="right" if col != "quantity" else "left")
    marks = {k: (ma, mb) for k, ma, mb in c.derived_status}
    for k, (va, vb) in c.derived.items() if c.derived is not None else ():
        if va is None and vb is None:
            continue
        ma, mb = marks.get(k, ("", ""))
        show = _loss if k in LOSSES else _num
        t.add_row(LABELS.get(k, k), _marked(show(va), ma), _marked(show(vb), mb))
    return t


def _marked(text: str, status: str) -> str:
    """A value and, where the run does not show it, how it was had: "16,384 (inferred)"."""
    return f"{text} ({status})" if status and text != "-" else text


def _overlap(c: Comparison) -> RenderableType | None:
    rows = [(axis, p) for axis, pts in c.overlap.items() for p in pts] if c.overlap is not None else []
    if not rows:
        return None
    t = Table(title=f"{c.metric} where the curves overlap (interpolated between logged points)", title_justify="left")
    for col in ("at equal", "x", "worse run", "better run", "difference"):
        t.add_column(col, justify="right" if col != "at equal" else "left")
    for axis, p in rows:
        t.add_row(axis, _num(p.x), f"{p.a:.4f}", f"{p.b:.4f}", f"{p.diff:+.4f}")
    return t


def _attribution(c: Comparison, verbose: bool) -> list[RenderableType]:
    """The table of causes; with `verbose`, a note number per cause and its method below."""
    head = Text(f"attribution of the {c.gap:+.4f} {c.unit} gap (80% intervals)", style="italic")  # the panel's
    t = Table()  # width, not the table's: a narrow table would fold a title
    for col in ("cause", f"share ({c.unit})", "interval") + (("method",) if verbose else ()):
        t.add_column(col, justify="left" if col in ("cause", "method") else "right")  # method: a note number
    rows = list(c.attribution) + ([c.unexplained] if c.unexplained is not None else [])
    for i, a in enumerate(rows, 1):
        t.add_row(a.cause, gap_text(a.delta_val), interval_text(a),
                  *((f"[{i}]",) if verbose else ()))
    total = sum(a.delta_val for a in rows)
    t.add_row(Text("total", style="bold"), Text(gap_text(total), style="bold"), "",
              *(("observed",) if verbose else ()))
    if not verbose:
        return [head, t]
    return [head, t, Text("\n".join(f"[{i}] {a.cause}: {a.method}" for i, a in enumerate(rows, 1)))]


def _reach(r: ToReach, c: Comparison) -> str:
    if isinstance(r, Reachable) and r.instead is not None:
        return f"{instead_do(r)[0].upper()}{instead_do(r)[1:]}: {r.instead}"
    if isinstance(r, Reachable):
        do = rerun_do(r)
        return (f"{do[0].upper()}{do[1:]}; an extrapolation, see docs/extrapolation.md for its measured errors: "
                f"{r.flags}")
    do = unreachable_do(r, c, inline=True)
    return do[0].upper() + do[1:] + "."


def _table(c: Comparison) -> RenderableType:
    apart = any(r.final is not None and r.gap is None and not r.reference for r in c.table)  # left out
    among = " of the runs that compare" if apart else ""
    head = Text(f"runs, against the best final {c.metric}{among} (gap: final minus the best's)", style="italic")
    # best val where a run's differs from its final (one turned up): else the same column twice
    best = any(r.best_val is not None and r.final is not None and abs(r.best_val - r.final) >= 5e-5 for r in c.table)
    t = Table(show_edge=False)  # its caption above it; no outer border: the names get its two columns
    cols = ("run", f"final\n{c.metric}", "gap", *(("best\nval",) if best else ()), "params", "tokens\nseen")
    for col in cols:  # narrow numbers: the names get the rest
        t.add_column(col, justify="left" if col == "run" else "right", overflow="fold")
    for r, name in zip(c.table, title_names([r.run for r in c.table]), strict=True):
        t.add_row(name, _loss(r.final), "best" if r.reference else _gap(r.gap),
                  *((_loss(r.best_val),) if best else ()), _count(r.params), _count(r.tokens_seen))
    return Group(head, t)


def _gap(v: float | None) -> str:
    """A gap to four decimals, as the report's text gives it (significant figures had set
    0.003759 beside 0.0063), 0.0000 for one that prints as 0; '-' where unknown."""
    return "-" if v is None else gap_text(v).lstrip("+")


def _loss(v: Any) -> str:
    """A loss to four decimals, as the verdict gives it (significant figures had set '2'
    for 2.0004); '-' where unknown."""
    return f"{v:.4f}" if isinstance(v, float) and not isinstance(v, bool) else _num(v)


LOSSES = ("best_val", "final_val", "final_train")  # side by side: the losses, to four decimals


def _count(v: float | None) -> str:
    """A count as terminal.si writes it, '-' where unknown."""
    from .terminal import si
    return "-" if v is None else si(v)


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if abs(v) >= 1e6:
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(v)


def interval_text(a: Cause) -> str:
    """A share's 80% interval as the tables show it; none for a share of 0 by construction."""
    return "—" if a.by_construction else f"{signed(a.interval[0])} to {signed(a.interval[1])}"
