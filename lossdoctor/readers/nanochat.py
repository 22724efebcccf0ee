"""Reader for nanochat's scripts (base_train, mid_train, chat_sft) output (dialect `nanochat`).

The step line changed over 2025-2026; every form is read:

    step 00000/615173 (0.00%) | loss: 10.397944 | lrm: 0.00 | dt: 3777.46ms | tok/sec: 4,337
        | mfu: 0.00 | epoch: 1 | total time: 0.00m                          (early 2026)
    step 00500/05000 (10.00%) | loss: 3.1 | grad norm: 0.4 | lrm: 1.00 | dt: ... | bf16_mfu: 41.2
        | epoch: 1 | total time: 3.1m | eta: 27.9m                           (later: one line each)
    step 00100 (12.50%) | loss: 1.2 | lrm: ...                           (chat_sft: no total)

`loss` is a debiased EMA of the train loss (beta 0.9), not one step's loss: the Run says so
(Measures.train = "ema"). Evals are `Step N | Validation bpb: X`, in bits per byte, not
nats (Measures.val = "bpb"); `Step N | CORE metric: X` and `ChatCORE` are series. The first
chat_sft (October 2025) printed one step's loss and val in nats instead:
`Step 00100/00500 | Training loss: X| lrm: ...` and `Step 00100 | Validation loss: X`, with
its task metrics as `Step N | mmlu_acc: X, arc_easy_acc: Y`. The
header gives the GPU, the model's shape, the parameter count, FLOPs per token, total
tokens and `Total batch size N => gradient accumulation steps: k`; the footer the
minimum validation bpb, the total training time and the peak memory.

Until mid-January 2026 base_train and mid_train took their settings as `--key=value` of
their globals, underscores and all (nanochat's configurator, which prints `Overriding:
key = value` for each; then argparse with the same names), and their step lines had no
`epoch:` field; today's scripts take dashed names (`--device-batch-size`). A log that shows
the configurator's lines, base_train's `Number of parameters: N` without the `(scaling: M)`
it printed from 2026-01-07, or step lines without `epoch:`, is `nanochat-2025` and gets
findings in its names; the configurator's lines are read as its config. A `Validation
loss` in nats is chat_sft's first grammar (`nanochat-sft`) even before its first step line.
"""

from __future__ import annotations

import math
import re
from itertools import islice
from typing import TYPE_CHECKING

from ..run import Dialect, Measures
from .build import (
    Found,
    all_ranks_accum,
    cut_last,
    head_text,
    integer,
    iter_lines,
    make_run,
    number,
    numbered,
    text_lines,
)
from .events import scan_events

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

STEP = re.compile(r"^step (\d+)(?:/(\d+))? \([\d.]+%\) \| (.*)$")
# a base_train step line or a val line that its pattern does not take (chat_rl's `Step N |
# Pass@1: ...` and `Step N/M | Average reward: ...` are other output, not these)
NEAR = re.compile(r"^(?:step \d+(?:/\d+)? \(|Step \d+ \| Validation)")
FIELD = re.compile(r"([A-Za-z][\w/ ]*?): ([-+\w.,]+)")
VAL = re.compile(r"^Step (\d+) \| Validation (bpb|loss): (\S+)")
SFT_STEP = re.compile(r"^Step (\d+)/(\d+) \| Training loss: (\S+?)\s*\|")
TASKS = re.compile(r"^Step (\d+) \| (\w+: [-\d.]+(?:, \w+: [-\d.]+)*)$")
CORE = re.compile(r"^Step (\d+) \| (CORE metric|ChatCORE): (\S+)")
HEADER = {  # header line -> config key (nanoGPT's where the meaning is the same)
    re.compile(r"^num_layers: (\d+)"): "n_layer",
    re.compile(r"^num_heads: (\d+)"): "n_head",
    re.compile(r"^model_dim: (\d+)"): "n_embd",
    re.compile(r"^Tokens / micro-batch / rank: (\d+) x (\d+)"): "batch_size,block_size",
    re.compile(r"^Tokens / micro-batch: ([\d,]+)$"): "world_tokens_per_fwdbwd",  # all processes'
    re.compile(r"^Examples per step is device_batch_size \* ddp_world_size: (\d+)"): "examples_per_step",
    # per process (total_batch_size // (B * T * world)): nanoGPT's key counts all (all_ranks_accum)
    re.compile(r"^Total batch size ([\d,]+) => gradient accumulation steps: (\d+)"):
        "total_batch_size,grad_accum_steps",
    re.compile(r"^Total number of training tokens: ([\d,]+)"): "total_tokens",
    re.compile(r"^Estimated FLOPs per token: (\S+)"): "flops_per_token",
    re.compile(r"^(?:Using user-provided|Calculated) number of iterations.*?: ([\d,]+)"): "max_iters",
    re.compile(r"^Resuming optimization from step (\d+)"): "resume_from_step",
    re.compile(r"^Distributed world size: (\d+)"): "num_processes",  # as llm.c names it
    re.compile(r"^Device batch size: (\d+)$"): "batch_size",  # chat_sft: examples, one per row
    re.compile(r"^=> Setting grad accum steps: (\d+)"): "grad_accum_steps",  # chat_sft, per process too
    # the `Model config:` JSON base_train prints since 2026-02 in place of the three lines above
    re.compile(r'^"n_layer": (\d+),?$'): "n_layer",
    re.compile(r'^"n_head": (\d+),?$'): "n_head",
    re.compile(r'^"n_embd": (\d+),?$'): "n_embd",
    re.compile(r'^"sequence_len": (\d+),?$'): "block_size",
}
DEVICE = re.compile(r"^Autodetected device type: (\w+)")
VOCAB = re.compile(r"^Vocab size: ([\d,]+)")
TOTAL_PARAMS = re.compile(r"^(?:total\s+|Number of parameters): ([\d,]+)")  # the table's total, or 2025's line
OVERRIDE = re.compile(r"^Overriding: (\w+) = (\S+)$")  # the 2025 configurator, one per --key=value
OVERRIDES = {"depth": "n_layer", "max_seq_len": "block_size", "device_batch_size": "batch_size",
             "num_iterations": "max_iters", "eval_every": "eval_interval", "weight_decay": "weight_decay",
             "total_batch_size": "total_batch_size", "resume_from_step": "resume_from_step",
             "grad_clip": "grad_clip"}
