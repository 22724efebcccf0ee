"""Speed: time per iteration, throughput, achieved FLOP/s and MFU against the real device.

nanoGPT's `iter N: ... time Xms` is the wall time of that one iteration (t0 is reset every
iteration, whatever log_interval is). It includes everything since the previous
iteration ended: the eval and checkpoint save when an eval ran at the top of step N, and,
in the first iterations of a process, torch.compile and CUDA warm-up. So the steady time
is the median over the other iterations.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..config import DERIVED
from ..dialect import Dialect
from ..nanogpt import A100_BF16_PEAK
from . import shift as shift_mod
from .base import Context, Fact, derived, join_notes, missing, plural, unknown

WARMUP_ITERS = 5  # train.py: `if local_iter_num >= 5: # let the training loop settle a bit`
MFU_SENTINEL = -100.0  # printed as `mfu -100.00%` until local_iter_num >= 5
NO_ITERS = "the log has no iter lines with a time"

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s per GPU (fp16 for V100 and T4, which
# have no bf16). Sources: NVIDIA datasheets (A100, H100 SXM/PCIe, H200, V100 SXM2, T4, L4)
# and the Ada/Ampere GeForce whitepapers (RTX 4090 / 3090: FP16/BF16 with FP32 accumulate).
# A10G is AWS's variant with no public datasheet; 70 TFLOPS is the commonly quoted figure.
PEAK_FLOPS: dict[str, float] = {
    "A100": 312e12,
    "H100 SXM": 989e12,
    "H100 PCIe": 756e12,
    "H200": 989e12,
    "V100": 125e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
    "T4": 65e12,
    "A10G": 70e12,
    "L4": 121e12,
}

# device-name patterns (as torch.cuda.get_device_name or nvidia-smi print them), first hit wins
_DEVICE_PATTERNS = [
    (r"h100.*(pcie|pci)", "H100 PCIe"),
    (r"h100", "H100 SXM"),  # 'NVIDIA H100 80GB HBM3' is the SXM part
    (r"h200", "H200"),
    (r"a100", "A100"),
    (r"a10g", "A10G"),
    (r"v100", "V100"),
    (r"4090", "RTX 4090"),
    (r"3090", "RTX 3090"),
    (r"\bt4\b", "T4"),
    (r"\bl4\b", "L4"),
]


def peak_flops_for(name: str) -> float | None:
    """Dense bf16/fp16 peak FLOP/s of a GPU named like 'NVIDIA A100-SXM4-80GB', 'h100 pcie'
    or a PEAK_FLOPS key; None when it is not in the table."""
    key = device_for(name)
    return None if key is None else PEAK_FLOPS[key]


def device_for(name: str) -> str | None:
    """The PEAK_FLOPS key a GPU's name reads as (its table key, or the first pattern its
    words match); None when none does."""
    if name in PEAK_FLOPS:
        return name
    low = re.sub(r"[^a-z0-9]+", " ", name.lower())
    return next((key for pattern, key in _DEVICE_PATTERNS if re.search(pattern, low)), None)


@dataclass(frozen=True)
class Timing:
    """The lineage's logged iteration times (ms), split by what else they contain."""

    steady: np.ndarray  # neither warm-up nor at an eval step
    steady_step: np.ndarray  # their steps
    steady_start: np.ndarray  # the first step of each one's process
    at_eval: np.ndarray  # at an eval step of the same segment, after warm-up
    warmup: np.ndarray  # local_iter_num < 5 or mfu sentinel (may also contain an eval)
    n_at_eval: int  # every logged iteration at an eval step, warm-up ones included
    n_timed: int  # iterations with a finite time


def timing(ctx: Context) -> Timing:
    return ctx.memo("timing", lambda: _timing(ctx))


def _timing(ctx: Context) -> Timing:
    evals, iters = ctx.curves()
    ok = np.isfinite(iters.time_ms)
    step, seg, t = iters.step[ok], iters.segment[ok].astype(np.int64), iters.time_ms[ok]
    starts = _segment_starts(ctx, seg)
    local = step - starts
    warm = (local < WARMUP_ITERS) | np.isclose(iters.mfu[ok], MFU_SENTINEL)
    # an eval at step N runs at the top of iteration N: match (segment, step) pairs
    key = seg * (1 << 40) + step
    eval_key = evals.segment.astype(np.int64) * (1 << 40) + evals.step
    at_eval = np.isin(key, eval_key)
    steady = ~warm & ~at_eval
    return Timing(steady=t[steady], steady_step=step[steady], steady_start=starts[steady], at_eval=t[~warm & at_eval],
                  warmup=t[warm],
                  n_at_eval=int(at_eval.sum()), n_timed=int(t.size))


