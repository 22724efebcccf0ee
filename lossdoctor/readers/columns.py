"""Which column of a table (or key of a JSON record) is the step, the train loss and the
val loss: the names trainers and loggers use, most specific first."""

from __future__ import annotations

import re
from collections.abc import Sequence

STEP_NAMES = ("step", "global_step", "trainer/global_step", "_step", "iter", "iteration", "iter_num", "steps")
TRAIN_NAMES = ("train_loss_step", "train/loss", "train_loss", "loss", "train/step_loss", "training_loss",
               "train/loss_step", "trl")
VAL_NAMES = ("val_loss", "val/loss", "eval_loss", "eval/loss", "validation_loss", "valid_loss", "val/loss_epoch",
             "tel")
BPB_NAMES = ("val_bpb", "val/bpb", "validation_bpb")
LOSSY = re.compile(r"(?i)loss|bpb")
NOT_A_CURVE = re.compile(r"(?i)epoch|__min|__max|perplexity|ppl|runtime|per_second|scale")


def pick(names: Sequence[str], wanted: Sequence[str]) -> str | None:
    """The first of `wanted` among `names` (case-insensitive), else None."""
    lower = {n.strip().lower(): n for n in names}
    return next((lower[w] for w in wanted if w in lower), None)


def loss_like(names: Sequence[str]) -> list[str]:
    """Columns that hold a loss per step (not a per-epoch mean, a min/max band or a perplexity)."""
    return [n for n in names if LOSSY.search(n) and not NOT_A_CURVE.search(n)]


def train_column(names: Sequence[str]) -> str | None:
    found = pick(names, TRAIN_NAMES)
    if found:
        return found
    return next((n for n in loss_like(names) if re.search(r"(?i)train", n)), None)


def val_unit(column: str | None) -> str:
    """What a val column holds, by its name: "bpb" (bits per byte, nanochat's val/bpb) or
    "loss" (nats per token): Measures.val."""
    return "bpb" if column and re.search(r"(?i)bpb|bits_?per_?byte", column) else "loss"


def val_column(names: Sequence[str]) -> str | None:
    found = pick(names, VAL_NAMES)
    if found:
        return found
    return next((n for n in loss_like(names) if re.search(r"(?i)val|eval|test", n)), None)