GPU = re.compile(r"^GPU: (.+?) \| Peak FLOPS \(BF16\): (\S+)")
DTYPE = re.compile(r"^COMPUTE_DTYPE: (?:torch\.)?(\w+)")  # a torch.dtype: `torch.bfloat16 (auto-detected ...)`
FOOTER = {
    re.compile(r"^Minimum validation bpb: (\S+)"): "min_val_bpb",
    re.compile(r"^Total training time: ([\d.]+)m"): "total_time_min",
    re.compile(r"^Peak memory usage: ([\d.]+)MiB"): "peak_memory_mib",
}
# what only nanochat's output prints: its val line, its step line's LR multiplier, its device
# banner, its logger's module names, its scripts in a traceback (the word "nanochat", or its
# NANOCHAT_BASE_DIR, is in any text about it: a README is no run)
CLUES = ("Validation bpb:", "| lrm: ", "Autodetected device type", " - nanochat.", "nanochat/scripts/")
_LOGGING = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ - [\w.]+ - \w+ - ")


def sniff(sample: Sample) -> bool:
    """nanochat's step or validation lines, its logger's module names, or its banner."""
    if sample.binary:
        return False
    head = head_text(sample)
    return any(c in head for c in CLUES) or bool(sample.memo("nanochat.step", lambda: _has_step(sample)))


def _has_step(sample: Sample) -> bool:
    return any(STEP.match(line) or VAL.match(line) for line in islice(iter_lines(sample), 5000))


def read(sample: Sample) -> Run:
    found = Found()
    lines = text_lines(sample)
    found.n_lines, found.cut = len(lines), cut_last(sample, lines)
    for n, raw in numbered(lines):
        _line(found, n, _LOGGING.sub("", raw.strip()))
    scan_events(numbered(lines), found)
    if any(k == "resume_from_step" for k, _, _ in found.config):
        found.init_from = "resume"
    _world(found)
    all_ranks_accum(found)
    measures = _measures(found)
    return make_run(found, sample.path, _dialect(found, measures), measures)


