"""Levels a model that learned nothing reaches, against the run's: ln(vocab_size) at its
init (a fresh model predicts about uniformly), and the unigram entropy of its data (a
model that knows only how often each character occurs)."""

from __future__ import annotations

import math

from ..nanogpt import DATASET_VOCAB
from .base import Context, Fact, derived, missing, unknown, why_unknown
from .compute import SHAKESPEARE_CHAR_UNIGRAM_ENTROPY
from .curve import evals_of


def init_vs_expected(ctx: Context) -> Fact:
    """first_val - ln(vocab_size) at step 0: near 0 for a fresh model; far above, a bad init."""
    name, unit, src = "init_vs_expected", "nats", "first_val - init_loss_expected (step 0)"
    first, expected = ctx.fact("first_val"), ctx.fact("init_loss_expected")
    if not (first.known and expected.known):
        return missing(name, unit, src, first, expected)
    ev = evals_of(ctx)
    if int(ev.step[0]) != 0:
        return unknown(name, unit, src, f"the first eval is at step {int(ev.step[0])}, not 0")
    if ctx.fact("vocab_size").status == "inferred":
        return unknown(name, unit, src, "vocab_size is inferred from this same loss")
    if not math.isfinite(first.value):
        return unknown(name, unit, src, "the step-0 val loss is NaN/inf")
    return Fact(name, first.value - expected.value, unit, derived(first, expected), src)


def unigram_entropy(ctx: Context) -> Fact:
    """Entropy of the train split's character frequencies: the loss of a model that knows
    only how often each character occurs."""
    name, unit = "unigram_entropy", "nats"
    cfg = ctx.config()
    dataset = cfg.trusted("dataset")
    vocab = ctx.fact("vocab_size")
    if dataset == "shakespeare_char" and vocab.known and vocab.value != DATASET_VOCAB["shakespeare_char"]:
        return unknown(name, unit, "config: dataset",
                       f"dataset shakespeare_char with {vocab.value} characters, not the standard 65: "
                       "a different text")
    if dataset == "shakespeare_char":
        return Fact(name, SHAKESPEARE_CHAR_UNIGRAM_ENTROPY, unit, "assumed",
                    "character entropy of nanoGPT's shakespeare_char train split",
                    "the standard tiny-shakespeare split")
    if dataset is None and vocab.status == "read" and vocab.value == DATASET_VOCAB["shakespeare_char"]:
        return Fact(name, SHAKESPEARE_CHAR_UNIGRAM_ENTROPY, unit, "assumed",
                    "character entropy of nanoGPT's shakespeare_char train split",
                    f"the dataset is not shown: a vocabulary of {vocab.value} characters is taken for "
                    "shakespeare_char's")
    if dataset is None:
        return unknown(name, unit, "config: dataset", why_unknown(cfg, "dataset", ckpt=ctx.run.format.is_nanogpt))
    return unknown(name, unit, "config: dataset", "unigram entropy known only for shakespeare_char")


def train_vs_unigram(ctx: Context) -> Fact:
    """final_train - unigram_entropy: < 0 once the model beats character frequencies."""
    name, unit, src = "train_vs_unigram", "nats", "final_train - unigram_entropy"
    t, u = ctx.fact("final_train"), ctx.fact("unigram_entropy")
    if not (t.known and u.known):
        return missing(name, unit, src, t, u)
    if not math.isfinite(t.value):
        return unknown(name, unit, src, "the last eval's train loss is NaN/inf")
    return Fact(name, t.value - u.value, unit, derived(t, u), src)
