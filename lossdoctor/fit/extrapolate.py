"""Predict a run's loss at a later step, for each way of getting there.

1. read the curves of the run's lineage and its LR schedule (nanoGPT's get_lr, rebuilt
   from the config; nanoGPT's defaults where the log does not show a value, said so), and
   the noise of its losses (points.py);
2. fit the LR-annealing law with a calibrated shape (shape.py, calibration.py) to the
   val evals, and separately to the train stream (per-iteration losses in bins plus the
   evals' train losses): shape samples from the prior, weighted by the run's points;
3. fit the other laws to the same points: the LR-annealing law with the run's own, free
   shape (laws.fit_mtl, one fit per lam), and the schedule-blind classic families (power
   law with offset, exponential, log-power) as baselines. Each is scored by AIC and by a
   backtest on the run itself (fit the train stream up to 70% of the run, predict the
   rest). The schedule-aware laws form the ensemble, weighted by that backtest; a law
   whose backtest error is over 3x the best's gets no weight;
4. predict each scenario's schedule; the interval adds four parts: the fit's statistical
   spread (between shape samples, and each sample's (L0, A) covariance), the spread
   between the laws, a model-error term growing with log2 of the horizon ratio
   (calibration.py, from leave-one-horizon-out backtests), and the noise of one logged eval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..run import Run
from . import calibration, laws, points, reference, shape
from . import scenarios as scenarios_mod
from .points import CannotExtrapolate

__all__ = ["CannotExtrapolate", "Estimate", "Extrapolation", "Scenario", "extrapolate"]

BACKTEST_FRACTION = 0.7  # backtests fit the points up to this fraction of the run
# the free-shape law: one run cannot tell lam apart, so its fits are averaged over lam
FREE_LAM_PRIOR = {0.998: 0.25, 0.9985: 0.5, 0.999: 0.25}


@dataclass(frozen=True)
class Estimate:
    mean: float
    lo: float
    hi: float
    level: float
    sd: float


@dataclass(frozen=True)
class Scenario:
    name: str  # rerun | resume | constant | custom | observed
    flags: str  # exact nanoGPT flags
    val: Estimate | None
    train: Estimate | None
    note: str | None = None


@dataclass(frozen=True)
class Extrapolation:
    target_step: int
    last_step: int
    horizon_ratio: float  # target_step / last_step
    model: dict  # {"name", "parameters" (train), "val_parameters", "prior", "laws": [...]}
    fit: dict  # {"residual_scale", "eval_sigma", "iter_sigma", "points", "backtest_error", ...}
    scenarios: tuple[Scenario, ...]
    baseline: dict  # the schedule-blind power law's prediction of val at target_step
    overfitting: dict | None = None  # {"best_step": ..., "best_val": ...} when val has turned up
    notes: tuple[str, ...] = field(default=())
    # predicted val along the way: "fit" over the observed steps, then one per scenario
    # from the last observed step to the target; name -> (steps, values)
    paths: dict = field(default_factory=dict)


def extrapolate(run: Run, to: int, scenarios: tuple[str, ...] = ("rerun", "resume", "constant"),
                level: float = 0.8, schedule: np.ndarray | dict | None = None,
                calibrate: Run | list[Run] | None = None, reference: bool = True) -> Extrapolation:
    """Predict val and train loss at step `to` for each scenario.

    schedule: a custom LR schedule for scenario 'custom': a dict with warmup_iters,
    lr_decay_iters, min_lr (and optionally learning_rate), or an array of per-step LRs.
    calibrate: other runs of the same config at other horizons; fitted jointly.
    reference: join the shipped reference runs when the run's config is theirs
        (reference.py); False fits the run (and `calibrate`) alone.

    Raises:
        CannotExtrapolate: the run does not allow a prediction (the message says why).
    """
    import warnings
    with warnings.catch_warnings():  # a fit that strays is judged by its result, not warned about
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return _extrapolate(run, to, scenarios, level, schedule, calibrate, reference)


@dataclass(frozen=True)
class _Stream:
    """One stream's fits: the calibrated-shape posterior and the free-shape fits."""

    post: shape.Posterior
    free: list  # laws.LawFit per lam in the free ensemble
    free_w: np.ndarray  # their weights within the free law (the lam prior)
    law_w: dict  # {"calibrated": w, "free": w}: the ensemble's weights