def _world(found: Found) -> None:
    """The processes, where the log does not print their number (its logger's line may be
    off): all processes' share of a micro-batch over one's (base_train's tokens, chat_sft's
    examples)."""
    rows = found.rows()
    if "num_processes" in rows:
        return
    batch, block = rows.get("batch_size", (None, 0))[0], rows.get("block_size", (None, 0))[0]
    for key, one in (("world_tokens_per_fwdbwd", batch * block if isinstance(batch, int) and isinstance(block, int)
                      else None), ("examples_per_step", batch if isinstance(batch, int) else None)):
        total, line = rows.get(key, (None, None))
        if isinstance(total, int) and one and total % one == 0:
            found.derive("num_processes", total // one, line, f"{key} {total:,} / {one:,} per process")
            return


def _dialect(found: Found, measures: Measures) -> Dialect:
    """chat_sft's first grammar; base_train's or mid_train's underscore names (the
    configurator's lines, or, where nothing of 2026 shows, base_train's parameter line of
    2025 or step lines without `epoch:`); else today's dashed names, also where the log
    shows none of these (a run that failed before its first step)."""
    if measures.train == "step":
        return Dialect.NANOCHAT_SFT
    today = "step:epoch" in found.marks or "gpu" in found.marks  # `epoch:` from 2026-01-13, the GPU line 01-17
    if "configurator" in found.marks or (not today and ("params:2025" in found.marks
                                                        or "step:no-epoch" in found.marks)):
        return Dialect.NANOCHAT_2025
    return Dialect.NANOCHAT


def _measures(found: Found) -> Measures:
    """bpb and the EMA, or the first chat_sft's nats and step losses; said in a note."""
    nats = "val:loss" in found.marks and "val:bpb" not in found.marks  # only chat_sft's first grammar
    ema = "train:step" not in found.marks and not nats
    if len(found.train) or len(found.val):  # a file with no metric (a crash at start-up) has none to say of
        found.notes.append(("the train loss is nanochat's debiased EMA (beta 0.9) of the step losses, not one step's"
                            if ema else "the train loss is one step's (chat_sft's first grammar)")
                           + ("; val is in nats" if nats else "; val is in bits per byte (bpb), not nats"))
    return Measures(val="loss" if nats else "bpb", train="ema" if ema else "step", eval_train=False,
                    ema_beta=0.9 if ema else None)


def _line(found: Found, n: int, text: str) -> None:
    if m := STEP.match(text):
        _step(found, n, m)
    elif m := VAL.match(text):
        v = number(m.group(3))
        if v is not None:
            found.val.add(int(m.group(1)), v, n)
            found.marks.add(f"val:{m.group(2)}")
        else:  # a val that is no number: a corrupt line
            found.not_understood(n, text)
    elif m := SFT_STEP.match(text):
        if (v := number(m.group(3))) is not None:
            found.train.add(int(m.group(1)), v, n)
            found.marks.add("train:step")
        found.set("max_iters", int(m.group(2)), n)
    elif m := CORE.match(text):
        v = number(m.group(3))
        if v is not None:
            found.point(m.group(2), int(m.group(1)), v, n)
    elif m := VOCAB.match(text):
        found.vocab_size = integer(m.group(1))
    elif m := TOTAL_PARAMS.match(text):
        found.params = integer(m.group(1))
        if text.startswith("Number of parameters") and text[m.end():].strip() == "":
            found.marks.add("params:2025")  # base_train until 2026-01-07, then "N (scaling: M)"
    elif m := DTYPE.match(text):
        found.set("dtype", m.group(1), n)
    elif m := DEVICE.match(text):
        found.set("device", m.group(1), n)
    elif m := TASKS.match(text):
        for name, value in (kv.split(": ") for kv in m.group(2).split(", ")):
            if (v := number(value)) is not None:
                found.point(name, int(m.group(1)), v, n)
    elif m := OVERRIDE.match(text):
        _override(found, n, m.group(1), m.group(2))
    elif m := GPU.match(text):
        found.marks.add("gpu")
        found.set("device_name", m.group(1), n)
        peak = number(m.group(2))
        if peak is not None and math.isfinite(peak):
            found.set("peak_flops", peak, n)
        elif peak is not None:  # nanochat's table lacks this GPU; its MFU prints as 0%
            found.notes.append(f"nanochat does not know the peak FLOPS of {m.group(1)} (it printed "
                               f"{m.group(2)}, line {n}): MFU needs --peak-flops")
    else:
        _keyed(found, n, text)


def _step(found: Found, n: int, m: re.Match[str]) -> None:
    step = int(m.group(1))
    fields = {k.strip(): v for k, v in FIELD.findall(m.group(3))}
    loss = number(fields.get("loss", ""))
    if loss is not None:
        found.train.add(step, loss, n)
    dt = fields.get("dt", "")
    if dt.endswith("ms") and (ms := number(dt[:-2])) is not None:
        found.time_ms[step] = ms
    for name, unit in (("tok/sec", "tokens/s"), ("bf16_mfu", "%"), ("mfu", "%"), ("lrm", ""), ("grad norm", "")):
        if (v := number(fields.get(name, ""))) is not None:
            found.point("mfu" if name == "bf16_mfu" else name, step, v, n, unit)
    if m.group(2) and not any(k == "max_iters" for k, _, _ in found.config):
        found.set("max_iters", int(m.group(2)), n)
    found.marks.add("step:epoch" if "epoch" in fields else "step:no-epoch")


def _override(found: Found, n: int, key: str, value: str) -> None:
    """`Overriding: key = value`: the configurator took --key=value; a setting lossdoctor
    reads is kept under nanoGPT's name. A negative one is "none" (-1 for num_iterations,
    resume_from_step or eval_every), and no setting."""
    found.marks.add("configurator")
    name = OVERRIDES.get(key)
    whole = integer(value.removeprefix("-"))
    v = (-whole if value.startswith("-") else whole) if whole is not None else number(value)
    if name is None or v is None or v < 0:
        return
    found.set(name, v, n)


def _keyed(found: Found, n: int, text: str) -> None:
    for pattern, keys in HEADER.items():
        if m := pattern.match(text):
            for key, value in zip(keys.split(","), m.groups(), strict=True):
                v = integer(value)
                found.set(key, v if v is not None else number(value), n)
            return
    for pattern, key in FOOTER.items():
        if (m := pattern.match(text)) and (x := number(m.group(1))) is not None:
            found.summary[key] = x
            return
    if NEAR.match(text):  # a step line no pattern took: another version's wording, or a corrupt line
        found.not_understood(n, text)
