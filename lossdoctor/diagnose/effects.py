"""A finding's expected effect on the final val loss: none, unknown, a value its rule
computes from the run's facts, or the extrapolation of the run's own curve to the rule's
target step (computed once per target and scenario, however many rules ask)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..run import Run
from .expr import EvalError, Missing, evaluate
from .rules import Rule
from .sections import SCENARIOS

if TYPE_CHECKING:
    from ..fit.extrapolate import Extrapolator


@dataclass(frozen=True)
class EffectEstimate:
    kind: str  # extrapolation | measured | rule_of_thumb | none | unknown
    value: float | None  # change in the metric (final val loss, nats, unless unit says)
    unit: str
    source: str
    lo: float | None = None  # interval, for an extrapolation
    hi: float | None = None
    note: str | None = None  # why there is no value
    on: str = "final val"  # the loss it changes: "final train loss" for a run that logs no val


DOES_NOT_APPLY = "this run shows nothing to base it on"  # a rule's value or target step that gave None
LOSS_UNITS = ("nats", "bpb")  # a change of the final val: in the run's unit (EffectEstimate.unit)


def expected_effect(rule: Rule, scope: Mapping[str, Any], effects: Extrapolations | None,
                    why_missing: Callable[[str], str], val_unit: str = "nats") -> EffectEstimate:
    """The finding's expected effect as its rule declares it: none, unknown, a value the
    rule computes from the run's facts (`scope`), or the extrapolation of the run to the
    rule's target step under its scenario. `why_missing(fact)` says why a fact the value
    needs is unknown. A change of the final val is in the run's `val_unit` (nanochat's bpb),
    whatever unit of loss the rule was written in."""
    e = rule.effect
    # the rules write a change of the loss in nats: one computed from the run's own val is in
    # its unit, a constant stays in nats
    constant = e.value is not None and not e.value.names
    unit = e.unit if e.unit not in ("", "nats") or constant else val_unit
    # a run that logs no val: a rule's estimate is of its train loss
    on = "final val" if scope.get("final_val") is not None or scope.get("best_val") is not None \
        else "final train loss"
    if e.kind == "none":  # a reading or the speed changes, not the loss
        return EffectEstimate("none", 0.0, unit, e.source, on=on)
    if e.kind == "unknown":  # the loss changes, by an amount the run cannot show
        return EffectEstimate("unknown", None, unit, e.source, note="not estimated", on=on)
    if e.kind in ("measured", "rule_of_thumb"):
        try:
            got = evaluate(e.value, scope)  # type: ignore[arg-type]
            if got is None:  # the rule's estimate does not apply to this run
                return EffectEstimate(e.kind, None, unit, e.source, note=DOES_NOT_APPLY, on=on)
            value = float(got)
        except Missing as m:  # the report writes "not computed (<note>)"
            return EffectEstimate(e.kind, None, unit, e.source, note=why_missing(m.name), on=on)
        except (EvalError, TypeError, ValueError, ArithmeticError) as err:
            return EffectEstimate(e.kind, None, unit, e.source, note=str(err), on=on)
        return EffectEstimate(e.kind, value if math.isfinite(value) else None, unit, e.source, on=on)
    try:
        step = evaluate(e.to, scope)  # type: ignore[arg-type]
        if step is None:  # the rule's target does not apply to this run
            return EffectEstimate(e.kind, None, unit, e.source, note=DOES_NOT_APPLY)
        to = int(step)
    except (Missing, EvalError, TypeError, ValueError, ArithmeticError) as err:
        return EffectEstimate(e.kind, None, unit, e.source, note=f"no target step: {err}")
    if effects is None:
        return EffectEstimate(e.kind, None, unit, e.source, note="no run to extrapolate (facts only)")
    scenario: object = e.scenario or "rerun"
    if scenario not in SCENARIOS:  # a let's name: the scenario that fits this run
        scenario = scope.get(str(scenario))
        if scenario not in SCENARIOS:
            return EffectEstimate(e.kind, None, unit, e.source, note=f"no scenario: {e.scenario} gave {scenario!r}")
    return effects.get(to, str(scenario), e.source)


class Extrapolations:
    """Predicted change of the final val when the run goes on to step `to` (computed once
    per target and scenario)."""

    def __init__(self, run: Run, extrapolator: Extrapolator | None = None) -> None:
        self.run = run
        self._extrapolator = extrapolator
        self._done: dict[tuple[int, str], EffectEstimate] = {}

    def get(self, to: int, scenario: str, source: str) -> EffectEstimate:
        key = (to, scenario)
        if key not in self._done:
            self._done[key] = self._compute(to, scenario, source)
        return self._done[key]

    def _compute(self, to: int, scenario: str, source: str) -> EffectEstimate:
        if scenario == "before_resume":
            return self._fresh_not_resumed(to, source)
        from ..fit.extrapolate import CannotExtrapolate, Extrapolator
        if self._extrapolator is None:
            self._extrapolator = Extrapolator(self.run)
        try:
            x = self._extrapolator.extrapolate(to, scenarios=(scenario,))
        except CannotExtrapolate as e:  # where no later val is predicted at all, that is why, not the horizon
            return EffectEstimate("extrapolation", None, self.run.measures.val_unit, source,
                                  note=self._no_val_past(scenario) or e.why)
        s = next((s for s in x.scenarios if s.name == scenario), None)
        ev, _ = self.run.curves()
        if s is None or s.val is None or not len(ev):  # why val is not predicted: too few evals, or the scenario's
            from ..fit.notes import why_no_val
            return EffectEstimate("extrapolation", None, self.run.measures.val_unit, source, note=why_no_val(x, s))
        last = float(ev.val[-1])
        src = f"{source}: {scenario} to step {to:,}, val {s.val.mean:.4f} ({s.val.level:.0%} interval " \
              f"{s.val.lo:.4f} to {s.val.hi:.4f})"
        if 0 < x.alone_share < 1:  # said, as extrapolate's note says it
            from ..fit.blend import percent
            src += f"; a blend of the ensemble and the calibrated-shape law alone, {percent(x.alone_share)} the latter"
        return EffectEstimate("extrapolation", s.val.mean - last, self.run.measures.val_unit, src, s.val.lo - last,
                              s.val.hi - last)

    def _fresh_not_resumed(self, to: int, source: str) -> EffectEstimate:
        """A fresh run to `to` against the resume the run made to it: what its resume cost,
        with the sign of a change (fit/resumed.py); its interval the cost's measured error."""
        from ..fit.resumed import REWARM_ERROR, resume_cost
        unit = self.run.measures.val_unit
        found = resume_cost(self.run)
        if isinstance(found, str):
            return EffectEstimate("extrapolation", None, unit, source, note=found)
        if found.end != to:
            return EffectEstimate("extrapolation", None, unit, source,
                                  note=f"its resume ran to step {found.end:,}, not {to:,}")
        v = -found.cost
        src = (f"{source}: its process before the resume at step {found.step:,}, extrapolated to step {to:,} as a "
               f"fresh run (val {found.fresh.mean:.4f}) and as it resumed ({found.resumed.mean:.4f}); the interval "
               "is the cost's error measured on trained pairs (docs/compare.md)")
        return EffectEstimate("extrapolation", v, unit, src, v - REWARM_ERROR, v + REWARM_ERROR)

    def _no_val_past(self, scenario: str) -> str | None:
        """Why no val is predicted one step past the run (too few evals, val past its
        minimum), where that is so: a refusal of a far target (the horizon, the epochs)
        had named a farthest step where val is not predicted either; None otherwise."""
        from ..fit.extrapolate import CannotExtrapolate
        from ..fit.notes import why_no_val
        assert self._extrapolator is not None
        ev, it = self.run.curves()
        steps = [int(a[-1]) for a in (ev.step, it.step) if len(a)]
        if not steps:
            return None
        try:
            x = self._extrapolator.extrapolate(max(steps) + 1, scenarios=(scenario,))
        except CannotExtrapolate as e:
            return e.why
        s = next((s for s in x.scenarios if s.name == scenario), None)
        return why_no_val(x, s) if s is None or s.val is None else None
