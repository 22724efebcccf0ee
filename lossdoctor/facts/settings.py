"""Training settings from the config as facts, and a few quantities made from them: the device
nanoGPT actually computed on, the precision it computed in, weight decay's timescale.

A setting is 'read' when the log (or checkpoint) showed the config, train.py defaults included
(see base.config_fact). Values are as train.py uses them: learning_rate is the peak LR.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..config import DEFAULT
from ..nanogpt import MACHINE_DEPENDENT_DEFAULTS
from ..nanogpt import device_type as train_py_device_type
from .base import Context, Fact, FactFn, config_fact, derived, join_notes, missing, unknown

if TYPE_CHECKING:
    from ..run import Event


def _setting(key: str, unit: str) -> FactFn:
    """The fact function of config key `key`, registered under the same name."""
    def fn(ctx: Context) -> Fact:
        return config_fact(ctx, key, key, unit)
    fn.__name__ = fn.__qualname__ = key
    fn.__doc__ = f"config: {key}"
    return fn


def not_numbers(*facts: Fact) -> str | None:
    """Why known `facts` cannot enter arithmetic (a config value that is no number), or None."""
    return join_notes(*(f"{f.name} is {f.value!r}, not a number" for f in facts
                        if f.known and (isinstance(f.value, bool)
                                        or not isinstance(f.value, (int, float)))))


def ratio(name: str, unit: str, src: str, num: Fact, den: Fact, note: str | None = None) -> Fact:
    """num / den as a fact; unknown (with why) when either is unknown or no number, or den <= 0."""
    if not (num.known and den.known):
        return missing(name, unit, src, num, den)
    if bad := not_numbers(num, den):
        return unknown(name, unit, src, bad)
    if den.value <= 0:
        return unknown(name, unit, src, f"{den.name} is {den.value}")
    return Fact(name, num.value / den.value, unit, derived(num, den), src, note)


learning_rate = _setting("learning_rate", "LR")  # peak LR, after warmup
min_lr = _setting("min_lr", "LR")
max_iters = _setting("max_iters", "steps")
lr_decay_iters = _setting("lr_decay_iters", "steps")
warmup_iters = _setting("warmup_iters", "steps")
decay_lr = _setting("decay_lr", "")
weight_decay = _setting("weight_decay", "")  # AdamW's, applied to 2-D weights only
beta2 = _setting("beta2", "")
grad_clip = _setting("grad_clip", "")  # max global grad norm; 0 turns clipping off
dropout = _setting("dropout", "")
batch_size = _setting("batch_size", "sequences")  # per micro-batch, per rank
# as configured: all ranks together (train.py divides it by the world size)
gradient_accumulation_steps = _setting("gradient_accumulation_steps", "")
eval_iters = _setting("eval_iters", "batches")  # batch_size rows each
eval_interval = _setting("eval_interval", "steps")
total_batch_size = _setting("total_batch_size", "tokens")  # a trainer that sets its batch in tokens (llm.c's -d)
device = _setting("device", "")
def compile_(ctx: Context) -> Fact:  # `compile` would shadow the builtin
    """config: compile; where the log does not show it, True when the run ended in a
    torch.compile failure (inferred: only a compiled model fails there)."""
    fact = config_fact(ctx, "compile", "compile", "")
    if fact.known or ctx.fact("failure_kind").value != "compile":
        return fact
    return Fact("compile", True, "", "inferred", "log: the run ended in a torch.compile failure",
                "inferred: only a compiled model fails in torch.compile")


compile_.__name__ = compile_.__qualname__ = "compile"
# trainers whose scripts always build a fresh model (no init option)
FROM_SCRATCH = ("modded-nanogpt", "build-nanogpt")


def init_from(ctx: Context) -> Fact:
    """config: init_from, as the run's last process was started ('scratch', 'resume',
    'gpt2*'); else its own log line for it, or 'scratch' for a trainer that always starts
    from scratch (model_from says how the model was first made)."""
    fact = config_fact(ctx, "init_from", "init_from", "")
    if ctx.run.resumes_last() and fact.value != "resume":  # a process the lineage does not hold yet
        return Fact("init_from", "resume", "", "read", "log: the file's last process",
                    "it resumed and has logged no step yet: its command resumes")
    return fact if fact.known else _init_from_log(ctx, "init_from", first=False) or fact


def model_from(ctx: Context) -> Fact:
    """How the run's model was first made ('scratch', 'resume', 'gpt2*'): by the first
    process of the log's lineage (a run from scratch, then resumed, is 'scratch'); its log
    line or config, or 'scratch' for a trainer that always starts from scratch."""
    run = ctx.run
    if not run.format.has_log and run.config.trusted("init_from") == "resume":  # a checkpoint alone
        return unknown("model_from", "", "checkpoint: config init_from",
                       "the checkpoint's config resumed (init_from = 'resume'): how its model was first made is "
                       "not in it")
    return _init_from_log(ctx, "model_from", first=True) or unknown(
        "model_from", "", "log: how its first process made the model", "the log does not say how the model was made")


def _init_from_log(ctx: Context, name: str, first: bool) -> Fact | None:
    """init_from as the log shows it (the first process's when `first`, else the last's),
    or inferred for a trainer that always starts from scratch; None where neither says."""
    from .model import lineage_init_from
    run = ctx.run
    lineage = run.lineage()
    if first:
        shown = lineage_init_from(ctx)
    else:
        shown = (run.segments[lineage[-1]].init_from if lineage else None) or run.header.init_from
    if shown:
        return Fact(name, shown, "", "read", f"log: how its {'first' if first else 'last'} process made the model")
    if run.format.trainer in FROM_SCRATCH:
        return Fact(name, "scratch", "", "inferred", f"{run.format.trainer}: always a fresh model",
                    "inferred: the trainer's script has no way to start from other weights")
    return None


def always_save_checkpoint(ctx: Context) -> Fact:
    """config: always_save_checkpoint, else inferred from the log's saves. train.py saves
    at an eval after step 0 when val improved on its best or always_save_checkpoint is
    True, printing "saving checkpoint to ...": a save after an eval that did not improve
    shows True, no save after such evals (where the log prints its saves) shows False."""
    fact = config_fact(ctx, "always_save_checkpoint", "always_save_checkpoint", "")
    if fact.known or ctx.run.checkpoint is not None:
        return fact
    saves = {e.step for e in ctx.run.events if e.kind == "checkpoint_saved" and e.line is not None}
    evals, _ = ctx.curves()
    best, worse = float("inf"), []
    for step, val in zip(evals.step.tolist(), evals.val.tolist(), strict=True):
        if step > 0 and val >= best:
            worse.append(int(step))
        best = min(best, val)
    if not saves or not worse:
        return fact
    kept = [s for s in worse if s in saves]
    value = bool(kept)
    how = (f"a save at step {kept[0]:,}, whose eval did not improve val" if kept else
           f"no save after the {len(worse)} evals that did not improve val, while the log prints its saves")
    return Fact("always_save_checkpoint", value, "", "inferred", "log: its checkpoint saves", f"inferred: {how}")


def dtype(ctx: Context) -> Fact:
    """config: dtype. train.py's default depends on the machine (bfloat16 where CUDA supports
    it, else float16), so a default dtype is only assumed."""
    fact = config_fact(ctx, "dtype", "dtype", "")
    cv = ctx.config().values.get("dtype")
    if fact.known and cv is not None and cv.origin == DEFAULT:
        if any(e.kind == "warning" and "GradScaler is enabled, but CUDA is not available" in e.text
               for e in ctx.run.events):  # train.py: GradScaler(enabled=(dtype == 'float16'))
            return replace(fact, value="float16", status="inferred",
                           note="inferred: the log's warning that GradScaler is enabled without CUDA; train.py "
                                "enables it for float16 only, its default dtype where CUDA is absent")
        dev = ctx.fact("device_type")
        if dev.known and dev.value == "cpu" and _builtin_in_float32(ctx):
            return replace(fact, value="float32", status="inferred",
                           note="inferred: the log's config file is YAML, which the built-in trainer runs (train.py "
                                "runs Python ones), and it prints `autocast on cpu:` where it runs a CPU run in "
                                "bfloat16 or float16; this log does not")
        if dev.known and dev.value == "cpu":  # which of the two the machine gave is not in the log
            return replace(fact, value=CPU_DEFAULT_DTYPE, status="assumed",
                           note="train.py default: " + MACHINE_DEPENDENT_DEFAULTS["dtype"] + "; a CPU run's log "
                                "does not say whether its machine had CUDA")
        return replace(fact, status="assumed",
                       note="train.py default: " + MACHINE_DEPENDENT_DEFAULTS["dtype"])
    return fact


def _builtin_in_float32(ctx: Context) -> bool:
    """Whether the last process is the built-in trainer's (its config file YAML) and printed
    no `autocast on cpu:` line: it ran in float32."""
    cf = ctx.run.header.config_file
    return cf is not None and cf.lower().endswith((".yaml", ".yml")) and _cpu_autocast(ctx) is None


def _cpu_autocast(ctx: Context) -> Event | None:
    """The built-in trainer's `autocast on cpu: DTYPE` line of the process that ran last."""
    last = ctx.run.segments[-1].index if ctx.run.segments else None
    return next((e for e in reversed(ctx.run.events) if e.kind == "cpu_autocast" and e.segment == last), None)