def _segment_starts(ctx: Context, seg: np.ndarray) -> np.ndarray:
    """First step of each point's process: Segment.first_step, else its first logged step."""
    run = ctx.run
    starts = {s.index: s.first_step for s in run.segments if s.first_step is not None}
    for curve in (run.evals, run.iters):
        for s in np.unique(curve.segment):
            if int(s) not in starts:
                starts[int(s)] = int(curve.step[curve.segment == s].min())
            else:
                starts[int(s)] = min(starts[int(s)], int(curve.step[curve.segment == s].min()))
    if not len(seg):
        return np.zeros(0, np.int64)
    table = np.zeros(int(seg.max()) + 1, np.int64)  # segment index -> its first step
    for s, first in starts.items():
        if s < len(table):
            table[s] = first
    return table[seg.astype(np.int64)]


# registered facts ----------------------------------------------------------------------

def time_per_iter_ms(ctx: Context) -> Fact:
    """Median wall time of the steady iterations (ms); where the log times no iteration on
    its own, the trainer's own mean step time (modded-nanogpt's step_avg, which leaves out
    its first, warm-up steps and the val evals), at its last step line."""
    tm = timing(ctx)
    src = "median iter time, excluding eval and warm-up iterations"
    if not tm.steady.size:
        avg = ctx.run.series.get("step_avg_ms")
        mean = np.asarray(avg.value, float) if avg is not None else np.zeros(0)
        mean = mean[np.isfinite(mean) & (mean > 0)]
        if len(mean):
            return Fact("time_per_iter_ms", float(mean[-1]), "ms", "read", "log: step_avg at its last step line",
                        "the trainer's mean over its timed steps, not a median")
        note = "no logged iteration outside eval and warm-up" if tm.n_timed else NO_ITERS
        return unknown("time_per_iter_ms", "ms", src, note)
    note = plural(tm.steady.size, "iteration")
    if (shift := shift_mod.speed_shift(tm.steady_step, tm.steady, tm.steady_start)) is not None:
        at, before, after, n = shift
        note += (f"; the iteration time changed at step {at:,}: median {before:.4g} ms before, {after:.4g} ms in the "
                 f"{plural(n, 'iteration')} from there on (the median of both is given)")
    return Fact("time_per_iter_ms", float(np.median(tm.steady)), "ms", "computed", src, note)


def eval_overhead_ms(ctx: Context) -> Fact:
    """Extra wall time of an iteration that ran an eval (and maybe a checkpoint save)."""
    tm, steady = timing(ctx), ctx.fact("time_per_iter_ms")
    src = "median iter time at eval steps - time_per_iter_ms"
    if not steady.known:
        return missing("eval_overhead_ms", "ms", src, steady)
    if not tm.at_eval.size:
        return unknown("eval_overhead_ms", "ms", src,
                       "no logged iteration at an eval step after warm-up")
    extra = float(np.median(tm.at_eval)) - steady.value
    note = plural(tm.at_eval.size, "eval iteration")
    if extra <= 0:  # nanoGPT's iteration after an eval carries the eval; a step timed alone does not
        note += ("; not above the other iterations' time: this log's iteration times leave the eval out "
                 "(lossdoctor train's do)")
    return Fact("eval_overhead_ms", extra, "ms", "computed", src, note)


def n_eval_iters_excluded(ctx: Context) -> Fact:
    tm = timing(ctx)
    src = "logged iterations at an eval step of the same segment"
    if not tm.n_timed:
        return unknown("n_eval_iters_excluded", "steps", src, NO_ITERS)
    return Fact("n_eval_iters_excluded", tm.n_at_eval, "steps", "computed", src)


def warmup_ms(ctx: Context) -> Fact:
    """Total time of each process's first iterations (compile, warm-up, the step-0 eval)."""
    tm = timing(ctx)
    src = f"sum of logged iterations with local_iter_num < {WARMUP_ITERS}"
    if not tm.n_timed:
        return unknown("warmup_ms", "ms", src, NO_ITERS)
    return Fact("warmup_ms", float(tm.warmup.sum()), "ms", "computed", src,
                plural(tm.warmup.size, "iteration") + "; includes any eval run in them")


def tokens_per_sec(ctx: Context) -> Fact:
    """All ranks together: tokens_per_iter / steady iteration time."""
    tpi, t = ctx.fact("tokens_per_iter"), ctx.fact("time_per_iter_ms")
    src = "tokens_per_iter / time_per_iter_ms"
    if not (tpi.known and t.known):
        return missing("tokens_per_sec", "tokens/s", src, tpi, t)
    return Fact("tokens_per_sec", tpi.value / (t.value / 1000.0), "tokens/s", derived(tpi, t), src,
                "excludes eval and warm-up")


