"""Overfitting, judged from the curves alone: the gap between val and train, whether it
grows, and whether val came back up from its best while train kept falling.

These need no config header: a rise or a growing gap is measured against eval_se when the
log gives eval_iters, else against the residuals of the evals themselves, or (for a single
rise) against FALLBACK_EVAL_SE, said in the fact's note.
"""

from __future__ import annotations

import math

from . import loss
from .base import Context, Fact, derived, missing, unknown
from .curve import (
    MIN_ITERS_FOR_NOISE,
    diff_sd,
    evals_of,
    iter_points,
    slope_se,
    slope_z,
    tail_slope,
    threshold,
    threshold_status,
)


def overfit_ratio(ctx: Context) -> Fact:
    """(final_val - final_train) / final_train: the generalization gap relative to the train
    loss, the ratio SageMaker Debugger's Overfit rule watches."""
    name, unit, src = "overfit_ratio", "fraction", "(final_val - final_train) / final_train"
    v, t = ctx.fact("final_val"), ctx.fact("final_train")
    if not (v.known and t.known):
        return missing(name, unit, src, v, t)
    if not (math.isfinite(v.value) and math.isfinite(t.value)):
        return unknown(name, unit, src, "the last eval's loss is NaN/inf")
    if t.value <= 0:
        return unknown(name, unit, src, "final_train is not positive")
    return Fact(name, (v.value - t.value) / t.value, unit, derived(v, t), src)


def overfit_ratio_trend(ctx: Context) -> Fact:
    """Least-squares slope of (val - train) / train over the last evals; > 0 as the gap grows."""
    return tail_slope(ctx, "overfit_ratio_trend", "1/1k steps", "(val - train)/train", "overfit")


def val_rise(ctx: Context) -> Fact:
    """final_val - best_val (>= 0): how far val came back up from its best."""
    v, best = ctx.fact("final_val"), ctx.fact("best_val")
    name, unit, src = "val_rise", v.unit or "nats", "final_val - best_val"
    if not (v.known and best.known):
        return missing(name, unit, src, v, best)
    if not math.isfinite(v.value):
        return unknown(name, unit, src, "the last eval's val loss is NaN/inf")
    return Fact(name, v.value - best.value, unit, derived(v, best), src)


def val_rise_z(ctx: Context) -> Fact:
    """val_rise in standard errors of one eval. Without eval_se (a log that does not show
    eval_iters) FALLBACK_EVAL_SE is assumed, said in the note: the curves alone show a
    rise many times the noise of any eval_iters nanoGPT's configs use."""
    name, unit, src = "val_rise_z", "", "val_rise / eval_se"
    rise = ctx.fact("val_rise")
    if not rise.known:
        return missing(name, unit, src, rise)
    thr, se = threshold(ctx)
    status, note = threshold_status(se)
    return Fact(name, rise.value / thr, unit, derived(rise, se) if se.known else status, src, note)


def train_falling_after_best(ctx: Context) -> Fact:
    """Whether the eval train loss at the last eval is below its value at the best-val eval
    by more than 2·eval_se: the model keeps fitting the train split while val does not.
    Where the evals have no train split (HF, Lightning, llm.c), the mean of the last
    TRAIN_NEAR logged train losses up to each of the two steps stands for it."""
    name, unit = "train_falling_after_best", ""
    src = "train(last eval) < train(best-val eval) - 2·eval_se"
    ev = evals_of(ctx)
    i = loss.best_index(ctx)  # the best_val eval, first on ties
    if i is None:
        return unknown(name, unit, src, loss.no_best_why(ctx))
    at_best, last = float(ev.train[i]), float(ev.train[-1])
    if not ctx.run.measures.eval_train:
        return _logged_train_falling(ctx, int(ev.step[i]), int(ev.step[-1]))
    if not (math.isfinite(at_best) and math.isfinite(last)):
        return unknown(name, unit, src, "train loss NaN/inf at the best or the last eval")
    thr, se = threshold(ctx)
    status, note = threshold_status(se)
    return Fact(name, bool(last < at_best - 2 * thr), unit, status, src, note)


TRAIN_NEAR = 5  # logged train losses averaged up to an eval's step, where the evals have no train split


def _logged_train_falling(ctx: Context, best: int, last: int) -> Fact:
    """train_falling_after_best where the evals have no train split: the mean of the last
    TRAIN_NEAR logged train losses up to each step, judged against the noise of such a mean
    (the logged losses' own sd, from their successive differences)."""
    name, unit = "train_falling_after_best", ""
    src = (f"mean of the last {TRAIN_NEAR} logged train losses up to the last eval < the same up to the "
           "best-val eval - 2·√2·their sd/√n")
    steps, losses = iter_points(ctx)
    a, b = losses[steps <= best][-TRAIN_NEAR:], losses[steps <= last][-TRAIN_NEAR:]
    if not (len(a) and len(b)) or len(losses) < MIN_ITERS_FOR_NOISE:
        return unknown(name, unit, src, f"too few logged train losses ({len(losses)}) up to the evals")
    sd = diff_sd(losses) / math.sqrt(min(len(a), len(b)))  # of one mean
    return Fact(name, bool(b.mean() < a.mean() - 2 * math.sqrt(2) * sd), unit, "computed", src)





def gap_growth(ctx: Context) -> Fact:
    """Least-squares slope of val - train (nats) over the last evals: > 0 while the model
    gets better at its training text faster than at held-out text."""
    return tail_slope(ctx, "gap_growth", "nats/1k steps", "val - train", "gap")


def gap_growth_se(ctx: Context) -> Fact:
    """Standard error of gap_growth: each gap is the difference of two eval means, each with
    its own random batches, so its error is √2·eval_se."""
    return slope_se(ctx, "gap_growth_se", ctx.fact("gap_growth"), "gap", 2.0)


def gap_growth_z(ctx: Context) -> Fact:
    """gap_growth in standard errors: above about 2 the gap is growing, not just noisy."""
    return slope_z(ctx, "gap_growth_z", "gap_growth")
