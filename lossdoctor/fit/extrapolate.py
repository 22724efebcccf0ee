"""Predict a run's loss at a later step, for each way of getting there.

1. read the curves of the run's lineage and its LR schedule (nanoGPT's get_lr, rebuilt
   from the config; nanoGPT's defaults where the log does not show a value, said so);
2. estimate the noise: per-iteration train loss (std of differences / sqrt 2), and from
   it an eval's (eval_iters batches of batch_size rows);
3. fit the schedule-aware law (laws.py) to the train stream (per-iteration losses in
   bins, and the evals' train losses), one fit per lam; the val curve shares its shape
   (alpha, lam) with its own (L0, A, C);
4. predict each scenario's schedule; the interval adds four parts: the fit's statistical
   spread (parametric bootstrap of the evals), the spread between lam, a model-error term
   growing with log2 of the horizon ratio (calibrated on backtests of the built-in
   trainer's runs), and the noise of one logged eval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import LossdoctorError
from ..facts.schedule import lr_at, schedule_params
from ..run import Run
from . import laws

# Calibrated on the built-in trainer's runs of nanoGPT's README CPU config (horizons 1000 to
# 5000, benchmarks/extrapolation.py). One run cannot tell lam apart (the split between
# "more LR area" and "annealing bonus" is not in the data): the fit with the lowest error
# prefers lam = 0.99, which overshoots by ~0.15 nats at 2.5x; lam near 0.9985 is right on
# those runs. The ensemble is this prior over lam; the model error per doubling of the
# horizon is a fraction of the loss.
LAM_PRIOR = {0.998: 0.25, 0.9985: 0.5, 0.999: 0.25}
MODEL_ERROR_BASE = 0.025  # beyond the data at all, as a fraction of the loss
MODEL_ERROR_PER_DOUBLING = 0.006  # and per doubling of the horizon
START_FRACTION = 0.1  # points before this fraction of the run are left out of the fit


class CannotExtrapolate(LossdoctorError):
    """The run does not allow a prediction; the message says why."""

    def __init__(self, why: str) -> None:
        super().__init__(f"cannot extrapolate: {why}")
        self.why = why


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
    model: dict  # {"name": ..., "parameters": {...}, "val_parameters": {...}, "weights": {lam: w}}
    fit: dict  # {"residual_scale": ..., "eval_sigma": ..., "iter_sigma": ..., "backtest_error": ...}
    scenarios: tuple[Scenario, ...]
    baseline: dict  # the schedule-blind power law's prediction of val at target_step
    overfitting: dict | None = None  # {"best_step": ..., "best_val": ...} when val has turned up
    notes: tuple[str, ...] = field(default=())
    # predicted val (ensemble mean) along the way: "fit" over the observed steps, then one
    # per scenario from the last observed step to the target; name -> (steps, values)
    paths: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Curves:
    ev_step: np.ndarray
    ev_train: np.ndarray
    ev_val: np.ndarray
    it_step: np.ndarray
    it_loss: np.ndarray


def extrapolate(run: Run, to: int, scenarios: tuple[str, ...] = ("rerun", "resume", "constant"),
                level: float = 0.8, schedule: np.ndarray | dict | None = None,
                calibrate: Run | None = None) -> Extrapolation:
    """Predict val and train loss at step `to` for each scenario.

    schedule: a custom LR schedule for scenario 'custom': a dict with warmup_iters,
    lr_decay_iters, min_lr (and optionally learning_rate), or an array of per-step LRs.
    calibrate: a second run of the same config at another horizon; fitted jointly.

    Raises:
        CannotExtrapolate: the run does not allow a prediction (the message says why).
    """
    import warnings
    with warnings.catch_warnings():  # a fit that strays is judged by its result, not warned about
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            return _extrapolate(run, to, scenarios, level, schedule, calibrate)


def _extrapolate(run: Run, to: int, scenarios: tuple[str, ...], level: float,
                 schedule: np.ndarray | dict | None, calibrate: Run | None) -> Extrapolation:
    if not 0 < level < 1:
        raise CannotExtrapolate(f"level {level} is not between 0 and 1")
    notes: list[str] = []
    cur = _curves(run)
    last = int(max(cur.ev_step.max(initial=0), cur.it_step.max(initial=0)))
    if to < 1 or to < int(cur.ev_step.min(initial=last)):
        raise CannotExtrapolate(f"target step {to} is before the first observed step")
    params, assumed = _schedule(run)
    if assumed:
        notes.append(f"the log does not show {', '.join(assumed)}; nanoGPT's defaults are assumed")
    cfg = run.config
    eval_iters = cfg.get("eval_iters") or 200
    horizon = max(to, last) + 1
    lr_obs = lr_at(np.arange(horizon), **params)
    feats = laws.features(lr_obs, params["warmup_iters"])

    sig_iter = _iter_sigma(cur)
    # the logged iteration loss is the last micro-batch's (nanoGPT: loss.item() * accum), and
    # an eval averages eval_iters micro-batches of the same size
    sig_eval = sig_iter / math.sqrt(eval_iters) if sig_iter else 0.01
    if not sig_iter:
        notes.append("no per-iteration losses: eval noise assumed 0.01 nats")
    start = max(1, int(START_FRACTION * last), min(params["warmup_iters"], last // 2))
    tr_steps, tr_y, tr_sig = _train_points(cur, start, sig_iter, sig_eval)
    va_mask = (cur.ev_step >= start) & (cur.ev_step > 0)
    va_steps, va_y = cur.ev_step[va_mask], cur.ev_val[va_mask]
    if len(va_steps) < 3 and len(tr_steps) < 10:
        raise CannotExtrapolate(f"too few points after step {start}: {len(va_steps)} evals, "
                                f"{len(tr_steps)} binned iterations")
    if len(tr_steps) and float(np.ptp(tr_y)) < 1e-6 and (not len(va_y) or float(np.ptp(va_y)) < 1e-6):
        raise CannotExtrapolate("the loss is constant")

    # calibrate: a second horizon's run of the same config, fitted jointly
    extra = None
    if calibrate is not None:
        extra = _calibration_points(calibrate, params, start)
        notes.append(f"fitted jointly with {calibrate.source} ({extra[3]} steps)")

    fits = _fit_train(tr_steps, tr_y, tr_sig, feats, extra)
    weights = np.array([LAM_PRIOR[f.params["lam"]] for f in fits])
    weights = weights / weights.sum()
    overfit = _overfitting(cur, sig_eval)
    val_fits = [_fit_val(f, va_steps, va_y, sig_eval, feats) for f in fits] if len(va_steps) >= 3 else None
    if val_fits is None:
        notes.append(f"{len(va_steps)} evals after step {start}: too few to predict val (3 needed); "
                     "train is predicted from the per-iteration losses")

    def predict(steps: np.ndarray, fts: laws.Features) -> tuple[np.ndarray, np.ndarray | None]:
        tr = np.array([f.predict(steps, fts) for f in fits])  # (n_lam, len(steps))
        va = np.array([f.predict(steps, fts) for f in val_fits]) if val_fits else None
        return tr, va

    ratio = to / last if last else float("inf")
    z = _z(level)
    model_sd = MODEL_ERROR_BASE + MODEL_ERROR_PER_DOUBLING * math.log2(ratio) if ratio > 1 else 0.0
    out: list[Scenario] = []
    named = [("observed", None)] if to <= last else [(s, None) for s in scenarios if s != "custom"]
    if to > last and (schedule is not None or "custom" in scenarios):
        if schedule is None:
            raise CannotExtrapolate("scenario 'custom' needs a schedule")
        named.append(("custom", schedule))
    boot = _bootstrap_val(fits, val_fits, va_steps, sig_eval, feats) if val_fits else None
    paths: dict = {}
    if val_fits:
        obs = np.unique(np.linspace(start, last, 60).astype(int))
        paths["fit"] = (tuple(int(v) for v in obs), tuple(float(v) for v in weights @ predict(obs, feats)[1]))
    for name, sched in named:
        lr, flags = _scenario_schedule(name, sched, params, lr_obs, last, to)
        fts = laws.features(lr, params["warmup_iters"]) if name != "observed" else feats
        tr, va = predict(np.array([to]), fts)
        if va is not None and name != "observed":
            way = np.unique(np.linspace(last, to, 60).astype(int))
            paths[name] = (tuple(int(v) for v in way), tuple(float(v) for v in weights @ predict(way, fts)[1]))
        train_est = _estimate(tr[:, 0], weights, model_sd, sig_eval, z, level, stat_sd=0.0)
        val_est, note = None, None
        if va is not None:
            stat = boot(fts, to) if boot else 0.0
            val_est = _estimate(va[:, 0], weights, model_sd, sig_eval, z, level, stat_sd=stat)
        if overfit is not None and name != "observed":
            note = (f"val is past its minimum ({overfit['best_val']:.4f} at step "
                    f"{overfit['best_step']}) while train keeps falling: more steps are "
                    "not expected to lower it")
            val_est = None
        out.append(Scenario(name, flags, val_est, train_est, note))
    if to <= last:
        notes.append(f"step {to} is inside the observed range: the smoothed observed value")

    power = laws.fit_power(va_steps, va_y, np.full(len(va_y), sig_eval)) if len(va_steps) >= 3 else None
    best = fits[int(np.argmax(weights))]
    model = {"name": "lr-annealing law (Tissue et al. 2024), ensemble over a calibrated prior on lam",
             "parameters": {k: float(v) for k, v in best.params.items()},
             "val_parameters": {k: float(v) for k, v in val_fits[int(np.argmax(weights))].params.items()} if val_fits else None,
             "weights": {str(f.params["lam"]): float(w) for f, w in zip(fits, weights)}}
    resid = (best.predict(tr_steps, feats) - tr_y) / tr_sig
    fit = {"residual_scale": float(np.sqrt(np.mean(resid ** 2))), "eval_sigma": sig_eval,
           "iter_sigma": sig_iter, "points": {"train": int(len(tr_y)), "val": int(len(va_y))},
           "backtest_error": _self_backtest(cur, params, start, sig_iter, sig_eval, feats)}
    baseline = {"name": "power law in steps, a + b*s^-c", "val": float(power.predict(np.array([to]), feats)[0])
                if power else None}
    if calibrate is not None and out and out[0].val is not None:
        alone = extrapolate(run, to, scenarios, level, schedule, None).scenarios[0].val
        if alone is not None:
            v = out[0].val
            notes.append(f"{out[0].name} without the second run: val {alone.mean:.4f} "
                         f"[{alone.lo:.4f}, {alone.hi:.4f}]; with it {v.mean:.4f} [{v.lo:.4f}, {v.hi:.4f}]: "
                         f"the interval is {(v.hi - v.lo) / (alone.hi - alone.lo):.2f}x as wide")
    return Extrapolation(to, last, ratio, model, fit, tuple(out), baseline,
                         overfit, tuple(notes), paths)


# -- pieces ------------------------------------------------------------------------------

def _curves(run: Run) -> _Curves:
    ev, it = run.curves()
    if len(ev) == 0 and len(it) == 0:
        raise CannotExtrapolate("the run has no loss values")
    for name, arr, s in (("eval", ev.val, ev.step), ("iteration", it.loss, it.step)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise CannotExtrapolate(f"non-finite {name} loss at step {int(s[bad][0])} (the run diverged)")
    for s in (ev.step, it.step):
        if len(s) > 1 and np.any(np.diff(s) <= 0):
            raise CannotExtrapolate("steps are not increasing")
    if len(ev) >= 3 and ev.val[-1] > ev.val[0] + 0.5 and ev.train[-1] > ev.train[0]:
        raise CannotExtrapolate("the loss is rising (the run diverged)")
    return _Curves(ev.step.astype(int), ev.train, ev.val, it.step.astype(int), it.loss)


def _schedule(run: Run) -> tuple[dict, list[str]]:
    """get_lr's arguments, and the ones taken from nanoGPT's defaults (said in the notes)."""
    from ..config import DEFAULT, NANOGPT_DEFAULTS
    params = schedule_params(run.config)
    if params is not None:
        defaults = [f"{k} (default {params[k]})" for k in ("learning_rate", "warmup_iters", "lr_decay_iters",
                                                          "min_lr", "decay_lr")
                    if k in run.config.values and run.config.values[k].origin == DEFAULT
                    and (params["decay_lr"] or k in ("learning_rate", "decay_lr"))]
        return dict(params), defaults
    out, assumed = {}, []
    for key in ("learning_rate", "warmup_iters", "lr_decay_iters", "min_lr", "decay_lr"):
        v = run.config.trusted(key)
        if v is None:
            v = NANOGPT_DEFAULTS[key]
            assumed.append(f"{key} (assumed {v})")
        out[key] = v
    if not out["decay_lr"]:
        out.update(warmup_iters=0, lr_decay_iters=0, min_lr=out["learning_rate"])
    return out, assumed


def _iter_sigma(cur: _Curves) -> float | None:
    y = cur.it_loss[len(cur.it_loss) // 5:]
    if len(y) < 20:
        return None
    d = np.diff(y)
    robust = float(np.median(np.abs(d - np.median(d))) * 1.4826 / math.sqrt(2))  # robust std / sqrt 2
    return max(robust, 1e-4)  # at least the rounding of the 4 printed decimals


def _train_points(cur: _Curves, start: int, sig_iter: float | None, sig_eval: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-iteration train losses in bins (mean step, mean loss, sigma / sqrt(n)), plus the
    evals' train losses."""
    steps, ys, sig = [], [], []
    m = cur.it_step >= start
    st, lo = cur.it_step[m], cur.it_loss[m]
    if sig_iter and len(st) >= 20:
        size = max(1, len(st) // 40)
        for i in range(0, len(st) - size + 1, size):
            steps.append(int(round(st[i:i + size].mean())))
            ys.append(float(lo[i:i + size].mean()))
            sig.append(sig_iter / math.sqrt(size))
    e = (cur.ev_step >= start) & (cur.ev_step > 0)
    steps += list(cur.ev_step[e])
    ys += list(cur.ev_train[e])
    sig += [sig_eval] * int(e.sum())
    order = np.argsort(steps, kind="stable")
    return np.array(steps, int)[order], np.array(ys)[order], np.array(sig)[order]


def _calibration_points(other: Run, params: dict, start: int):  # noqa: ANN202
    cur = _curves(other)
    p2, _ = _schedule(other)
    last = int(max(cur.ev_step.max(initial=0), cur.it_step.max(initial=0)))
    lr = lr_at(np.arange(last + 1), **p2)
    feats = laws.features(lr, p2["warmup_iters"])
    sig_iter = _iter_sigma(cur) or 0.05
    steps, y, sig = _train_points(cur, max(start, int(0.1 * last)), sig_iter, sig_iter / math.sqrt(20))
    return steps, y, sig, last, feats


def _fit_train(steps, y, sig, feats, extra) -> list[laws.LawFit]:  # noqa: ANN001
    if extra is None:
        return [laws.fit_mtl(steps, y, sig, feats, lam=lam)[0] for lam in LAM_PRIOR]
    # joint fit: stack both runs' points, each with its own schedule features
    s2, y2, sig2, _, f2 = extra
    offset = len(feats.s1)
    joint = laws.Features(np.concatenate([feats.s1, f2.s1]),
                          {lam: np.concatenate([feats.s2[lam], f2.s2[lam]]) for lam in laws.LAMBDAS})
    return [laws.fit_mtl(np.concatenate([steps, s2 + offset]), np.concatenate([y, y2]),
                         np.concatenate([sig, sig2]), joint, lam=lam)[0] for lam in LAM_PRIOR]


def _fit_val(train_fit: laws.LawFit, steps: np.ndarray, y: np.ndarray, sig: float,
             feats: laws.Features) -> laws.LawFit:
    """The val curve: the train fit's shape (alpha, lam), its own L0, A, C."""
    p = train_fit.params
    return laws.fit_mtl(steps, y, np.full(len(y), sig), feats, alpha=p["alpha"], lam=p["lam"],
                        polish=False)[0]


def _bootstrap_val(fits, val_fits, steps, sig, feats, n: int = 60):  # noqa: ANN001, ANN202
    """sd of the val prediction under eval noise: refit val to noisy copies of its fit."""
    rng = np.random.default_rng(0)
    best = max(range(len(fits)), key=lambda i: LAM_PRIOR[fits[i].params["lam"]])
    base = val_fits[best].predict(steps, feats)
    copies = [
        _fit_val(fits[best], steps, base + rng.normal(0, sig, len(steps)), sig, feats) for _ in range(n)]

    def sd_at(fts: laws.Features, step: int) -> float:
        return float(np.std([c.predict(np.array([step]), fts)[0] for c in copies]))
    return sd_at


def _scenario_schedule(name: str, sched, params: dict, lr_obs: np.ndarray, last: int, to: int
                       ) -> tuple[np.ndarray, str]:  # noqa: ANN001
    steps = np.arange(to + 1)
    if name == "observed":
        return lr_obs, ""
    if name == "rerun":
        return lr_at(steps, **{**params, "lr_decay_iters": to}), f"--max_iters={to} --lr_decay_iters={to}"
    if name == "resume":
        new = lr_at(steps, **{**params, "lr_decay_iters": to})
        return (np.concatenate([lr_obs[:last], new[last:]]),
                f"--init_from=resume --max_iters={to} --lr_decay_iters={to}")
    if name == "constant":
        lr = np.concatenate([lr_obs[:last], np.full(to + 1 - last, params["min_lr"])])
        return lr, (f"--init_from=resume --max_iters={to} --decay_lr=False "
                    f"--learning_rate={params['min_lr']:g}")
    if name == "custom":
        if isinstance(sched, dict):
            p = {**params, **sched}
            lr = lr_at(steps, **p)
            flags = (f"--max_iters={to} --learning_rate={p['learning_rate']:g} --warmup_iters="
                     f"{p['warmup_iters']} --lr_decay_iters={p['lr_decay_iters']} --min_lr={p['min_lr']:g}")
            return lr, flags
        lr = np.asarray(sched, float)
        if len(lr) < to + 1:
            raise CannotExtrapolate(f"the schedule file gives {len(lr)} LRs; {to + 1} are needed")
        return lr[:to + 1], f"--max_iters={to} (per-step LRs from the schedule file; no nanoGPT flag sets them)"
    raise CannotExtrapolate(f"unknown scenario {name!r}")


def _estimate(preds: np.ndarray, w: np.ndarray, model_sd: float, eval_sd: float, z: float,
              level: float, stat_sd: float) -> Estimate:
    mean = float(np.sum(w * preds))
    between = float(np.sqrt(np.sum(w * (preds - mean) ** 2)))
    sd = math.sqrt(stat_sd ** 2 + between ** 2 + (model_sd * mean) ** 2 + eval_sd ** 2)
    return Estimate(mean, mean - z * sd, mean + z * sd, level, sd)


def _z(level: float) -> float:
    from scipy.stats import norm
    return float(norm.ppf(0.5 + level / 2))


def _overfitting(cur: _Curves, sig_eval: float) -> dict | None:
    if len(cur.ev_val) < 3:
        return None
    i = int(np.argmin(cur.ev_val))
    rising = cur.ev_val[-1] - cur.ev_val[i] > 2 * sig_eval
    train_falling = cur.ev_train[-1] < cur.ev_train[i]
    if i < len(cur.ev_val) - 1 and rising and train_falling:
        return {"best_step": int(cur.ev_step[i]), "best_val": float(cur.ev_val[i])}
    return None


def _self_backtest(cur: _Curves, params: dict, start: int, sig_iter, sig_eval, feats) -> float | None:  # noqa: ANN001
    """Fit the first 70% of the run, predict its last eval's val: absolute error (nats)."""
    cut = int(0.7 * cur.ev_step.max(initial=0))
    if cut <= start:
        return None
    m_it, m_ev = cur.it_step <= cut, cur.ev_step <= cut
    prefix = _Curves(cur.ev_step[m_ev], cur.ev_train[m_ev], cur.ev_val[m_ev], cur.it_step[m_it], cur.it_loss[m_it])
    steps, y, sig = _train_points(prefix, start, sig_iter, sig_eval)
    va = (prefix.ev_step >= start) & (prefix.ev_step > 0)
    if va.sum() < 3 or len(steps) < 5:
        return None
    fit = laws.fit_mtl(steps, y, sig, feats, lam=max(LAM_PRIOR, key=LAM_PRIOR.get), polish=False)[0]
    vf = _fit_val(fit, prefix.ev_step[va], prefix.ev_val[va], sig_eval, feats)
    return float(abs(vf.predict(cur.ev_step[-1:], feats)[0] - cur.ev_val[-1]))
