"""Facts on hand-built Runs: exact values, statuses and sources.

Runs are built straight from the dataclasses (the readers are tested elsewhere). Expected
numbers are worked out by hand in the comments, from nanoGPT's train.py/model.py @ 3adf61e1.
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lossdoctor.config import CHECKPOINT, FILE, OVERRIDE, Config, ConfigBuilder, ConfigValue
from lossdoctor.facts import (
    FACTS,
    PEAK_FLOPS,
    STATUSES,
    Fact,
    Facts,
    compute_facts,
    lr_at,
    lr_schedule,
    peak_flops_for,
)
from lossdoctor.nanogpt import gpt_params
from lossdoctor.run import CheckpointInfo, Dialect, EvalCurve, Header, IterCurve, ModelArgs, Run, Segment

# ---------------------------------------------------------------------------------------
# building Runs from lists

# config/train_shakespeare_char.py as nanoGPT ships it
SHAKESPEARE_CHAR = {
    "out_dir": "out-shakespeare-char",
    "eval_interval": 250,
    "eval_iters": 200,
    "log_interval": 10,
    "always_save_checkpoint": False,
    "wandb_log": False,
    "wandb_project": "shakespeare-char",
    "wandb_run_name": "mini-gpt",
    "dataset": "shakespeare_char",
    "gradient_accumulation_steps": 1,
    "batch_size": 64,
    "block_size": 256,
    "n_layer": 6,
    "n_head": 6,
    "n_embd": 384,
    "dropout": 0.2,
    "learning_rate": 1e-3,
    "max_iters": 5000,
    "lr_decay_iters": 5000,
    "min_lr": 1e-4,
    "beta2": 0.99,
    "warmup_iters": 100,
}
# README's "I only have a macbook" command line
README_CPU = {
    "device": "cpu",
    "compile": False,
    "eval_iters": 20,
    "log_interval": 1,
    "block_size": 64,
    "batch_size": 12,
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 128,
    "max_iters": 2000,
    "lr_decay_iters": 2000,
    "dropout": 0.0,
}


def make_config(file: dict | None = None, origin: str = FILE, **overrides) -> Config:
    b = ConfigBuilder()
    for k, v in (file or {}).items():
        b.set(ConfigValue(k, v, origin))
    for k, v in overrides.items():
        b.set(ConfigValue(k, v, OVERRIDE))
    return b.build()


NO_HEADER = ConfigBuilder().build()  # train.py defaults, seen=False
NO_LINES = Header()  # a header with nothing read


def seg(index, first, last, init_from="scratch", config=None, world_size=1) -> Segment:
    return Segment(index, 1, 1, init_from, world_size, 0, 0, first, last, config)


def make_run(
    evals=(),
    iters=(),
    *,
    config=NO_HEADER,
    header=NO_LINES,
    segments=None,
    checkpoint=None,
    dataset_tokens=None,
) -> Run:
    """evals: (step, train, val[, segment]); iters: (step, loss, time_ms, mfu[, segment])."""
    ev = [tuple(r) + (0,) * (4 - len(r)) for r in evals]
    it = [tuple(r) + (0,) * (5 - len(r)) for r in iters]

    def col(rows, i, dt):
        return np.array([r[i] for r in rows], dtype=dt)

    evc = EvalCurve(
        col(ev, 0, np.int64),
        col(ev, 1, float),
        col(ev, 2, float),
        col(ev, 3, np.int32),
        np.arange(len(ev), dtype=np.int64),
    )
    itc = IterCurve(
        col(it, 0, np.int64),
        col(it, 1, float),
        col(it, 2, float),
        col(it, 3, float),
        col(it, 4, np.int32),
        np.arange(len(it), dtype=np.int64),
    )
    if segments is None:
        steps = [r[0] for r in ev] + [r[0] for r in it]
        segments = (seg(0, min(steps), max(steps)),) if steps else ()
    # the counts Run.lineage() looks at
    segments = tuple(
        replace(
            s,
            n_evals=int((evc.segment == s.index).sum()),
            n_iters=int((itc.segment == s.index).sum()),
        )
        for s in segments
    )
    return Run(
        "test.log",
        Dialect.NANOGPT,
        config,
        ModelArgs(),
        evc,
        itc,
        (),
        tuple(segments),
        header,
        (),
        checkpoint=checkpoint,
        dataset_tokens=dataset_tokens,
    )


def iters_every(start, stop, every, *, time=20.0, mfu=5.0, seg=0, loss=2.0):
    """iter lines start..stop-1 every `every`; the first 5 steps of the process show -100."""
    return [
        (s, loss, time, -100.0 if s - start < 5 else mfu, seg) for s in range(start, stop, every)
    ]


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


def readme_cpu_run(header=NO_LINES, config=None):
    config = config or make_config(SHAKESPEARE_CHAR, **README_CPU)
    evals = [(s, 4.2 - s / 1000, 4.25 - s / 1000) for s in range(0, 2001, 250)]
    iters = iters_every(0, 2001, 1, time=50.0, mfu=0.05)
    return make_run(evals, iters, config=config, header=header)


def test_gpt_params_formula():
    # README CPU shape: 4 x (12·128² + 2·128) + 65·128 + 128 = 795,904; + wpe 64·128 = 804,096
    assert gpt_params(n_layer=4, n_embd=128, vocab_size=65, block_size=64, bias=False) == (
        795_904,
        804_096,
    )
    # shakespeare_char GPU model prints 10.65M; decayed 10,740,096 + non-decayed 4,992 in real logs
    assert gpt_params(n_layer=6, n_embd=384, vocab_size=65, block_size=256, bias=False) == (
        10_646_784,
        10_745_088,
    )
    assert 10_740_096 + 4_992 == 10_745_088
    # GPT-2 124M from OpenAI weights (bias, vocab 50257) prints 123.65M
    no_wpe, total = gpt_params(n_layer=12, n_embd=768, vocab_size=50257, block_size=1024, bias=True)
    assert (no_wpe, total - no_wpe) == (123_653_376, 786_432)


def test_readme_cpu_params_computed_from_config():
    f = compute_facts(readme_cpu_run())
    # no `found vocab_size` line: 65 is assumed from dataset='shakespeare_char'
    assert f["vocab_size"] == Fact(
        "vocab_size",
        65,
        "",
        "assumed",
        "dataset shakespeare_char: nanoGPT's data/shakespeare_char",
        "the log does not print the vocab size",
    )
    assert f["params"] == Fact(
        "params", 795_904, "params", "assumed", "nanoGPT GPT formula from the model config"
    )
    assert f.value("params_total") == 804_096
    assert f["tokens_per_iter"].value == 768  # 1 * 12 * 64
    assert f["tokens_per_iter"].status == "computed"
    # 6·795,904 + 12·L4·H4·Q32·T64 = 4,775,424 + 393,216
    assert f.value("flops_per_token") == 5_168_640
    assert f.value("steps_done") == 2001  # iters 0..2000
    assert f.value("tokens_seen") == 768 * 2001
    assert f.value("train_flops") == 5_168_640 * 768 * 2001
    assert f["train_flops"].status == "assumed"


def test_readme_cpu_with_vocab_line():
    f = compute_facts(
        readme_cpu_run(Header(vocab_size=65, vocab_source="data/shakespeare_char/meta.pkl"))
    )
    assert f["params"] == Fact(
        "params", 795_904, "params", "computed", "nanoGPT GPT formula from the model config"
    )
    assert f["flops_per_token"] == Fact(
        "flops_per_token", 5_168_640, "FLOPs/token", "computed", "6N + 12·L·H·Q·T"
    )


def test_readme_cpu_with_header_lines():
    header = Header(
        tokens_per_iter=768,
        vocab_size=65,
        vocab_source="data/shakespeare_char/meta.pkl",
        params_m=0.80,
        decayed_params=802_944,
        nodecay_params=1_152,
    )
    f = compute_facts(readme_cpu_run(header))
    # exact: decayed + non-decayed is the total incl. wpe; minus 64·128
    assert f["params_total"] == Fact(
        "params_total", 804_096, "params", "read", "log: decayed + non-decayed parameters"
    )
    assert f["params"].value == 795_904
    assert f["params"].status == "computed"
    assert f["tokens_per_iter"] == Fact(
        "tokens_per_iter", 768, "tokens", "read", "log: tokens per iteration"
    )
    assert f["vocab_size"].status == "read"
    assert f.value("init_loss_expected") == pytest.approx(math.log(65))  # 4.1744 nats
    # shakespeare_char with vocab 65: the train split of nanoGPT's prepare.py is assumed
    assert f["dataset_tokens"].value == 1_003_854
    assert f["dataset_tokens"].status == "assumed"
    assert f["epochs"].value == pytest.approx(768 * 2001 / 1_003_854)
    assert f["epochs"].status == "assumed"


def test_params_read_rounded_when_no_config():
    header = Header(params_m=0.80)
    f = compute_facts(readme_cpu_run(header, config=NO_HEADER))
    assert f["params"] == Fact(
        "params",
        800_000,
        "params",
        "read",
        "log: number of parameters",
        "rounded to 0.01M as printed",
    )
    assert f["flops_per_token"].status == "unknown"  # n_layer etc. unknown
    assert f["flops_per_token"].note == (
        "needs n_layer, n_head, n_embd, block_size: "
        "log has no config header (a ckpt.pt given with the log holds the config)"
    )
    assert f["epochs"].note == (
        "needs tokens_seen, dataset_tokens: log has no config header (a ckpt.pt given with the "
        "log holds the config); train split size unknown: pass --dataset-tokens"
    )


def test_params_mismatch_keeps_printed():
    # a fork with extra parameters: the config's stock shape does not give the printed count
    header = Header(params_m=0.93)
    f = compute_facts(readme_cpu_run(header))
    assert f["params"].value == 930_000
    assert f["params"].status == "read"
    assert "795,904" in f["params"].note


def test_tokens_per_iter_disagreement_noted():
    header = Header(tokens_per_iter=3_072)  # e.g. a fork that scales the batch
    f = compute_facts(readme_cpu_run(header))
    assert f.value("tokens_per_iter") == 3_072
    assert f["tokens_per_iter"].status == "read"
    assert (
        f["tokens_per_iter"].note
        == "the config gives 768 (gradient_accumulation_steps * batch_size * block_size)"
    )


# ---------------------------------------------------------------------------------------
# the default shakespeare_char GPU run


def shakespeare_gpu_run(last_iter=4990, **kw):
    evals = [(s, 4.28 - s / 2500, 4.28 - s / 3000) for s in range(0, 5001, 250)]
    iters = iters_every(0, last_iter + 1, 10, time=30.0, mfu=10.0)
    header = Header(
        tokens_per_iter=16_384,
        vocab_size=65,
        vocab_source="data/shakespeare_char/meta.pkl",
        params_m=10.65,
        decayed_params=10_740_096,
        nodecay_params=4_992,
    )
    return make_run(evals, iters, config=make_config(SHAKESPEARE_CHAR), header=header, **kw)


def test_shakespeare_gpu_tokens_and_epochs():
    f = compute_facts(shakespeare_gpu_run())
    assert f.value("tokens_per_iter") == 16_384  # 1 * 64 * 256
    assert f["steps_done"] == Fact("steps_done", 5000, "steps", "computed", "log: last eval step")
    assert f.value("tokens_seen") == 81_920_000
    assert f.value("dataset_tokens") == 1_003_854
    assert f.value("epochs") == pytest.approx(81_920_000 / 1_003_854)
    assert round(f.value("epochs"), 1) == 81.6
    assert f.value("params") == 10_646_784
    assert f.value("params_total") == 10_745_088
    # 6·10,646,784 + 12·6·6·64·256 = 63,880,704 + 7,077,888
    assert f.value("flops_per_token") == 70_958_592
    assert f.value("train_flops") == 70_958_592 * 81_920_000


def test_extrapolation_epochs_follow_the_calibration_for_the_run():
    # an off-config nanoGPT run from 2000 steps gets the calibrated law alone (7.7 epochs);
    # the same config cut to 1000 steps the ensemble (4); another trainer's run is not
    # extrapolated at all, so there is no limit to quote
    long = compute_facts(shakespeare_gpu_run())
    assert long["extrapolation_epochs"].value == 7.7
    assert long["extrapolation_epochs"].status == "computed"
    evals = [(s, 4.0 - s / 1000, 4.1 - s / 1000) for s in range(0, 1001, 250)]
    assert compute_facts(make_run(evals, config=make_config(SHAKESPEARE_CHAR))).value("extrapolation_epochs") == 4
    other = compute_facts(replace(shakespeare_gpu_run(), format=Dialect.HF_TRAINER))["extrapolation_epochs"]
    assert not other.known and other.note.startswith("not extrapolated: the extrapolation is calibrated on nanoGPT")


def test_steps_done_counts_last_iter():
    # real logs end with `iter 5000` after the final eval: 5,001 updates (steps 0..5000)
    f = compute_facts(shakespeare_gpu_run(last_iter=5000))
    assert f["steps_done"] == Fact(
        "steps_done", 5001, "steps", "computed", "log: last iter step + 1"
    )
    assert f.value("tokens_seen") == 16_384 * 5001


@pytest.mark.parametrize("fmt", [Dialect.MODDED, Dialect.LLMC, Dialect.HF_TRAINER])
def test_steps_done_of_formats_that_count_steps(fmt):
    # `step:N/M` (modded-nanogpt), `step N/M` (llm.c) and HF's `step` say N after N updates
    run = replace(make_run([(0, math.nan, 4.0), (200, math.nan, 2.0)], [(s, 3.0, 20.0, 5.0) for s in (1, 100, 200)]),
                  format=fmt)
    assert fmt.counts_steps
    assert compute_facts(run)["steps_done"] == Fact(
        "steps_done", 200, "steps", "computed", "log: last iter step (a count of steps done)"
    )


@pytest.mark.parametrize("fmt", [Dialect.NANOGPT, Dialect.NANOGPT_MD, Dialect.LLMC_MAIN, Dialect.NANOCHAT,
                                 Dialect.BUILD_NANOGPT, Dialect.BUILD_NANOGPT_LOG, Dialect.CSV])
def test_steps_done_of_formats_that_index_steps(fmt):
    # nanoGPT's `iter 200`, llm.c main.log's `s:200 trl:`, ...: step index 200, 201 steps done
    run = replace(make_run([(0, math.nan, 4.0), (200, math.nan, 2.0)], [(s, 3.0, 20.0, 5.0) for s in (0, 100, 200)]),
                  format=fmt)
    assert not fmt.counts_steps
    assert compute_facts(run)["steps_done"] == Fact("steps_done", 201, "steps", "computed", "log: last iter step + 1")


def test_steps_done_the_trainer_counted_wins():
    # trainer_state.json's global_step 45, the last loss logged at step 40 (logging_steps 10)
    run = replace(make_run([], [(s, 3.0, math.nan, math.nan) for s in (10, 20, 30, 40)]), format=Dialect.HF_TRAINER,
                  config=make_config(max_iters=45), steps_done=45)
    f = compute_facts(run)
    assert f["steps_done"] == Fact("steps_done", 45, "steps", "read", "log: the trainer's count of steps done")
    assert f.value("run_completed") == 1.0


def test_dataset_tokens_given_wins():
    f = compute_facts(shakespeare_gpu_run(), dataset_tokens=2_000_000)
    assert f["dataset_tokens"] == Fact("dataset_tokens", 2_000_000, "tokens", "read", "given")
    assert f["epochs"].value == pytest.approx(40.96)
    assert f["epochs"].status == "computed"
    g = compute_facts(shakespeare_gpu_run(dataset_tokens=1_000_000))
    assert g["dataset_tokens"].source == "run: dataset_tokens"


def test_shakespeare_schedule_facts():
    f = compute_facts(shakespeare_gpu_run())
    assert f["warmup_fraction"].value == pytest.approx(100 / 5000)
    assert f["lr_decay_vs_max_iters"].value == 1.0
    assert f["lr_schedule_completed"].value == 1.0  # last step 5000 of 5000
    assert f["lr_final"].value == pytest.approx(1e-4, rel=1e-12)  # min_lr at 5000
    assert f["lr_final"].source == "nanoGPT get_lr at step 5000"
    assert (
        f["warmup_fraction"].source == "config: warmup_iters (config file), max_iters (config file)"
    )


def test_loss_facts():
    evals = [(0, 4.28, 4.29), (250, 2.0, 2.1), (500, 1.5, 1.7), (750, 1.2, 1.65), (1000, 1.0, 1.8)]
    f = compute_facts(make_run(evals, config=make_config(SHAKESPEARE_CHAR)))
    assert f["best_val"] == Fact("best_val", 1.65, "nats", "read", "log: lowest val loss")
    assert f.value("best_val_step") == 750
    assert f.value("final_val") == 1.8
    assert f.value("final_train") == 1.0
    assert f.value("final_step") == 1000
    assert f.value("generalization_gap") == pytest.approx(0.8)
    assert f.value("gap_at_best") == pytest.approx(0.45)
    assert f.value("first_val") == 4.29
    assert f["first_val"].source == "log: first eval (step 0)"
    assert f["nan_step"].value is None
    assert f["nan_step"].note == "no NaN/inf loss in the log"
    assert f["init_loss_expected"].value == pytest.approx(math.log(65))
    assert f["init_loss_expected"].status == "assumed"  # vocab from the dataset, not the log


def test_nan_onset():
    nan = float("nan")
    evals = [(0, 4.2, 4.2), (400, 3.3, 3.37), (450, nan, nan)]
    iters = [(s, 3.0, 20.0, 0.01) for s in range(0, 425, 5)] + [
        (425, nan, 20.0, 0.01),
        (430, nan, 20.0, 0.01),
    ]
    f = compute_facts(make_run(evals, iters))
    assert f.value("nan_step") == 425
    assert f.value("best_val") == 3.37
    assert math.isnan(f.value("final_val"))
    assert f["final_val"].note == "NaN/inf in the log"
    assert f["generalization_gap"].status == "unknown"


def test_a_loss_nan_from_before_any_update_is_told_apart_from_a_divergence():
    nan = float("nan")
    assert compute_facts(make_run([(0, 4.2, 4.2), (400, 3.3, 3.37), (450, nan, nan)],
                                  [(s, 3.0, 20.0, 0.01) for s in range(0, 425, 5)])).value("nan_at_start") is False
    broken = compute_facts(make_run([(0, nan, nan), (100, nan, nan)],
                                    [(s, nan, 20.0, 0.01) for s in range(0, 200, 10)]))
    assert broken.value("nan_step") == 0 and broken.value("nan_at_start") is True
    # iterations counted from 1 (llm.c): step 1's loss is the first update's forward pass
    one = compute_facts(make_run([], [(s, nan, 20.0, 0.01) for s in range(1, 100)]))
    assert one.value("nan_step") == 1 and one.value("nan_at_start") is True
    # from 0, iteration 1 comes after an update: a NaN first seen there is not from the start
    later = compute_facts(make_run([], [(s, nan, 20.0, 0.01) for s in range(5, 100, 5)]))
    assert later.value("nan_at_start") is False
    # a NaN eval at step 0 with finite training after it: not a broken run, and not one that
    # diverged (its last loss is finite)
    eval_only = compute_facts(make_run([(0, nan, nan), (100, 3.0, 3.1)], [(0, 4.2, 1.0, 0.01)]))
    assert eval_only.value("nan_at_start") is False and eval_only.value("nan_persists") is False
    diverged = compute_facts(make_run([(0, 4.2, 4.2), (100, nan, nan)], [(0, 4.2, 1.0, 0.01), (50, nan, 1.0, 0.01)]))
    assert diverged.value("nan_persists") is True and diverged.value("nan_at_start") is False
    # the last eval NaN, the iteration printed after it at the same step finite: a glitch
    from conftest import parse_text
    text = ("step 0: train loss 4.2000, val loss 4.2000\niter 0: loss 4.2000, time 10.00ms, mfu 1.00%\n"
            "step 100: train loss 3.0000, val loss nan\niter 100: loss 3.0000, time 10.00ms, mfu 1.00%\n")
    assert compute_facts(parse_text(text)).value("nan_persists") is False


def test_nan_from_eval_only():
    nan = float("nan")
    f = compute_facts(make_run([(0, 4.2, 4.2), (100, nan, 3.0)], [(0, 4.2, 1.0, -100.0)]))
    assert f.value("nan_step") == 100


# ---------------------------------------------------------------------------------------
# learning-rate schedule

SCHED = {"learning_rate": 1e-3, "warmup_iters": 100, "lr_decay_iters": 5000, "min_lr": 1e-4}
GPT2_SCHED = {"learning_rate": 6e-4, "warmup_iters": 2000, "lr_decay_iters": 600000, "min_lr": 6e-5}


@pytest.mark.parametrize("params", [SCHED, GPT2_SCHED])
def test_lr_at_matches_get_lr(params):
    steps = [
        0,
        1,
        50,
        99,
        100,
        101,
        1999,
        2000,
        2001,
        2550,
        4999,
        5000,
        5001,
        6000,
        300000,
        600000,
        600001,
    ]
    got = lr_at(np.array(steps), **params)
    want = np.array([get_lr(s, **params) for s in steps])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    # warmup and the tail are bit-exact
    exact = [
        i for i, s in enumerate(steps) if s < params["warmup_iters"] or s > params["lr_decay_iters"]
    ]
    assert got[exact].tolist() == want[exact].tolist()


def test_lr_at_values():
    assert lr_at(0, **SCHED) == 1e-3 * 1 / 101  # not 0 since dc81cb36
    assert lr_at(100, **SCHED) == 1e-3  # start of the cosine
    assert lr_at(2550, **SCHED) == pytest.approx(5.5e-4)  # half way: (1e-3 + 1e-4) / 2
    assert lr_at(5000, **SCHED) == pytest.approx(1e-4)
    assert lr_at(7000, **SCHED) == 1e-4
    assert lr_at(0, **SCHED, legacy_warmup=True) == 0.0
    assert lr_at(50, **SCHED, legacy_warmup=True) == 1e-3 * 50 / 100
    const = lr_at(np.arange(10), **SCHED, decay_lr=False)
    assert const.tolist() == [1e-3] * 10


def test_lr_schedule_of_run():
    run = shakespeare_gpu_run()
    sched = lr_schedule(run)
    assert sched.shape == (5001,)
    np.testing.assert_allclose(sched, [get_lr(s, **SCHED) for s in range(5001)], rtol=1e-13)
    assert lr_schedule(make_run([(0, 4.0, 4.0), (10, 3.0, 3.0)])) is None  # no config shown


def test_constant_lr_facts():
    f = compute_facts(
        make_run(
            [(0, 4.0, 4.0), (500, 2.0, 2.1)], config=make_config(SHAKESPEARE_CHAR, decay_lr=False)
        )
    )
    assert f["lr_schedule_completed"].value is None
    assert f["lr_schedule_completed"].note == "constant LR"
    assert f["lr_decay_vs_max_iters"].value is None
    assert f["warmup_fraction"].value == 0.0
    assert f["lr_final"].value == 1e-3


# ---------------------------------------------------------------------------------------
# a resumed lineage


def resumed_run():
    """Process 0 trains to step 620 (max_iters 1000) and dies; process 1 resumes from the
    checkpoint saved at step 500 with max_iters = lr_decay_iters = 2000, and runs to 1200."""
    cfg0 = make_config(SHAKESPEARE_CHAR, max_iters=1000, lr_decay_iters=1000)
    cfg1 = make_config(SHAKESPEARE_CHAR, init_from="resume", max_iters=2000, lr_decay_iters=2000)
    evals = [(s, 3.0 - s / 1000, 3.1 - s / 1000, 0) for s in (0, 250, 500)]
    evals += [(s, 3.0 - s / 1000, 3.1 - s / 1000, 1) for s in (500, 750, 1000)]
    iters = iters_every(0, 621, 1, time=20.0, seg=0) + iters_every(500, 1201, 1, time=25.0, seg=1)
    iters = [(s, loss, (5000.0 if s in (250, 500, 750, 1000) else t), m, g) for s, loss, t, m, g in iters]
    segments = (seg(0, 0, 620, "scratch", cfg0), seg(1, 500, 1200, "resume", cfg1))
    header = Header(tokens_per_iter=16_384, vocab_size=65, params_m=10.65)
    return make_run(evals, iters, config=cfg1, header=header, segments=segments)


def test_resumed_lineage():
    run = resumed_run()
    f = compute_facts(run)
    assert f.value("steps_done") == 1201
    assert f.value("tokens_seen") == 16_384 * 1201  # the lost steps 500..620 not counted
    assert f.value("best_val_step") == 1000
    # the lineage starts with the scratch process, whose config made the model
    assert f["n_layer"].status == "read"
    assert f["n_layer"].note is None
    assert f.value("params") == 10_646_784
    sched = lr_schedule(run)
    cfg0 = dict(SCHED, lr_decay_iters=1000)
    cfg1 = dict(SCHED, lr_decay_iters=2000)
    assert sched[400] == pytest.approx(get_lr(400, **cfg0), rel=1e-13)
    assert sched[499] == pytest.approx(get_lr(499, **cfg0), rel=1e-13)
    assert sched[500] == pytest.approx(get_lr(500, **cfg1), rel=1e-13)
    assert sched[1200] == pytest.approx(get_lr(1200, **cfg1), rel=1e-13)
    assert f.value("lr_final") == pytest.approx(get_lr(1200, **cfg1), rel=1e-13)
    assert f.value("lr_schedule_completed") == pytest.approx(1200 / 2000)
    assert f.value("lr_decay_vs_max_iters") == 1.0  # the last process's config


def test_resumed_timing():
    f = compute_facts(resumed_run())
    # lineage iters: 0..499 of process 0 (20 ms) and 500..1200 of process 1 (25 ms);
    # excluded: 0..4 and 500..504 (warm-up), 250, 750 and 1000 (eval); 0 and 500 are both
    assert f.value("n_eval_iters_excluded") == 5  # 0, 250, 500, 750, 1000
    assert f.value("warmup_ms") == 5 * 20.0 + 5000.0 + 4 * 25.0
    assert f.value("time_per_iter_ms") == 25.0  # 494 at 20 ms, 698 at 25 ms
    assert f.value("eval_overhead_ms") == 5000.0 - 25.0


def only_resume_run(header=NO_LINES):
    """A log of a resumed process alone: its model shape came from a checkpoint."""
    return make_run(
        [(500, 2.5, 2.6), (750, 2.2, 2.4)],
        [(500, 2.5, 20.0, -100.0)],
        config=make_config(SHAKESPEARE_CHAR, init_from="resume"),
        header=header,
        segments=(seg(0, 500, 750, "resume"),),
    )


def test_resumed_shape_unconfirmed_is_assumed():
    f = compute_facts(only_resume_run())
    assert f["n_layer"].status == "assumed"
    assert f["n_layer"].note.startswith("resumed run: the model shape comes from the checkpoint")
    assert f["params"].status == "assumed"
    assert f["flops_per_token"].status == "assumed"
    assert f.value("first_val") == 2.6
    assert f["first_val"].note == "the lineage's first eval is at step 500"


def test_resumed_shape_confirmed_by_printed_params():
    f = compute_facts(only_resume_run(Header(vocab_size=65, params_m=10.65)))
    assert f["n_layer"].status == "read"
    assert f["n_layer"].note == "resumed run: confirmed by the log's number of parameters"
    assert f["params"].value == 10_646_784
    assert f["params"].status == "computed"
    # a printed count the config's shape does not give leaves the shape assumed
    g = compute_facts(only_resume_run(Header(vocab_size=65, params_m=0.80)))
    assert g["n_layer"].status == "assumed"
    assert g["params"].value == 800_000


def test_a_resumed_gpt2_fine_tune_takes_gpt2_s_shape_where_the_printed_count_is_it():
    # the corpus's GPT-2 runs: the config file sets init_from='gpt2', the command resumes;
    # from_pretrained made GPT-2's shape (bias, vocab 50257), which the checkpoint kept
    from conftest import parse_text

    def log(printed: str) -> str:
        return ("Overriding config with config/finetune.py:\ninit_from = 'gpt2'\nbatch_size = 8\n\n"
                "Overriding: init_from = resume\nResuming training from out\n"
                f"number of parameters: {printed}M\nstep 2000: train loss 3.0000, val loss 3.1000\n"
                "iter 2000: loss 3.0000, time 100.00ms, mfu 10.00%\n")
    f = compute_facts(parse_text(log("123.65")))
    assert [f.value(k) for k in ("n_layer", "n_embd", "vocab_size", "bias")] == [12, 768, 50_257, True]
    assert f["bias"].status == "inferred" and "123.65M" in f["bias"].note
    g = compute_facts(parse_text(log("10.65")))  # not GPT-2's count: the config's shape, assumed
    assert (g.value("bias"), g["bias"].status) == (False, "assumed")


def test_real_log_tiny_gpu_header():
    """Header of corpus nanogpt/gpu-tiny-0.8M-wilcoooo.log: L4 H4 C128 T128 V65,
    `number of parameters: 0.80M`, decayed 811,136 + non-decayed 1,152."""
    cfg = make_config(
        dict(
            SHAKESPEARE_CHAR,
            eval_interval=500,
            log_interval=20,
            eval_iters=50,
            always_save_checkpoint=True,
            batch_size=32,
            block_size=128,
            n_layer=4,
            n_head=4,
            n_embd=128,
            max_iters=3000,
            lr_decay_iters=3000,
            warmup_iters=50,
        )
    )
    header = Header(
        tokens_per_iter=4_096,
        vocab_size=65,
        params_m=0.80,
        decayed_params=811_136,
        nodecay_params=1_152,
    )
    iters = [
        (0, 4.1867, 1412.47, -100.0),
        (20, 3.3648, 18.59, 0.39),
        (40, 2.8599, 18.17, 0.39),
        (60, 2.6644, 16.97, 0.40),
        (80, 2.5870, 19.69, 0.39),
    ]
    f = compute_facts(make_run([(0, 4.1831, 4.1802)], iters, config=cfg, header=header))
    assert f.value("params_total") == 812_288
    assert f["params"] == Fact(
        "params",
        795_904,
        "params",
        "computed",
        "log: decayed + non-decayed parameters - block_size·n_embd",
    )
    assert f.value("flops_per_token") == 6 * 795_904 + 12 * 4 * 4 * 32 * 128
    assert f.value("time_per_iter_ms") == pytest.approx((18.59 + 18.17) / 2)
    assert f.value("warmup_ms") == 1412.47
    assert f.value("init_loss_expected") == pytest.approx(4.174387)
    # what nanoGPT would print for one iteration at the median time: ~0.40 %
    mfu = f.value("achieved_tflops") / 312 * 100
    assert round(mfu, 2) == 0.40
    assert f.value("warmup_fraction") == pytest.approx(50 / 3000)


# ---------------------------------------------------------------------------------------
# speed


def test_iteration_at_eval_excluded_from_timing():
    cfg = make_config(SHAKESPEARE_CHAR)
    evals = [(s, 3.0, 3.1) for s in (0, 250, 500)]
    iters = [
        (s, 2.0, 1400.0 if s == 0 else 30.0, -100.0 if s < 5 else 10.0) for s in range(0, 501, 10)
    ]
    iters = [(s, loss, 5600.0 if s in (250, 500) else t, m) for s, loss, t, m in iters]
    iters[-1] = (500, 2.0, 5600.0, 8.4)  # nanoGPT's EMA dips after the final eval: the median is the run's
    iters[2] = (20, 2.0, 32.0, 10.0)
    header = Header(tokens_per_iter=16_384, vocab_size=65, params_m=10.65)
    f = compute_facts(
        make_run(evals, iters, config=cfg, header=header), peak_flops=PEAK_FLOPS["A100"]
    )
    assert f.value("time_per_iter_ms") == 30.0  # the 5,600 ms eval iterations are out
    assert f.value("n_eval_iters_excluded") == 3  # 0 (also warm-up), 250, 500
    assert f.value("eval_overhead_ms") == 5570.0
    assert f.value("warmup_ms") == 1400.0
    assert f["tokens_per_sec"] == Fact(
        "tokens_per_sec",
        16_384 / 0.030,
        "tokens/s",
        "computed",
        "tokens_per_iter / time_per_iter_ms",
        "excludes eval and warm-up",
    )
    assert f["mfu_printed"].value == 10.0
    assert f["mfu_printed"].status == "computed"
    assert "312 TFLOPS" in f["mfu_printed"].note
    achieved = 70_958_592 * 16_384 / 0.030 / 1e12  # 38.75 TFLOPS
    assert f.value("achieved_tflops") == pytest.approx(achieved, rel=1e-12)
    assert f.value("mfu_device") == pytest.approx(achieved * 1e12 / 312e12 * 100, rel=1e-12)
    assert f["world_size"].value == 1


def test_mfu_device_needs_peak():
    f = compute_facts(shakespeare_gpu_run())
    assert f["mfu_device"].status == "unknown"
    assert f["mfu_device"].note == "device peak unknown: pass --peak-flops"
    assert f["achieved_tflops"].known


def test_ddp_per_process_and_world_size_hint():
    # 8 ranks, 491,520 tokens/iter; only rank 0's output kept, so the log shows one process
    cfg = make_config(
        {
            "batch_size": 12,
            "block_size": 1024,
            "gradient_accumulation_steps": 40,
            "n_layer": 12,
            "n_head": 12,
            "n_embd": 768,
            "dataset": "openwebtext",
        }
    )
    header = Header(tokens_per_iter=491_520, vocab_size=50304, vocab_source="gpt2 default")
    fpt = 6 * 123_587_328 + 12 * 12 * 12 * 64 * 1024
    per_proc = fpt * 491_520 / 8 / 0.100  # FLOP/s of one rank at 100 ms/iter
    mfu = per_proc / 312e12 * 100
    iters = [(s, 3.0, 100.0, -100.0 if s < 5 else mfu) for s in range(50)]
    f = compute_facts(make_run([(0, 11.0, 11.0)], iters, config=cfg, header=header))
    assert f.value("params") == 123_587_328
    assert f.value("flops_per_token") == fpt
    assert f.value("achieved_tflops") == pytest.approx(8 * per_proc / 1e12)
    assert "likely had 8 processes" in f["achieved_tflops"].note
    ddp = make_run(
        [(0, 11.0, 11.0)], iters, config=cfg, header=header, segments=(seg(0, 0, 49, world_size=8),)
    )
    g = compute_facts(ddp)
    assert g["world_size"] == Fact("world_size", 8, "", "read", "log: header printed once per rank")
    assert g.value("achieved_tflops") == pytest.approx(per_proc / 1e12)
    assert g["achieved_tflops"].note == "per process"


def test_peak_flops_for():
    assert peak_flops_for("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops_for("NVIDIA A100-PCIE-40GB") == 312e12
    assert peak_flops_for("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops_for("NVIDIA H100 PCIe") == 756e12
    assert peak_flops_for("NVIDIA H200") == 989e12
    assert peak_flops_for("Tesla V100-SXM2-16GB") == 125e12
    assert peak_flops_for("NVIDIA GeForce RTX 4090") == 165e12
    assert peak_flops_for("NVIDIA GeForce RTX 3090") == 71e12
    assert peak_flops_for("Tesla T4") == 65e12
    assert peak_flops_for("NVIDIA A10G") == 70e12
    assert peak_flops_for("NVIDIA L4") == 121e12
    assert peak_flops_for("A100") == 312e12
    assert peak_flops_for("Apple M2") is None


# ---------------------------------------------------------------------------------------
# runs that say little


def test_no_header_run():
    evals = [(0, 4.28, 4.28), (250, 2.0, 2.05), (500, 1.6, 1.75)]
    iters = [(s, 2.0, 5600.0 if s in (250, 500) else 30.0, 10.0) for s in range(0, 510, 10)]
    f = compute_facts(make_run(evals, iters))
    for name in (
        "tokens_per_iter",
        "params",
        "params_total",
        "flops_per_token",
        "tokens_seen",
        "train_flops",
        "epochs",
        "lr_final",
        "lr_schedule_completed",
        "warmup_fraction",
        "lr_decay_vs_max_iters",
        "tokens_per_sec",
        "mfu_device",
        "dataset_tokens",
    ):
        assert f[name].status == "unknown", name
        assert f[name].value is None
        assert f[name].note, name
    # the printed MFU (10%) is nanoGPT's own FLOP count over an A100's 312 TFLOPS
    assert (f["achieved_tflops"].status, f.value("achieved_tflops")) == ("inferred", pytest.approx(31.2))
    assert "log has no config header" in f["tokens_per_iter"].note
    assert "log has no config header" in f["lr_final"].note
    # what the log itself shows is still there
    assert f.value("steps_done") == 501
    assert f.value("best_val") == 1.75
    assert f.value("time_per_iter_ms") == 30.0
    assert f["world_size"].status == "assumed"
    assert f["mfu_printed"].value == 10.0
    # and what it implies, marked so
    for name in ("vocab_size", "init_loss_expected", "flops_per_iter"):
        assert f[name].status == "inferred", name


def test_checkpoint_only_run():
    cfg = make_config(SHAKESPEARE_CHAR, origin=CHECKPOINT)
    ck = CheckpointInfo(
        path="ckpt.pt",
        iter_num=2000,
        best_val_loss=1.4697,
        model_args={
            "n_layer": 6,
            "n_head": 6,
            "n_embd": 384,
            "block_size": 256,
            "bias": False,
            "vocab_size": 65,
            "dropout": 0.2,
        },
        config=dict(SHAKESPEARE_CHAR),
        n_params=10_745_088,
        n_params_no_wpe=10_646_784,
        optimizer_steps=2000,
        param_group_lrs=(lr_at(2000, **SCHED).item(),) * 2,
        param_group_weight_decay=(0.1, 0.0),
    )
    run = Run(
        "ckpt.pt",
        Dialect.NANOGPT_CKPT,
        cfg,
        ModelArgs.from_mapping(ck.model_args),
        EvalCurve(*(np.zeros(0),) * 5),
        IterCurve(*(np.zeros(0),) * 6),
        (),
        (),
        Header(),
        (),
        checkpoint=ck,
    )
    f = compute_facts(run)
    assert f["params"] == Fact(
        "params", 10_646_784, "params", "read", "ckpt state dict (excl. wpe)"
    )
    assert f["params_total"] == Fact(
        "params_total", 10_745_088, "params", "read", "ckpt state dict"
    )
    assert f["n_layer"].source == "ckpt model_args"
    assert f["steps_done"] == Fact("steps_done", 2000, "steps", "read", "ckpt iter_num")
    assert f.value("tokens_per_iter") == 16_384
    assert f.value("tokens_seen") == 16_384 * 2000
    # always_save_checkpoint=False: the checkpoint is the best eval and its step
    assert f["best_val"] == Fact("best_val", 1.4697, "nats", "read", "ckpt best_val_loss")
    assert f["best_val_step"].value == 2000
    assert f["final_val"].status == "unknown"
    assert f.value("lr_final") == pytest.approx(get_lr(2000, **SCHED), rel=1e-13)
    assert f["lr_final"].note is None  # agrees with the optimizer's LR
    assert f["nan_step"].status == "unknown"
    assert f["time_per_iter_ms"].status == "unknown"
    assert f["warmup_ms"].note == "the log has no iter lines with a time"
    assert f["n_eval_iters_excluded"].status == "unknown"
    # train.py's starting 1e9, saved by a run no eval of which improved on it (NaN): no best val
    import dataclasses
    never = dataclasses.replace(run, checkpoint=dataclasses.replace(ck, best_val_loss=1e9))
    assert not compute_facts(never)["best_val"].known


def test_checkpoint_lr_when_config_unknown():
    ck = CheckpointInfo("ckpt.pt", 700, 2.0, {}, {}, None, None, 700, (3e-4, 3e-4), (0.1, 0.0))
    run = make_run([(0, 4.0, 4.0), (700, 2.0, 2.0)], config=NO_HEADER, checkpoint=ck)
    f = compute_facts(run)
    assert f["lr_final"] == Fact("lr_final", 3e-4, "LR", "read", "ckpt optimizer param_groups lr")


def test_init_from_gpt2_shape():
    cfg = make_config(
        {"init_from": "gpt2", "block_size": 512, "n_layer": 4, "dataset": "shakespeare"}
    )
    f = compute_facts(make_run([(0, 3.1, 3.1)], config=cfg, segments=(seg(0, 0, 0, "gpt2"),)))
    assert [
        f.value(k) for k in ("n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size")
    ] == [12, 12, 768, 512, True, 50257]
    assert f.value("params") == 123_653_376  # the 123.65M nanoGPT prints for gpt2


def test_defaults_contradicted_by_log():
    # a pasted log: only `Overriding:` lines, and tokens/iter 16,384 that train.py's
    # defaults (40 * 12 * 1024) cannot give, so the reader stops trusting the defaults
    cfg = replace(make_config(device="mps", compile=True), defaults_ok=False,
                  defaults_why="its tokens per iteration (16,384) contradict train.py's defaults")
    f = compute_facts(
        make_run([(0, 4.28, 4.28)], config=cfg, header=Header(tokens_per_iter=16_384))
    )
    assert f["n_layer"].status == "unknown"
    assert f["n_layer"].note.startswith("the log does not show n_layer, and its tokens per iteration (16,384) "
                                        "contradict")
    assert f["lr_final"].note.startswith("the log does not show learning_rate")
    assert f.value("tokens_per_iter") == 16_384


def test_unevaluated_config_expression():
    b = ConfigBuilder()
    b.set(ConfigValue("batch_size", None, FILE, known=False, raw="2 ** bs_exp"))
    f = compute_facts(make_run([(0, 4.0, 4.0)], config=b.build()))
    assert "2 ** bs_exp" in f["tokens_per_iter"].note


# ---------------------------------------------------------------------------------------
# the Facts container and the registry


def test_facts_container():
    f = compute_facts(shakespeare_gpu_run())
    assert isinstance(f, Facts)
    assert list(f) == list(FACTS)
    assert len(f) == len(FACTS)
    assert "epochs" in f and "nope" not in f
    with pytest.raises(KeyError):
        f.value("nope")
    d = f.as_dict()
    assert d["tokens_per_iter"] == {
        "value": 16_384,
        "unit": "tokens",
        "status": "read",
        "source": "log: tokens per iteration",
        "note": None,
    }
    with pytest.raises(AttributeError):
        f.by_name = {}  # type: ignore[misc]


def test_every_fact_well_formed():
    for run in (shakespeare_gpu_run(), readme_cpu_run(), make_run(), resumed_run()):
        for name, fact in compute_facts(run).items():
            assert fact.name == name
            assert fact.status in STATUSES
            assert fact.source
            assert not isinstance(fact.value, np.generic)
            if fact.status == "unknown":
                assert fact.value is None and fact.note


def test_fact_rejects_value_when_unknown():
    with pytest.raises(ValueError):
        Fact("x", 1, "", "unknown", "s")
    with pytest.raises(ValueError):
        Fact("x", 1, "", "guessed", "s")  # type: ignore[arg-type]
    assert Fact("x", np.float64(1.5), "", "read", "s").value.__class__ is float


def test_facts_import_no_torch_or_scipy():
    code = "import sys, lossdoctor.facts; print(any(m in sys.modules for m in ('torch', 'scipy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_log_without_a_header_gets_inferred_flops_and_vocabulary():
    """FLOPs per iteration from the printed MFU and time; the vocabulary from the loss at
    step 0; both marked inferred, and the init check does not compare a loss with itself."""
    from conftest import parse_text
    lines = ["step 0: train loss 4.2000, val loss 4.2100\n"]
    lines += [f"iter {i}: loss {4.0 - i / 100:.4f}, time 40.00ms, mfu 10.00%\n" for i in range(30)]
    facts = compute_facts(parse_text("".join(lines)))
    assert facts["flops_per_iter"].status == "inferred"
    assert math.isclose(facts.value("flops_per_iter"), 0.10 * 312e12 * 0.040)
    assert (facts.value("vocab_size"), facts["vocab_size"].status) == (round(math.exp(4.21)), "inferred")
    assert not facts["init_vs_expected"].known


def test_a_coarse_printed_mfu_infers_nothing():
    from conftest import parse_text
    lines = [f"iter {i}: loss 4.0000, time 40.00ms, mfu 0.01%\n" for i in range(30)]
    assert not compute_facts(parse_text("".join(lines)))["flops_per_iter"].known


def test_always_save_checkpoint_is_inferred_from_the_saves_a_log_prints():
    """train.py saves after an eval when val improved, or always with
    always_save_checkpoint=True; a log without its config shows which by its saves."""
    import lossdoctor
    from conftest import parse_text

    def log(saves: set[int]) -> str:
        vals = {0: 4.2, 250: 2.0, 500: 1.8, 750: 1.85, 1000: 1.9}
        out = []
        for s, v in vals.items():
            out.append(f"step {s}: train loss {v - 0.1:.4f}, val loss {v:.4f}")
            if s in saves:
                out.append("saving checkpoint to out")
        return "\n".join(out) + "\n"
    best_only = lossdoctor.compute_facts(parse_text(log({250, 500})))["always_save_checkpoint"]
    assert (best_only.value, best_only.status) == (False, "inferred")
    always = lossdoctor.compute_facts(parse_text(log({250, 500, 750, 1000})))["always_save_checkpoint"]
    assert (always.value, always.status) == (True, "inferred") and "step 750" in always.note
    assert not lossdoctor.compute_facts(parse_text(log(set())))["always_save_checkpoint"].known  # no saves printed


def test_a_default_dtype_is_inferred_from_the_grad_scaler_warning_of_a_machine_without_cuda():
    import lossdoctor
    from conftest import FIXTURES
    f = lossdoctor.compute_facts(lossdoctor.load(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))["dtype"]
    assert (f.value, f.status) == ("float16", "inferred") and "GradScaler" in (f.note or "")


def test_a_log_without_train_split_evals_is_told_so_not_that_its_loss_is_nan(tmp_path):
    """llm.c's stdout: its evals are val only, so the val - train gap of the evals is unknown."""
    import lossdoctor
    text = "".join(f"step {s}/400 | loss {3.0 - s / 400:.4f} | norm 1.0 | lr 6e-4 | 10.00 ms | 1.0% bf16 MFU | "
                   f"1000 tok/s\nval loss {3.05 - s / 400:.4f}\n" for s in range(1, 401, 40))
    (tmp_path / "llmc.log").write_text(text)
    f = lossdoctor.compute_facts(lossdoctor.load(tmp_path / "llmc.log"))
    assert f.value("n_tail_evals") >= 3 and f.value("val_slope") is not None
    assert f["gap_growth"].note == "the log's evals give no train-split loss", f["gap_growth"].note