def mfu_printed(ctx: Context) -> Fact:
    """The MFU nanoGPT printed, the median over the run: each value is an EMA (0.9/0.1) of
    per-iteration values, and it dips for a while after every eval, whose time the next
    iteration includes, so the last value (often just after the final eval) is not the
    run's."""
    mfu = ctx.curves()[1].mfu
    ok = np.isfinite(mfu) & ~np.isclose(mfu, MFU_SENTINEL)
    own = ctx.run.series.get("mfu")
    if not ok.any() and own is not None and len(own.value) and not ctx.run.format.is_nanogpt:
        against = ("against its own device's peak" if own_mfu(ctx) else
                   "its trainer's own figure, against a peak the log does not name")
        return unknown("mfu_printed", "%", "log: mfu", f"this {ctx.run.format} log's MFU ({float(own.value[-1]):.2f}% "
                       f"at the end, series mfu) is {against}, not nanoGPT's A100 figure")
    summary = ctx.run.summary.get("mfu")
    if (not ok.any() and ctx.run.format == Dialect.WANDB_SUMMARY and ctx.run.measures.eval_train and summary
            and math.isfinite(summary) and not math.isclose(summary, MFU_SENTINEL)):  # -100: before 5 iterations
        # nanoGPT's keys (iter, train/loss, val/loss, lr, mfu): its wandb.log at each eval
        return Fact("mfu_printed", float(summary), "%", "read", "log: the W&B summary's mfu (nanoGPT logs "
                    "running_mfu*100 at each eval: its last)", "nanoGPT divides by an A100's bf16 peak, 312 "
                    "TFLOPS, whatever the device; one value, not a run's median")
    if not ok.any():
        return unknown("mfu_printed", "%", "log: mfu", "the log prints no MFU after warm-up")
    return Fact("mfu_printed", float(np.median(mfu[ok])), "%", "computed", "log: mfu (median of the printed values)",
                "nanoGPT divides by an A100's bf16 peak, 312 TFLOPS, whatever the device")


def world_size(ctx: Context) -> Fact:
    """Processes of the last segment: counted from nanoGPT's header lines (every DDP rank
    prints them), or llm.c's printed num_processes; unknown in a trainer where only rank 0
    prints and the log does not say, and in a log torchrun tagged `[rankN]:` with one
    header print (torchrun tees the ranks it is told to: the tags show a lower bound)."""
    run = ctx.run
    lineage = run.lineage()
    if not lineage:
        return unknown("world_size", "", "log: header lines per rank", "the log has no segments")
    ws = run.segments[lineage[-1]].world_size
    header_seen = run.config.seen or run.header.tokens_per_iter is not None
    if ws > 1:
        return Fact("world_size", ws, "", "read", "log: header printed once per rank")
    procs = ctx.config().trusted("num_processes")  # llm.c's header table
    if isinstance(procs, int) and not isinstance(procs, bool) and procs >= 1:
        shown = ctx.config().values["num_processes"]
        if shown.origin == DERIVED:  # counted from what the log prints, not printed
            return Fact("world_size", procs, "", "computed", "log: num_processes", f"computed: {shown.raw}")
        return Fact("world_size", procs, "", "read", "log: num_processes")
    if not run.format.is_nanogpt:
        return unknown("world_size", "", "log: processes", f"only rank 0 prints in a {run.format} log, and it does "
                       "not say how many processes ran")
    if run.rank_tags:  # one header print: torchrun tees rank 0 alone, so the tags say only "at least"
        seen = (f"lines tagged up to [rank{run.rank_tags - 1}]: at least {run.rank_tags} processes"
                if run.rank_tags > 1 else "its [rank0]: line tags")
        return unknown("world_size", "", "log: torchrun's [rankN]: line tags",
                       f"launched by torchrun ({seen}); how many processes ran is not shown")
    if not header_seen:
        return Fact("world_size", 1, "", "assumed", "log: header lines per rank",
                    "the log has no header; assumed one process")
    return Fact("world_size", 1, "", "read", "log: header printed once",
                "DDP logs that kept only rank 0's output also show one")


