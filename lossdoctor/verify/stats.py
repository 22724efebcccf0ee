"""Does a recommendation hold up? The statistics of an A/B experiment over seeds.

An experiment trains a baseline and a treatment configuration on several seeds and reads
one metric per run (final val loss, tokens/s, time per iter, ...). The effect is always
treatment - baseline, in the metric's unit.

Tests
  paired t     when pairs are given: seed i of both arms shares the data order, and the
               per-seed differences d_i = treatment_i - baseline_i are tested (n - 1 df).
               Noise the two runs of a pair share cancels in d_i.
  Welch t      when pairing is impossible: unequal arm sizes, or two groups of existing
               runs' logs. Means compared without assuming equal variances, with the
               Welch-Satterthwaite df (Welch 1947, Biometrika 34:28-35).
  p (TTest.p_value) is two-sided. The report's CI is 95%. The verdicts use the decision
  interval, the (1 - 2 alpha) CI (98% at alpha = 0.01): each of its ends is a one-sided
  test at level alpha, as in the two one-sided tests (TOST) of Schuirmann 1987 (J.
  Pharmacokinet. Biopharm. 15:657-680). An effect is shown when that interval excludes 0:
  the one-sided p in the estimate's direction, p / 2, is below alpha. A claim has a
  direction, so each verdict is a one-sided test; "shown" below means that.

Verdicts (alpha = ALPHA = 0.01 unless given); the first that applies is the verdict:
  refuted      shown, and the effect has the sign opposite to the claimed direction.
  refuted      shown with the claimed sign, but the claim states a size S and the
               decision interval's upper bound on the effect in the claimed direction is
               below FAR_SMALLER * S = 0.5 S: with one-sided confidence 1 - alpha the true
               effect is less than half the claimed one ("far smaller than claimed").
  confirmed    shown, and the effect has the claimed sign. When the whole decision
               interval lies inside the equivalence margin the reason says the effect is
               real but smaller than the margin.
  no effect    not shown, and the decision interval lies within [-margin, +margin]
               (closed): TOST equivalence at level alpha.
  refuted      not shown, and the interval reaches beyond the margin, but the claim states
               a size S and the interval's bound in the claimed direction is below 0.5 S:
               the claimed size is excluded by a one-sided test at level alpha (e.g. a
               claimed "+20-30% tokens/s" against a measured +2 +- 3%).
  inconclusive anything else: fewer than 2 seeds in an arm (no sd, so no test), identical
               non-zero differences with only 2 seeds (see zero spread), or a decision
               interval that holds 0 but reaches beyond the margin; the reason then quotes
               the minimum detectable effect, the size more seeds would have to bring into reach.
  not verifiable here   the experiment could not run (no CUDA device, compile failed, ...):
               built with Verification.not_verifiable(claim, reason); no statistics.

Equivalence margin (an input; the default depends on the metric's kind, default_margin):
  loss         max(LOSS_MARGIN_NATS = 0.01 nats, sd of the baseline seeds): an effect below
               this is negligible, or no larger than what changing the seed does (a loss
               metric is taken to be in nats; with 1 baseline seed the floor alone).
  throughput, time, other   RELATIVE_MARGIN = 3% of |baseline mean|.

Zero spread. Values count as identical when they differ by at most 64 float64 ulps of the
largest sample. When all paired differences (Welch: both arms, each constant) are 0, p = 1
and the verdict is `no effect`. When all equal the same non-zero c, the t statistic is
unbounded (t grows without limit as the spread shrinks at a fixed mean), so p = 0 and the
decision interval is [c, c] -- taken only when n >= 3: logged values are rounded (nanoGPT
prints losses to 4 decimals), and with two pairs one tie of two rounded values is enough to
give zero spread by chance, while three equal differences need two independent ties. With
n = 2 the verdict is `inconclusive`.

Minimum detectable effect (mde): the true effect this design detects with probability
POWER = 0.8 in a two-sided test at alpha: (t[1 - alpha/2, df] + t[power, df]) * se, with se
and df from the observed sd(s) and n (Bloom 1995, Evaluation Review 19:547-556).

Noise floor: the sd over the baseline seeds, over the treatment seeds, and of the paired
differences (NoiseFloor), in the metric's unit.

Sequential seeds: sequential.py (sequential_decision: the rule and its error bound).
The records (Claim, Metric, Verification, ...): claims.py, re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .claims import (
    ALPHA,
    METRIC_KINDS,
    VERDICTS,
    ArmStats,
    Claim,
    Direction,
    Effect,
    Interval,
    Margin,
    Metric,
    MetricKind,
    NoiseFloor,
    Samples,
    TestKind,
    TTest,
    Verdict,
    Verification,
)

__all__ = ["ALPHA", "CI_LEVEL", "FAR_SMALLER", "LOSS_MARGIN_NATS", "METRIC_KINDS", "MIN_SEEDS_FOR_CONSTANT", "POWER",
           "RELATIVE_MARGIN", "ULPS", "VERDICTS", "ArmStats", "Claim", "Direction", "Effect", "FloatArray", "Interval",
           "Margin", "Metric", "MetricKind", "NoiseFloor", "Samples", "TTest", "TestKind", "Verdict", "Verification",
           "checked_settings", "default_margin", "detectable_effect", "minimum_detectable_effect", "noise_floor",
           "p_text", "verify"]

FloatArray = npt.NDArray[np.float64]

POWER = 0.8  # power at which the minimum detectable effect is quoted
CI_LEVEL = 0.95  # level of the reported confidence interval
FAR_SMALLER = 0.5  # refuted when the effect's upper bound is below this fraction of the claimed size
LOSS_MARGIN_NATS = 0.01  # smallest equivalence margin for a loss
RELATIVE_MARGIN = 0.03  # equivalence margin for other metrics, as a fraction of |baseline mean|
MIN_SEEDS_FOR_CONSTANT = 3  # identical non-zero differences count as significant from this n
ULPS = 64  # values closer than this many ulps of the largest sample are identical


@dataclass(frozen=True)
class _Settings:
    alpha: float
    far_smaller: float
    power: float


@dataclass(frozen=True)
class _Arms:
    b: FloatArray
    t: FloatArray
    paired: bool
    base: ArmStats
    treat: ArmStats
    noise: NoiseFloor


@dataclass(frozen=True)
class _Design:
    kind: TestKind
    n: int
    estimate: float
    se: float
    df: float
    constant: bool  # zero spread: every paired difference (Welch: each arm) is constant
    tol: float  # values closer than this are identical


def verify(baseline: Samples, treatment: Samples, claim: Claim, *, paired: bool, alpha: float = ALPHA,
           margin: float | None = None, far_smaller: float = FAR_SMALLER, power: float = POWER) -> Verification:
    """Test the claim on per-seed values of the metric (see the module doc for the rules).

    paired=True: baseline[i] and treatment[i] ran on the same seed (same data order); the arms
    must have equal lengths. paired=False: Welch's t-test on two independent groups.
    margin: the equivalence margin in the metric's unit; None for default_margin.
    alpha in (0, 0.5): significance level; the decision interval is the (1 - 2 alpha) CI.
    far_smaller in (0, 1]: the fraction of a claimed size below which a real effect refutes.
    power in [0.5, 1): the power at which the minimum detectable effect is quoted.
    Raises ValueError for NaN or infinite samples (naming the arm), an empty arm, or
    unequal arm lengths with paired=True.
    """
    settings = checked_settings(alpha, far_smaller, power)
    b = _samples(baseline, "baseline")
    t = _samples(treatment, "treatment")
    if paired and b.size != t.size:
        raise ValueError(f"paired test needs one treatment run per baseline seed: baseline has {b.size} "
                         f"values, treatment {t.size}; pass paired=False for unpaired groups")
    base, treat = _arm(b), _arm(t)
    arms = _Arms(b, t, paired, base, treat, _noise(base, treat, _sd(t - b) if paired else None, claim.metric.unit))
    marg = _margin(margin, claim.metric, arms.base)
    n = int(b.size) if paired else int(min(b.size, t.size))
    verdict, reason, effect, test, mde = _conclude(arms, claim, marg, settings)
    return Verification(claim, verdict, reason, alpha, paired, n, arms.base, arms.treat, effect, test, mde, marg,
                        arms.noise)


def noise_floor(baseline: Samples, treatment: Samples | None = None, *, paired: bool = False,
                unit: str = "") -> NoiseFloor:
    """Seed noise: sd over each arm's seeds and, with pairs, of the per-seed differences."""
    b = _samples(baseline, "baseline")
    t = None if treatment is None else _samples(treatment, "treatment")
    if paired and (t is None or t.size != b.size):
        raise ValueError("paired noise needs a treatment arm as long as the baseline arm")
    diff = _sd(t - b) if paired and t is not None else None
    return _noise(_arm(b), None if t is None else _arm(t), diff, unit)