def test_a_cpu_run_s_default_dtype_is_not_named_as_one_of_the_two():
    # train.py's default dtype depends on the machine (bfloat16 with bf16 CUDA, else float16);
    # a CPU run's log does not say which, and neither is used on a CPU
    from conftest import parse_text
    text = "Overriding: device = cpu\n" + "".join(
        f"step {i}: train loss {3 - i / 1000:.4f}, val loss {3.1 - i / 1000:.4f}\n" for i in range(0, 1000, 100))
    f = compute_facts(parse_text(text))
    assert f["dtype"].value == "float16 or bfloat16" and f["dtype"].status == "assumed"
    assert f.value("dtype_effective") == "float32"


def test_a_log_that_fused_adamw_ran_on_cuda_even_where_its_device_is_an_expression():
    from conftest import parse_text
    evals = "".join(f"step {s}: train loss {3 - s / 1000:.4f}, val loss {3.1 - s / 1000:.4f}\n" for s in (0, 100, 200))
    fused = compute_facts(parse_text("using fused AdamW: True\n" + evals))
    assert fused.value("device_type") == "cuda" and fused["device_type"].status == "inferred"
    # False says nothing: old torch has no fused AdamW on any device
    assert not compute_facts(parse_text("using fused AdamW: False\n" + evals))["device_type"].known


