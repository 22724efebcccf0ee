"""The passes around one prediction (Extrapolator._extrapolate): where the calibration
blends, the same prediction by the calibrated law alone mixed in (blend.py), said against
the run's own points where other runs joined; and a scenario whose LR is 0 from a step
before the target held at that step (scenarios.frozen_from)."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import replace

import numpy as np

from ..run import Run
from . import blend
from . import notes as notes_mod
from . import scenarios as scenarios_mod
from .calibration import Calibration
from .parts import Observed
from .points import CannotExtrapolate
from .results import Extrapolation
from .runfits import RunFits
from .scenarios import CustomLr, CustomSchedule

SCENARIOS = ("rerun", "resume", "constant")


class Passes(RunFits, ABC):
    """What an Extrapolator does around each prediction it makes (`_extrapolate`); the
    prediction itself, and the run's points, are the Extrapolator's (extrapolate.py)."""

    @abstractmethod
    def extrapolate(self, to: int, scenarios: tuple[str, ...] = SCENARIOS,
                    schedule: CustomLr | None = None) -> Extrapolation:
        """The prediction at `to`, these passes made around it."""

    @abstractmethod
    def _extrapolate(self, to: int, scenarios: tuple[str, ...], custom: CustomSchedule | np.ndarray | None,
                     blend_error: bool = True) -> Extrapolation:
        """The prediction at `to`, before these passes."""

    @abstractmethod
    def _observed(self) -> Observed:
        """The run's points and schedule."""

    @abstractmethod
    def _sibling(self, calibration: Calibration, calibrate: tuple[Run, ...]) -> Passes:
        """The same run fitted with another calibration, or other runs joined."""

    def _held(self, x: Extrapolation, custom: CustomSchedule | np.ndarray | None) -> Extrapolation:
        """`x` with each scenario whose LR is 0 from a step `at` before the target predicted
        at `at` (one step past the run at the earliest): no step after it updates a weight,
        so neither the loss nor its uncertainty grows on to the target."""
        to, last = x.target_step, x.last_step
        if to <= last:
            return x
        obs, resumed = self._observed(), self.run.resumes_last()
        out, notes = [], list(x.notes)
        for sc in x.scenarios:
            start = self._goes_on_from(sc.name, obs)[0]
            rate = scenarios_mod.lr(sc.name, custom if sc.name == "custom" else None, obs.schedule, start, to,
                                    resumed)[0]
            frozen = scenarios_mod.frozen_from(rate, start, to)
            at = max(frozen, last + 1)
            if at < to:
                with contextlib.suppress(CannotExtrapolate):  # (then as predicted at the target)
                    there = self.extrapolate(at, (sc.name,), custom)
                    sc = scenarios_mod.held(sc, there.scenarios[0], frozen, at, to)
                    # one scenario asked: every note is of its prediction where it is held
                    notes = (list(there.notes) if len(x.scenarios) == 1 else
                             scenarios_mod.held_notes(notes, there.notes, sc.name))
            elif frozen < to:  # one step past the run, its LR already 0: predicted there, and said
                sc = scenarios_mod.held(sc, sc, frozen, to, to)
            out.append(sc)
        return replace(x, scenarios=tuple(out), notes=tuple(notes))

    def _blended(self, to: int, scenarios: tuple[str, ...], custom: CustomSchedule | np.ndarray | None
                 ) -> Extrapolation:
        """The pass below; where the calibration blends (a share of the law alone strictly
        between 0 and 1), mixed with the same pass by the calibrated law alone (blend.py),
        unless the run rules that law out."""
        x = self._extrapolate(to, scenarios, custom)
        cal = self.calibration
        share = cal.alone_share(x.last_step, self.reference)
        if not 0 < share < 1 or cal.blend_from is None or cal.alone_from is None or to <= x.last_step:
            return x  # inside the run, the run as the ensemble fits it (the law alone is measured past it)
        obs = self._observed()
        if why := self._alone_ruled_out(obs, obs.schedule.peak(to + 1)):
            return blend.unblended(x, share, why)
        alone = self._once(("alone",), lambda: self._sibling(cal.alone_sibling(x.last_step), self.calibrate))
        try:
            y = alone.extrapolate(to, scenarios, custom)
            offsets = blend.ends(self.extrapolate(x.last_step), alone.extrapolate(x.last_step))  # at the run's end
        except CannotExtrapolate as e:  # the ensemble alone, with its own model error, not the blend's
            return blend.unblended(self._extrapolate(to, scenarios, custom, blend_error=False), share, str(e))
        mixed = blend.blend(x, blend.anchored(y, offsets), share, cal.blend_from, cal.alone_from)
        return self._without_others(mixed, to, scenarios, custom) if self.calibrate else mixed

    def _without_others(self, x: Extrapolation, to: int, scenarios: tuple[str, ...],
                        custom: CustomSchedule | np.ndarray | None) -> Extrapolation:
        """A blend fitted with other runs (`calibrate`), with a note on its first scenario's val
        blended from the run's own points alone: the blend drops the ensemble's own such note."""
        first = x.scenarios[0] if x.scenarios else None
        if first is None or first.val is None:
            return x
        bare = self._once(("without others",), lambda: self._sibling(self.calibration, ()))
        try:
            a = bare.extrapolate(to, scenarios[:1], custom).scenarios[0].val
        except CannotExtrapolate:
            return x
        if a is None:
            return x
        return replace(x, notes=(*x.notes, notes_mod.without_them(first.name, "the other runs", a, first.val)))

