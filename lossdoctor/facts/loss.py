"""Loss values of the lineage: best, first and final evals, the train/val gap, NaN onset.

All losses are nanoGPT's cross-entropy in nats, or bits per byte where the run's val is
in bpb (nanochat; Run.measures), and the unit says which. Eval losses (`step N: train X, val Y`) are
means over eval_iters random batches in eval mode; they are the ones compared here, never
the noisy `iter` loss (last micro-batch * grad_accum, train mode with dropout).
"""

from __future__ import annotations

import math

import numpy as np

from ..run import Dialect, EvalCurve, IterCurve
from .base import NO_EVALS, NO_STEP, Context, Fact, Status, derived, missing, unknown

NO_TRAIN_EVAL = "the log evaluates val only, not the train split"


def _unit(ctx: Context) -> str:
    return ctx.run.measures.val_unit


def _evals(ctx: Context) -> EvalCurve:
    return ctx.curves()[0]


def best_index(ctx: Context) -> int | None:
    """Index of the lowest finite val loss (the first one on ties: nanoGPT saves its
    checkpoint only when val is strictly below its best); None where it is not known: no
    finite val, or a summary that holds the final val only (no_best_why)."""
    def find() -> int | None:
        val = _evals(ctx).val
        ok = np.isfinite(val)
        if not ok.any() or _final_only(ctx):
            return None
        return int(np.argmin(np.where(ok, val, np.inf)))
    return ctx.memo("best_val_index", find)


# a table of one row per run, or a run's summary: the values it ended with, not its history
SUMMARIES = (Dialect.WANDB_RUNS, Dialect.WANDB_SUMMARY)
FINAL_ONLY = "a summary holds the final val only, not the lowest the run reached"


def _final_only(ctx: Context) -> bool:
    """Whether the run's one val is a summary's final value: its best is not shown."""
    return ctx.run.format in SUMMARIES and len(_evals(ctx)) == 1


def no_best_why(ctx: Context) -> str:
    """Why best_index is None."""
    if not len(_evals(ctx)):
        return NO_EVALS
    return FINAL_ONLY if _final_only(ctx) else "no finite val loss"


def _always_save(ctx: Context) -> bool | None:
    v = ctx.config().trusted("always_save_checkpoint")
    return v if isinstance(v, bool) else None


CKPT_SENTINEL = 1e9  # train.py's `best_val_loss = 1e9` before any eval improved on it


def _ckpt_val(ctx: Context) -> float | None:
    """The checkpoint's best_val_loss; None without one, or where it is still train.py's
    starting 1e9 (no eval improved on it: a NaN run saved with always_save_checkpoint)."""
    ck = ctx.run.checkpoint
    if ck is None or ck.best_val_loss is None or not float(ck.best_val_loss) < CKPT_SENTINEL:
        return None
    return float(ck.best_val_loss)


def best_val(ctx: Context) -> Fact:
    """Lowest val loss of any eval; without evals, the checkpoint's best_val_loss."""
    i = best_index(ctx)
    if i is not None:
        return Fact("best_val", float(_evals(ctx).val[i]), _unit(ctx), "read", "log: lowest val loss")
    ck = _ckpt_val(ctx)
    if ck is not None:
        save = _always_save(ctx)
        note = None
        if save is True:
            note = ("always_save_checkpoint=True: nanoGPT stores the val loss of the last "
                    "save here, not the best")
        elif save is None:
            note = ("the best val loss only if always_save_checkpoint was False, "
                    "else the last eval's")
        return Fact("best_val", ck, _unit(ctx), "read", "ckpt best_val_loss", note)
    why = no_best_why(ctx)
    return unknown("best_val", _unit(ctx), "log: lowest val loss",
                   "every val loss is NaN/inf" if why == "no finite val loss" else why)


def logged_step(ctx: Context, src: str) -> tuple[Status, str, str | None]:
    """(status, source, note) of a step the file logs: read, or assumed where its step
    column counts the script's log calls (a W&B panel's `Step`, Measures.step_axis)."""
    axis = ctx.run.measures.step_axis
    if axis is None:
        return "read", src, None
    return "assumed", src, f"assumed one optimizer step per {axis}: the file's `{axis}` counts the script's log calls"


def last_best_step(ctx: Context) -> int | None:
    """The step of the last eval at the lowest val (a tie printed again later: a run whose
    last evals print its best again ended at its best); None where best_index is."""
    i = best_index(ctx)
    if i is None or not ctx.run.measures.steps_known:
        return None
    ev = _evals(ctx)
    return int(ev.step[ev.val == ev.val[i]].max())


