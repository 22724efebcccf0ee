"""Facts on hand-built Runs: exact values, statuses and sources.

Runs are built straight from the dataclasses (the readers are tested elsewhere). Expected
numbers are worked out by hand in the comments, from nanoGPT's train.py/model.py @ 3adf61e1.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from lossdoctor.config import CHECKPOINT, FILE, OVERRIDE, Config, ConfigBuilder, ConfigValue
from lossdoctor.facts import (FACTS, PEAK_FLOPS, Fact, Facts, compute_facts, lr_at, lr_schedule,
                              peak_flops_for)
from lossdoctor.facts.model import gpt_params
from lossdoctor.run import CheckpointInfo, EvalCurve, Header, IterCurve, Run, Segment

# ---------------------------------------------------------------------------------------
# building Runs from lists

# config/train_shakespeare_char.py as nanoGPT ships it
SHAKESPEARE_CHAR = dict(
    out_dir="out-shakespeare-char", eval_interval=250, eval_iters=200, log_interval=10,
    always_save_checkpoint=False, wandb_log=False, wandb_project="shakespeare-char",
    wandb_run_name="mini-gpt", dataset="shakespeare_char", gradient_accumulation_steps=1,
    batch_size=64, block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2,
    learning_rate=1e-3, max_iters=5000, lr_decay_iters=5000, min_lr=1e-4, beta2=0.99,
    warmup_iters=100,
)
# README's "I only have a macbook" command line
README_CPU = dict(device="cpu", compile=False, eval_iters=20, log_interval=1, block_size=64,
                  batch_size=12, n_layer=4, n_head=4, n_embd=128, max_iters=2000,
                  lr_decay_iters=2000, dropout=0.0)


def make_config(file: dict | None = None, origin: str = FILE, **overrides) -> Config:
    b = ConfigBuilder()
    for k, v in (file or {}).items():
        b.set(ConfigValue(k, v, origin))
    for k, v in overrides.items():
        b.set(ConfigValue(k, v, OVERRIDE))
    return b.build()


NO_HEADER = ConfigBuilder().build()  # train.py defaults, seen=False


def seg(index, first, last, init_from="scratch", config=None, world_size=1) -> Segment:
    return Segment(index, 1, 1, init_from, world_size, 0, 0, first, last, config)


def make_run(evals=(), iters=(), *, config=NO_HEADER, header=Header(), segments=None,
             checkpoint=None, dataset_tokens=None) -> Run:
    """evals: (step, train, val[, segment]); iters: (step, loss, time_ms, mfu[, segment])."""
    ev = [tuple(r) + (0,) * (4 - len(r)) for r in evals]
    it = [tuple(r) + (0,) * (5 - len(r)) for r in iters]
    col = lambda rows, i, dt: np.array([r[i] for r in rows], dtype=dt)  # noqa: E731
    evc = EvalCurve(col(ev, 0, np.int64), col(ev, 1, float), col(ev, 2, float),
                    col(ev, 3, np.int32), np.arange(len(ev), dtype=np.int64))
    itc = IterCurve(col(it, 0, np.int64), col(it, 1, float), col(it, 2, float),
                    col(it, 3, float), col(it, 4, np.int32), np.arange(len(it), dtype=np.int64))
    if segments is None:
        steps = [r[0] for r in ev] + [r[0] for r in it]
        segments = (seg(0, min(steps), max(steps)),) if steps else ()
    return Run("test.log", "nanogpt", config, {}, evc, itc, (), tuple(segments), header, (),
               checkpoint=checkpoint, dataset_tokens=dataset_tokens)


def iters_every(start, stop, every, *, time=20.0, mfu=5.0, seg=0, loss=2.0):
    """iter lines start..stop-1 every `every`; the first 5 steps of the process show -100."""
    return [(s, loss, time, -100.0 if s - start < 5 else mfu, seg) for s in range(start, stop, every)]


def get_lr(it, *, learning_rate, warmup_iters, lr_decay_iters, min_lr):
    """nanoGPT train.py get_lr @ 3adf61e1, transcribed."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


# ---------------------------------------------------------------------------------------
# the README CPU run

def readme_cpu_run(header=Header(), config=None):
    config = config or make_config(SHAKESPEARE_CHAR, **README_CPU)
    evals = [(s, 4.2 - s / 1000, 4.25 - s / 1000) for s in range(0, 2001, 250)]
    iters = iters_every(0, 2001, 1, time=50.0, mfu=0.05)
    return make_run(evals, iters, config=config, header=header)


def test_gpt_params_formula():
    # README CPU shape: 4 x (12·128² + 2·128) + 65·128 + 128 = 795,904; + wpe 64·128 = 804,096
    assert gpt_params(n_layer=4, n_embd=128, vocab_size=65, block_size=64, bias=False) == (795_904, 804_096)
    # shakespeare_char GPU model prints 10.65M; decayed 10,740,096 + non-decayed 4,992 in real logs
    assert gpt_params(n_layer=6, n_embd=384, vocab_size=65, block_size=256, bias=False) == (10_646_784, 10_745_088)
    assert 10_740_096 + 4_992 == 10_745_088
    # GPT-2 124M from OpenAI weights (bias, vocab 50257) prints 123.65M
    no_wpe, total = gpt_params(n_layer=12, n_embd=768, vocab_size=50257, block_size=1024, bias=True)
    assert (no_wpe, total - no_wpe) == (123_653_376, 786_432)
