"""Derived facts about a run, each with its unit and provenance.

A fact is one value plus where it came from (see `base` for the statuses). Each fact is one
small function `fn(ctx) -> Fact`, registered by name in FACTS below; rules refer to facts
by these names, so adding a fact is one function and one line here. Facts ask the Context
for the facts they need (`ctx.fact('params')`), and each is computed once.

    facts = compute_facts(run, peak_flops=989e12)
    facts.value('tokens_seen'); facts['epochs'].status; facts.as_dict()
"""

from __future__ import annotations

from collections.abc import Callable

from ..run import Run
from . import compute, loss, model, schedule, speed
from .base import STATUSES, Context, Fact, Facts, Status
from .schedule import lr_at, lr_schedule
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
    "steps_done": compute.steps_done,
    "tokens_seen": compute.tokens_seen,
    "flops_per_token": compute.flops_per_token,
    "train_flops": compute.train_flops,
    "dataset_tokens": compute.dataset_tokens,
    "epochs": compute.epochs,
    # learning-rate schedule (schedule.py)
    "lr_final": schedule.lr_final,
    "lr_schedule_completed": schedule.lr_schedule_completed,
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
}


def compute_facts(run: Run, *, peak_flops: float | None = None,
                  dataset_tokens: int | None = None) -> Facts:
    """Every registered fact of `run`, in registry order.

    peak_flops: the training device's dense peak FLOP/s (see PEAK_FLOPS, peak_flops_for);
    dataset_tokens: the train split's size in tokens, when the run does not say.
    """
    ctx = Context(run, FACTS, peak_flops=peak_flops, dataset_tokens=dataset_tokens)
    return Facts.of(ctx.fact(name) for name in FACTS)


def get(name: str) -> Callable[[Context], Fact]:
    """The function of fact `name`; ValueError for a name that is no fact."""
    if name not in FACTS:
        raise ValueError(f'no such fact: "{name}"')
    return FACTS[name]


__all__ = ["FACTS", "PEAK_FLOPS", "STATUSES", "Context", "Fact", "Facts", "Status",
           "compute_facts", "get", "lr_at", "lr_schedule", "peak_flops_for"]
