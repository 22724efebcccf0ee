"""`lossdoctor verify` output: a table of verdicts (rich), Markdown, and one JSON document
(docs/json-schema.md, "verify")."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..verify.results import ExperimentResult, VerifyReport
from ..verify.stats import ArmStats, NoiseFloor, Verification
from .findings import WideOrLines, hanging
from .json_report import clean

SCHEMA_VERSION = 1
STYLE = {"confirmed": "bold green", "refuted": "bold red", "no effect": "cyan", "inconclusive": "yellow",
         "not verifiable here": "dim"}


def to_json(report: VerifyReport) -> str:
    from .. import __version__
    doc = {"schema_version": SCHEMA_VERSION, "tool": "lossdoctor", "version": __version__,
           "experiments": [experiment_dict(e) for e in report.experiments],
           "noise": _noise(report.noise), "device": report.device or None, "budget": report.budget_s,
           "notes": list(report.notes)}
    return json.dumps(clean(doc), indent=2, allow_nan=False)


def experiment_dict(e: ExperimentResult) -> dict[str, Any]:
    v = e.verification
    eff = v.effect
    ci = eff.ci if eff is not None else None
    return {"id": e.id, "recommendation": e.recommendation, "flags": e.flags,
            "metric": {"name": v.metric.name, "unit": v.metric.unit, "better": v.metric.better},
            "baseline": _arm(v.baseline), "treatment": _arm(v.treatment),
            "effect": None if eff is None else {"mean": eff.estimate, "lo": ci.low if ci else None,
                                                 "hi": ci.high if ci else None, "unit": eff.unit,
                                                 "level": ci.level if ci else None},
            "p_value": v.p_value, "p_one_sided": None if v.p_value is None else v.p_value / 2, "alpha": v.alpha,
            "test": v.test.kind if v.test else None, "verdict": v.verdict,
            "reason": v.reason, "min_detectable_effect": v.mde,
            "margin": None if v.margin is None else v.margin.value,
            "how": e.how, "scaled": e.scaled or None, "seeds": list(e.seeds), "expects": e.expects,
            "supports_recommendation": e.supports}


def _arm(a: ArmStats | None) -> dict[str, Any] | None:
    return None if a is None else {"mean": a.mean, "sd": a.sd, "n": a.n, "values": list(a.values)}


def _noise(n: NoiseFloor | None) -> dict[str, Any] | None:
    return None if n is None else {"baseline_sd": n.baseline_sd, "treatment_sd": n.treatment_sd,
                                   "difference_sd": n.difference_sd, "unit": n.unit}


def render(report: VerifyReport) -> RenderableType:
    parts: list[RenderableType] = [_Verdicts(report)]
    for e in report.experiments:
        lines = [f"{_support_text(e)}: {e.verification.reason}"]
        if e.flags:  # as trained: a scaled experiment's, not the recommendation's own
            lines.append(f"flags{' as trained (scaled, below)' if e.scaled else ''}: {e.flags}")
        lines += [f"metric: {e.verification.metric.name} "
                  f"({e.verification.metric.unit}, {e.verification.metric.better} is better)", f"how: {e.how}"]
        if e.verification.mde is not None:
            lines.append(f"smallest effect this design could detect: {e.verification.mde:.3g} "
                         f"{e.verification.metric.unit}")
        if e.scaled:
            lines.append(f"scaled: {e.scaled}")
        parts.append(Text(f"{e.id}: {e.recommendation}"))
        parts += [hanging("  ", Text(line)) for line in lines]  # a wrapped line stays under its first
    if report.noise is not None and report.noise.baseline_sd is not None:
        parts.append(Text(f"seed noise (sd over the baseline seeds): {report.noise.baseline_sd:.4g} "
                          f"{report.noise.unit}"))
    parts += [Text(n, style="dim") for n in report.notes]
    return Group(*parts)


class _Verdicts(WideOrLines):
    """The verdicts as a table of experiment, baseline, treatment, effect and verdict; on a
    console too narrow for the five side by side, each experiment as a block of lines."""

    WIDE = 72  # columns the table needs without folding a number or a verdict
    TITLE = "lossdoctor verify"

    def __init__(self, report: VerifyReport) -> None:
        self.report = report

    def lines(self) -> Iterator[RenderableType]:
        for e in self.report.experiments:
            v = e.verification
            yield Text.assemble((e.id, "bold"), "  ", (v.verdict, STYLE.get(v.verdict, "")))
            for label, arm in (("baseline", v.baseline), ("treatment", v.treatment)):
                yield hanging(f"  {label:10s}", Text(_arm_lines(arm).replace("\n", " ")))
            effect = _effect_lines(v).replace("\n", " ") + ("" if v.p_value is None else
                                                            f", p = {_p_text(v)} (one-sided)")
            yield hanging(f"  {'effect':10s}", Text(effect))

    def table(self) -> Table:
        table = Table(title=self.TITLE, title_justify="left", show_lines=True)
        table.add_column("experiment", overflow="fold")
        for col in ("baseline", "treatment", "effect, 95% CI, p"):
            table.add_column(col, overflow="fold")
        table.add_column("verdict", min_width=12)
        for e in self.report.experiments:  # a number a line, so that 80 columns never fold one
            v = e.verification
            effect = _effect_lines(v) + ("" if v.p_value is None else f"\np = {_p_text(v)}\n(one-sided)")
            table.add_row(_id_lines(e.id), _arm_lines(v.baseline), _arm_lines(v.treatment), effect,
                          Text(v.verdict, style=STYLE.get(v.verdict, "")))
        return table


def to_markdown(report: VerifyReport) -> str:
    rows = ["| experiment | flags | baseline | treatment | effect (95% CI) | one-sided p | verdict |",
            "|---|---|---|---|---|---|---|"]
    for e in report.experiments:
        v = e.verification
        flags = (f"`{e.flags}`" + (" as trained (scaled)" if e.scaled else "")) if e.flags else ""
        cells = [e.id, flags, _arm_text(v.baseline), _arm_text(v.treatment),
                 _effect_text(v), _p_text(v), f"**{v.verdict}**"]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out = ["# lossdoctor verify", "", *rows, ""]
    for e in report.experiments:
        out.append(f"- **{e.id}**: {_support_text(e)}")
    detail = []
    for e in report.experiments:
        detail += [f"- **{e.id}** ({e.recommendation}): {e.verification.reason}. {e.how}"
                   + (f" Scaled: {e.scaled}" if e.scaled else "")]
    if report.noise is not None and report.noise.baseline_sd is not None:
        detail += ["", f"Seed noise (sd over the baseline seeds): {report.noise.baseline_sd:.4g} {report.noise.unit}."]
    detail += [f"- {n}" for n in report.notes]
    out += ["", "<details><summary>How each experiment ran, and why its verdict</summary>", "", *detail, "",
            "</details>"]
    return "\n".join(out) + "\n"


def _support_text(e: ExperimentResult) -> str:
    """The verdict read against the recommendation (`no effect` supports a recommendation
    that expects none)."""
    word = {True: "supports the recommendation", False: "goes against the recommendation",
            None: "settles nothing yet"}[e.supports]
    return f"{e.verification.verdict}, {word}"


ID_WIDTH = 12  # characters a line of the experiment column holds before a name breaks


def _id_lines(experiment_id: str) -> str:
    """A rule's experiment as its code over its name (LD101 / still-improving), so that the
    column stays narrow; `--only` takes either. A long name breaks after a hyphen
    (dtype- / ignored-on- / cpu), never inside a word."""
    code, _, name = experiment_id.partition("-")
    if not (re.fullmatch(r"LD\d+", code) and name):  # another id breaks after its hyphens too
        code, name = "", experiment_id
    lines = [""]
    for part in re.findall(r"[^-]+-?|-", name):
        if lines[-1] and len(lines[-1]) + len(part) > ID_WIDTH:
            lines.append("")
        lines[-1] += part
    return "\n".join([code, *lines] if code else lines)


def _num(x: float, digits: int = 3, sign: str = "") -> str:
    """x to `digits` significant digits; from 100 on as a whole number, with commas
    (23,804 tokens/s, not 2.38e+04; 463, not 4.6e+02)."""
    if 100 <= abs(x) < 1e15:
        return f"{x:{sign},.0f}"
    return f"{x:{sign}.{digits}g}"


def _arm_text(a: ArmStats | None) -> str:
    """An arm on one line: mean ± sd (n=N)."""
    return "-" if a is None else " ".join(_arm_parts(a))


def _arm_lines(a: ArmStats | None) -> str:
    """An arm as the terminal table shows it: mean, ± sd and n, each on its own line."""
    return "-" if a is None else "\n".join(_arm_parts(a))


def _arm_parts(a: ArmStats) -> list[str]:
    sd = [f"± {_num(a.sd, 2)}"] if a.sd is not None else []
    return [_num(a.mean, 4), *sd, f"(n={a.n})"]


def _effect_text(v: Verification) -> str:
    """The effect on one line: estimate, unit and 95% interval."""
    return " ".join(_effect_parts(v)) if v.effect is not None else "-"


def _effect_lines(v: Verification) -> str:
    """The effect as the terminal table shows it: estimate, interval ends and unit, a line each."""
    parts = _effect_parts(v)
    return "-" if v.effect is None else "\n".join([parts[0], *parts[2:], parts[1]])


def _effect_parts(v: Verification) -> list[str]:
    e = v.effect
    if e is None:
        return []
    ci = [f"[{_num(e.ci.low, sign='+')},", f"{_num(e.ci.high, sign='+')}]"] if e.ci is not None else []
    return [_num(e.estimate, sign="+"), e.unit, *ci]


def _p_text(v: Verification) -> str:
    """The one-sided p in the effect's direction, which the verdict uses (stats.py): half the
    two-sided p_value, to 3 significant digits (0.0101 to 2 read as 0.01, alpha itself,
    beside a verdict that it is not below alpha)."""
    p = v.p_value
    return "-" if p is None else f"{p / 2:.3g}"
