"""The shape of the lineage's loss curves: noise, late slopes, rises (spikes: spikes.py).

Two kinds of loss lines, in nats (see loss.py):
* eval: `step N: train X, val Y`, each the mean of eval_iters batches in eval mode;
* iter: `iter N: loss X`, one micro-batch in train mode (dropout on), printed to 4 decimals.

The per-iteration losses give the noise scale; the evals give the trends, judged against it.
"""

from __future__ import annotations

import math

import numpy as np

from ..run import EvalCurve
from .base import Context, Fact, Status, derived, missing, plural, unknown
from .loss import SUMMARIES, last_best_step
from .settings import not_numbers, ratio

# rises and drops of eval losses are judged against 2·eval_se; this stands in for eval_se
# when it is unknown (nats; a typical eval_se of a small nanoGPT run)
FALLBACK_EVAL_SE = 0.01
MIN_ITERS_FOR_NOISE = 20  # iteration points needed for the noise estimate
MIN_TAIL_EVALS = 3  # evals after step 0 needed for a slope
MIN_RESIDUAL_EVALS = 4  # evals a slope's standard error from its own residuals needs (2 degrees of freedom)
# variance (nats²) of the rounding of a loss printed with 4 decimals: uniform over 1e-4
ROUNDING_VAR = 1e-4 ** 2 / 12

def evals_of(ctx: Context) -> EvalCurve:
    return ctx.curves()[0]


