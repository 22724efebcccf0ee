"""The answer first: a short block that opens `lossdoctor analyze`.

For each run: its final and best val. Then the top findings, root cause first, one line
each with the flags to run written out in full. For two or more runs: the gap, its causes
with their shares (largest first), and the one thing to do. The rest of the report
(findings in detail, the gap's tables, and with -v the config, facts and curves) follows.
"""

from __future__ import annotations

import re

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..analysis import Analysis
from ..compare import LEVEL, UNTRAINED, Comparison, Reachable, Unreachable
from ..compare.attribute import SPLIT_CAUSE
from ..compare.reach import length_only
from ..compare.records import RecordStats
from ..diagnose import Diagnosis, Finding
from ..facts import Facts
from ..run import Run
from .advice import continued_text, instead_do, rerun_do, stop_text, unreachable_do, went_on_text
from .findings import STYLE, Flags, hanging, no_findings
from .names import short_name
from .numbers import signed

TOP = 3  # findings named in the verdict, per run
TOP_COMPARED = 2  # per run, when runs are compared: the gap comes first
# beside a better run's finding whose advice the worse run had (Comparison.not_borne_out)
CONTESTED = "the other run had this and ended higher: see the gap"


def render_verdict(analysis: Analysis) -> RenderableType:
    parts: list[RenderableType] = []
    runs, facts = list(analysis.runs), list(analysis.facts)
    diagnoses: list[Diagnosis | None] = list(analysis.diagnoses) or [None] * len(runs)
    c = analysis.comparison
    if c is not None and c.gap is not None and c.comparable:
        parts += _gap(c, runs)
    elif c is not None:
        parts.append(Text.assemble(("Gap: ", "bold"), f"not split into causes: {no_gap_reason(c)}"))
    if analysis.records is not None:
        parts.append(_records(analysis.records))
    top = TOP_COMPARED if len(runs) > 1 else TOP
    for i, (run, f, d) in enumerate(zip(runs, facts, diagnoses, strict=True)):
        name = short_name(run.source, [r.source for r in runs]) if len(runs) > 1 else run.source
        parts.append(Text.assemble((name, "bold"), f": {_losses(f)}"))
        parts += _top_findings(d, top, *remarks(c, i), in_do=length_in_do(c, i), steps=f.value("steps_done"))
    return Panel(Group(*parts), title="Verdict", title_align="left", border_style="bold")


def no_gap_reason(c: Comparison) -> str:
    """Why a comparison has no gap to split: the runs are not comparable, or its first note."""
    return next((n for n in c.notes if n.startswith("not directly comparable")), None) or \
        (c.notes[0] if c.notes else "no final loss to compare")


def records_text(r: RecordStats) -> str:
    """The record rules' t-test of modded-nanogpt runs, in one line."""
    copies = f" ({r.repeats} more repeat another's curve exactly and count once)" if r.repeats else ""
    if not r.pooled:
        return f"**Record:** {r.n} runs{copies}; no t-test against {r.target}: {r.why_no_test}"
    head = f"**Record:** {r.n} runs{copies}, mean val {r.mean:.4f} (sd {r.sd:.4f}); "
    if r.t is None or r.p is None:
        return head + f"no t-test against {r.target}: {r.why_no_test}"
    verdict = "below" if r.p < 0.01 else "not shown below"
    return head + f"{verdict} {r.target} at p < 0.01 (one-sided t-test: t = {r.t:.2f}, p = {r.p:.2g})"


def _records(r: RecordStats) -> Text:
    return Text.assemble(("Record: ", "bold"), records_text(r).removeprefix("**Record:** "))