def _extrapolate(run: Run, to: int, scenarios: tuple[str, ...], level: float,
                 schedule: np.ndarray | dict | None, calibrate: Run | list[Run] | None,
                 use_reference: bool) -> Extrapolation:
    if not 0 < level < 1:
        raise CannotExtrapolate(f"level {level} is not between 0 and 1")
    notes: list[str] = []
    cur = points.curves(run)
    last = int(max(cur.ev_step.max(initial=0), cur.it_step.max(initial=0)))
    if to < 1 or to < int(cur.ev_step.min(initial=last)):
        raise CannotExtrapolate(f"target step {to} is before the first observed step")
    params, assumed = points.schedule(run)
    if assumed:
        notes.append(f"the log does not show {', '.join(assumed)}; nanoGPT's defaults are assumed")
    eval_iters = run.config.get("eval_iters") or 200
    horizon = max(to, last) + 1
    lr_obs = points.lr_steps(run, params, horizon)
    warm = points.warmup_iters(run, params)
    eta_obs = shape.eta(lr_obs, warm)

    sig_iter = points.iter_sigma(cur)
    sig_eval = sig_iter / math.sqrt(eval_iters) if sig_iter else 0.01
    if not sig_iter:
        notes.append("no per-iteration losses: eval noise assumed 0.01 nats")
    start = max(1, int(calibration.START_FRACTION * last), min(warm, last // 2))
    tr_steps, tr_y, tr_sig = points.train_points(cur, start, sig_iter, sig_eval)
    va_steps, va_y = points.val_points(cur, start)
    if len(va_steps) < 3 and len(tr_steps) < 10:
        raise CannotExtrapolate(f"too few points after step {start}: {len(va_steps)} evals, "
                                f"{len(tr_steps)} binned iterations")
    if len(tr_steps) and float(np.ptp(tr_y)) < 1e-6 and (not len(va_y) or float(np.ptp(va_y)) < 1e-6):
        raise CannotExtrapolate("the loss is constant")
    if len(tr_steps) < 3:
        raise CannotExtrapolate(f"too few train points after step {start} ({len(tr_steps)})")

    tr_seg = [(tr_steps, tr_y, tr_sig, eta_obs)]
    va_seg = [(va_steps, va_y, np.full(len(va_y), sig_eval), eta_obs)]
    others = [] if calibrate is None else [calibrate] if isinstance(calibrate, Run) else list(calibrate)
    for o in others:  # other horizons of the same config: their points join the fit
        other = points.other_segments(o, start, calibration.START_FRACTION)
        tr_seg.append(other["train"])
        va_seg.append(other["val"])
        notes.append(f"fitted jointly with {o.source} ({other['last']} steps)")
    use_reference = use_reference and to > last  # inside the observed range there is nothing to add
    why_not = reference.mismatch(run) if use_reference else []
    own = len(tr_seg)
    if use_reference and not why_not:  # the reference runs of this config: further horizons, as `calibrate`
        for o in reference.runs():
            other = points.other_segments(o, start, calibration.START_FRACTION)
            tr_seg.append(other["train"])
            va_seg.append(other["val"])

    def fit_both(tr_seg: list, va_seg: list) -> tuple[_Stream, _Stream | None]:
        train = _fit_stream(tr_seg, calibration.TRAIN_PRIOR, cur, start, sig_iter, sig_eval, eta_obs)
        val = _fit_stream(va_seg, calibration.VAL_PRIOR, None, start, sig_iter, sig_eval, eta_obs,
                          law_w=train.law_w) if len(va_steps) >= 3 else None
        return train, val

    train, val = fit_both(tr_seg, va_seg)
    ref_info = None
    if len(tr_seg) > own:
        off = {"train": reference.offset(train.post.predict(eta_obs, tr_steps)[0], tr_y),
               "val": reference.offset(val.post.predict(eta_obs, va_steps)[0], va_y) if val else None}
        worst = max(abs(v) for v in off.values() if v is not None)
        if worst > reference.TOLERANCE:
            notes.append(f"the run's points lie {worst:.3f} nats off the reference runs of its config "
                         f"({reference.SOURCE}; tolerance {reference.TOLERANCE}): other data or code? "
                         "fitted without them")
            train, val = fit_both(tr_seg[:own], va_seg[:own])
        else:
            ref_info = {"runs": reference.SOURCE, "offset": off}
            notes.append(f"the run's config is that of the reference runs ({reference.SOURCE}): "
                         "their points join the fit as further horizons; the run's own points lie "
                         + ", ".join(f"{v:+.3f}" + f" ({k})" for k, v in off.items() if v is not None)
                         + " nats off the joint fit")
    if val is None:
        notes.append(f"{len(va_steps)} evals after step {start}: too few to predict val (3 needed); "
                     "train is predicted from the per-iteration losses")
    overfit = _overfitting(cur, sig_eval)

    # one logged val's noise: the train batches' noise over eval_iters, or more where the
    # val evals scatter more around the fit (val batches vary more than train batches)
    val_eval_sd = sig_eval * math.sqrt(max(1.0, val.post.chi2_min / val.post.dof)) if val else sig_eval
    ratio = to / last if last else float("inf")
    z = _z(level)
    model_sd = calibration.model_error(ratio)
    named = [("observed", None)] if to <= last else [(s, None) for s in scenarios if s != "custom"]
    if to > last and (schedule is not None or "custom" in scenarios):
        if schedule is None:
            raise CannotExtrapolate("scenario 'custom' needs a schedule")
        named.append(("custom", schedule))
    paths: dict = {}
    if val is not None:
        obs = np.unique(np.linspace(start, last, 60).astype(int))
        paths["fit"] = _path(val, eta_obs, obs)
    out: list[Scenario] = []
    for name, sched in named:
        lr, flags = scenarios_mod.schedule(name, sched, params, lr_obs, last, to)
        e = shape.eta(lr, warm) if name != "observed" else eta_obs
        train_est = _estimate(train, e, to, model_sd, sig_eval, z, level)
        val_est, note = None, None
        if val is not None:
            val_est = _estimate(val, e, to, model_sd, val_eval_sd, z, level)
            if name != "observed":
                paths[name] = _path(val, e, np.unique(np.linspace(last, to, 60).astype(int)))
        if overfit is not None and name != "observed":
            note = (f"val is past its minimum ({overfit['best_val']:.4f} at step "
                    f"{overfit['best_step']}) while train keeps falling: more steps are "
                    "not expected to lower it")
            val_est = None
        out.append(Scenario(name, flags, val_est, train_est, note))
    if to <= last:
        notes.append(f"step {to} is inside the observed range: the smoothed observed value")
    differ = calibration.differences(run.config)
    if differ and to > last:
        notes.append("the shape prior and the model error are calibrated on nanoGPT's README CPU config; "
                     f"this run differs in {', '.join(differ[:4])}{' ...' if len(differ) > 4 else ''}: "
                     "the interval may be too narrow (backtest on this run: fit.backtest_error)")
    unseen = [w.split()[0] for w in why_not if w.endswith(" not shown")]
    if unseen and not differ:
        notes.append(f"the reference runs ({reference.SOURCE}) are not joined: the log does not show "
                     f"{', '.join(unseen)}")
    far = max(shape.distance(train.post, calibration.TRAIN_PRIOR),
              shape.distance(val.post, calibration.VAL_PRIOR) if val else 0.0)
    if far > 3 and ref_info is None:  # with the reference runs the shape is theirs
        notes.append(f"the run's curve bends unlike the calibrated shape ({far:.1f} prior sd away; "
                     f"calibrated on {calibration.VAL_PRIOR.source}): the prediction leans on the run's "
                     "own fit, and the model error is the calibration's; read the interval with care")
    fam = _families(va_steps if val is not None else tr_steps, va_y if val is not None else tr_y,
                    np.full(len(va_y), sig_eval) if val is not None else tr_sig, to)
    model = {**_model(train, val, fam), "reference": ref_info}
    best = int(np.argmax(train.post.weights))
    u = train.post.u(eta_obs, tr_steps)[best]
    resid = (train.post.coefs[best, 0] + train.post.coefs[best, 1] * u - tr_y) / tr_sig
    fit = {"residual_scale": float(np.sqrt(np.mean(resid ** 2))), "eval_sigma": sig_eval,
           "val_eval_sigma": val_eval_sd,
           "iter_sigma": sig_iter, "points": {"train": int(len(tr_y)), "val": int(len(va_y))},
           "effective_samples": {"train": train.post.ess, "val": val.post.ess if val else None},
           "backtest_error": _val_backtest(cur, start, sig_eval, eta_obs)}
    baseline = {"name": "power law in steps, a + b*s^-c", "val": fam["power"]["prediction"]
                if val is not None and fam.get("power") else None}
    if (others or ref_info) and out and out[0].val is not None:
        alone = extrapolate(run, to, scenarios, level, schedule, None, reference=False).scenarios[0].val
        if alone is not None:
            v = out[0].val
            joined = " and ".join(w for w in ("the other runs" if others else "",
                                               "the reference runs" if ref_info else "") if w)
            notes.append(f"{out[0].name} without {joined}: val {alone.mean:.4f} "
                         f"[{alone.lo:.4f}, {alone.hi:.4f}]; with them {v.mean:.4f} [{v.lo:.4f}, {v.hi:.4f}]: "
                         f"the interval is {(v.hi - v.lo) / (alone.hi - alone.lo):.2f}x as wide")
    return Extrapolation(to, last, ratio, model, fit, tuple(out), baseline,
                         overfit, tuple(notes), paths)


# -- pieces ------------------------------------------------------------------------------

def _free_features(segments: list) -> tuple[laws.Features, np.ndarray, np.ndarray, np.ndarray]:
    """laws.Features over all segments (each after the previous one's steps) and the points."""
    feats = [laws.features(sg[3], 0) for sg in segments]
    offsets = np.cumsum([0] + [len(f.s1) for f in feats[:-1]])
    joint = laws.Features(np.concatenate([f.s1 for f in feats]),
                          {lam: np.concatenate([f.s2[lam] for f in feats]) for lam in laws.LAMBDAS})
    steps = np.concatenate([sg[0] + o for sg, o in zip(segments, offsets)])
    return joint, steps, np.concatenate([sg[1] for sg in segments]), np.concatenate([sg[2] for sg in segments])


def _fit_free(segments: list) -> list[laws.LawFit]:
    feats, steps, y, sig = _free_features(segments)
    return [laws.fit_mtl(steps, y, sig, feats, lam=lam)[0] for lam in FREE_LAM_PRIOR]


def _fit_stream(segments: list, prior: shape.ShapePrior, cur: points.Curves | None, start: int,
                sig_iter: float | None, sig_eval: float, eta_obs: np.ndarray,
                law_w: dict | None = None) -> _Stream:
    post = shape.fit(segments, prior)
    free = _fit_free(segments)
    free_w = np.array([FREE_LAM_PRIOR[f.params["lam"]] for f in free])
    if law_w is None:
        law_w = _law_weights(cur, start, sig_iter, sig_eval, eta_obs, prior)
    return _Stream(post, free, free_w / free_w.sum(), law_w)


def _law_weights(cur: points.Curves, start: int, sig_iter: float | None, sig_eval: float,
                 eta_obs: np.ndarray, prior: shape.ShapePrior) -> dict:
    """Backtest on the run's train stream: fit up to 70% of the run, predict the rest.
    Weights are inverse mean squared errors (in sigma units); a law over 3x the best's
    rms error gets none."""
    last = int(max(cur.ev_step.max(initial=0), cur.it_step.max(initial=0)))
    cut = int(BACKTEST_FRACTION * last)
    steps, y, sig = points.train_points(cur, start, sig_iter, sig_eval)
    fit_m, held = steps <= cut, steps > cut
    if fit_m.sum() < 5 or held.sum() < 2:
        return {"calibrated": 1.0, "free": 0.0, "backtest": None}
    seg = [(steps[fit_m], y[fit_m], sig[fit_m], eta_obs)]
    post = shape.fit(seg, prior)
    cal = post.predict(eta_obs, steps[held])[0]
    free = _fit_free(seg)
    fw = np.array([FREE_LAM_PRIOR[f.params["lam"]] for f in free])
    feats = laws.features(eta_obs, 0)
    fr = (fw / fw.sum()) @ np.array([f.predict(steps[held], feats) for f in free])
    err = {k: float(np.sqrt(np.mean(((p - y[held]) / sig[held]) ** 2))) for k, p in
           (("calibrated", cal), ("free", fr))}
    best = min(err.values())
    raw = {k: (0.0 if e > 3 * best else 1.0 / max(e, 1e-6) ** 2) for k, e in err.items()}
    total = sum(raw.values())
    return {**{k: v / total for k, v in raw.items()}, "backtest": err}


def _laws_at(stream: _Stream, e: np.ndarray, steps: np.ndarray) -> dict:
    """Each law's prediction at `steps` under eta `e`, with its own spread."""
    mean, between, within = stream.post.predict(e, steps)
    feats = laws.features(e, 0)
    fr = np.array([f.predict(steps, feats) for f in stream.free])  # (n_lam, S)
    fm = stream.free_w @ fr
    fsd = np.sqrt(stream.free_w @ (fr - fm) ** 2)
    return {"calibrated": (mean, np.hypot(between, within)), "free": (fm, fsd)}


def _path(stream: _Stream, e: np.ndarray, steps: np.ndarray) -> tuple:
    at = _laws_at(stream, e, steps)
    mean = sum(stream.law_w[k] * at[k][0] for k in at)
    return tuple(int(v) for v in steps), tuple(float(v) for v in mean)


def _estimate(stream: _Stream, e: np.ndarray, to: int, model_sd: float,
              eval_sd: float, z: float, level: float) -> Estimate:
    at = _laws_at(stream, e, np.array([to]))
    w = stream.law_w
    mean = float(sum(w[k] * at[k][0][0] for k in at))
    between = math.sqrt(sum(w[k] * (at[k][0][0] - mean) ** 2 for k in at))  # spread between laws
    stat = math.sqrt(sum(w[k] * at[k][1][0] ** 2 for k in at))  # each law's own spread
    sd = math.sqrt(stat ** 2 + between ** 2 + (model_sd * mean) ** 2 + eval_sd ** 2)
    return Estimate(mean, mean - z * sd, mean + z * sd, level, sd)


def _families(steps: np.ndarray, y: np.ndarray, sig: np.ndarray, to: int) -> dict:
    """The schedule-blind classic families on the same points: parameters, AIC, and the
    value at `to` (baselines: the same for every scenario)."""
    out = {}
    if len(steps) < 3:
        return out
    for fit in (laws.fit_power(steps, y, sig), laws.fit_exponential(steps, y, sig),
                laws.fit_log_power(steps, y, sig)):
        out[fit.name] = {"parameters": {k: float(v) for k, v in fit.params.items()},
                         "aic": laws.aic(fit.sse, len(y), 3),
                         "prediction": float(fit.predict(np.array([to]), None)[0])}
    return out


def _model(train: _Stream, val: _Stream | None, fam: dict) -> dict:
    def best(post: shape.Posterior) -> dict:
        k = int(np.argmax(post.weights))
        a, lam, r = shape.from_theta(post.thetas[k])
        return {"L0": float(post.coefs[k, 0]), "A": float(post.coefs[k, 1]), "alpha": a, "lam": lam, "r": r}
    pa, pl, pr = shape.from_theta(np.array(calibration.VAL_PRIOR.mean))
    return {"name": "lr-annealing law (Tissue et al. 2024) with a calibrated shape prior",
            "parameters": best(train.post), "val_parameters": best(val.post) if val else None,
            "prior": {"alpha": pa, "lam": pl, "r": pr, "calibrated_on": calibration.VAL_PRIOR.source},
            "weights": {k: v for k, v in train.law_w.items() if k != "backtest"},
            "laws": {"backtest_rms_sigma": train.law_w.get("backtest"), "baselines": fam}}


def _val_backtest(cur: points.Curves, start: int, sig_eval: float, eta_obs: np.ndarray) -> float | None:
    """Fit the val evals up to 70% of the run, predict its last eval: absolute error (nats)."""
    cut = int(BACKTEST_FRACTION * cur.ev_step.max(initial=0))
    steps, y = points.val_points(cur.before(cut), start)
    if len(steps) < 2:
        return None
    post = shape.fit([(steps, y, np.full(len(y), sig_eval), eta_obs)], calibration.VAL_PRIOR)
    return float(abs(post.predict(eta_obs, cur.ev_step[-1:])[0][0] - cur.ev_val[-1]))


def _z(level: float) -> float:
    from scipy.stats import norm
    return float(norm.ppf(0.5 + level / 2))


def _overfitting(cur: points.Curves, sig_eval: float) -> dict | None:
    if len(cur.ev_val) < 3:
        return None
    i = int(np.argmin(cur.ev_val))
    rising = cur.ev_val[-1] - cur.ev_val[i] > 2 * sig_eval
    train_falling = cur.ev_train[-1] < cur.ev_train[i]
    if i < len(cur.ev_val) - 1 and rising and train_falling:
        return {"best_step": int(cur.ev_step[i]), "best_val": float(cur.ev_val[i])}
    return None


