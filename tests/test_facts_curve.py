"""Facts of settings.py and curve.py: on the real nanoGPT logs in fixtures/, recomputed here
straight from the log text, and on small built Runs where a definition needs an exact check.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter

import numpy as np
import pytest

from conftest import FIXTURES, shared_path
from lossdoctor import load
from lossdoctor.config import OVERRIDE, Config, ConfigBuilder, ConfigValue
from lossdoctor.facts import compute_facts
from lossdoctor.facts.compute import SHAKESPEARE_CHAR_UNIGRAM_ENTROPY
from lossdoctor.run import Dialect, EvalCurve, Header, IterCurve, ModelArgs, Run, Segment

# ---------------------------------------------------------------------------------------
# building Runs from arrays


def config(unevaluated=(), **values) -> Config:
    """train.py's defaults with `values` set on the command line (the config counts as seen);
    keys in `unevaluated` set by an expression lossdoctor does not evaluate."""
    b = ConfigBuilder()
    b.set(ConfigValue("out_dir", "out", OVERRIDE))
    for k, v in values.items():
        b.set(ConfigValue(k, v, OVERRIDE))
    for k in unevaluated:
        b.set(ConfigValue(k, None, OVERRIDE, known=False, raw="n * 2"))
    return b.build()


def make_run(evals=None, iters=None, *, cfg=None, fmt="nanogpt") -> Run:
    """evals: (steps, train, val) sequences; iters: (steps, losses) sequences; one segment."""
    es, et, ev = (np.asarray(a, dtype) for a, dtype in
                  zip(evals or ((), (), ()), (np.int64, float, float), strict=True))
    its, il = (np.asarray(a, dtype) for a, dtype in zip(iters or ((), ()), (np.int64, float), strict=True))
    evc = EvalCurve(es, et, ev, np.zeros(len(es), np.int32), np.arange(len(es)))
    itc = IterCurve(its, il, np.full(len(its), 20.0), np.full(len(its), 1.0),
                    np.zeros(len(its), np.int32), np.arange(len(its)))
    steps = np.concatenate([es, its])
    segs = ()
    if len(steps):
        segs = (Segment(0, 1, 1, "scratch", 1, len(es), len(its),
                        int(steps.min()), int(steps.max())),)
    return Run("test.log", Dialect(fmt), cfg or config(), ModelArgs(), evc, itc, (), segs, Header(), ())


def facts_of(*args, **kw):
    return compute_facts(make_run(*args, **kw))


def log_points(path):
    """(eval rows, iter rows) read from a nanoGPT log with two regexes, for recomputing."""
    text = (FIXTURES / path).read_text()
    evals = [(int(s), float(t), float(v)) for s, t, v in
             re.findall(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)", text, re.M)]
    iters = [(int(s), float(x)) for s, x in re.findall(r"^iter (\d+): loss ([\d.]+)", text, re.M)]
    return evals, iters


def robust_sd(y):
    d = np.diff(y[len(y) // 5:])
    return max(float(np.median(np.abs(d - np.median(d)))) * 1.4826 / math.sqrt(2), 1e-4)


# ---------------------------------------------------------------------------------------
# real logs


@pytest.fixture(scope="module")
def cpu_small():
    return compute_facts(load(FIXTURES / "nanogpt/cpu_small/train.log"))


def test_cpu_small_settings(cpu_small):
    f = cpu_small
    assert (f.value("learning_rate"), f.value("min_lr"), f.value("max_iters")) == (1e-3, 1e-4, 300)
    assert f["eval_iters"].value == 20 and f["eval_iters"].unit == "batches"
    assert f["eval_iters"].source == "config: eval_iters (override)"
    assert f["batch_size"].unit == "sequences" and f.value("batch_size") == 12
    assert f.value("compile") is False and f.value("device") == "cpu"
    assert f["weight_decay"].note == "train.py default, not set by the run's config"
    # the log sets no dtype, and train.py's default depends on the machine: its GradScaler
    # warning shows this one had no CUDA, so float16
    assert (f.value("dtype"), f["dtype"].status) == ("float16", "inferred")
    assert f.value("device_type") == "cpu"
    # no autocast on cpu: float32 whatever dtype says
    assert (f.value("dtype_effective"), f["dtype_effective"].status) == ("float32", "computed")
    assert f.value("min_lr_ratio") == pytest.approx(0.1)
    assert f.value("wd_timescale") == pytest.approx(1 / (1e-3 * 0.1))
    assert f.value("wd_timescale_frac") == pytest.approx(10_000 / 300)
    assert f.value("run_completed") == pytest.approx(301 / 300)  # iters 0..300


def test_cpu_small_curve_recomputed_from_the_log(cpu_small):
    f = cpu_small
    evals, iters = log_points("nanogpt/cpu_small/train.log")
    steps, train, val = (np.array(c, float) for c in zip(*evals, strict=True))
    loss = np.array([x for _, x in iters])
    assert len(evals) == 4 and f["n_evals"].status == "read" and f.value("n_evals") == 4
    sd = robust_sd(loss)
    assert f.value("iter_loss_sd") == pytest.approx(sd, rel=1e-12)
    assert f.value("eval_se") == pytest.approx(sd / math.sqrt(20), rel=1e-12)
    assert f.value("iter_noise_per_token") == pytest.approx(sd * math.sqrt(12 * 64), rel=1e-12)
    # 4 evals: the tail is the 3 after step 0 (100, 200, 300)
    assert f.value("n_tail_evals") == 3
    slope = np.polyfit(steps[1:], val[1:], 1)[0] * 1000
    assert f.value("val_slope") == pytest.approx(slope, rel=1e-9)
    sxx = ((steps[1:] - 200) ** 2).sum()
    assert f.value("val_slope_se") == pytest.approx(sd / math.sqrt(20) / math.sqrt(sxx) * 1000)
    assert f.value("val_slope_z") < -10  # val still falls clearly at the end
    assert f.value("best_val_frac") == 1.0  # the best val is the last eval
    assert f.value("overfit_ratio") == pytest.approx((val[-1] - train[-1]) / train[-1])
    ratio = (val - train) / train
    assert f.value("overfit_ratio_trend") == pytest.approx(
        np.polyfit(steps[1:], ratio[1:], 1)[0] * 1000, rel=1e-9)
    assert (f.value("val_rise"), f.value("val_rise_z")) == (0.0, 0.0)
    assert f.value("train_falling_after_best") is False
    assert f.value("train_rise_evals") == 0
    # 301 logged iterations: window 100, no loss doubles
    assert (f.value("spike_count"), f.value("first_spike_step")) == (0, None)
    assert f["first_spike_step"].note == "no spike"
    # a line through iterations 201..300, read at step 300, against the step-300 eval
    pts = np.array([(s, x) for s, x in iters if 200 < s <= 300])
    assert len(pts) == 100
    b, a = np.polyfit(pts[:, 0], pts[:, 1], 1)
    assert f.value("iter_vs_eval_train") == pytest.approx(a + b * 300 - train[-1])
    assert 0 < f.value("iter_vs_eval_train_se") < 0.05
    assert f.value("init_vs_expected") == pytest.approx(val[0] - math.log(65))
    assert f["unigram_entropy"].status == "assumed"
    assert f.value("train_vs_unigram") == pytest.approx(train[-1] - 3.3091)


def test_resumed_log_uses_the_lineage():
    f = compute_facts(load(FIXTURES / "nanogpt/tiny_resume/train.log"))
    # 8 eval lines, step 200 twice: the resumed process's 200 replaces the first one's
    assert f.value("n_evals") == 7 and f.value("n_tail_evals") == 3
    # tail: 200 (2.8651, resumed), 250 (2.7857), 300 (2.8013)
    assert f.value("val_slope") == pytest.approx((2.8013 - 2.8651) / 100 * 1000)
    assert f.value("val_rise") == pytest.approx(2.8013 - 2.7857)
    assert f.value("best_val_frac") == pytest.approx(250 / 300)
    # the last process resumed (its config); the model was made from scratch by the first
    assert f.value("init_from") == "resume" and f.value("model_from") == "scratch"
    # 62 iter lines, 61 in the lineage: too few for a 100-iteration spike window
    assert f["spike_count"].status == "unknown"
    assert f["spike_count"].note == "61 finite logged iterations, 105 needed"


def test_short_log_without_noise_estimate():
    f = compute_facts(load(FIXTURES / "nanogpt/tiny_nodecay/train.log"))
    assert f["iter_loss_sd"].status == "unknown"  # 11 iteration lines
    assert f["eval_se"].note.startswith("needs iter_loss_sd: ")
    assert f["n_tail_evals"].note == "2 evals after step 0, 3 needed"
    assert f["val_slope_z"].status == "unknown"
    # judged against the fallback 0.01 nats: only assumed
    assert f["train_rise_evals"].status == "assumed" and f.value("train_rise_evals") == 0
    assert f["min_lr_ratio"].note == "decay_lr is False: min_lr is not used"


def test_builtin_trainer_log():
    f = compute_facts(load(FIXTURES / "lossdoctor_train/tiny/train.log"))
    assert (f.value("dtype"), f["dtype"].status) == ("float32", "read")
    assert f["unigram_entropy"].note == "unigram entropy known only for shakespeare_char"
    assert f["train_vs_unigram"].status == "unknown"
    assert f.value("n_evals") == 5


def test_unigram_entropy_of_the_shakespeare_char_train_split():
    text = shared_path("data/shakespeare_char/input.txt").read_text()
    train = text[:int(len(text) * 0.9)]  # prepare.py's split
    counts = np.array(list(Counter(train).values()), float)
    p = counts / counts.sum()
    assert len(counts) == 65
    assert float(-(p * np.log(p)).sum()) == pytest.approx(SHAKESPEARE_CHAR_UNIGRAM_ENTROPY,
                                                          abs=1e-4)


# ---------------------------------------------------------------------------------------
# settings on built configs


def test_device_type_and_effective_dtype():
    f = facts_of(cfg=config(device="cuda:1", dtype="float16"))
    assert (f.value("device_type"), f.value("dtype_effective")) == ("cuda", "float16")
    assert f["dtype_effective"].status == "computed"
    # default dtype on cuda: bf16 or fp16 depending on the GPU
    f = facts_of(cfg=config(device="cuda"))
    assert f["dtype_effective"].status == "assumed"
    # stock train.py has no mps case: autocast is off, float32
    f = facts_of(cfg=config(device="mps", dtype="float16"))
    assert (f.value("device_type"), f.value("dtype_effective")) == ("cpu", "float32")
    assert "mps" in f["device_type"].note


def test_weight_decay_timescale():
    f = facts_of(cfg=config(learning_rate=6e-4, weight_decay=0.1, max_iters=600_000))
    assert f.value("wd_timescale") == pytest.approx(1 / 6e-5)
    assert f.value("wd_timescale_frac") == pytest.approx(1 / 6e-5 / 600_000)
    f = facts_of(cfg=config(weight_decay=0.0))
    assert f["wd_timescale"].value is None and f["wd_timescale"].status == "unknown"
    assert f["wd_timescale"].note == "weight_decay is 0: no decay"
    assert f["wd_timescale_frac"].note == "needs wd_timescale: weight_decay is 0: no decay"


def test_settings_unknown_without_a_config_header():
    f = facts_of(cfg=ConfigBuilder().build())
    for name in ("learning_rate", "device", "device_type", "dtype_effective", "wd_timescale",
                 "run_completed", "eval_se"):
        assert f[name].status == "unknown" and f[name].note, name


# ---------------------------------------------------------------------------------------
# curve definitions on built Runs

FLAT = 2.0 + 0.01 * np.sin(np.arange(400))  # 400 logged iterations around 2 nats


def spiked(start, length, n=400, every=1):
    y = FLAT[:n].copy()
    y[start:start + length] = 4.5  # >= 2x the window mean of ~2.0
    return (np.arange(n) * every, y)


@pytest.mark.parametrize("length, count", [(3, 0), (4, 0), (5, 1), (6, 1)])
def test_spike_needs_more_than_4_outliers_in_a_row(length, count):
    f = facts_of(iters=spiked(250, length, every=10))
    assert f.value("spike_count") == count
    assert f.value("first_spike_step") == (2500 if count else None)


def test_two_spikes_counted_once_each():
    steps, y = spiked(150, 6)
    y[300:310] = 5.0
    f = facts_of(iters=(steps, y))
    assert (f.value("spike_count"), f.value("first_spike_step")) == (2, 150)


def test_spike_window_grows_with_the_log():
    # 4000 logged iterations: window 200, so nothing before iteration 200 is judged
    y = 2.0 + 0.01 * np.sin(np.arange(4000))
    y[150:160] = 5.0
    f = facts_of(iters=(np.arange(4000), y))
    assert f.value("spike_count") == 0
    assert f["spike_count"].note == "window 200 logged iterations"
    # a level that triples and stays is an outlier until the window's mean catches up:
    # one spike
    y[3000:] = 6.0
    f = facts_of(iters=(np.arange(4000), y))
    assert f.value("spike_count") == 1 and f.value("first_spike_step") == 3000


def test_spike_needs_a_full_window():
    assert facts_of(iters=spiked(50, 6, n=104))["spike_count"].status == "unknown"
    assert facts_of(iters=spiked(100, 5, n=105)).value("spike_count") == 1


def test_spikes_fast_on_a_long_log():
    y = 2.0 + 0.01 * np.sin(np.arange(600_000))
    y[400_000:400_010] = 9.0
    run = make_run(iters=(np.arange(600_000), y))
    t0 = time.perf_counter()
    f = compute_facts(run)
    assert time.perf_counter() - t0 < 1.0
    assert (f.value("spike_count"), f.value("first_spike_step")) == (1, 400_000)


def test_iteration_noise():
    rng = np.random.default_rng(0)
    y = 3.0 - np.linspace(0, 1, 5000) + rng.normal(0, 0.05, 5000)
    y[3000] = np.nan  # dropped before the differences
    f = facts_of(iters=(np.arange(5000), y), cfg=config(eval_iters=25, dropout=0.1))
    assert f.value("iter_loss_sd") == pytest.approx(0.05, rel=0.05)
    assert f.value("eval_se") == pytest.approx(f.value("iter_loss_sd") / 5)
    assert "dropout 0.1" in f["eval_se"].note
    # the log prints 4 decimals: the noise is at least their rounding
    assert facts_of(iters=(np.arange(50), np.full(50, 2.0))).value("iter_loss_sd") == 1e-4
    # 24 iterations: the last 80% are 20, enough; of 23, 19 are not
    assert facts_of(iters=(np.arange(24), np.full(24, 2.0)))["iter_loss_sd"].known
    f = facts_of(iters=(np.arange(23), np.full(23, 2.0)))
    assert f["iter_loss_sd"].note == "finite iteration losses in the last 80%: 19, 20 needed"


STEPS = np.arange(0, 1600, 100)  # 16 evals: the tail is the last 4


def test_val_slope_exact_on_a_line():
    val = 3.0 - 0.0005 * STEPS
    f = facts_of((STEPS, val - 0.1, val))
    assert f.value("n_tail_evals") == 4
    assert f.value("val_slope") == pytest.approx(-0.5, rel=1e-12)
    # no iterations, no eval_se: the residuals' se, which on a line is that of the log's
    # rounding to 4 decimals (sd 1e-4/√12 per eval)
    sxx = ((STEPS[-4:] - STEPS[-4:].mean()) ** 2).sum()
    assert f.value("val_slope_se") == pytest.approx(1e-4 / math.sqrt(12 * sxx) * 1000)
    # 4 evals are needed for residuals: with eval_se unknown, the tail takes 4 where the log has them
    f = facts_of((STEPS[:8], val[:8] - 0.1, val[:8]))
    assert f.value("n_tail_evals") == 4 and f["val_slope_se"].known
    f = facts_of((STEPS[:4], val[:4] - 0.1, val[:4]))  # 3 evals after step 0: no residual estimate
    assert f.value("n_tail_evals") == 3 and f["val_slope_se"].status == "unknown"


def test_val_slope_se_from_residuals_and_from_eval_se():
    val = 3.0 - 0.0005 * STEPS + 0.01 * (-1) ** np.arange(16)
    x, y = STEPS[-4:].astype(float), val[-4:]
    a = np.vstack([x, np.ones(4)]).T
    coef, ssr, *_ = np.linalg.lstsq(a, y, rcond=None)
    sxx = ((x - x.mean()) ** 2).sum()
    f = facts_of((STEPS, val - 0.1, val))
    assert f.value("val_slope") == pytest.approx(coef[0] * 1000)
    assert f.value("val_slope_se") == pytest.approx(math.sqrt(ssr[0] / 2 / sxx) * 1000)
    assert f["val_slope_se"].note == "eval_se unknown"
    # with iterations and eval_iters, the se comes from eval_se
    iters = (np.arange(0, 1501), 2.0 + 0.02 * (-1) ** np.arange(1501))
    f = facts_of((STEPS, val - 0.1, val), iters, cfg=config(eval_iters=16))
    se = f.value("eval_se")
    assert se == pytest.approx(robust_sd(iters[1]) / 4)
    assert f.value("val_slope_se") == pytest.approx(se / math.sqrt(sxx) * 1000)
    assert f.value("val_slope_z") == pytest.approx(f.value("val_slope") / f.value("val_slope_se"))


def test_overfitting_facts():
    steps = np.arange(0, 1100, 100)  # 11 evals: tail of 3 (800, 900, 1000)
    train = 3.0 - 0.001 * steps
    val = train * (1 + 0.0002 * steps)  # (val - train) / train = 0.0002·step
    val[5] = 1.0  # best val at step 500
    f = facts_of((steps, train, val))
    assert f.value("overfit_ratio") == pytest.approx(0.2)
    assert f.value("overfit_ratio_trend") == pytest.approx(0.2)  # 0.0002/step = 0.2/1k
    assert f.value("best_val_frac") == pytest.approx(0.5)
    assert f.value("val_rise") == pytest.approx(val[-1] - 1.0)
    assert f.value("train_falling_after_best") is True  # 2.5 -> 2.0
    assert f["train_falling_after_best"].status == "assumed"  # no eval_se: 0.01 nats
    # a drop of 0.015 after the best is within 2·0.01 of noise
    f = facts_of(([0, 100, 200], [4.0, 2.5, 2.485], [4.0, 2.6, 2.7]))
    assert f.value("train_falling_after_best") is False


def test_train_rise_evals():
    steps = np.arange(0, 900, 100)
    # rises of 0.1 at 300, 400, 500, a drop, then rises at 700 and 800
    train = np.array([4.2, 3.0, 2.5, 2.6, 2.7, 2.8, 2.75, 2.9, 3.0])
    f = facts_of((steps, train, train + 0.1))
    assert f.value("train_rise_evals") == 3
    assert f["train_rise_evals"].note == "eval_se unknown, 0.01 nats assumed"
    # rises of 0.015 are within 2·0.01 of noise; of 0.025, not
    small = 3.0 + 0.015 * np.arange(9)
    assert facts_of((steps, small, small)).value("train_rise_evals") == 0
    large = 3.0 + 0.025 * np.arange(9)
    assert facts_of((steps, large, large)).value("train_rise_evals") == 7
    # the step-0 eval does not count as a previous eval
    f = facts_of(([0, 100], [1.0, 3.0], [1.0, 3.0]))
    assert f["train_rise_evals"].note == "1 eval after step 0, 2 needed"


def test_iter_vs_eval_train_span():
    steps = np.arange(0, 1001, 250)
    evals = (steps, np.full(5, 2.0), np.full(5, 2.1))
    it = np.arange(0, 1001, 10)
    loss = np.where(it > 750, 2.3, 2.6)
    loss = np.where(it > 900, 2.2, loss)
    # eval_interval 250: iterations 760..1000
    f = facts_of(evals, (it, loss), cfg=config(eval_interval=250))
    x, y = it[it > 750], loss[it > 750]
    b, a = np.polyfit(x, y, 1)
    assert f.value("iter_vs_eval_train") == pytest.approx(a + b * 1000 - 2.0)
    # eval_interval unknown: the last 10% of steps, 910..1000
    f = facts_of(evals, (it, loss), cfg=config(unevaluated=["eval_interval"]))
    assert f.value("iter_vs_eval_train") == pytest.approx(0.2)  # flat at 2.2 there
    assert "last 10%" in f["iter_vs_eval_train"].source
    # a falling loss: the line's end, not the interval's mean, meets the eval
    falling = 3.0 - 0.001 * it
    f = facts_of((steps, 3.0 - 0.001 * steps, 3.0 - 0.001 * steps), (it, falling), cfg=config(eval_interval=250))
    assert f.value("iter_vs_eval_train") == pytest.approx(0.0, abs=1e-9)
    f = facts_of(evals, (it[::50], loss[::50]), cfg=config(eval_interval=250))
    assert f["iter_vs_eval_train"].status == "unknown"


def test_init_vs_expected_needs_a_step_0_eval():
    cfg = config(vocab_size=65)
    f = facts_of(([0, 100], [4.2, 3.0], [4.2, 3.1]), cfg=cfg)
    assert f.value("init_vs_expected") == pytest.approx(4.2 - math.log(65))
    f = facts_of(([100, 200], [3.2, 3.0], [3.2, 3.1]), cfg=cfg)
    assert f["init_vs_expected"].note == "the first eval is at step 100, not 0"


def test_no_evals_and_checkpoint_only():
    f = facts_of(iters=(np.arange(30), np.full(30, 2.0)))
    assert (f.value("n_evals"), f["n_evals"].status) == (0, "read")
    for name in ("val_slope", "overfit_ratio", "val_rise", "train_falling_after_best",
                 "train_rise_evals", "iter_vs_eval_train", "init_vs_expected"):
        assert f[name].status == "unknown" and f[name].note, name
    f = facts_of(fmt="nanogpt-ckpt")
    assert f["n_evals"].status == "unknown"


def test_nan_losses_never_raise():
    nan = float("nan")
    steps = np.arange(0, 600, 100)
    f = facts_of((steps, [4.0, 3.0, 2.5, nan, nan, nan], [4.0, 3.1, 2.6, nan, nan, nan]),
                 (np.arange(500), np.r_[np.full(300, 2.0), np.full(200, nan)]))
    assert f["val_slope"].note == "NaN/inf loss in the last evals"
    assert f["overfit_ratio"].status == "unknown"
    assert f["train_falling_after_best"].status == "unknown"
    assert f["spike_count"].status == "computed"  # 300 finite iterations
    for name, fact in f.items():
        assert fact.status != "unknown" or (fact.value is None and fact.note), name


def _rise_facts(losses):
    from conftest import parse_text
    from lossdoctor.facts import compute_facts
    text = "".join(f"iter {i}: loss {x:.4f}, time 10.00ms, mfu 1.00%\n" for i, x in enumerate(losses))
    return compute_facts(parse_text(text))


def test_a_train_rise_counts_what_stays_up_not_a_stray_batch():
    import numpy as np
    rng = np.random.default_rng(0)
    base = 2.0 + np.exp(-np.arange(400) / 40) + rng.normal(0, 0.05, 400)
    spiked = base.copy()
    spiked[395] = 30.0  # one bad batch at the very end
    f = _rise_facts(spiked)
    assert f["train_rise"].value < 0.05 and f["train_rise_z"].value < 3
    climbed = base.copy()
    climbed[300:] += 1.0  # up a nat for the last quarter, and it stays
    f = _rise_facts(climbed)
    assert f["train_rise"].value == pytest.approx(1.0, abs=0.1) and f["train_rise_z"].value > 20
    assert 1.0 < f["train_rise_frac"].value < 1.6  # back above the first window's level (2.78)


def test_a_run_that_never_fell_and_then_climbed_reads_far_above_one():
    import numpy as np
    rng = np.random.default_rng(1)
    losses = np.r_[np.full(300, 3.2), np.full(100, 5.0)] + rng.normal(0, 0.05, 400)  # a fine-tune blowing up
    f = _rise_facts(losses)
    assert f["train_rise_frac"].value > 10 and f["train_rise_z"].value > 20
    flat = _rise_facts(3.2 + rng.normal(0, 0.05, 400))  # noise alone: the lowest window's luck is taken off
    assert flat["train_rise_z"].value < 3


def test_curve_lines_are_fitted_near_their_end_so_huge_step_numbers_lose_nothing(tmp_path):
    """Steps of 1e15 (a counter that never reset): the line through the last interval's
    iteration losses, and the gap report's smoothed final val, are fitted on steps before
    the end, not on the raw numbers (a fit on them was ill-conditioned: numpy warned, and
    pytest makes that an error)."""
    import lossdoctor
    from lossdoctor.facts import compute_facts
    text = (FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log").read_text()
    far = re.sub(r"^(iter|step) (\d+):", lambda m: f"{m.group(1)} {10**15 + int(m.group(2))}:", text, flags=re.M)
    (tmp_path / "near.log").write_text(text)
    (tmp_path / "far.log").write_text(far)
    near, far_run = lossdoctor.load(str(tmp_path / "near.log")), lossdoctor.load(str(tmp_path / "far.log"))
    a, b = compute_facts(near)["iter_vs_eval_train"], compute_facts(far_run)["iter_vs_eval_train"]
    assert a.known and b.value == pytest.approx(a.value, abs=1e-9)
    gap = lossdoctor.analyze([str(tmp_path / "far.log"), str(tmp_path / "far.log")], diagnose_runs=False,
                             distinct=False).comparison
    assert gap is not None