def _losses(f: Facts) -> str:
    final, best, step, steps = (f.value(k) for k in ("final_val", "best_val", "best_val_step", "steps_done"))
    if final is None:
        if not steps and (why := _stopped(f)):
            return (f"no metric in this file ({why}): the run stopped before its first metric, or printed its "
                    "metrics to another file")
        train = f.value("final_train")
        if best is not None:  # a checkpoint alone: the best val it saved, no curve
            return (f"no val curve; best val {best:.4f}" + (f" at step {step:,}" if step is not None else "")
                    + _steps(f))
        return "no val loss in the log" + (f"; train {train:.4f}" if train is not None else "") + _steps(f)
    unit = " bpb" if f["final_val"].unit == "bpb" else ""
    last = f.value("final_step")
    early = last is not None and steps and last < 0.9 * (steps - 1)  # the last eval long before the end
    text = f"val {final:.4f}{unit} " + (f"at step {last:,}, its last eval" if early else "at the end")
    if best is not None and step is not None and best < final:
        text += f", best {best:.4f}{unit} at step {step:,}"
    if ((nan := f.value("nan_step")) is not None and f.value("nan_persists") is True and last is not None
            and nan > last):  # the end is no model (a NaN training went on past is not this)
        text += f"; NaN from step {nan:,}"
    return text + _steps(f)


def _steps(f: Facts) -> str:
    """'; 1,001 steps', 'assumed' before an assumed count (a W&B panel's Steps); '' unknown."""
    steps = f.value("steps_done")
    if not steps:
        return ""
    assumed = "assumed " if f["steps_done"].status == "assumed" else ""
    return f"; {assumed}{steps:,} step{'s' if steps != 1 else ''}"


def _stopped(f: Facts) -> str | None:
    """How a run with no metric ended, in a few words: its failure kind, or for a plain
    exception its name (a failed C assertion says so)."""
    kind, text, line = (f.value(k) for k in ("failure_kind", "failure_text", "failure_line"))
    if kind is None:
        return None
    if kind == "exception" and text:
        kind = "failed assertion" if "Assertion" in text else text.split(":", 1)[0].rsplit(".", 1)[-1]
    return f"{kind}, log line {line}" if line else str(kind)


def top_findings(d: Diagnosis, n: int, gone: tuple[str, ...] = ()) -> list[Finding]:
    """The verdict's findings of a run, in every report: the first `n` that no other finding
    explains (a symptom's cause is listed instead) or makes wrong (its advice withheld),
    nor the compared run carried out by going on from it (`gone`, Comparison.gone_on),
    warnings and errors before info, info only where nothing else is left."""
    roots = [f for f in d.findings if not f.explained_by and not f.withheld_by and f.rule not in gone]
    return ([f for f in roots if f.severity != "info"] or roots)[:n]


