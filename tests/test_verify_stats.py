"""lossdoctor.verify.stats: verdicts, t-tests, minimum detectable effect, sequential looks."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest

from lossdoctor.verify import (
    ALPHA,
    VERDICTS,
    Claim,
    Metric,
    Verification,
    default_margin,
    minimum_detectable_effect,
    noise_floor,
    sequential_decision,
    verify,
)

LOSS = Metric.loss()
LONGER = Claim.improves(LOSS, size=0.05, recommendation="train longer")
LOWER = Claim.improves(LOSS, recommendation="batch 24 vs 12")
SCHEDULE = (3, 4, 5, 6, 8)


def seeds(rng: np.random.Generator, n: int, effect: float, sd: float, shared: float = 0.0,
          mu: float = 1.47) -> tuple[np.ndarray, np.ndarray]:
    """n paired seeds: `shared` noise is common to both runs of a pair, `sd` is each run's own."""
    common = mu + rng.normal(0.0, shared, n)
    return common + rng.normal(0.0, sd, n), common + effect + rng.normal(0.0, sd, n)


def test_planted_difference_is_confirmed_with_its_sign() -> None:
    b, t = seeds(np.random.default_rng(1), 5, -0.05, 0.005)
    for paired in (True, False):
        r = verify(b, t, LONGER, paired=paired)
        assert r.verdict == "confirmed", r.reason
        assert r.effect is not None and r.effect.ci is not None and r.effect.unit == "nats"
        assert r.effect.estimate == pytest.approx(-0.05, abs=0.01)
        assert r.effect.ci.high < 0 and r.effect.ci.level == 0.95
        assert r.p_value is not None and r.p_value < ALPHA
        assert r.n_seeds == 5 and r.test is not None
        assert r.test.kind == ("paired t" if paired else "Welch t")
        assert r.mde is not None and 0 < r.mde < 0.05
        assert r.effect.relative == pytest.approx(r.effect.estimate / abs(r.baseline.mean))  # type: ignore[union-attr]


def test_opposite_sign_is_refuted() -> None:
    b, t = seeds(np.random.default_rng(2), 5, +0.05, 0.005)
    r = verify(b, t, LONGER, paired=True)
    assert r.verdict == "refuted"
    assert r.effect is not None and r.effect.estimate > 0
    assert "against the claimed lower" in r.reason


def test_throughput_claim_direction_and_unit() -> None:
    rng = np.random.default_rng(3)
    tps = Metric.throughput()
    b = 100_000 + rng.normal(0, 800, 4)
    faster = verify(b, b * 1.25 + rng.normal(0, 800, 4), Claim.improves(tps, recommendation="--compile=True"),
                    paired=True)
    assert faster.verdict == "confirmed" and faster.effect is not None and faster.effect.unit == "tokens/s"
    assert faster.effect.relative == pytest.approx(0.25, abs=0.03)
    slower = verify(b, b * 0.8, Claim.improves(tps), paired=True)
    assert slower.verdict == "refuted"


def test_identical_configs_are_almost_never_confirmed() -> None:
    rng = np.random.default_rng(4)
    confirmed = {True: 0, False: 0}
    for _ in range(200):
        b, t = seeds(rng, 5, 0.0, 0.005, shared=0.01)
        for paired in (True, False):
            r = verify(b, t, LOWER, paired=paired)
            assert r.verdict in VERDICTS and r.verdict != "not verifiable here"
            confirmed[paired] += r.verdict == "confirmed"
    assert confirmed[True] <= 4 and confirmed[False] <= 4, confirmed


def test_large_variance_is_inconclusive() -> None:
    b, t = seeds(np.random.default_rng(5), 3, -0.02, 0.05)
    r = verify(b, t, LONGER, paired=True)
    assert r.verdict == "inconclusive"
    assert r.mde is not None and r.mde > 0.05
    assert "smallest detectable effect" in r.reason