CPU_DEFAULT_DTYPE = "float16 or bfloat16"  # train.py's default on a run with device_type cpu, machine unknown


def device_type(ctx: Context) -> Fact:
    """train.py: `device_type = 'cuda' if 'cuda' in device else 'cpu'`. Stock nanoGPT has no
    'mps' case there: an MPS run gets device_type 'cpu', hence no autocast."""
    name, src = "device_type", "train.py: 'cuda' if 'cuda' in device else 'cpu'"
    dev = ctx.fact("device")
    if not (dev.known and isinstance(dev.value, str)) and ctx.run.header.fused_adamw is True:
        # model.py: `use_fused = fused_available and device_type == 'cuda'`, then prints it
        return Fact(name, "cuda", "", "inferred", "log: `using fused AdamW: True`",
                    "inferred: nanoGPT fuses AdamW only where device_type is 'cuda'")
    if not dev.known:
        return missing(name, "", src, dev)
    if not isinstance(dev.value, str):
        return unknown(name, "", src, f"device is {dev.value!r}, not a string")
    value = train_py_device_type(dev.value)
    note = None
    if "mps" in dev.value:
        note = "device mps: nanoGPT's train.py treats it as 'cpu' here (no autocast)"
    return Fact(name, value, "", derived(dev), src, note)