def remarks(c: Comparison | None, i: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Run i's rules whose advice the compared runs do not bear out (Comparison.not_borne_out),
    and those the other run carried out by going on from it (Comparison.gone_on)."""
    if c is None:
        return (), ()
    return (c.not_borne_out if i == c.reference else ()), (c.gone_on if i == c.other else ())


def remark(rule: str, contested: tuple[str, ...]) -> str | None:
    """What the verdict says beside a finding of `rule` (remarks), if anything."""
    return CONTESTED if rule in contested else None


def length_in_do(c: Comparison | None, i: int) -> str | None:
    """What the verdict says beside run i's "train longer" findings where the gap's Do gives
    that run, the worse one, a length of its own config (a rerun that reaches the better
    run's val, Reachable, its flags that length or the better run's length and schedule
    alone, not a schedule alone; or, where the better run's best val is out of reach, the rerun that matches its
    final val, Unreachable.final, or the better run's length where no other setting
    differs, Unreachable.same_config): their own flags would give a second length (LD101's
    2.5x beside the Do's 3x). None where the Do gives none, or no Do is printed."""
    if c is None or i != c.other or c.gap is None or not c.comparable or level(c) or c.continues \
            or c.went_on is not None:
        return None
    r = c.to_reach
    if isinstance(r, Reachable) and (r.instead is None or (length_only(r.instead) and "--max_iters=" in r.instead)):
        return f"the Do above gives the length that reaches the better run's {r.what}"
    if isinstance(r, Unreachable) and r.same_config:
        return "the Do above gives the better run's length"
    if isinstance(r, Unreachable) and r.final is not None:
        return "the Do above gives the length that matches the better run's final val"
    return None


def in_the_do(f: Finding, in_do: str | None, steps: object) -> bool:
    """Whether finding f's flags are a longer run than the `steps` the run took, whose
    length the Do gives (length_in_do): LD101's, not LD102's shorter one."""
    m = re.search(r"--max_iters=(\d+)", f.flags)
    return in_do is not None and m is not None and (not isinstance(steps, int) or int(m.group(1)) > steps)


def gone_text(gone: tuple[str, ...], d: Diagnosis) -> str | None:
    """The line that names a run's findings left out of its top ones because the compared
    run went on from it (Comparison.gone_on)."""
    ids = [f.rule.split("-", 1)[0] for f in d.findings if f.rule in gone]
    return f"{', '.join(ids)}: the other run is this one gone on (see the gap)" if ids else None


def _top_findings(d: Diagnosis | None, n: int, contested: tuple[str, ...] = (),
                  gone: tuple[str, ...] = (), in_do: str | None = None, steps: object = None) -> list[RenderableType]:
    """The verdict's lines of a run's top findings; `contested`, `gone`: rules said beside
    them (remarks); `in_do`: what to say beside a longer run's flags, which the Do gives
    instead (length_in_do), for a run of `steps` steps."""
    if d is None:
        return []
    if not d.findings:
        text = no_findings(d)
        return [Text("  " + text[0].lower() + text[1:])]
    first = top_findings(d, n, gone)
    deferred = [in_the_do(f, in_do, steps) for f in first]
    out: list[RenderableType] = [_one(i, f, in_do if to_do else remark(f.rule, contested), flags=not to_do)
                                 for (i, f), to_do in zip(enumerate(first, 1), deferred, strict=True)]
    if (said := gone_text(gone, d)) is not None:
        out.append(Text(f"  {said}", style="dim"))
    more = len(d.findings) - len(first) - len([f for f in d.findings if f.rule in gone])
    if more > 0:
        out.append(Text(f"  ... {more} more below", style="dim"))
    return out


def _one(i: int, f: Finding, said: str | None = None, flags: bool = True) -> RenderableType:
    text = Text.assemble((f"{f.rule.split('-', 1)[0]} ", STYLE[f.severity]), f.title)
    if f.explains:
        text.append(f" (explains {', '.join(r.split('-', 1)[0] for r in f.explains)})", style="dim")
    if said:
        text.append(f" ({said})", style="dim")
    line = hanging(f"  {i}. ", text)
    if not f.flags or not flags:
        return line
    return Group(line, _flags(f.flags))


def _flags(flags: str) -> RenderableType:
    """Flags on their own line, indented, wrapped lines under the first, each broken line
    ending in ` \\` (findings.Flags)."""
    return hanging("     ", Flags(flags))


class _Causes:
    """The causes as a table of cause, share and interval; where the console is too narrow
    for the three side by side, each interval goes on its own line under its cause."""

    WIDE = 46  # columns the three need: a cause of 12 or more, a share of 7, an interval of 23

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = options.max_width >= self.WIDE
        table = Table.grid(padding=(0, 2))
        table.add_column(min_width=12)  # the cause: a long one wraps in its own column
        table.add_column(no_wrap=True, justify="right")
        if wide:
            table.add_column(no_wrap=True)
        for cause, share, interval in self.rows:
            if wide:
                table.add_row(cause, share, interval)
            else:
                table.add_row(cause, share)
                table.add_row(Text("  " + interval, style="dim"), "")
        yield table


def _gap(c: Comparison, runs: list[Run]) -> list[RenderableType]:
    """The gap, its causes largest first, and the one thing to do."""
    assert c.gap is not None
    sources = [r.source for r in runs]
    worse, better = short_name(runs[c.other].source, sources), short_name(runs[c.reference].source, sources)
    if level(c):  # no worse run to speak of: where one got there sooner is what sets them apart
        return [Text.assemble(("Gap: ", "bold"), f"none: {worse} and {better} end at the same final {c.metric}"),
                *([hanging("  ", Text(sooner))] if (sooner := sooner_text(c, worse, better)) else [])]
    noise = f", within the evals' noise (80%: ±{c.within_noise:.3f})" if c.within_noise is not None else ""
    out: list[RenderableType] = [
        Text.assemble(("Gap: ", "bold"), f"{worse} and {better} {apart(c)}"
                      if abs(c.gap) < LEVEL else  # not level: runs that never trained, said below
                      f"{worse} ends {c.gap:+.4f} {c.unit} above {better} (final {c.metric}){noise}")]
    causes = sorted(list(c.attribution) + ([c.unexplained] if c.unexplained is not None else []),
                    key=lambda a: -abs(a.delta_val))
    rows = [(a.cause, gap_text(a.delta_val), f"(80%: {signed(a.interval[0])} to {signed(a.interval[1])})")
            for a in causes
            if not (abs(a.delta_val) < 5e-5 and a.cause.startswith(("unexplained", "device/precision numerics",
                                                                      SPLIT_CAUSE)))
            and not a.by_construction]
    if rows:  # (nothing assigned to unexplained or device, or none by construction: in the table below)
        out.append(hanging("  ", _Causes(rows)))
    elif not causes:  # nothing attributed: say why (a run that never trained)
        out.append(hanging("  ", Text(c.unattributed or "the gap is not attributed")))
    do = _one_thing(c, worse, better)
    if do is not None:
        out.append(do)
    return out


def gap_text(gap: float) -> str:
    """A gap to 4 decimals, signed, and 0.0000 unsigned where it prints as 0 (-0.0000 had
    read as a worse run that ended lower)."""
    return "0.0000" if abs(gap) < LEVEL else f"{gap:+.4f}"


def apart(c: Comparison) -> str:
    """Two runs whose gap prints as 0 and that are not level (runs that never trained)."""
    return f"end 0.0000 {c.unit} apart (final {c.metric})"


def level(c: Comparison) -> bool:
    """Whether the runs end level: a gap that prints as 0.0000 (compare.LEVEL), after
    training (two runs that never trained share their initial loss: compare.UNTRAINED)."""
    return c.gap is not None and abs(c.gap) < LEVEL and UNTRAINED not in (c.unattributed or "")


def spent_text(c: Comparison) -> str:
    """Why, of runs that end level, the reference is called the better (compare._spent)."""
    for name, what in (("tokens_seen", "tokens"), ("steps_done", "steps")):
        pair = getattr(c.derived, name) if c.derived is not None else None
        if pair is not None and pair.other and pair.reference and pair.other != pair.reference:
            return f"it got there in fewer {what}, {pair.reference:,.0f} against {pair.other:,.0f}"
    return "the two spent alike, or their cost is unknown"


def sooner_text(c: Comparison, worse: str, better: str) -> str | None:
    """Where runs that end level differ: the last shared point of equal tokens (else
    steps, else FLOPs) at which their curves are a hundredth or more apart."""
    if c.overlap is None:
        return None
    for axis, points in (("tokens", c.overlap.tokens), ("steps", c.overlap.steps), ("FLOPs", c.overlap.flops)):
        apart = [p for p in points if abs(p.diff) >= 0.01]
        if apart:
            p = apart[-1]
            low, high = (worse, better) if p.diff < 0 else (better, worse)
            x = f"{p.x:,.0f}" if axis == "steps" else f"{p.x:.3g}"
            return (f"at equal {axis} ({x}) {low} is {abs(p.diff):.4f} {c.unit} below {high} "
                    f"({min(p.a, p.b):.4f} against {max(p.a, p.b):.4f})")
    return None


def _one_thing(c: Comparison, worse: str, better: str) -> RenderableType | None:
    if c.continues:
        return Text.assemble(("Do: ", "bold"), continued_text(worse, better, c.held))
    if c.went_on is not None:
        return Text.assemble(("Do: ", "bold"), went_on_text(worse, better, c.went_on))
    r = c.to_reach
    if r is None:
        stop = stop_text(c)
        return Text.assemble(("Do: ", "bold"), stop) if stop else None
    if isinstance(r, Reachable):
        if r.instead is not None:
            return Group(Text.assemble(("Do: ", "bold"), instead_do(r)), _flags(r.instead))
        return Group(Text.assemble(("Do: ", "bold"), rerun_do(r)), _flags(r.flags))
    do = Text.assemble(("Do: ", "bold"), unreachable_do(r, c))
    return Group(do, _flags(r.flags)) if r.flags else do