def default_margin(metric: Metric, baseline: Samples) -> Margin:
    """The equivalence margin for a metric: for a loss, max(LOSS_MARGIN_NATS, sd of the
    baseline seeds); for anything else, RELATIVE_MARGIN of |baseline mean|."""
    return _default_margin(metric, _arm(_samples(baseline, "baseline")))


def _default_margin(metric: Metric, base: ArmStats) -> Margin:
    if metric.kind == "loss":  # the floor in the loss's own unit: nats, or bits per byte (nanochat's val)
        sd = base.sd
        if sd is not None and sd > LOSS_MARGIN_NATS:
            return Margin(sd, f"sd of the {base.n} baseline seeds, above the {LOSS_MARGIN_NATS:g} {metric.unit} floor")
        shown = "" if sd is None else f" (baseline seed sd {sd:.3g} is smaller)"
        return Margin(LOSS_MARGIN_NATS, f"{LOSS_MARGIN_NATS:g} {metric.unit} floor{shown}")
    mean = abs(base.mean)
    return Margin(RELATIVE_MARGIN * mean, f"{RELATIVE_MARGIN:.0%} of the baseline mean {mean:.4g} {metric.unit}")


def minimum_detectable_effect(sd: float, n: int, *, paired: bool, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true effect detected with probability `power` by a two-sided test at
    `alpha` with n seeds per arm: (t[1 - alpha/2, df] + t[power, df]) * se (Bloom 1995).

    paired: sd is the sd of the paired differences, se = sd / sqrt(n), df = n - 1.
    unpaired: sd is each arm's sd, se = sd * sqrt(2 / n), df = 2 n - 2.
    """
    checked_settings(alpha, FAR_SMALLER, power)
    if n < 2:
        raise ValueError(f"a t-test needs at least 2 seeds per arm, not {n}")
    if not (math.isfinite(sd) and sd >= 0):
        raise ValueError(f"sd must be a non-negative number, not {sd!r}")
    if paired:
        return detectable_effect(sd / math.sqrt(n), n - 1, alpha, power)
    return detectable_effect(sd * math.sqrt(2.0 / n), 2 * n - 2, alpha, power)


def checked_settings(alpha: float, far_smaller: float, power: float) -> _Settings:
    """The settings, or ValueError naming the one out of range."""
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), not {alpha!r}")
    if not 0 < far_smaller <= 1:
        raise ValueError(f"far_smaller must be in (0, 1], not {far_smaller!r}")
    if not 0.5 <= power < 1:
        raise ValueError(f"power must be in [0.5, 1), not {power!r}")
    return _Settings(alpha, far_smaller, power)


def _samples(values: Samples, arm: str) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{arm}: expected one value per seed, got an array of shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{arm}: no samples")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{arm}: sample {i} is {x[i]}; NaN and infinite values are refused (rerun or drop "
                         f"that seed, and its pair)")
    return x


def _sd(x: FloatArray) -> float | None:
    if x.size < 2:
        return None
    dev = x - float(x.sum()) / x.size
    return math.sqrt(float(dev @ dev) / (x.size - 1))


def _arm(x: FloatArray) -> ArmStats:
    return ArmStats(int(x.size), float(x.sum()) / x.size, _sd(x), tuple(x.tolist()))


def _noise(base: ArmStats, treat: ArmStats | None, difference_sd: float | None, unit: str) -> NoiseFloor:
    return NoiseFloor(base.sd, None if treat is None else treat.sd, difference_sd, unit)


def _margin(margin: float | None, metric: Metric, base: ArmStats) -> Margin:
    if margin is None:
        return _default_margin(metric, base)
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a non-negative number of {metric.unit}, not {margin!r}")
    return Margin(float(margin), "given")


def _t_quantile(q: float, df: float) -> float:
    from scipy.special import stdtrit
    return float(stdtrit(df, q))


def _two_sided_p(stat: float, df: float) -> float:
    from scipy.special import stdtr
    return float(min(1.0, 2.0 * stdtr(df, -abs(stat))))


def detectable_effect(se: float, df: float, alpha: float, power: float) -> float:
    """The smallest true effect a two-sided t-test at alpha detects with `power`, for a
    standard error se and df degrees of freedom (minimum_detectable_effect's formula)."""
    return (_t_quantile(1 - alpha / 2, df) + _t_quantile(power, df)) * se


def _design(a: _Arms) -> _Design:
    b, t = a.b, a.t
    tol = ULPS * float(np.spacing(max(float(np.max(np.abs(b))), float(np.max(np.abs(t))))))
    if a.paired:
        d = t - b
        n = int(d.size)
        se = (a.noise.difference_sd or 0.0) / math.sqrt(n)
        return _Design("paired t", n, float(d.sum()) / n, se, n - 1, float(np.ptp(d)) <= tol, tol)
    n1, n2 = a.base.n, a.treat.n
    v1, v2 = (a.base.sd or 0.0) ** 2 / n1, (a.treat.sd or 0.0) ** 2 / n2
    constant = float(np.ptp(b)) <= tol and float(np.ptp(t)) <= tol
    denom = v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1)
    df = (v1 + v2) ** 2 / denom if denom > 0 else float(n1 + n2 - 2)
    return _Design("Welch t", min(n1, n2), a.treat.mean - a.base.mean, math.sqrt(v1 + v2), df, constant, tol)


def _effect(estimate: float, unit: str, base: ArmStats, ci: Interval | None, decision: Interval | None) -> Effect:
    mean = abs(base.mean)
    return Effect(estimate, unit, estimate / mean if mean > 0 else None, ci, decision)


def _conclude(a: _Arms, claim: Claim, marg: Margin,
              s: _Settings) -> tuple[Verdict, str, Effect, TTest | None, float | None]:
    unit = claim.metric.unit
    b = a.base
    if a.base.n < 2 or a.treat.n < 2:
        estimate = float(np.mean(a.t - a.b)) if a.paired else a.treat.mean - a.base.mean
        few = "baseline" if a.base.n < 2 else "treatment"
        why = (f"only 1 seed {'per arm' if a.paired else 'in the ' + few + ' arm'}: no sd, so no test; "
               f"run at least 2 seeds per arm (3 or more to allow a verdict on identical differences)")
        return "inconclusive", why, _effect(estimate, unit, b, None, None), None, None
    d = _design(a)
    level = 1 - 2 * s.alpha
    if d.constant:
        return _conclude_constant(d, b, claim, marg, s)
    q_ci, q_dec = _t_quantile(0.5 + CI_LEVEL / 2, d.df), _t_quantile(1 - s.alpha, d.df)
    ci = Interval(d.estimate - q_ci * d.se, d.estimate + q_ci * d.se, CI_LEVEL)
    dec = Interval(d.estimate - q_dec * d.se, d.estimate + q_dec * d.se, level)
    stat = d.estimate / d.se
    test = TTest(d.kind, stat, d.df, _two_sided_p(stat, d.df))
    mde = detectable_effect(d.se, d.df, s.alpha, s.power)
    verdict, why = _decide(claim, d.estimate, test.p_value, dec, marg, mde, s)
    return verdict, why, _effect(d.estimate, unit, b, ci, dec), test, mde


def _conclude_constant(d: _Design, b: ArmStats, claim: Claim, marg: Margin,
                       s: _Settings) -> tuple[Verdict, str, Effect, TTest | None, float | None]:
    unit = claim.metric.unit
    paired = d.kind == "paired t"
    if abs(d.estimate) <= d.tol:
        zero = Interval(0.0, 0.0, CI_LEVEL)
        test = TTest(d.kind, 0.0, d.df, 1.0)
        verdict, why = _decide(claim, 0.0, 1.0, Interval(0.0, 0.0, 1 - 2 * s.alpha), marg, 0.0, s)
        what = f"all {d.n} paired differences are" if paired else "both arms are constant and equal, the difference is"
        return verdict, f"{what} exactly 0 (zero spread); " + why, _effect(0.0, unit, b, zero, zero), test, 0.0
    what = f"all {d.n} paired differences equal" if paired else "both arms are constant, the difference is"
    c = d.estimate
    if d.n < MIN_SEEDS_FOR_CONSTANT:
        why = (f"{what} {c:+.4g} {unit} with zero spread, but with only {d.n} seeds a tie of rounded values "
               f"can produce that by chance; identical differences count as significant from "
               f"{MIN_SEEDS_FOR_CONSTANT} seeds")
        return "inconclusive", why, _effect(c, unit, b, None, None), None, None
    point = Interval(c, c, CI_LEVEL)
    test = TTest(d.kind, math.copysign(math.inf, c), d.df, 0.0)
    verdict, why = _decide(claim, c, 0.0, Interval(c, c, 1 - 2 * s.alpha), marg, 0.0, s)
    prefix = f"{what} {c:+.4g} {unit} with zero spread over {d.n} seeds, taken as significant (p = 0); "
    return verdict, prefix + why, _effect(c, unit, b, point, point), test, 0.0


def _decide(claim: Claim, estimate: float, p: float, dec: Interval, marg: Margin, mde: float,
            s: _Settings) -> tuple[Verdict, str]:
    m = claim.metric
    u = m.unit
    level = f"{dec.level * 100:.4g}%"
    span = f"the {level} interval [{dec.low:+.4g}, {dec.high:+.4g}] {u}"
    inside = -marg.value <= dec.low and dec.high <= marg.value
    # the decision interval's ends are one-sided tests at alpha: an effect is shown, in the
    # direction of the estimate, when the interval excludes 0 (one-sided p = p / 2 < alpha)
    shown = dec.low > 0 or dec.high < 0
    signif = f"one-sided p = {p_text(p / 2, s.alpha)} < alpha {s.alpha:g}"
    if shown and claim.sign * estimate < 0:
        went = "higher" if estimate > 0 else "lower"
        return "refuted", (f"{m.name} is {went} with the treatment ({estimate:+.4g} {u}), against the claimed "
                           f"{claim.direction}; {signif}")
    if shown:
        bound = max(claim.sign * dec.low, claim.sign * dec.high)
        if claim.size is not None and bound < s.far_smaller * claim.size:
            return "refuted", (f"{m.name} is {claim.direction} as claimed ({signif}), but far smaller than claimed: "
                               f"{span} bounds the effect at {bound:.4g} {u}, below {s.far_smaller:g} x the "
                               f"claimed {claim.size:.4g} {u}")
        small = f"; {span} lies within the equivalence margin ±{marg.value:.4g} {u}: real but small" if inside else ""
        return "confirmed", f"{m.name} is {claim.direction} by {abs(estimate):.4g} {u} as claimed; {signif}{small}"
    if inside:
        return "no effect", (f"one-sided p = {p_text(p / 2, s.alpha)} >= alpha {s.alpha:g} and {span} lies within the "
                             f"equivalence margin ±{marg.value:.4g} {u} ({marg.basis})")
    bound = max(claim.sign * dec.low, claim.sign * dec.high)
    if claim.size is not None and bound < s.far_smaller * claim.size:
        return "refuted", (f"far smaller than claimed: {span} bounds the effect at {bound:.4g} {u}, below "
                           f"{s.far_smaller:g} x the claimed {claim.size:.4g} {u} (a one-sided test at alpha "
                           f"{s.alpha:g}); one-sided p = {p / 2:.2g} for no effect at all")
    return "inconclusive", (f"one-sided p = {p_text(p / 2, s.alpha)} >= alpha {s.alpha:g}: {span} holds 0 and reaches "
                            f"beyond the equivalence margin "
                            f"±{marg.value:.4g} {u}; with this noise and these seeds the smallest detectable "
                            f"effect ({s.power:.0%} power) is {mde:.3g} {u}")


def p_text(p: float, alpha: float) -> str:
    """p with 2 significant digits, or as many more as keep it apart from alpha (0.00996,
    not 0.01 < alpha 0.01)."""
    for digits in range(2, 7):
        text = f"{p:.{digits}g}"
        if (float(text) < alpha) == (p < alpha) and float(text) != alpha:
            return text
    return f"{p:.6g}"