def best_val_step(ctx: Context) -> Fact:
    i = best_index(ctx)
    if i is not None and not ctx.run.measures.steps_known:
        return unknown("best_val_step", "steps", "log: step of the lowest val loss", NO_STEP)
    if i is not None:
        return Fact("best_val_step", int(_evals(ctx).step[i]), "steps",
                    *logged_step(ctx, "log: step of the lowest val loss"))
    ck = ctx.run.checkpoint
    if ck is not None and ck.iter_num is not None and _ckpt_val(ctx) is not None \
            and _always_save(ctx) is False:
        # saved only when val improved, so the checkpoint's step is the best one
        return Fact("best_val_step", ck.iter_num, "steps", "read",
                    "ckpt iter_num (saved only when val improved)")
    why = NO_STEP if len(_evals(ctx)) and not ctx.run.measures.steps_known else no_best_why(ctx)
    return unknown("best_val_step", "steps", "log: step of the lowest val loss", why)


def _final(ctx: Context, name: str, field: str) -> Fact:
    ev = _evals(ctx)
    if field == "train" and not ctx.run.measures.eval_train:
        return unknown(name, _unit(ctx), f"log: last eval ({field})", NO_TRAIN_EVAL if len(ev) else NO_EVALS)
    if len(ev):
        value = float(getattr(ev, field)[-1])
        note = None if math.isfinite(value) else "NaN/inf in the log"
        return Fact(name, value, _unit(ctx), "read", f"log: last eval ({field})", note)
    if field == "val" and _ckpt_val(ctx) is not None and _always_save(ctx) is True:
        return Fact(name, _ckpt_val(ctx), _unit(ctx), "read",
                    "ckpt best_val_loss (always_save_checkpoint=True: the last eval's)")
    return unknown(name, _unit(ctx), f"log: last eval ({field})", NO_EVALS)


def final_val(ctx: Context) -> Fact:
    return _final(ctx, "final_val", "val")


def final_train(ctx: Context) -> Fact:
    return _final(ctx, "final_train", "train")


def final_step(ctx: Context) -> Fact:
    """Step of the last eval."""
    ev = _evals(ctx)
    if len(ev) and not ctx.run.measures.steps_known:
        return unknown("final_step", "steps", "log: last eval step", NO_STEP)
    if len(ev):
        return Fact("final_step", int(ev.step[-1]), "steps", *logged_step(ctx, "log: last eval step"))
    ck = ctx.run.checkpoint
    if ck is not None and ck.iter_num is not None and _ckpt_val(ctx) is not None \
            and _always_save(ctx) is True:
        return Fact("final_step", ck.iter_num, "steps", "read", "ckpt iter_num")
    return unknown("final_step", "steps", "log: last eval step", NO_EVALS)


def generalization_gap(ctx: Context) -> Fact:
    """final_val - final_train (nats): how much worse the model does on unseen text."""
    v, t = ctx.fact("final_val"), ctx.fact("final_train")
    src = "final_val - final_train"
    if not (v.known and t.known):
        return missing("generalization_gap", "nats", src, v, t)
    if not (math.isfinite(v.value) and math.isfinite(t.value)):
        return unknown("generalization_gap", "nats", src, "the last eval's loss is NaN/inf")
    return Fact("generalization_gap", v.value - t.value, "nats", derived(v, t), src)


def gap_at_best(ctx: Context) -> Fact:
    """val - train at the eval with the lowest val loss."""
    i = best_index(ctx)
    src = "val - train at best_val_step"
    if i is None:
        return unknown("gap_at_best", "nats", src, no_best_why(ctx))
    ev = _evals(ctx)
    if not ctx.run.measures.eval_train:
        return unknown("gap_at_best", "nats", src, NO_TRAIN_EVAL)
    train = float(ev.train[i])
    if not math.isfinite(train):
        return unknown("gap_at_best", "nats", src, "train loss at that eval is NaN/inf")
    return Fact("gap_at_best", float(ev.val[i]) - train, "nats", "computed", src)