def dtype_effective(ctx: Context) -> Fact:
    """The precision the forward passes ran in. train.py wraps them in
    `nullcontext() if device_type == 'cpu' else torch.amp.autocast(device_type, dtype)`,
    so with device_type 'cpu' they run in float32 whatever dtype says; lossdoctor's own
    trainer autocasts on a CPU too, and its log's `autocast on cpu: DTYPE` line says so."""
    name = "dtype_effective"
    dt, dev = ctx.fact("dtype"), ctx.fact("device_type")
    if not dev.known:
        return missing(name, "", "dtype, unless device_type is cpu", dev)
    if dev.value == "cpu":
        ours = _cpu_autocast(ctx)
        if ours is not None:  # lossdoctor's trainer, which autocasts on a CPU too
            return Fact(name, ours.text.split(":", 1)[1].split()[0], "", "read",
                        f"log line {ours.line}: the built-in trainer's autocast on cpu")
        note = None
        if dt.known and dt.value != "float32":
            note = f"dtype = {dt.value!r} is not used: no autocast on device_type cpu"
        return Fact(name, "float32", "", derived(dev),
                    "train.py: nullcontext() on device_type cpu, so float32", note)
    src = "train.py: torch.amp.autocast(device_type, dtype)"
    if not dt.known:
        return missing(name, "", src, dt)
    return Fact(name, dt.value, "", derived(dt, dev), src)


def min_lr_ratio(ctx: Context) -> Fact:
    """min_lr / learning_rate: where the cosine decay ends, as a fraction of the peak."""
    name, unit, src = "min_lr_ratio", "fraction", "min_lr / learning_rate"
    note = "decay_lr is False: min_lr is not used" if ctx.value("decay_lr") is False else None
    return ratio(name, unit, src, ctx.fact("min_lr"), ctx.fact("learning_rate"), note)


def wd_timescale(ctx: Context) -> Fact:
    """Steps over which AdamW's decoupled decay forgets a weight: each step multiplies it by
    (1 - lr·wd), so an update is forgotten over ~1/(lr·wd) steps (Wang & Aitchison 2024,
    "How to set AdamW's weight decay as you scale model and dataset size"). Uses the peak
    LR; with the cosine decay the real timescale grows toward 1/(min_lr·wd)."""
    name, unit, src = "wd_timescale", "steps", "1 / (learning_rate · weight_decay)"
    peak, wd = ctx.fact("learning_rate"), ctx.fact("weight_decay")
    if not (peak.known and wd.known):
        return missing(name, unit, src, peak, wd)
    if bad := not_numbers(peak, wd):
        return unknown(name, unit, src, bad)
    if wd.value == 0:
        return unknown(name, unit, src, "weight_decay is 0: no decay")
    if peak.value == 0:
        return unknown(name, unit, src, "learning_rate is 0")
    return Fact(name, 1.0 / (peak.value * wd.value), unit, derived(peak, wd), src,
                "at the peak learning_rate")


def wd_timescale_frac(ctx: Context) -> Fact:
    """wd_timescale / max_iters: below 1, the weights forget their start within the run."""
    name, unit, src = "wd_timescale_frac", "fraction", "wd_timescale / max_iters"
    return ratio(name, unit, src, ctx.fact("wd_timescale"), ctx.fact("max_iters"))


def run_completed(ctx: Context) -> Fact:
    """steps_done / max_iters: how much of the planned run the log shows. train.py stops once
    iter_num > max_iters, so a finished run took max_iters + 1 steps and shows slightly > 1."""
    name, unit, src = "run_completed", "fraction", "steps_done / max_iters"
    return ratio(name, unit, src, ctx.fact("steps_done"), ctx.fact("max_iters"))
