"""The line grammar of nanoGPT's train.py, model.py and configurator.py output.

Each pattern is searched (not matched at the start) after a line's decorations are
removed, because real files prefix lines with timestamps, `> `, `[rank0]: ` or
indentation, and DDP ranks glue their lines together.
"""

from __future__ import annotations

import re

from ..run import MAX_KEPT_UNPARSED, MAX_UNPARSED_CHARS, SLURM_CANCELLED

NUM = r"(nan|-?inf|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
STEP = r"(\d{1,18})"  # a step that fits int64; a longer number is no step (the line is not understood)

# metric lines
EVAL = re.compile(rf"\bstep {STEP}: train loss {NUM}, val loss {NUM}")
ITER = re.compile(rf"\biter {STEP}: loss {NUM}, time {NUM}ms(?:, mfu {NUM}%)?")
# the last line of a file cut mid-line only counts when it is complete to the last digit
EVAL_STRICT = re.compile(r"step (\d{1,18}): train loss (nan|\d+\.\d{4}), val loss (nan|\d+\.\d{4})\s*$")
ITER_STRICT = re.compile(
    r"iter (\d{1,18}): loss (nan|-?inf|-?\d+\.\d{4}), time (\d+\.\d{2})ms, mfu (-?\d+\.\d{2})%\s*$")
# forks that reworded the lines (flagged as non-standard): `step N ... train loss X ... val
# loss Y` and `iter N ... loss X`, found part by part (see `loose`): one regex with `.*?`
# between the parts backtracks cubically on a long line
_LOOSE_STEP = re.compile(r"(?i)\b(?:step|iter(?:ation)?)\s+(\d{1,18})\b")
_LOOSE_ITER = re.compile(r"(?i)\biter\s+(\d{1,18})\b")
_LOOSE_TRAIN = re.compile(r"(?i)\btrain[ _]loss\b[:=\s]*(nan|-?\d+\.\d+)")
_LOOSE_VAL = re.compile(r"(?i)\bval[ _]loss\b[:=\s]*(nan|-?\d+\.\d+)")
_LOOSE_LOSS = re.compile(r"(?i)\bloss\b[:=\s]*(nan|-?\d+\.\d+)")


def loose(text: str, parts: tuple[re.Pattern[str], ...]) -> tuple[str, ...] | None:
    """The groups of `parts` found in order, each the first match after the one before
    (what `first.*?second.*?third` finds), or None; linear in the line's length."""
    groups: list[str] = []
    pos = 0
    for part in parts:
        m = part.search(text, pos)
        if m is None:
            return None
        groups.append(m.group(1))
        pos = m.end()
    return tuple(groups)


EVAL_LOOSE = (_LOOSE_STEP, _LOOSE_TRAIN, _LOOSE_VAL)
ITER_LOOSE = (_LOOSE_ITER, _LOOSE_LOSS)

# header lines; every DDP rank prints them
CONFIG_FILE = re.compile(r"Overriding config with (.+?):\s*$")
OVERRIDE = re.compile(r"Overriding:[ \t]+(\w+)[ \t]*=[ \t]*(.*?)\s*$")  # a tab for a space too
TOKENS = re.compile(r"tokens per iteration will be: ([\d,]+)")
VOCAB = re.compile(r"found vocab_size = (\d+) \(inside (.+?)\)")
SPLIT = re.compile(r"^train split: ([\d,]+) tokens, val split: ([\d,]+) tokens")  # lossdoctor train's
GPU = re.compile(r"^cuda device: (.+), dtype: (float32|bfloat16|float16)$")  # lossdoctor train's, on CUDA
VOCAB_GPT2 = re.compile(r"defaulting to vocab_size of GPT-2 to (\d+)")
VOCAB_OLD = re.compile(r"vocab_size not found in (.+?), using GPT-2 default of (\d+)")
INIT_SCRATCH = re.compile(r"Initializing a new model from scratch")
INIT_RESUME = re.compile(r"Resuming training from (.+?)(?=Resuming training from|$)")
INIT_GPT2 = re.compile(r"Initializing from OpenAI GPT-2 weights: (gpt2[\w-]*)")
LOAD_GPT2 = re.compile(r"loading weights from pretrained gpt: (gpt2[\w-]*)")
FORCE_GPT2 = re.compile(r"forcing vocab_size=(\d+), block_size=(\d+), bias=(True|False)")
DROPOUT_GPT2 = re.compile(r"overriding dropout rate to (\S+)")
PARAMS = re.compile(r"number of parameters: ([\d.]+)M")
DECAYED = re.compile(r"num decayed parameter tensors: (\d+), with ([\d,]+) parameters")
NODECAY = re.compile(r"num non-decayed parameter tensors: (\d+), with ([\d,]+) parameters")
FUSED = re.compile(r"using fused AdamW: (True|False)")
COMPILE = re.compile(r"compiling the model")
SLOW_ATTN = re.compile(r"WARNING: using slow attention")
# nanoGPT's `saving checkpoint to DIR`; forks capitalise it
SAVING = re.compile(r"[sS]aving checkpoint to (.+?)(?=[sS]aving checkpoint to|$)")
DUMP_START = re.compile(r"^=+ ?CONFIG VALUES ?=+$")  # a fork prints `key: value` lines
DUMP_ITEM = re.compile(r"^(\w+): (.*)$")
RULER = re.compile(r"^=+$")