def achieved_tflops(ctx: Context) -> Fact:
    """FLOP/s of one process, as estimate_mfu counts them: flops_per_token * tokens per
    process per iteration (block_size * batch_size * grad_accum / world_size) / dt."""
    fpt, tpi = ctx.fact("flops_per_token"), ctx.fact("tokens_per_iter")
    t, ws = ctx.fact("time_per_iter_ms"), ctx.fact("world_size")
    src = "flops_per_token * tokens_per_iter / world_size / time_per_iter_ms"
    if not all(f.known for f in (fpt, tpi, t, ws)):
        printed = ctx.fact("mfu_printed")
        if printed.known and printed.value > 0:  # the log's own count, without its config
            return Fact("achieved_tflops", printed.value / 100 * A100_BF16_PEAK / 1e12, "TFLOPS", "inferred",
                        "log: printed mfu * 312 TFLOPS",
                        "inferred: per process, from the printed MFU, nanoGPT's own FLOP count over an A100's "
                        "312 TFLOPS (the median of its printed running averages, not a timed step's)")
        return missing("achieved_tflops", "TFLOPS", src, fpt, tpi, t, ws)
    value = fpt.value * tpi.value / ws.value / (t.value / 1000.0) / 1e12
    return Fact("achieved_tflops", value, "TFLOPS", derived(fpt, tpi, t, ws), src,
                join_notes("per process", _world_size_hint(ctx, value, ws.value)))


def _world_size_hint(ctx: Context, value: float, ws: int) -> str | None:
    """The printed MFU is per process too: a ratio near an integer k > 1 means the log
    saw k times fewer processes than ran (or more)."""
    printed = ctx.fact("mfu_printed")
    if not printed.known or printed.value <= 0:
        return None
    from_log = printed.value / 100 * A100_BF16_PEAK / 1e12
    ratio = value / from_log
    if not math.isfinite(ratio):  # a 0.00 ms or 1e-300 % line: no hint to give
        return None
    k = round(ratio)
    if k >= 2 and abs(ratio - k) < 0.15 * k:
        return (f"the printed MFU implies {from_log:.3g} TFLOPS per process: "
                f"the run likely had {k * ws} processes")
    return None


def mfu_divisor(ctx: Context) -> Fact:
    """The peak the printed MFU divides by: the run's FLOP rate per process, counted from its
    config and timing as estimate_mfu counts it, over the printed MFU. nanoGPT's is an A100's
    312 TFLOPS; a fork may divide by its own device's (165.2 for an RTX 4090)."""
    name, unit, src = "mfu_divisor", "TFLOPS", "achieved_tflops / mfu_printed"
    achieved, printed = ctx.fact("achieved_tflops"), ctx.fact("mfu_printed")
    if not printed.known or printed.value < MIN_MFU_FOR_FLOPS:
        return missing(name, unit, src, printed) if not printed.known else unknown(
            name, unit, src, f"the printed mfu, {printed.value:.2f}%, is too coarse to divide by")
    if not achieved.known or achieved.source.startswith("log: printed mfu"):  # read off it: 312 by construction
        return missing(name, unit, src, achieved) if not achieved.known else unknown(
            name, unit, src, "achieved_tflops is itself read off the printed MFU")
    value = achieved.value / (printed.value / 100)
    return Fact(name, value, unit, derived(achieved, printed), src,
                f"nanoGPT's estimate_mfu divides by {A100_BF16_PEAK / 1e12:.0f} TFLOPS (an A100's bf16 peak); "
                "the median printed MFU is an average, so this is approximate")


MIN_MFU_FOR_FLOPS = 0.5  # %: below, the 2-decimal printed MFU is too coarse (>1% rounding)
# an MFU divisor below this fraction of the A100's is another peak's (a fork's estimate_mfu),
# as LD1401's other_peak param has it
OTHER_PEAK = 0.85


def flops_per_iter(ctx: Context) -> Fact:
    """Training FLOPs of one optimizer step of one process: flops_per_token times the
    process's tokens per step; where those are unknown (a log without its config),
    inferred from nanoGPT's printed MFU, which is exactly that over time_per_iter and
    312 TFLOPS."""
    name, unit = "flops_per_iter", "FLOPs"
    fpt, tpi, ws = ctx.fact("flops_per_token"), ctx.fact("tokens_per_iter"), ctx.fact("world_size")
    if fpt.known and tpi.known and ws.known:
        return Fact(name, float(fpt.value * tpi.value / ws.value), unit, derived(fpt, tpi, ws),
                    "flops_per_token * tokens_per_iter / world_size", "per process")
    mfu, t = ctx.fact("mfu_printed"), ctx.fact("time_per_iter_ms")
    src = "printed mfu × 312 TFLOPS × time_per_iter_ms"
    if not (mfu.known and t.known):
        return missing(name, unit, src, fpt, tpi, mfu, t)
    if mfu.value < MIN_MFU_FOR_FLOPS:
        return unknown(name, unit, src, f"the printed mfu, {mfu.value:.2f}%, is too coarse to infer from")
    return Fact(name, mfu.value / 100 * A100_BF16_PEAK * t.value / 1000, unit, "inferred", src,
                "per process; nanoGPT's mfu is an average over recent iterations, so this is "
                "approximate")