def init_loss_expected(ctx: Context) -> Fact:
    """ln(vocab_size): the loss of a uniform prediction, where a fresh model starts."""
    vocab = ctx.fact("vocab_size")
    if not vocab.known:
        return missing("init_loss_expected", "nats", "ln(vocab_size)", vocab)
    if _unit(ctx) != "nats":
        return unknown("init_loss_expected", "nats", "ln(vocab_size)",
                       f"val is in {_unit(ctx)}, not nats: ln(vocab_size) does not apply")
    return Fact("init_loss_expected", math.log(vocab.value), "nats", derived(vocab),
                "ln(vocab_size)")


def first_val(ctx: Context) -> Fact:
    ev = _evals(ctx)
    if not len(ev):
        return unknown("first_val", _unit(ctx), "log: first eval", NO_EVALS)
    if _final_only(ctx):
        return unknown("first_val", _unit(ctx), "log: first eval",
                       "a summary holds the final val only, not the run's first")
    step = int(ev.step[0])
    note = None if step == 0 else f"the lineage's first eval is at step {step}"
    return Fact("first_val", float(ev.val[0]), _unit(ctx), "read",
                f"log: first eval (step {step})", note)


def nan_step(ctx: Context) -> Fact:
    """First step whose iter loss or eval loss is NaN/inf; None when there is none."""
    evals, iters = ctx.curves()
    if not len(evals) and not len(iters):
        return unknown("nan_step", "steps", "log: loss values", "the log has no loss lines")
    both = ctx.run.measures.eval_train
    first = _first_bad(evals, iters, both)
    # an attempt the lineage resumed past (or an earlier run in the file) may have blown up
    elsewhere = _first_bad(ctx.run.evals, ctx.run.iters, both)
    note = None
    if first is None and elsewhere is not None:
        note = f"a segment outside the lineage hit NaN/inf at step {elsewhere}"
    elif first is None:
        note = "no NaN/inf loss in the log"
    return Fact("nan_step", first, "steps", "read", "log: first NaN/inf loss", note)


def nan_at_start(ctx: Context) -> Fact:
    """Whether every loss is NaN/inf from before any update could have made it so: from the
    run's first measured step (0, or a resumed run's first: NaN weights loaded), or from the
    step after it where the iteration lines start there (llm.c prints its first update's
    loss, computed on the weights it started from, as step 1), with no finite loss at all.
    Such a run did not diverge: its model, data or numerics were broken from the start."""
    name, src = "nan_at_start", "log: every loss NaN/inf, from the run's first measured step"
    first = ctx.fact("nan_step")
    if (early := _no_nan(name, src, first)) is not None:
        return early
    evals, iters = ctx.curves()
    if np.isfinite(evals.val).any() or np.isfinite(iters.loss).any():
        return Fact(name, False, "", "read", src, "a finite loss before or after it")
    head = ctx.run.resumed_start()
    start = head.first_step if head is not None and head.first_step is not None else 0
    iters_after = len(iters.step) > 0 and int(iters.step[0]) == start + 1
    return Fact(name, first.value == start or (first.value == start + 1 and iters_after), "", "read", src)


def nan_persists(ctx: Context) -> Fact:
    """Whether the run's last loss is NaN/inf: a NaN that training went on past (an eval
    glitch, an inf that fp16's loss scaler skipped) is no divergence."""
    name, src = "nan_persists", "log: the last loss (eval or iteration) is NaN/inf"
    if (early := _no_nan(name, src, ctx.fact("nan_step"))) is not None:
        return early
    evals, iters = ctx.curves()
    # the last loss printed: the later step, and at one step the later line (an eval and the
    # iteration after it see the same weights)
    last = [((int(c.step[-1]), int(c.line[-1])), float(v[-1])) for c, v in ((evals, evals.val), (iters, iters.loss))
            if len(c.step)]
    at = max((where for where, _ in last), default=None)  # one record holding both: either NaN is
    return Fact(name, any(not math.isfinite(v) for where, v in last if where == at), "", "read", src)


def _no_nan(name: str, src: str, first: Fact) -> Fact | None:
    """A NaN fact's value where nan_step settles it: unknown with it, False with no NaN."""
    if not first.known:
        return missing(name, "", src, first)
    if first.value is None:
        return Fact(name, False, "", "read", src, "no NaN/inf loss in the log")
    return None


def _first_bad(evals: EvalCurve, iters: IterCurve, eval_train: bool = True) -> int | None:
    ok = np.isfinite(evals.val) & (np.isfinite(evals.train) if eval_train else True)
    bad = [evals.step[~ok],
           iters.step[~np.isfinite(iters.loss)]]
    steps = np.concatenate(bad)
    return int(steps.min()) if steps.size else None