def test_tight_zero_effect_within_margin_is_no_effect() -> None:
    b, t = seeds(np.random.default_rng(6), 8, 0.0, 0.001, shared=0.004)
    r = verify(b, t, LONGER, paired=True)
    assert r.verdict == "no effect", r.reason
    assert r.margin is not None and r.margin.value == pytest.approx(0.01)
    assert r.effect is not None and r.effect.decision is not None
    assert -0.01 <= r.effect.decision.low and r.effect.decision.high <= 0.01
    assert r.effect.decision.level == pytest.approx(1 - 2 * ALPHA)
    explicit = verify(b, t, LOWER, paired=True, margin=0.0005)
    assert explicit.verdict == "inconclusive" and explicit.margin is not None and explicit.margin.basis == "given"
    # the same interval excludes half of a claimed 0.05 nats: the claim's size is refuted
    sized = verify(b, t, LONGER, paired=True, margin=0.0005)
    assert sized.verdict == "refuted" and sized.reason.startswith("far smaller than claimed"), sized.reason


def test_a_claimed_size_outside_a_wide_null_interval_is_refuted() -> None:
    # compile on a small CPU model: +2% +- a few % against a claimed +20%
    rng = np.random.default_rng(11)
    base = 12000 + rng.normal(0, 300, 8)
    treat = base * 1.02 + rng.normal(0, 300, 8)
    claim = Claim.improves(Metric.throughput(), size=0.2 * 12000, recommendation="--compile=True")
    r = verify(base, treat, claim, paired=True)
    assert r.p_value is not None and r.p_value >= ALPHA
    assert r.verdict == "refuted" and "far smaller than claimed" in r.reason, r.reason
    unsized = verify(base, treat, Claim.improves(Metric.throughput()), paired=True)
    assert unsized.verdict in ("inconclusive", "no effect")


def test_significant_but_far_smaller_than_claimed_is_refuted() -> None:
    b, t = seeds(np.random.default_rng(7), 6, -0.01, 0.001)
    r = verify(b, t, LONGER, paired=True)
    assert r.verdict == "refuted"
    assert "far smaller than claimed" in r.reason
    assert verify(b, t, LOWER, paired=True).verdict == "confirmed"  # no size claimed
    # 80% of the claimed size is not far smaller
    b, t = seeds(np.random.default_rng(8), 6, -0.04, 0.001)
    assert verify(b, t, LONGER, paired=True).verdict == "confirmed"


def test_paired_test_has_more_power_when_pairs_share_noise() -> None:
    rng = np.random.default_rng(9)
    hits = {True: 0, False: 0}
    for _ in range(100):
        b, t = seeds(rng, 5, -0.02, 0.003, shared=0.05)
        for paired in (True, False):
            hits[paired] += verify(b, t, LOWER, paired=paired).verdict == "confirmed"
    assert hits[True] >= 90 and hits[False] <= 10, hits


def test_minimum_detectable_effect_shrinks_with_n() -> None:
    for paired in (True, False):
        mdes = [minimum_detectable_effect(0.01, n, paired=paired) for n in range(2, 21)]
        assert all(a > b for a, b in zip(mdes, mdes[1:], strict=False))
    at_half = minimum_detectable_effect(0.01, 30, paired=True, power=0.5)
    assert at_half < minimum_detectable_effect(0.01, 30, paired=True)
    # normal limit: (z_0.995 + z_0.8) * sd / sqrt(n)
    assert minimum_detectable_effect(1.0, 10_000, paired=True) == pytest.approx((2.5758 + 0.8416) / 100, rel=1e-3)
    b, t = seeds(np.random.default_rng(10), 6, -0.01, 0.004)
    r = verify(b, t, LOWER, paired=True)
    assert r.noise is not None and r.noise.difference_sd is not None
    assert r.mde == pytest.approx(minimum_detectable_effect(r.noise.difference_sd, 6, paired=True))
    with pytest.raises(ValueError, match="at least 2"):
        minimum_detectable_effect(0.01, 1, paired=True)


