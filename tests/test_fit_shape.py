"""The calibrated-shape law: calibration recovers a known shape from several horizons, and a
run's fit under that prior recovers its level and predicts a longer run."""

import numpy as np

from lossdoctor.fit import calibrate, shape
from lossdoctor.nanogpt import lr_at

TRUE = dict(alpha=0.3, lam=0.995, r=2e-4, L0=1.0, A=8.0)


def law(e: np.ndarray, steps: np.ndarray) -> np.ndarray:
    u = np.maximum(shape.s1(e)[steps], 1e-9) ** -TRUE["alpha"] - TRUE["r"] * shape.s2(e, TRUE["lam"])[steps]
    return TRUE["L0"] + TRUE["A"] * u


def run(horizon: int, rng: np.random.Generator, sd: float = 0.003) -> calibrate.CurveData:
    lr = lr_at(np.arange(horizon + 1), learning_rate=1e-3, warmup_iters=100, lr_decay_iters=horizon,
               min_lr=1e-4, decay_lr=True)
    e = shape.eta(lr, 100)
    steps = np.arange(horizon // 10, horizon + 1, horizon // 20)
    return calibrate.CurveData(f"T{horizon}", e, steps, law(e, steps) + rng.normal(0, sd, len(steps)),
                                 np.full(len(steps), sd))


def test_calibration_recovers_the_shape():
    rng = np.random.default_rng(1)
    prior, info = calibrate.calibrate([run(t, rng) for t in (1000, 2000, 4000)], "synthetic")
    alpha, lam, r = shape.from_theta(np.array(prior.mean))
    assert abs(alpha - TRUE["alpha"]) < 0.05
    assert abs(info["L0"] - TRUE["L0"]) < 0.2
    assert info["reduced_chi2"] < 2.0
    assert np.all(np.linalg.eigvalsh(np.array(prior.cov)) > 0)


def test_fit_under_the_prior_predicts_a_longer_run():
    rng = np.random.default_rng(2)
    prior, _ = calibrate.calibrate([run(t, rng) for t in (1000, 2000, 4000)], "synthetic")
    short = run(1500, rng)
    post = shape.fit([shape.Segment(short.steps, short.y, short.sigma, short.eta)], prior)
    lr = lr_at(np.arange(4001), learning_rate=1e-3, warmup_iters=100, lr_decay_iters=4000, min_lr=1e-4)
    e = shape.eta(lr, 100)
    mean, between, within = post.predict(e, np.array([4000]))
    truth = law(e, np.array([4000]))[0]
    assert abs(mean[0] - truth) < 0.02
    assert abs(mean[0] - truth) < 3 * np.hypot(between[0], within[0]) + 0.005
    assert post.ess > 1 and abs(post.weights.sum() - 1) < 1e-9
    # a prior far from the truth shows in the fit: no sample fits within noise
    wrong = shape.ShapePrior(tuple(np.array(prior.mean) + [1.0, 0.0, 0.0]), prior.cov, 0.1, "wrong")
    bad = shape.fit([shape.Segment(short.steps, short.y, short.sigma, short.eta)], wrong)
    assert bad.chi2_min / bad.dof > 25 * post.chi2_min / post.dof


def test_a_prior_at_the_memory_bound_samples_no_lam_of_one():
    # a prior calibrated at lam's bound with a wide sd: a sample at lam = 1.0 in floating
    # point made S2 divide by zero and every prediction NaN
    prior = shape.ShapePrior((float(np.log(0.1)), float(np.log(1e-4)), float(np.log(1e-3))),
                             ((0.01, 0, 0), (0, 400.0, 0), (0, 0, 0.01)), 0.1, "at the bound")
    shapes = shape.samples(prior)
    assert shapes.lam.max() <= 0.9999 + 1e-12 and shapes.lam.min() >= 0.5
    rng = np.random.default_rng(3)
    short = run(1500, rng)
    post = shape.fit([shape.Segment(short.steps, short.y, short.sigma, short.eta)], prior)
    lr = lr_at(np.arange(4001), learning_rate=1e-3, warmup_iters=100, lr_decay_iters=4000, min_lr=1e-4)
    mean, between, within = post.predict(shape.eta(lr, 100), np.array([4000]))
    assert np.isfinite(mean).all() and np.isfinite(between).all() and np.isfinite(within).all()


def test_calibration_through_the_origin():
    # runs of a law with no floor: calibrated through L0 = 0 (as the calibrated law alone
    # is fitted), the shape is recovered and L0 is 0 exactly; with L0 free a floor is fitted
    rng = np.random.default_rng(4)
    saved = TRUE["L0"]
    TRUE["L0"] = 0.0
    try:
        runs = [run(t, rng) for t in (1000, 2000, 4000)]
    finally:
        TRUE["L0"] = saved
    prior, info = calibrate.calibrate(runs, "synthetic", origin=True)
    alpha, _, _ = shape.from_theta(np.array(prior.mean))
    assert info["L0"] == 0.0 and abs(alpha - TRUE["alpha"]) < 0.05 and info["reduced_chi2"] < 2.0
    shifted = [calibrate.CurveData(r.name, r.eta, r.steps, r.y + 0.5, r.sigma) for r in runs]
    assert calibrate.calibrate(shifted, "synthetic", origin=True)[1]["reduced_chi2"] > 4
    assert calibrate.calibrate(shifted, "synthetic")[1]["L0"] > 0.3


def _undone_step_by_step(e: np.ndarray, lam: float) -> np.ndarray:
    """(N+1,) S2 summed one step at a time, each drop kept as the range of LR it fell
    through, a rise cancelling the ranges below its level, latest first."""
    from collections import deque
    ranges: deque[list[float]] = deque()  # [lo, hi, step, its part of m]
    s2, out = 0.0, [0.0]
    moving = int(np.flatnonzero(e != 0)[-1]) + 1
    for t in range(len(e)):
        for part in ranges:
            part[3] *= lam
        d = e[t - 1] - e[t] if t else 0.0
        if d > 0:
            ranges.append([e[t], e[t - 1], t, d])
        while d < 0 and ranges and ranges[-1][0] < e[t]:
            lo, hi, k, m = ranges[-1]
            share = (min(hi, e[t]) - lo) / (hi - lo)
            s2 -= share * (hi - lo) * (1 - lam ** (t - k)) / (1 - lam)  # what it added before t
            if hi <= e[t]:
                ranges.pop()
            else:
                ranges[-1] = [e[t], hi, k, m * (1 - share)]
                break
        if t < moving:
            s2 += sum(part[3] for part in ranges)  # m_t: the drops still counted, discounted
        out.append(s2)
    return np.array(out)


def test_a_rise_of_the_lr_undoes_the_annealing_below_its_level_at_once():
    """A resume's re-warm, a cyclic schedule, an end at LR 0 after a rise, a noisy LR that
    rises every other step: the blocked sums (areas.Annealing) and the step-by-step ones
    (laws.areas) agree with a plain loop, and a re-warm lowers S2 at its step instead of
    over 1 / (1 - lam) steps."""
    from lossdoctor.fit.areas import Annealing, Eta
    from lossdoctor.fit.laws import areas
    cosine = 0.1 + 0.45 * (1 + np.cos(np.pi * np.arange(950) / 950))
    resumed = 0.1 + 0.45 * (1 + np.cos(np.pi * (np.arange(1500) + 900) / 2400))  # jumps back to 0.73
    schedules = [np.concatenate([np.ones(50), cosine, resumed]),
                 0.55 + 0.45 * np.cos(np.arange(3000) / 100),
                 np.concatenate([np.linspace(1, 0.2, 400), np.linspace(0.6, 0, 300), np.zeros(100)]),
                 np.clip(np.linspace(1, 0.1, 2000) + 0.05 * np.random.default_rng(0).standard_normal(2000), 0, 1)]
    for e in schedules:
        steps = np.arange(len(e) + 1)
        for lam in (0.99, 0.999):
            want = _undone_step_by_step(e, lam)
            assert np.allclose(Annealing(Eta(e), np.array([lam])).at(steps)[0], want, rtol=1e-9, atol=1e-7)
            assert np.allclose(areas(e, (lam,)).s2[lam], want, rtol=1e-9, atol=1e-7)
    e, lam = schedules[0], 0.999
    s2 = areas(e, (lam,)).s2[lam]
    assert s2[1001] - s2[1000] < -100  # the re-warm to 0.73 at step 1000 takes most of it off at once
    assert s2[1001] > 0