def own_mfu(ctx: Context) -> bool:
    """Whether the run's printed MFU is against its own device's peak: llm.c's (it looks the
    peak up by device), and nanochat's where the log prints that peak (before it did, it
    divided by an H100's on any GPU); no other format's (a W&B export of a nanoGPT run
    carries nanoGPT's A100 figure as its `mfu`)."""
    fmt = ctx.run.format
    printed = ctx.config().trusted("peak_flops")
    nanochat = fmt in (Dialect.NANOCHAT, Dialect.NANOCHAT_SFT, Dialect.NANOCHAT_2025)
    return fmt == Dialect.LLMC or (nanochat and isinstance(printed, (int, float)) and printed > 0)


def mfu_device(ctx: Context) -> Fact:
    """achieved_tflops / the device's dense peak, in %, where the peak is given
    (--peak-flops); else, for a trainer that prints its MFU against its own device's peak
    (own_mfu: llm.c, nanochat with its peak printed), the median of what it printed, read:
    its FLOP count is its own, which nanoGPT's estimate would not reproduce; else against
    the peak the log prints, or the table's for the GPU it names (_named_device_mfu)."""
    own = ctx.run.series.get("mfu")
    if ctx.peak_flops is None and own is not None and len(own.value) and own_mfu(ctx):
        values = np.asarray(own.value, float)
        values = values[np.isfinite(values) & (values > 0)]
        if len(values):
            return Fact("mfu_device", float(np.median(values)), "%", "read", f"log: {ctx.run.format}'s own MFU",
                        "the median of the printed values, each against the device's peak as the trainer counts it")
    ach = ctx.fact("achieved_tflops")
    src = "achieved_tflops / peak_flops"
    if not ach.known:
        return missing("mfu_device", "%", src, ach)
    if ctx.peak_flops is None or ctx.peak_flops <= 0:
        return _named_device_mfu(ctx, ach, src)
    value = ach.value * 1e12 / ctx.peak_flops * 100.0
    return Fact("mfu_device", value, "%", derived(ach), f"{src} ({ctx.peak_flops:.3g} FLOP/s given)", ach.note)


def _named_device_mfu(ctx: Context, ach: Fact, src: str) -> Fact:
    """mfu_device against the peak the log gives: one it prints (nanochat's `Peak FLOPS
    (BF16)`, llm.c's `peak TFlops`), else the table's for the GPU it names (the built-in
    trainer's `cuda device:` line, nanochat's and llm.c's device lines) where the forward
    passes ran in bf16 or fp16, the precision the table's peaks are for; inferred, as the
    table's peak is the part's datasheet figure (an SXM part where the name does not say)."""
    cfg = ctx.config()
    name = cfg.trusted("device_name")
    printed = _printed_peak(cfg.trusted("peak_flops"), cfg.trusted("peak_tflops"))
    if printed is not None:
        return Fact("mfu_device", ach.value * 1e12 / printed * 100.0, "%", "inferred",
                    f"{src} (the peak the log prints, {printed / 1e12:.0f} TFLOPS)", ach.note)
    key = device_for(name) if isinstance(name, str) else None
    if key is None:
        why = "device peak unknown: pass --peak-flops" if not isinstance(name, str) else \
            f"the log's device, {name}, is not in lossdoctor's table of peaks: pass --peak-flops"
        return unknown("mfu_device", "%", src, why)
    dtype = ctx.fact("dtype_effective")
    if dtype.value not in ("bfloat16", "float16"):
        shown = dtype.value if dtype.known else "unknown"
        return unknown("mfu_device", "%", src, f"the {key}'s peak in the table is for bf16 or fp16, and this "
                       f"run's dtype is {shown}: pass --peak-flops")
    peak = PEAK_FLOPS[key]
    return Fact("mfu_device", ach.value * 1e12 / peak * 100.0, "%", "inferred",
                f"{src} (the {key}'s dense bf16/fp16 peak, {peak / 1e12:.0f} TFLOPS, for the device the log "
                f"names: {name})", ach.note)


def _printed_peak(flops: object, tflops: object) -> float | None:
    """A peak FLOP/s the log printed (nanochat's in FLOP/s, llm.c's in TFLOPS), finite and
    above 0; None otherwise."""
    for value, scale in ((flops, 1.0), (tflops, 1e12)):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value * scale < math.inf:
            return float(value * scale)
    return None