def test_p_values_match_scipy() -> None:
    from scipy import stats as sps
    rng = np.random.default_rng(11)
    for n, effect in ((4, -0.01), (7, 0.003), (12, 0.0)):
        b, t = seeds(rng, n, effect, 0.005, shared=0.01)
        r = verify(b, t, LOWER, paired=True)
        ref = sps.ttest_rel(t, b)
        assert r.test is not None and r.effect is not None and r.effect.ci is not None
        assert r.test.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert r.test.statistic == pytest.approx(ref.statistic, rel=1e-9)
        ci = ref.confidence_interval(0.95)
        assert (r.effect.ci.low, r.effect.ci.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    for nb, nt in ((3, 6), (5, 5), (9, 4)):
        b = 1.47 + rng.normal(0, 0.004, nb)
        t = 1.46 + rng.normal(0, 0.012, nt)
        r = verify(b, t, LOWER, paired=False)
        ref = sps.ttest_ind(t, b, equal_var=False)
        assert r.test is not None and r.effect is not None and r.effect.ci is not None
        assert r.test.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert r.test.df == pytest.approx(ref.df, rel=1e-9)
        ci = ref.confidence_interval(0.95)
        assert (r.effect.ci.low, r.effect.ci.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert r.n_seeds == min(nb, nt)


def _sequential_run(rng: np.random.Generator, alpha: float, corrected: bool, schedule: tuple[int, ...]) -> bool:
    """One experiment on identical arms; True when some look confirms the claim."""
    b, t = seeds(rng, schedule[-1], 0.0, 0.005, shared=0.01)
    for n in schedule:
        if corrected:
            d = sequential_decision(b[:n], t[:n], LOWER, paired=True, schedule=schedule, alpha=alpha)
            if d.action == "stop":
                return d.result.verdict == "confirmed"
        elif verify(b[:n], t[:n], LOWER, paired=True, alpha=alpha).verdict == "confirmed":
            return True
    return False


def test_sequential_rule_false_confirmation_rate() -> None:
    rng = np.random.default_rng(31)
    runs = 1000
    false = sum(_sequential_run(rng, ALPHA, True, (3, 5, 8)) for _ in range(runs))
    assert false <= ALPHA * runs, false
    # at alpha 0.05 the counts are large enough to show that uncorrected looks inflate the rate
    rng = np.random.default_rng(13)
    corrected = sum(_sequential_run(rng, 0.05, True, SCHEDULE) for _ in range(150))
    rng = np.random.default_rng(13)
    naive = sum(_sequential_run(rng, 0.05, False, SCHEDULE) for _ in range(150))
    assert corrected <= 0.05 * 150 and naive > corrected, (corrected, naive)


def test_sequential_rule_stops_and_continues() -> None:
    rng = np.random.default_rng(14)
    b, t = seeds(rng, 8, -0.05, 0.0005)
    d = sequential_decision(b[:3], t[:3], LOWER, paired=True, schedule=SCHEDULE)
    assert d.action == "stop" and d.result.verdict == "confirmed" and d.look == 1 and d.looks == 5
    assert d.alpha_per_look == pytest.approx(ALPHA / 5) and d.result.alpha == d.alpha_per_look
    b, t = seeds(rng, 8, -0.004, 0.004, shared=0.01)
    d = sequential_decision(b[:4], t[:4], LOWER, paired=True, schedule=SCHEDULE)
    assert d.action == "continue" and d.next_seeds == 5 and d.look == 2, d.reason
    last = sequential_decision(b, t, LOWER, paired=True, schedule=SCHEDULE)
    assert last.action == "stop" and last.next_seeds is None and last.look == 5
    futile = sequential_decision(b[:3], t[:3], Claim.improves(LOSS, size=0.001), paired=True, schedule=SCHEDULE)
    assert futile.action == "stop" and "could detect only" in futile.reason
    with pytest.raises(ValueError, match="not a planned look"):
        sequential_decision(b[:7], t[:7], LOWER, paired=True, schedule=SCHEDULE)
    with pytest.raises(ValueError, match="strictly increasing"):
        sequential_decision(b[:3], t[:3], LOWER, paired=True, schedule=(3, 3, 5))
    with pytest.raises(ValueError, match="strictly increasing"):
        sequential_decision(b[:3], t[:3], LOWER, paired=True, schedule=(1, 3))


def test_one_seed_per_arm_is_inconclusive() -> None:
    r = verify([1.47], [1.40], LONGER, paired=True)
    assert r.verdict == "inconclusive" and "no sd" in r.reason
    assert r.test is None and r.mde is None and r.effect is not None and r.effect.ci is None
    assert r.effect.estimate == pytest.approx(-0.07)
    assert r.noise is not None and r.noise.baseline_sd is None and r.noise.difference_sd is None
    u = verify([1.47], [1.40, 1.41, 1.42], LONGER, paired=False)
    assert u.verdict == "inconclusive" and "baseline arm" in u.reason
    assert u.noise is not None and u.noise.treatment_sd == pytest.approx(0.01)


def test_zero_spread_differences() -> None:
    b = [1.4712, 1.4698, 1.4731, 1.4705, 1.4720]
    for n in (2, 5):
        r = verify(b[:n], b[:n], LONGER, paired=True)
        assert r.verdict == "no effect" and r.p_value == 1.0 and "exactly 0" in r.reason
    shifted = [x - 0.06 for x in b]
    r = verify(b, shifted, LONGER, paired=True)
    assert r.verdict == "confirmed" and r.p_value == 0.0 and r.mde == 0.0
    assert r.test is not None and r.test.statistic == -math.inf
    assert r.effect is not None and r.effect.ci is not None and r.effect.ci.low == pytest.approx(-0.06)
    assert verify(b, [x + 0.06 for x in b], LONGER, paired=True).verdict == "refuted"
    two = verify(b[:2], shifted[:2], LONGER, paired=True)
    assert two.verdict == "inconclusive" and two.p_value is None and "3 seeds" in two.reason
    welch = verify([1.47] * 3, [1.41] * 4, LONGER, paired=False)
    assert welch.verdict == "confirmed" and welch.p_value == 0.0
    assert verify([1.47] * 3, [1.47] * 4, LONGER, paired=False).verdict == "no effect"


def test_refused_inputs() -> None:
    with pytest.raises(ValueError, match="treatment: sample 1 is nan"):
        verify([1.47, 1.48], [1.40, float("nan")], LONGER, paired=True)
    with pytest.raises(ValueError, match="baseline: sample 0 is inf"):
        verify([float("inf"), 1.48], [1.40, 1.41], LONGER, paired=False)
    with pytest.raises(ValueError, match="paired test needs"):
        verify([1.47, 1.48, 1.49], [1.40, 1.41], LONGER, paired=True)
    with pytest.raises(ValueError, match="baseline: no samples"):
        verify([], [1.40], LONGER, paired=False)
    with pytest.raises(ValueError, match="alpha"):
        verify([1.47, 1.48], [1.40, 1.41], LONGER, paired=True, alpha=0.7)
    with pytest.raises(ValueError, match="margin"):
        verify([1.47, 1.48], [1.40, 1.41], LONGER, paired=True, margin=-1.0)
    with pytest.raises(ValueError, match="positive"):
        Claim.improves(LOSS, size=-0.1)
    with pytest.raises(ValueError, match="better"):
        Metric("loss", "nats", "smaller")  # type: ignore[arg-type]
    ok = verify([1.47, 1.48, 1.49], [1.40, 1.41], LONGER, paired=False)
    assert ok.test is not None and ok.test.kind == "Welch t"


def test_not_verifiable_here() -> None:
    r = Verification.not_verifiable(Claim.improves(Metric.throughput(), recommendation="--compile=True"),
                                    "torch.compile failed: no triton")
    assert r.verdict == "not verifiable here" and r.effect is None and r.test is None and r.n_seeds == 0
    assert "torch.compile failed" in r.summary()
    with pytest.raises(ValueError, match="needs a reason"):
        Verification.not_verifiable(LONGER, " ")


def test_margins_and_noise_floor() -> None:
    noisy = [1.47, 1.50, 1.44, 1.52]
    m = default_margin(LOSS, noisy)
    assert m.value == pytest.approx(float(np.std(noisy, ddof=1))) and "sd of the 4 baseline seeds" in m.basis
    assert default_margin(LOSS, [1.470, 1.471]).value == 0.01
    assert default_margin(Metric.throughput(), [100_000.0, 102_000.0]).value == pytest.approx(3030.0)
    assert default_margin(Metric.duration(), [0.2]).value == pytest.approx(0.006)
    b, t = [1.47, 1.49, 1.46, 1.48], [1.45, 1.48, 1.44, 1.45]
    nf = noise_floor(b, t, paired=True, unit="nats")
    assert nf.baseline_sd == pytest.approx(float(np.std(b, ddof=1)))
    assert nf.treatment_sd == pytest.approx(float(np.std(t, ddof=1)))
    assert nf.difference_sd == pytest.approx(float(np.std(np.subtract(t, b), ddof=1)))
    assert noise_floor(b).treatment_sd is None and noise_floor(b).difference_sd is None
    assert verify(b, t, LOWER, paired=True).noise == nf


def _fields_are_frozen(obj: object) -> None:
    assert dataclasses.is_dataclass(obj) and obj.__dataclass_params__.frozen  # type: ignore[union-attr]
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        assert not isinstance(value, (dict, list, np.ndarray)), f.name
        if dataclasses.is_dataclass(value):
            _fields_are_frozen(value)


def test_results_are_frozen_dataclasses_all_the_way_down() -> None:
    b, t = seeds(np.random.default_rng(15), 5, -0.02, 0.005)
    d = sequential_decision(b[:3], t[:3], LONGER, paired=True, schedule=SCHEDULE)
    _fields_are_frozen(d)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.result.verdict = "confirmed"  # type: ignore[misc]
    assert d.result.verdict in d.result.summary()


def test_import_does_not_load_scipy() -> None:
    code = "import sys, lossdoctor, lossdoctor.verify; assert 'scipy' not in sys.modules, 'scipy loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_verdict_never_contradicts_the_interval_it_quotes() -> None:
    """Two groups whose 98% decision interval lies wholly on the side the claim does not
    expect, with a two-sided p between alpha and 2 alpha: refuted, by the one-sided test the
    interval's end is."""
    r = verify([2.0445, 2.0566], [2.2624, 2.2591], LOWER, paired=False)
    assert r.p_value is not None and ALPHA < r.p_value < 2 * ALPHA
    assert r.effect.decision is not None and r.effect.decision.low > 0
    assert r.verdict == "refuted" and "one-sided p" in r.reason, r.reason


def test_the_seed_noise_is_a_val_loss_s_not_the_eval_noise_metric_s() -> None:
    from types import SimpleNamespace

    from lossdoctor.verify.claims import Metric
    from lossdoctor.verify.design import EVAL_NOISE_METRIC
    from lossdoctor.verify.runner import _noise

    def result(metric: Metric, values: list[float]) -> SimpleNamespace:
        arm = SimpleNamespace(n=len(values), values=values)
        return SimpleNamespace(id="x", verification=SimpleNamespace(metric=metric, baseline=arm))
    eval_noise = result(Metric.loss(EVAL_NOISE_METRIC), [0.001, 0.009])
    val = result(Metric.loss("final val"), [1.80, 1.90])
    assert _noise([eval_noise]) is None
    noise = _noise([eval_noise, val])
    assert noise is not None and noise.baseline_sd == pytest.approx(0.0707, abs=1e-3)


def test_a_p_value_is_never_rounded_across_alpha() -> None:
    from lossdoctor.verify.stats import p_text
    assert p_text(0.00996, 0.01) == "0.00996" and p_text(0.0104, 0.01) == "0.0104"  # not "0.01 < alpha 0.01"
    assert p_text(0.012, 0.01) == "0.012" and p_text(0.000123, 0.01) == "0.00012"  # two digits where they keep it apart


@pytest.mark.parametrize("shift, verdict, said", [
    (-0.05, "confirmed", "the prediction is biased, too pessimistic: the truth lies below it by 0.05"),
    (+0.05, "refuted", "the prediction is biased, too optimistic: the truth lies above it by 0.04")])
def test_a_biased_extrapolation_is_said_biased_not_confirmed_as_claimed(shift: float, verdict: str, said: str) -> None:
    import numpy as np

    from lossdoctor.verify.prediction import CLAIM, _as_bias
    rng = np.random.default_rng(0)
    pred = list(1.8 + rng.normal(0, 0.001, 8))
    truth = [p + shift + rng.normal(0, 0.001) for p in pred]
    v = _as_bias(verify(pred, truth, CLAIM, paired=True))
    assert v.verdict == verdict and v.reason.startswith(said) and "as claimed" not in v.reason


def test_the_one_sided_p_is_shown_to_three_digits_so_that_it_is_not_read_as_alpha():
    from types import SimpleNamespace

    from lossdoctor.report.verify import _p_text
    assert _p_text(SimpleNamespace(p_value=0.0203)) == "0.0101"  # not "0.01" beside "not below alpha 0.01"
    assert _p_text(SimpleNamespace(p_value=None)) == "-"
