"""Derived facts about a run, each with its unit and provenance.

A fact is one value plus where it came from (see `base` for the statuses). Each fact is one
small function `fn(ctx) -> Fact`, registered by name in FACTS below; rules refer to facts
by these names, so adding a fact is one function and one line here. Facts ask the Context
for the facts they need (`ctx.fact('params')`), and each is computed once.

    facts = compute_facts(run, peak_flops=989e12)
    facts.value('tokens_seen'); facts['epochs'].status; facts.as_dict()
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from ..nanogpt import lr_at
from ..run import Run
from . import compute, curve, failure, levels, loss, model, overfit, schedule, settings, speed, spikes
from .base import STATUSES, Context, Fact, Facts, Status
from .schedule import lr_schedule
from .speed import PEAK_FLOPS, peak_flops_for

FACTS: dict[str, Callable[[Context], Fact]] = {
    # model shape (model.py)
    "n_layer": model.n_layer,
    "n_head": model.n_head,
    "n_embd": model.n_embd,
    "block_size": model.block_size,
    "bias": model.bias,
    "vocab_size": model.vocab_size,
    # size and amount of training (compute.py)
    "params": compute.params,
    "params_total": compute.params_total,
    "tokens_per_iter": compute.tokens_per_iter,
    "batch_remainder": compute.batch_remainder,
    "steps_done": compute.steps_done,
    "tokens_seen": compute.tokens_seen,
    "flops_per_token": compute.flops_per_token,
    "train_flops": compute.train_flops,
    "dataset_tokens": compute.dataset_tokens,
    "epochs": compute.epochs,
    "epochs_planned": compute.epochs_planned,
    "extrapolation_epochs": compute.extrapolation_epochs,
    # learning-rate schedule (schedule.py)
    "lr_final": schedule.lr_final,
    "lr_schedule_completed": schedule.lr_schedule_completed,
    "constant_from": schedule.constant_from,
    "log_begins_resumed": schedule.log_begins_resumed,
    "lr_rewarm_step": schedule.lr_rewarm_step,
    "lr_rewarm_from": schedule.lr_rewarm_from,
    "lr_rewarm_to": schedule.lr_rewarm_to,
    "lr_peak": schedule.lr_peak,
    "warmup_fraction": schedule.warmup_fraction,
    "lr_decay_vs_max_iters": schedule.lr_decay_vs_max_iters,
    # losses (loss.py)
    "best_val": loss.best_val,
    "best_val_step": loss.best_val_step,
    "final_val": loss.final_val,
    "final_train": loss.final_train,
    "final_step": loss.final_step,
    "generalization_gap": loss.generalization_gap,
    "gap_at_best": loss.gap_at_best,
    "init_loss_expected": loss.init_loss_expected,
    "first_val": loss.first_val,
    "nan_step": loss.nan_step,
    "nan_at_start": loss.nan_at_start,
    "nan_persists": loss.nan_persists,
    # how the run ended (failure.py)
    "failure_kind": failure.failure_kind,
    "has_checkpoint": failure.has_checkpoint,
    "checkpoint_step": failure.checkpoint_step,
    "last_save_step": failure.last_save_step,
    "failure_text": failure.failure_text,
    "failure_line": failure.failure_line,
    "failure_in": failure.failure_in,
    "log_cut": failure.log_cut,
    "log_elided": failure.log_elided,
    # speed (speed.py)
    "time_per_iter_ms": speed.time_per_iter_ms,
    "eval_overhead_ms": speed.eval_overhead_ms,
    "n_eval_iters_excluded": speed.n_eval_iters_excluded,
    "warmup_ms": speed.warmup_ms,
    "tokens_per_sec": speed.tokens_per_sec,
    "mfu_printed": speed.mfu_printed,
    "world_size": speed.world_size,
    "achieved_tflops": speed.achieved_tflops,
    "mfu_device": speed.mfu_device,
    "mfu_divisor": speed.mfu_divisor,
    "flops_per_iter": speed.flops_per_iter,
    # config settings (settings.py)
    "learning_rate": settings.learning_rate,
    "min_lr": settings.min_lr,
    "max_iters": settings.max_iters,
    "lr_decay_iters": settings.lr_decay_iters,
    "warmup_iters": settings.warmup_iters,
    "decay_lr": settings.decay_lr,
    "weight_decay": settings.weight_decay,
    "beta2": settings.beta2,
    "grad_clip": settings.grad_clip,
    "dropout": settings.dropout,
    "batch_size": settings.batch_size,
    "gradient_accumulation_steps": settings.gradient_accumulation_steps,
    "eval_iters": settings.eval_iters,
    "eval_interval": settings.eval_interval,
    "total_batch_size": settings.total_batch_size,
    "dtype": settings.dtype,
    "device": settings.device,
    "compile": settings.compile_,
    "always_save_checkpoint": settings.always_save_checkpoint,
    "init_from": settings.init_from,
    "model_from": settings.model_from,
    "device_type": settings.device_type,
    "dtype_effective": settings.dtype_effective,
    "min_lr_ratio": settings.min_lr_ratio,
    "wd_timescale": settings.wd_timescale,
    "wd_timescale_frac": settings.wd_timescale_frac,
    "run_completed": settings.run_completed,
    # curve shape and noise (curve.py)
    "n_evals": curve.n_evals,
    "iter_loss_sd": curve.iter_loss_sd,
    "eval_se": curve.eval_se,
    "iter_noise_per_token": curve.iter_noise_per_token,
    "n_tail_evals": curve.n_tail_evals,
    "val_slope": curve.val_slope,
    "val_slope_se": curve.val_slope_se,
    "val_slope_z": curve.val_slope_z,
    "best_val_frac": curve.best_val_frac,
    "overfit_ratio": overfit.overfit_ratio,
    "overfit_ratio_trend": overfit.overfit_ratio_trend,
    "val_rise": overfit.val_rise,
    "val_rise_z": overfit.val_rise_z,
    "train_falling_after_best": overfit.train_falling_after_best,
    "gap_growth": overfit.gap_growth,
    "gap_growth_se": overfit.gap_growth_se,
    "gap_growth_z": overfit.gap_growth_z,
    "spike_count": spikes.spike_count,
    "first_spike_step": spikes.first_spike_step,
    "train_rise": spikes.train_rise,
    "train_rise_z": spikes.train_rise_z,
    "train_rise_frac": spikes.train_rise_frac,
    "train_low_step": spikes.train_low_step,
    "train_low": spikes.train_low,
    "train_rise_evals": curve.train_rise_evals,
    "iter_vs_eval_train": curve.iter_vs_eval_train,
    "iter_vs_eval_train_se": curve.iter_vs_eval_train_se,
    "init_vs_expected": levels.init_vs_expected,
    "unigram_entropy": levels.unigram_entropy,
    "train_vs_unigram": levels.train_vs_unigram,
}


MIN_PEAK_FLOPS = 1e9  # FLOP/s: a phone's CPU is past it; a number below it is no device's peak


def compute_facts(run: Run, *, peak_flops: float | None = None,
                  dataset_tokens: int | None = None) -> Facts:
    """Every registered fact of `run`, in registry order.

    peak_flops: the training device's dense peak FLOP/s (see lossdoctor.facts.PEAK_FLOPS and peak_flops_for);
    dataset_tokens: the train split's size in tokens, when the run does not say.

    Raises:
        UsageError: a run that is no Run, a peak_flops or dataset_tokens that is not a
            positive number.
    """
    from ..errors import UsageError
    if not isinstance(run, Run):
        raise UsageError(f"compute_facts: a Run (lossdoctor.load), not {type(run).__name__}")
    if peak_flops is not None and not MIN_PEAK_FLOPS <= _number(peak_flops) < math.inf:
        raise UsageError(f"peak_flops: {peak_flops!r} is not a device's peak FLOP/s (a finite number of at least "
                         f"{MIN_PEAK_FLOPS:.0e}; facts.peak_flops_for gives a GPU's by its name)")
    ctx = Context(run, FACTS, peak_flops=None if peak_flops is None else float(peak_flops),
                  dataset_tokens=checked_dataset_tokens(dataset_tokens))
    with np.errstate(over="ignore", invalid="ignore"):  # absurd losses (1e308) overflow a sum: the facts say so
        return Facts.of(ctx.fact(name) for name in FACTS)


def _number(value: object) -> float:
    """`value` as a float where it is a number (numpy's too), not a bool; else NaN."""
    return float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan


def checked_dataset_tokens(value: object) -> int | None:
    """`value` as a whole number of tokens (None stays None).

    Raises:
        UsageError: a value that is no positive whole number (a bool, 0, 1.5, "x").
    """
    from ..errors import UsageError
    if value is None:
        return None
    tokens = _number(value)
    if not 0 < tokens < math.inf or tokens != int(tokens):
        raise UsageError(f"dataset_tokens: {value!r} is not a positive whole number of tokens")
    return int(tokens)


__all__ = ["FACTS", "PEAK_FLOPS", "STATUSES", "Context", "Fact", "Facts", "Status",
           "compute_facts", "lr_at", "lr_schedule", "peak_flops_for"]