# the train.py command as a shell or a blog post shows it: `$ python train.py config/X.py
# --key=value | tee out.log`, run by python (`!python` in a notebook), `uv run`, torchrun or
# `python -m torch.distributed.run` (whatever comes before that)
_LAUNCHER = (r"(?:python[\d.]*(?:\s+-\w+)*(?:\s+-m\s+torch\.distributed\.(?:run|launch)(?:\s+--?[\w-]+(?:[= ]\d+)?)*)?"
             r"|uv\s+run(?:\s+python[\d.]*)?|torchrun(?:\s+--?[\w-]+(?:=\S+|\s+\d+)?)*)")
TRAIN_COMMAND = re.compile(rf"(?:^|[\s$>`(!])(?:\S*/)?{_LAUNCHER}\s+(?:\S*/)?train\.py((?:\s+[^\s`]+)*)\s*`?\s*$")
_SHELL_END = re.compile(r"[|&;<>#]")  # a pipe, a redirect, the next command or a comment ends the arguments


def train_command(text: str) -> tuple[str | None, tuple[tuple[str, str], ...]] | None:
    """(config file, ((key, raw value), ...)) of a train.py command line as configurator.py
    takes it: at most one config file (an argument ending in .py) and `--key=value` flags;
    None where the line is no such command (an argument configurator.py would refuse)."""
    m = TRAIN_COMMAND.search(text)
    if m is None:
        return None
    files: list[str] = []
    flags: list[tuple[str, str]] = []
    for arg in m.group(1).split():
        end = _SHELL_END.search(arg)
        arg = arg[:end.start()] if end else arg
        if end and arg.isdigit():  # `2>&1`: a file descriptor's redirect
            arg = ""
        if arg.startswith("--") and "=" in arg:
            key, raw = arg[2:].split("=", 1)
            if not key.isidentifier():
                return None
            flags.append((key, raw))
        elif arg.endswith(".py") and not arg.startswith("-") and "=" not in arg:
            files.append(arg)
        elif arg:
            return None
        if end:
            break
    return None if len(files) > 1 else (files[0] if files else None, tuple(flags))


# lines that start a new process's output: after metric lines they start a new segment
STARTS_PROCESS = ("config_file", "override", "tokens", "vocab", "init", "dump", "command")

# foreign lines that are understood, not parsed for values
WANDB = re.compile(r"^wandb:")
WARNING = re.compile(r"\b[A-Z]\w*Warning: |^WARNING[: ]|^W\d{4} \d\d:\d\d:\d\d")
TRACEBACK = re.compile(r"^Traceback \(most recent call last\):")
FRAME = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)')  # a traceback's frame: path, function
MAX_FRAMES = 64  # frames kept per traceback, its outermost and innermost halves (a recursion error prints thousands)