def test_an_eval_overhead_at_or_below_zero_says_the_log_times_steps_alone():
    import re

    import lossdoctor
    from conftest import FIXTURES, parse_text
    text = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text()
    evals = {int(m) for m in re.findall(r"^step (\d+):", text, re.M)}
    fast = "\n".join(re.sub(r"time [\d.]+ms", "time 1.00ms", line)  # the iterations at evals: no slower
                     if line.startswith("iter ") and int(line.split()[1][:-1]) in evals else line
                     for line in text.splitlines())
    fact = lossdoctor.compute_facts(parse_text(fast))["eval_overhead_ms"]
    assert fact.known and fact.value < 0 and "leave the eval out" in fact.note
    plain = lossdoctor.compute_facts(parse_text(text))["eval_overhead_ms"]
    assert plain.value > 0 and "leave the eval out" not in plain.note


def test_constant_from_and_lr_peak_tell_a_continuation_from_its_lineage(tmp_path):
    import lossdoctor
    from conftest import FIXTURES
    from lossdoctor.diagnose import diagnose
    long = FIXTURES / "long"
    lineage = tmp_path / "lineage.log"  # a cosine from 1e-3 to step 2000, then on at 1e-4, decay_lr=False
    lineage.write_text((long / "batch8-2000" / "train.log").read_text()
                       + (long / "batch8-constant-5000" / "train.log").read_text())
    run = lossdoctor.load(str(lineage))
    facts = lossdoctor.compute_facts(run)
    assert (facts.value("constant_from"), facts.value("lr_peak"), facts.value("learning_rate")) == (2000, 1e-3, 1e-4)
    rules = {f.rule.split("-")[0] for f in diagnose(run, facts).findings}
    assert "LD705" not in rules and "LD303" not in rules  # the run did decay, from a peak of 1e-3
    alone = lossdoctor.compute_facts(lossdoctor.load(str(long / "batch8-constant-5000")))
    assert not alone["constant_from"].known and "begins with a resume at step 2,000" in alone["constant_from"].note
    own = lossdoctor.compute_facts(lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")))
    assert own["constant_from"].known and own.value("constant_from") is None and own.value("lr_peak") == 1e-3
    assert (alone.value("log_begins_resumed"), facts.value("log_begins_resumed"), own.value("log_begins_resumed")) == (
        True, False, False)


def test_ld701_needs_only_a_log_that_does_not_begin_with_a_resume(tmp_path):
    # the lr_decay_iters of 600000 on the command line alone: warmup_iters and min_lr unshown
    import lossdoctor
    from lossdoctor.diagnose import diagnose
    path = tmp_path / "train.log"
    path.write_text("$ python train.py --learning_rate=0.001 --max_iters=1000 --lr_decay_iters=600000 "
                    "--decay_lr=True\n" + "".join(f"step {s}: train loss {3 - s / 1000:.4f}, val loss "
                                                   f"{3.1 - s / 1000:.4f}\n" for s in range(0, 1001, 100)))
    run = lossdoctor.load(str(path))
    assert "LD701-lr-decay-beyond-run" in {f.rule for f in diagnose(run).findings}


def test_no_vocabulary_is_inferred_from_a_loss_that_is_no_init_loss():
    import lossdoctor
    from conftest import FIXTURES
    formats = FIXTURES / "formats"
    # a runs table's final values put at step 0; a chat fine-tune; a table with no steps
    for path in (formats / "wandb_runs_no_step.csv", formats / "nanochat_chat_sft_2025.log"):
        for run in lossdoctor.load_many(str(path)):
            assert lossdoctor.compute_facts(run)["vocab_size"].status != "inferred", path


def test_lr_peak_needs_only_each_process_s_learning_rate_or_the_logged_lr():
    import lossdoctor
    from conftest import FIXTURES
    formats = FIXTURES / "formats"
    llmc = lossdoctor.compute_facts(lossdoctor.load(str(formats / "llmc_stdout.log")))
    assert llmc.value("lr_peak") == 6e-4  # its table's LR, whatever else of the schedule it shows
    trainer = lossdoctor.compute_facts(lossdoctor.load(str(formats / "trainer_state.json")))
    assert trainer.value("lr_peak") == 4.2e-5 and trainer["lr_peak"].source == "log: the largest LR it logged"
    assert trainer["lr_peak"].status == "inferred"  # the peak may fall between the logged steps
    summary = lossdoctor.compute_facts(lossdoctor.load(str(formats / "wandb-summary.json")))
    assert not summary["lr_peak"].known  # its one lr is where the LR ended
    # build-nanogpt's first steps, its LR still rising to max_lr: the peak is not in the log
    warm = lossdoctor.compute_facts(lossdoctor.load(str(formats / "build_nanogpt_stdout.log")))
    assert not warm["lr_peak"].known and "the log ends inside the warmup" in warm["lr_peak"].note


def test_train_longer_on_a_log_that_begins_with_a_constant_resume_claims_no_fresh_run():
    import lossdoctor
    from conftest import FIXTURES
    from lossdoctor.diagnose import diagnose
    run = lossdoctor.load(str(FIXTURES / "long" / "d3w96h4-constant-5000"))
    [longer] = [f for f in diagnose(run).findings if f.rule.startswith("LD101")]
    assert "the log does not show the LR before its first step" in longer.advice
    assert "a fresh run gets there too" not in longer.advice


def test_another_trainer_s_final_lr_is_the_one_it_logged_not_nanogpts_formula():
    """llm.c logs the LR of each step; get_lr of its mapped config is nanoGPT's warmup, off
    by a step from llm.c's own (lr * (step + 1) / warmup of its 0-based step)."""
    import lossdoctor
    from conftest import FIXTURES
    run = lossdoctor.load(str(FIXTURES / "formats" / "llmc_stdout.log"))
    lr = lossdoctor.compute_facts(run)["lr_final"]
    assert (lr.value, lr.status) == (float(run.series["lr"].value[-1]), "read")
    assert lr.source.startswith("log: the LR logged at step")


def test_a_lasting_change_of_the_iteration_time_is_said_and_a_drifting_one_is_not():
    from conftest import parse_text
    rng = np.random.default_rng(0)
    lines = []
    for i in range(0, 400):
        ms = (3400.0 if i < 260 else 1450.0) * (1 + 0.02 * rng.standard_normal())  # another node from step 260
        lines.append(f"iter {i}: loss {4.0 - i / 400:.4f}, time {ms:.2f}ms, mfu 10.00%")
    fact = compute_facts(parse_text("\n".join(lines) + "\n"))["time_per_iter_ms"]
    assert "the iteration time changed at step 260: median 3399 ms before, 1445 ms in the 140 iterations" in fact.note
    drift = [f"iter {i}: loss {4.0 - i / 400:.4f}, time {30 * (1.5 if (i // 50) % 2 else 1.0):.2f}ms, mfu 1.00%"
             for i in range(400)]  # a machine whose speed goes to and fro: no new speed
    assert "changed" not in (compute_facts(parse_text("\n".join(drift) + "\n"))["time_per_iter_ms"].note or "")
    ramp = [f"iter {i}: loss {4.0 - i / 400:.4f}, time {100 + 150 * i / 399:.2f}ms, mfu 1.00%"
            for i in range(400)]  # a speed that ramps from one level to the other: no step changed it
    assert "changed" not in (compute_facts(parse_text("\n".join(ramp) + "\n"))["time_per_iter_ms"].note or "")


def test_a_change_of_speed_at_a_resume_is_at_the_resume_not_after_its_warm_up():
    # the resumed process's first five iterations are warm-up, left out of the steady ones:
    # the change is at the step the process began, not at its sixth iteration
    from conftest import parse_text
    rng = np.random.default_rng(0)
    lines = ["Initializing a new model from scratch"]
    for i in range(0, 400):
        if i == 260:
            lines.append("Resuming training from out")
        ms = (3400.0 if i < 260 else 1450.0) * (1 + 0.02 * rng.standard_normal())
        lines.append(f"iter {i}: loss {4.0 - i / 400:.4f}, time {ms:.2f}ms, mfu 10.00%")
    fact = compute_facts(parse_text("\n".join(lines) + "\n"))["time_per_iter_ms"]
    assert "the iteration time changed at step 260: median 3399 ms before" in fact.note
    assert "in the 135 iterations from there on" in fact.note  # 260-264 are the resume's warm-up
    # a long log is split among blocks of iterations (21 here): a resume within a block of the
    # split is where the speed changed
    from lossdoctor.facts.shift import speed_shift
    step = np.concatenate([np.arange(0, 26_011), np.arange(26_005, 43_000)])  # resumed at 26,000
    start = np.where(np.arange(len(step)) < 26_011, 0, 26_000)
    ms = np.where(start == 0, 3400.0, 750.0) * (1 + 0.02 * rng.standard_normal(len(step)))
    assert speed_shift(step, ms)[0] != 26_000  # the first of its block
    assert speed_shift(step, ms, start)[:1] == (26_000,)


def test_a_cpu_run_of_the_built_in_trainer_that_printed_no_autocast_ran_in_float32(tmp_path):
    import lossdoctor
    from conftest import FIXTURES
    log = FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log"  # a YAML config: the built-in trainer's
    facts = compute_facts(lossdoctor.load(str(log)))
    assert (facts.value("dtype"), facts["dtype"].status) == ("float32", "inferred")
    assert not any(f.rule.startswith("LD1301") for f in lossdoctor.analyze([str(log)]).diagnoses[0].findings)
    lines = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_text().splitlines(keepends=True)
    (tmp_path / "py.log").write_text("".join(x for x in lines if "GradScaler" not in x))  # train.py's, on a CPU
    assert compute_facts(lossdoctor.load(str(tmp_path / "py.log")))["dtype"].status == "assumed"


def test_a_checkpoint_of_a_resumed_run_does_not_show_the_schedule_before_its_resume():
    import lossdoctor
    from conftest import FIXTURES
    alone = compute_facts(lossdoctor.load(str(FIXTURES / "nanogpt" / "tiny_resume" / "ckpt.pt")))  # init_from=resume
    for name in ("lr_rewarm_step", "constant_from", "lr_peak"):
        assert not alone[name].known and "holds the config of its last process" in alone[name].note
    with_log = compute_facts(lossdoctor.load(str(FIXTURES / "nanogpt" / "tiny_resume")))
    assert with_log["lr_rewarm_step"].known and with_log["lr_peak"].known


def test_an_untrusted_default_says_why_it_is_not_trusted():
    # the log's tokens per iteration contradict train.py's defaults for the batch: a key the
    # log does not show is unknown, and the note says that, not a guess
    from conftest import parse_text
    text = ("Overriding: batch_size = 4\ntokens per iteration will be: 999\n"
            "step 0: train loss 4.0000, val loss 4.0000\niter 0: loss 4.0000, time 10.00ms, mfu -100.00%\n")
    fact = compute_facts(parse_text(text))["weight_decay"]
    assert not fact.known and "its tokens per iteration (999) contradict train.py's defaults" in fact.note


@pytest.mark.parametrize(("run", "limit", "lower"), [
    ("long/lr2e-3-2000", 7.7, "4 where the run rules the calibrated law alone out"),  # off the config, 2,000 steps
    ("lossdoctor_train/readme_cpu_2000", 7.7, None),  # the README CPU config: one limit
    ("calibration/d2w64-shakespeare-s1-400", 4.0, None)])  # the ensemble's already
def test_extrapolation_epochs_names_the_lower_limit_extrapolate_may_use(run, limit, lower):
    import lossdoctor
    from conftest import FIXTURES
    fact = lossdoctor.compute_facts(lossdoctor.load(str(FIXTURES / run)))["extrapolation_epochs"]
    assert fact.value == limit
    assert (fact.note or "").startswith(lower) if lower else fact.note is None


def test_a_checkpoint_alone_that_resumed_does_not_say_how_its_model_was_first_made():
    # its config's init_from is its last process's: 'resume' is no way a model is first made
    import lossdoctor
    from conftest import FIXTURES
    facts = lossdoctor.compute_facts(lossdoctor.load(FIXTURES / "nanogpt" / "tiny_resume" / "ckpt.pt"))
    made = facts["model_from"]
    assert made.value is None and "how its model was first made is not in it" in (made.note or "")
    # with its log, the first process shows it
    whole = lossdoctor.compute_facts(lossdoctor.load(FIXTURES / "nanogpt" / "tiny_resume"))
    assert whole["model_from"].value == "scratch"


def _gpu_log(tmp_path, old: str = "", new: str = ""):
    """The built-in trainer's H200 run (fixtures/lossdoctor_train/gpu_5000), its `cuda
    device:` line edited where old/new say."""
    from lossdoctor import load
    text = (Path(__file__).parent.parent / "fixtures" / "lossdoctor_train" / "gpu_5000" / "train.log").read_text()
    assert old in text
    path = tmp_path / "train.log"
    path.write_text(text.replace(old, new) if old else text)
    return load(str(path))


def test_mfu_device_from_the_gpu_the_log_names(tmp_path):
    # the built-in trainer names its GPU and dtype: the H200's bf16 peak stands in for --peak-flops
    run = _gpu_log(tmp_path)
    assert run.config.values["device_name"].value == "NVIDIA H200"
    assert run.config.values["dtype"].origin == "config dump"  # read, where train.py's default is the machine's
    f = compute_facts(run)
    assert f["dtype_effective"].value == "bfloat16"
    assert f["mfu_device"].status == "inferred"
    assert f.value("mfu_device") == pytest.approx(f.value("achieved_tflops") * 1e12 / 989e12 * 100, rel=1e-12)
    assert "H200's dense bf16/fp16 peak, 989 TFLOPS" in f["mfu_device"].source
    given = compute_facts(run, peak_flops=500e12)  # what the user says wins
    assert given.value("mfu_device") == pytest.approx(f.value("achieved_tflops") * 1e12 / 500e12 * 100, rel=1e-12)
    assert given["mfu_device"].status != "inferred"


def test_mfu_device_not_from_a_peak_of_another_precision_or_an_unknown_gpu(tmp_path):
    f = compute_facts(_gpu_log(tmp_path, "dtype: bfloat16", "dtype: float32"))
    assert f["mfu_device"].status == "unknown"
    assert f["mfu_device"].note == ("the H200's peak in the table is for bf16 or fp16, and this run's dtype is "
                                    "float32: pass --peak-flops")
    f = compute_facts(_gpu_log(tmp_path, "NVIDIA H200", "Tesla K80"))
    assert f["mfu_device"].note == ("the log's device, Tesla K80, is not in lossdoctor's table of peaks: "
                                    "pass --peak-flops")