def iter_points(ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """(step, loss) of the logged iterations with a finite loss."""
    def find() -> tuple[np.ndarray, np.ndarray]:
        it = ctx.curves()[1]
        ok = np.isfinite(it.loss)
        return it.step[ok], it.loss[ok]
    return ctx.memo("curve_iter_points", find)


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y on x."""
    dx = x - x.mean()
    return float((dx * (y - y.mean())).sum() / (dx * dx).sum())


def _dropout(ctx: Context) -> float | None:
    """The dropout probability when known and > 0, else None."""
    p = ctx.fact("dropout")
    return p.value if p.known and not not_numbers(p) and p.value > 0 else None


def threshold(ctx: Context) -> tuple[float, Fact]:
    """eval_se (nats), or FALLBACK_EVAL_SE when it is unknown; and the eval_se fact."""
    se = ctx.fact("eval_se")
    return (se.value if se.known else FALLBACK_EVAL_SE), se


def threshold_status(se: Fact) -> tuple[Status, str | None]:
    """Status and note of a fact judged against 2·eval_se."""
    if se.known:
        return derived(se), None
    return "assumed", f"eval_se unknown, {FALLBACK_EVAL_SE} nats assumed"


# ---------------------------------------------------------------------------------------
# noise

def n_evals(ctx: Context) -> Fact:
    if not ctx.run.format.has_log:
        return unknown("n_evals", "evals", "log: eval lines", "no log, only a checkpoint")
    if ctx.run.format in SUMMARIES:
        return unknown("n_evals", "evals", "log: eval lines", "a summary holds the final val only, not how many evals "
                                                              "the run made")
    return Fact("n_evals", len(evals_of(ctx)), "evals", "read", "log: eval lines of the lineage")


def not_step_losses(ctx: Context) -> str | None:
    """Why the iteration curve is not one step's loss per point (None when it is): an EMA
    has its noise and spikes smoothed away, a window mean has less noise than a step."""
    m = ctx.run.measures
    return {"ema": f"the log's train loss is an EMA (beta {m.ema_beta}), not one step's loss",
            "window": "the log's train loss is a mean over the steps since the last log, not one step's",
            "none": "the log has no train loss per step"}.get(m.train)


def iter_loss_sd(ctx: Context) -> Fact:
    """Noise of one iteration's loss: the robust sd of successive differences over the last
    80% of logged iterations (the first 20% fall too fast). Differences cancel the slow trend;
    MAD·1.4826 is a spike-proof sd, and a difference of two draws has sqrt(2) times the sd."""
    name, unit = "iter_loss_sd", "nats"
    src = "MAD·1.4826/√2 of successive iter-loss differences, last 80% of iterations"
    if why := not_step_losses(ctx):
        return unknown(name, unit, src, why)
    _, loss = iter_points(ctx)
    y = loss[len(loss) // 5:]
    if len(y) < MIN_ITERS_FOR_NOISE:
        return unknown(name, unit, src, f"finite iteration losses in the last 80%: {len(y)}, "
                                        f"{MIN_ITERS_FOR_NOISE} needed")
    return Fact(name, diff_sd(y), unit, "computed", src)


def diff_sd(y: np.ndarray) -> float:
    """Robust sd of one draw from successive differences of `y`: MAD·1.4826 of the
    differences (their median removes the slow trend) over √2; at least 1e-4, the rounding
    of 4 printed decimals."""
    d = np.diff(y)
    return max(float(np.median(np.abs(d - np.median(d))) * 1.4826 / math.sqrt(2)), 1e-4)


def eval_se(ctx: Context) -> Fact:
    """Standard error of one logged eval loss. train.py prints
    `lossf = loss.item() * gradient_accumulation_steps`, the last micro-batch's loss
    (batch_size rows), and estimate_loss averages eval_iters batches of batch_size rows:
    so the eval's se is the iteration's sd / sqrt(eval_iters)."""
    name, unit, src = "eval_se", "nats", "iter_loss_sd / √eval_iters"
    if ctx.run.format.trainer == "llmc":
        return _llmc_eval_se(ctx)
    sd, n = ctx.fact("iter_loss_sd"), ctx.fact("eval_iters")
    if not (sd.known and n.known):
        return missing(name, unit, src, sd, n)
    if not isinstance(n.value, int) or n.value <= 0:
        return unknown(name, unit, src, f"eval_iters is {n.value!r}")
    note = None
    if (p := _dropout(ctx)) is not None:
        # dropout adds noise to the iteration losses that eval-mode losses do not have
        note = (f"approximate: iteration losses are in train mode with dropout {p}, "
                "evals without; likely an overestimate")
    return Fact(name, sd.value / math.sqrt(n.value), unit, derived(sd, n), src, note)


def _llmc_eval_se(ctx: Context) -> Fact:
    """llm.c resets its val loader before every eval (dataloader_reset): each eval is the
    same val_num_batches batches, so evals differ by the model alone, with none of the fresh
    sampling noise nanoGPT's random eval batches carry, and none to derive from the
    iterations' noise. Unknown, said so; the slopes read the evals' own scatter."""
    return unknown("eval_se", "nats", "llm.c's evals",
                   "llm.c evaluates the same val batches at every eval: they differ by the model alone, with no "
                   "fresh sampling noise to derive from the iterations")


def iter_noise_per_token(ctx: Context) -> Fact:
    """iter_loss_sd scaled to one token: the mean of batch_size·block_size token losses has
    1/sqrt(tokens) of one token's sd (if tokens were independent), so runs with different
    batches compare."""
    name, unit = "iter_noise_per_token", "nats·√token"
    src = "iter_loss_sd · √(batch_size·block_size)"
    sd, b, t = ctx.fact("iter_loss_sd"), ctx.fact("batch_size"), ctx.fact("block_size")
    if not (sd.known and b.known and t.known):
        return missing(name, unit, src, sd, b, t)
    if bad := not_numbers(b):
        return unknown(name, unit, src, bad)
    return Fact(name, sd.value * math.sqrt(b.value * t.value), unit, derived(sd, b, t), src)


# ---------------------------------------------------------------------------------------
# the late evals: slopes and overfitting

def _tail(ctx: Context) -> np.ndarray | None:
    """Indices of the last k = max(3, ceil(n_evals / 4)) evals after step 0, or None when
    fewer than 3 evals come after step 0; with eval_se unknown, k is at least 4 where the
    log has them: the slope's standard error then comes from the residuals, which need 4."""
    def find() -> np.ndarray | None:
        least = MIN_TAIL_EVALS if ctx.fact("eval_se").known else MIN_RESIDUAL_EVALS
        return tail_indices(evals_of(ctx).step, least)
    return ctx.memo("curve_tail", find)


def tail_indices(steps: np.ndarray, least: int = MIN_TAIL_EVALS) -> np.ndarray | None:
    """Indices of the last max(least, ceil(n/4)) evals after step 0 (n counts every eval),
    as many as there are where fewer; None with fewer than 3 evals after step 0."""
    late = np.flatnonzero(steps > 0)
    k = max(least, math.ceil(0.25 * len(steps)))
    return late[-k:] if len(late) >= MIN_TAIL_EVALS else None


TAIL_SOURCE = "the last max(3, ⌈n_evals/4⌉) evals after step 0 (at least 4 where eval_se is unknown)"


def _no_tail(ctx: Context) -> str:
    n = int((evals_of(ctx).step > 0).sum())
    return f"{plural(n, 'eval')} after step 0, {MIN_TAIL_EVALS} needed"


def n_tail_evals(ctx: Context) -> Fact:
    tail = _tail(ctx)
    if tail is None:
        return unknown("n_tail_evals", "evals", TAIL_SOURCE, _no_tail(ctx))
    return Fact("n_tail_evals", len(tail), "evals", "computed", TAIL_SOURCE)


def tail_xy(ctx: Context, name: str, unit: str, src: str, field: str
             ) -> tuple[np.ndarray, np.ndarray] | Fact:
    """(step, y) over the tail evals; an unknown Fact when there is no finite tail."""
    tail = _tail(ctx)
    if tail is None:
        return unknown(name, unit, src, _no_tail(ctx))
    ev = evals_of(ctx)
    x = ev.step[tail].astype(float)
    y = {"val": lambda: ev.val[tail], "gap": lambda: ev.val[tail] - ev.train[tail],
         "overfit": lambda: (ev.val[tail] - ev.train[tail]) / ev.train[tail]}[field]()
    if not np.isfinite(y).all():
        if field != "val" and not ctx.run.measures.eval_train:  # not a NaN: the evals have no train split
            return unknown(name, unit, src, "the log's evals give no train-split loss")
        return unknown(name, unit, src, "NaN/inf loss in the last evals")
    if not np.ptp(x) > 0:
        return unknown(name, unit, src, "the last evals are all at one step")
    return x, y


def val_slope(ctx: Context) -> Fact:
    """Least-squares slope of the val loss over the last evals; < 0 while it still improves."""
    return tail_slope(ctx, "val_slope", f"{ctx.run.measures.val_unit}/1k steps", "val", "val")


def tail_slope(ctx: Context, name: str, unit: str, what: str, field: str) -> Fact:
    """The least-squares slope of tail_xy's `field` (`what`, for the source) per 1k steps."""
    src = f"least-squares slope of {what} over {TAIL_SOURCE}"
    xy = tail_xy(ctx, name, unit, src, field)
    if isinstance(xy, Fact):
        return xy
    return Fact(name, slope(*xy) * 1000, unit, "computed", src)


def val_slope_se(ctx: Context) -> Fact:
    """Standard error of val_slope: from eval_se when known (each eval draws its own random
    batches, so their errors are independent), else from the fit's residuals, which needs
    4 evals or more (2 residual degrees of freedom) and is floored at the log's rounding."""
    return slope_se(ctx, "val_slope_se", ctx.fact("val_slope"), "val", 1.0)


def slope_se(ctx: Context, name: str, fact: Fact, field: str, points: float) -> Fact:
    """Standard error of `fact` (a tail_xy slope of `field`, per 1k steps). Each point's
    error is √points·eval_se when eval_se is known (points: how many independent eval
    means the point adds up), else it comes from the residuals of the fit."""
    unit = fact.unit  # the slope's own: nats or bpb per 1k steps
    xy = tail_xy(ctx, name, unit, f"standard error of {fact.name}", field)
    if isinstance(xy, Fact) or not fact.known:
        return missing(name, unit, f"standard error of {fact.name}", fact)
    x, y = xy
    sxx = float(((x - x.mean()) ** 2).sum())
    se = ctx.fact("eval_se")
    if se.known:
        return Fact(name, math.sqrt(points) * se.value / math.sqrt(sxx) * 1000, unit, derived(se),
                    f"{'√' + format(points, 'g') + '·' if points != 1 else ''}eval_se"
                    " / √Σ(step - mean step)²")
    src = "least-squares standard error from the residuals"
    if len(x) < MIN_RESIDUAL_EVALS:
        return unknown(name, unit, src, f"eval_se unknown and {plural(len(x), 'eval')}: "
                                        f"{MIN_RESIDUAL_EVALS} needed for a residual estimate")
    fit = y.mean() + fact.value / 1000 * (x - x.mean())
    # at least the variance of the log's rounding, so evals on a line give no zero se
    resid_var = max(float(((y - fit) ** 2).sum()) / (len(x) - 2), ROUNDING_VAR)
    return Fact(name, math.sqrt(resid_var / sxx) * 1000, unit, "computed", src,
                "eval_se unknown")


def val_slope_z(ctx: Context) -> Fact:
    """val_slope in standard errors: below about -2 the val loss is still falling."""
    return slope_z(ctx, "val_slope_z", "val_slope")


def slope_z(ctx: Context, name: str, of: str) -> Fact:
    """Fact `of` over its standard error (fact `of`_se)."""
    src = f"{of} / {of}_se"
    value, se = ctx.fact(of), ctx.fact(f"{of}_se")
    if not (value.known and se.known):
        return missing(name, "", src, value, se)
    if se.value <= 0:
        return unknown(name, "", src, f"{of}_se is 0 (the evals lie on a line)")
    return Fact(name, value.value / se.value, "", derived(value, se), src)


def best_val_frac(ctx: Context) -> Fact:
    """The last eval at the best val's step / final_step: near 1 the best model is the last
    one (a best printed again at the end is a run that ended at its best)."""
    name, unit, src = "best_val_frac", "fraction", "best_val_step / final_step"
    best = ctx.fact("best_val_step")
    last = last_best_step(ctx)
    if last is not None and best.known and last != best.value:
        best = Fact(best.name, last, best.unit, best.status, best.source,
                    f"the last of the evals tied at the best val, step {best.value:,} the first")
        src = "the last best val's step / final_step"
    return ratio(name, unit, src, best, ctx.fact("final_step"), best.note)


def train_rise_evals(ctx: Context) -> Fact:
    """The longest run of consecutive evals (after step 0) whose eval train loss rose by more
    than 2·eval_se from the eval before: train loss should not rise, so this flags
    instability or too high an LR."""
    name, unit = "train_rise_evals", "evals"
    src = "longest run of evals with train up > 2·eval_se from the previous eval"
    ev = evals_of(ctx)
    train = ev.train[ev.step > 0]
    if len(train) < 2:
        return unknown(name, unit, src, f"{plural(len(train), 'eval')} after step 0, 2 needed")
    thr, se = threshold(ctx)
    status, note = threshold_status(se)
    return Fact(name, _longest_run(np.diff(train) > 2 * thr), unit, status, src, note)


def _longest_run(flags: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D bool array."""
    starts, ends = runs_of(flags)
    return int((ends - starts).max()) if len(starts) else 0


def runs_of(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of True: flags[starts[j]:ends[j]] are all True."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


# ---------------------------------------------------------------------------------------
# iteration vs eval losses at the end (the levels against a model that learned nothing: levels.py)

def _iter_line_at_end(ctx: Context) -> tuple[float, float, int, str] | None:
    """A straight line through the iteration losses of the last eval interval, read at the
    final eval's step: (value, its standard error, n, source) or None. The line, not the
    mean, because the loss falls across the interval: a mean would lag the eval."""
    last = ctx.fact("final_step")
    if not last.known:
        return None
    interval = ctx.fact("eval_interval")
    if interval.known and not not_numbers(interval) and interval.value > 0:
        span, where = interval.value, "(final_step - eval_interval, final_step]"
    else:
        span, where = 0.1 * last.value, "the last 10% of steps up to final_step"
    step, loss = iter_points(ctx)
    m = (step > last.value - span) & (step <= last.value)
    x, y = (step[m] - last.value).astype(float), loss[m]  # steps before final_step: at 1e15 a fit loses them
    if len(x) < 5 or np.ptp(x) == 0:
        return None
    b, a = np.polyfit(x, y, 1)
    resid = y - (a + b * x)
    sd = float(np.sqrt(resid @ resid / (len(x) - 2)))
    sxx = float(((x - x.mean()) ** 2).sum())
    se = sd * math.sqrt(1 / len(x) + x.mean() ** 2 / sxx)  # of the line's end, at x = 0
    return float(a), se, len(x), f"iteration losses in {where}, fitted line at final_step"


def iter_vs_eval_train(ctx: Context) -> Fact:
    """The iteration losses of the last eval interval (a fitted line, read at the final
    eval's step) minus that eval's train loss. Iteration losses are one micro-batch in
    train mode (dropout on), so with dropout this is > 0."""
    name, unit = "iter_vs_eval_train", "nats"
    t = ctx.fact("final_train")
    src = "iteration-loss line at final_step - final_train"
    if not t.known:
        return missing(name, unit, src, t)
    if not math.isfinite(t.value):
        return unknown(name, unit, src, "the last eval's train loss is NaN/inf")
    if why := not_step_losses(ctx):
        return unknown(name, unit, src, why)
    line = _iter_line_at_end(ctx)
    if line is None:
        return unknown(name, unit, src, "fewer than 5 iteration losses in the last eval interval")
    p = _dropout(ctx)
    note = None if p is None else f"iteration losses include dropout {p}"
    return Fact(name, line[0] - t.value, unit, derived(t), f"{line[3]} - final_train", note)


def iter_vs_eval_train_se(ctx: Context) -> Fact:
    """Standard error of iter_vs_eval_train's line end (the eval's own error is eval_se)."""
    name, unit = "iter_vs_eval_train_se", "nats"
    line = _iter_line_at_end(ctx)
    if line is None:
        return unknown(name, unit, "line fit", "fewer than 5 iteration losses in the last eval interval")
    return Fact(name, line[1], unit, "computed", f"standard error of the line's end, {line[2]} points")
