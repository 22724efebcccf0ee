"""A run between two measured regimes: the ensemble, L0 fitted, and the calibrated-shape law
alone, through L0 = 0 (best from 2,000 steps on). Below `Calibration.blend_from` steps (the
calibration grid's runs of 400 to 1,000) each estimate is their mixture with the law alone's
share `short_share`, the mixture measured better there than either law; from there to
`alone_from` steps the share grows to 1 with log2 of the run's steps
(`Calibration.alone_share`), so that two logs of one run a step apart get predictions a step
apart, not up to 0.06 nats.

The mixture's mean is the shares' weighted mean; its variance is the shares' weighted
variances plus the spread between the two means, so an interval is as wide as the two
disagree; each scenario's law weights are mixed likewise (the law alone counts with the
calibrated law). What else is said of the fit (the shapes, the backtests and the ensemble's
weights, the notes, each scenario's note) is the ensemble's, with a note that gives both
predictions. Inside the run nothing is blended: the law alone is measured past it, and
there the ensemble follows the run's own points.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .interval import z
from .reference import carry
from .results import Estimate, Extrapolation, LawWeights, Path, Scenario


def estimate(ensemble: Estimate | None, alone: Estimate | None, share: float) -> Estimate | None:
    """The mixture of two estimates at the same level, `share` the second's; None where
    either is (a val one side does not predict is not predicted)."""
    if ensemble is None or alone is None:
        return None
    a, b = ensemble, alone
    mean = (1 - share) * a.mean + share * b.mean
    var = (1 - share) * a.sd ** 2 + share * b.sd ** 2 + share * (1 - share) * (a.mean - b.mean) ** 2
    sd = math.sqrt(var)
    half = z(a.level) * sd
    return Estimate(mean, max(mean - half, 0.0), mean + half, a.level, sd)  # a cross-entropy is never below 0


def path(ensemble: Path | None, alone: Path | None, share: float) -> Path | None:
    """Two paths over the same steps, mixed; the ensemble's where the steps differ."""
    if ensemble is None or alone is None or ensemble.steps != alone.steps:
        return ensemble
    return Path(ensemble.steps, tuple((1 - share) * a + share * b
                                      for a, b in zip(ensemble.values, alone.values, strict=True)))


def weights(ensemble: LawWeights | None, alone: LawWeights | None, share: float) -> LawWeights | None:
    """The laws' weights in the mixture: the calibrated law's counts both its forms."""
    if ensemble is None or alone is None:
        return ensemble
    return LawWeights((1 - share) * ensemble.calibrated + share * alone.calibrated,
                      (1 - share) * ensemble.free + share * alone.free)


def scenario(ensemble: Scenario, alone: Scenario, share: float) -> Scenario:
    return replace(ensemble, val=estimate(ensemble.val, alone.val, share),
                   train=estimate(ensemble.train, alone.train, share), path=path(ensemble.path, alone.path, share),
                   weights=weights(ensemble.weights, alone.weights, share))


def ends(ensemble: Extrapolation, alone: Extrapolation) -> tuple[float | None, float | None]:
    """(val, train): the ensemble's fitted value at the run's last step minus the law
    alone's, each an extrapolation to that step (None: one of them predicts none)."""
    a, b = ensemble.scenarios[0], alone.scenarios[0]

    def apart(x: Estimate | None, y: Estimate | None) -> float | None:
        return x.mean - y.mean if x is not None and y is not None else None

    return apart(a.val, b.val), apart(a.train, b.train)