def keep_frame(frames: list[str], f: str) -> None:
    """Append frame `f`, keeping the first and the last MAX_FRAMES // 2 of a deep traceback:
    the training loop's call (an optimizer step) is near the top, the failing op at the end."""
    frames.append(f)
    if len(frames) > MAX_FRAMES:
        del frames[MAX_FRAMES // 2]


def frame(text: str) -> str | None:
    """A traceback frame line as "A/B/FILE.py:FUNCTION" (the path's last three parts), or None."""
    m = FRAME.match(text)
    if m is None:
        return None
    return "/".join(m.group(1).replace("\\", "/").split("/")[-3:]) + ":" + m.group(2)


EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Failed))\b:?(.*)$")
# sample.py's own lines (train.py prints neither): its meta.pkl, or its GPT-2 fallback
SAMPLE_PY = re.compile(r"^Loading meta from \S+\.\.\.$|^No meta\.pkl found, assuming GPT-2 encodings")
CPU_AUTOCAST = re.compile(r"^autocast on cpu: (\w+)")  # lossdoctor's trainer, where train.py has no autocast
TRAINER_INTERRUPTED = re.compile(r"^interrupted at iter (\d+)\b")  # lossdoctor's trainer, on Ctrl-C or SIGTERM
INTERRUPT = re.compile(
    r"KeyboardInterrupt|" + SLURM_CANCELLED + r"|Received \d+ death signal|"
    r"^Killed\b|Aborted \(core dumped\)|Terminated\b|" + TRAINER_INTERRUPTED.pattern)
FOREIGN = re.compile(
    r"^(?:srun:|slurmstepd:|W\d{4} |I\d{4} |E\d{4} |\[W |\[I |"
    r"[\d.]+ real\s+[\d.]+ user|real\s+\d+m|user\s+\d+m|sys\s+\d+m|"
    r"\$ |PS [^>]*> |>>> |(?:python3?|torchrun)\s+\S*train\.py|"
    r"resuming from the state at an interruption|no checkpoint was saved during training|"
    r"(?:[^|]{0,60}: *)?\d{1,3}%\|[^|]*\| *[\d.]+[kMG]?/[\d.]+[kMG]?\b"  # a tqdm bar: `12%|██  | 360/3000`
    r"|(?:[^|]{0,60}: *)?[\d.]+[kMG]?it \[[\d:]+(?:, |\]))")  # one with no total: `360it [00:18, 20.00it/s]`
ELISION = re.compile(r"^(?:\.\.\.|…)\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")

# decorations removed before matching: indentation, `> ` quotes, timestamps, rank tags
# (a timestamp: ISO 8601 with its zone, `2024-05-01 12:00:00,123`, or a time alone)
PREFIX = re.compile(
    r"^(?:\s|>\s?)*"
    r"(?:\[?(?:\d{4}-\d\d-\d\d[ T])?\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?(?:\s+|$)(?:-\s+)?)?"
    r"(?:\[rank(?P<rank>\d+)\]:\s?)?")  # torchrun's tag on each line of a rank it tees

def undecorated(raw: str) -> str:
    """A line without its decoration (quote marks, timestamp, rank tag), its indentation
    kept: a config file's lines, whose indentation is the file's own."""
    m = PREFIX.match(raw)
    assert m is not None  # every part of PREFIX is optional
    return raw[len(raw[:m.end()].rstrip()):].rstrip()


# a header phrase that follows other text on the same line: DDP ranks glued together
GLUE = re.compile(
    r"(?<=\S)(?=Overriding:[ \t]|Overriding config with |tokens per iteration will be: |"
    r"found vocab_size = |Initializing a new model|Resuming training from |"
    r"Initializing from OpenAI|number of parameters: |num decayed parameter|"
    r"num non-decayed parameter|using fused AdamW: |compiling the model|"
    r"step \d+: train loss |iter \d+: loss |saving checkpoint to )")

# terminators of a config-file echo: any line nanoGPT prints after it
ECHO_END = re.compile(
    r"^(?:Overriding:[ \t]|Overriding config with |tokens per iteration will be: |found vocab_size|"
    r"Initializing |Resuming training from |number of parameters|WARNING: using slow|"
    r"defaulting to vocab_size|vocab_size not found|step \d+: |iter \d+: |wandb:|=+ ?CONFIG VALUES)")


def to_int(text: str) -> int:
    return int(text.replace(",", ""))


def cut_note(line: int, text: str = "") -> str:
    """The note on a file that ends inside its last line (`text`: that line, where shown)."""
    shown = text.strip() if len(text.strip()) <= 40 else text.strip()[:37] + "..."
    return (f"the last line ({line:,}{f': {shown!r}' if shown else ''}) ends without a newline and was not read: "
            "the file was copied while the run was writing it, or the run stopped in the middle of the line")


def keep_unparsed(kept: list[tuple[int, str]], line: int, text: str) -> None:
    """Keep a line not understood (its number and its first MAX_UNPARSED_CHARS characters)
    while fewer than MAX_KEPT_UNPARSED are kept; the caller counts it either way."""
    if len(kept) < MAX_KEPT_UNPARSED:
        kept.append((line, text[:MAX_UNPARSED_CHARS]))