def anchored(alone: Extrapolation, offsets: tuple[float | None, float | None]) -> Extrapolation:
    """The law alone's extrapolation moved by its miss at the run's end against the
    ensemble (`ends`), fading past the run as the reference runs' end offset does
    (reference.carry): one step past the run, the run's level as the ensemble fits it, not
    the law alone's, whose fit through L0 = 0 may miss a short run's end; at 2.5x under
    0.3% of the miss is left."""
    last, to = alone.last_step, alone.target_step
    keep = carry(to, last)

    def moved(e: Estimate | None, off: float | None) -> Estimate | None:
        if e is None or off is None:
            return e
        d = off * keep
        return replace(e, mean=e.mean + d, lo=max(e.lo + d, 0.0), hi=e.hi + d)

    def path(p: Path | None) -> Path | None:
        if p is None or offsets[0] is None:
            return p
        return Path(p.steps, tuple(v + offsets[0] * carry(s, last) for s, v in zip(*p, strict=True)))

    return replace(alone, scenarios=tuple(replace(sc, val=moved(sc.val, offsets[0]), train=moved(sc.train, offsets[1]),
                                                  path=path(sc.path)) for sc in alone.scenarios))


def blend(ensemble: Extrapolation, alone: Extrapolation, share: float, blend_from: int, alone_from: int
          ) -> Extrapolation:
    """The ensemble's extrapolation with the law alone's mixed in at `share`."""
    mixed = tuple(scenario(a, b, share) for a, b in zip(ensemble.scenarios, alone.scenarios, strict=True))
    # the first scenario without the other runs against with them: the ensemble's estimate
    # alone, which the table no longer shows
    compared = tuple(n for n in ensemble.notes if not n.startswith(f"{ensemble.scenarios[0].name} without the ")
                     ) if ensemble.scenarios else ensemble.notes
    return replace(ensemble, scenarios=mixed,  # fit_path: inside the run, the run as the ensemble fits it
                   notes=(*compared, note(ensemble, alone, share, blend_from, alone_from)), alone_share=share)


def note(ensemble: Extrapolation, alone: Extrapolation, share: float, blend_from: int, alone_from: int) -> str:
    """What the blend is, and the two predictions of the first scenario it mixes."""
    both = next(((a, b) for a, b in zip(ensemble.scenarios, alone.scenarios, strict=True)
                 if (a.val or a.train) is not None and (b.val or b.train) is not None), None)
    said = ""
    if both is not None:
        a, b = both
        kind, x, y = ("val", a.val, b.val) if a.val is not None and b.val is not None else ("train", a.train, b.train)
        assert x is not None and y is not None
        said = f"; {a.name}'s {kind}: {x.mean:.4f} by the ensemble, {y.mean:.4f} by the law alone"
    if ensemble.last_step <= blend_from:
        where = (f"at most the {blend_from:,} steps up to which the ensemble (L0 fitted) and the "
                 "calibrated-shape law alone (L0 = 0) blended at this share measured better than either, on the "
                 f"calibration grid's runs of 400 to 1,000 steps (from there the law alone's share grows, to all "
                 f"of it at {alone_from:,})")
    else:
        where = (f"between the {blend_from:,} steps from which the ensemble (L0 fitted) gives way to the "
                 f"calibrated-shape law alone (L0 = 0) and the {alone_from:,} from which the law alone was "
                 "measured best")
    return (f"the run is {ensemble.last_step:,} steps long, {where}: each estimate blends the two, "
            f"{percent(share)} the law alone (moved to the run's end as the ensemble fits it, the "
            f"difference fading past the run), its interval as wide as they disagree{said}; a scenario's "
            "law weights count the law alone with the calibrated law's, and the shapes, the laws' backtest "
            "and weights, and the notes are the ensemble's "
            "(docs/extrapolation.md)")


def percent(share: float) -> str:
    """A share strictly between 0 and 1 as a percentage that says so (99.9%, not 100%)."""
    text = f"{share:.0%}"
    return f"{share:.1%}" if text in ("0%", "100%") else text


def unblended(ensemble: Extrapolation, share: float, why: str) -> Extrapolation:
    """The ensemble's extrapolation where the law alone gives none, said."""
    said = (f"the calibrated-shape law alone (L0 = 0), {percent(share)} of the estimates of a run of "
            f"{ensemble.last_step:,} steps, is not blended in: {why}")
    return replace(ensemble, notes=(*ensemble.notes, said))
