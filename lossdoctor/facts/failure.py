"""How the run ended when it crashed: the exception its last process printed, or the
signal that stopped it.

A traceback is read from the log as an event whose text is the exception line
(`torch.OutOfMemoryError: CUDA out of memory. ...`); a stop from outside (a scheduler's
time limit, a SIGTERM, Ctrl-C) as an `interrupted` event with its line. The failure is the
last of these in the run's last process (its segment): a crash an earlier process had and
a later one resumed past is not how the run ended. Its kind decides the usual fix (rules
LD17xx):

  compile        torch.compile failed: torch._dynamo / torch._inductor in the exception
                 (BackendCompilerFailed, InductorError, ...)
  out of memory  the device ran out of memory (torch.OutOfMemoryError, "CUDA out of
                 memory", "can't allocate memory")
  time limit     the scheduler stopped the job at its time limit (Slurm's `CANCELLED AT
                 ... DUE TO TIME LIMIT`)
  terminated     stopped by a signal: SIGTERM (`Terminated`, torchrun's `Received 15 death
                 signal`), a cancelled job, or SIGKILL (`Killed`, often the kernel's
                 out-of-memory killer)
  interrupted    stopped with Ctrl-C (KeyboardInterrupt): by its user, not a fault of the run
  nan            an exception about a NaN or infinite value (a `assert not loss.isnan()`
                 of a fork, torch's anomaly detection): the run diverged (LD801)
  exception      any other exception
"""

from __future__ import annotations

import re

from ..run import PRINTS_SAVES, SLURM_CANCELLED, Dialect, Event
from .base import Context, Fact, unknown

__all__ = ["failure_kind", "failure_text", "failure_line", "failure_in", "has_checkpoint", "log_cut", "log_elided",
           "KINDS"]

KINDS = ("compile", "out of memory", "time limit", "terminated", "interrupted", "nan", "exception")
COMPILE = re.compile(r"torch\._(dynamo|inductor)|BackendCompilerFailed|InductorError|TorchDynamo", re.I)
OOM = re.compile(r"OutOfMemoryError|out of memory|can't allocate memory|CUBLAS_STATUS_ALLOC_FAILED", re.I)
INTERRUPTED = re.compile(r"^\s*KeyboardInterrupt\b|^\s*interrupted at iter \d+ \(Ctrl-C\)")  # the last: ours
TIME_LIMIT = re.compile(SLURM_CANCELLED + r" .{1,40}? DUE TO TIME LIMIT")  # the time as SLURM_TIME_FORMAT has it
NAN = re.compile(r"\b(nan|inf|non-finite|not finite)\b", re.I)
TERMINATED = re.compile(SLURM_CANCELLED + r"|Received \d+ death signal|^\s*Killed\b|Terminated\b|\(SIGTERM\)")
# what only reports that another failure stopped the process: the one before it is the cause
WRAPPER = re.compile(r"ChildFailedError|CalledProcessError|SignalException|Aborted \(core dumped\)")
SOURCE = "log: the last process's traceback or stop signal"
NO_FAILURE = "no traceback or stop signal in the last process"


def _last_traceback(ctx: Context) -> Event | None:
    """The last traceback, failed assertion or stop event of the last process (segment) in
    the log. A wrapper's exception (torch elastic's ChildFailedError) only says that a
    child process failed, and `Aborted (core dumped)` that an assertion stopped it: the
    failure before it is the cause."""
    run = ctx.run
    start = run.segments[-1].first_line if run.segments else 0
    found = [e for e in run.events
             if e.kind in ("traceback", "interrupted", "assertion") and (e.line is None or e.line >= start)]
    while len(found) > 1 and WRAPPER.search(found[-1].text):
        found.pop()
    limit = [e for e in found if TIME_LIMIT.search(e.text)]  # what follows a time limit is its echo
    if limit:
        return limit[-1]
    return found[-1] if found else None


# the first pattern that matches the exception or stop line names the kind, in this order
KIND_PATTERNS = ((COMPILE, "compile"), (OOM, "out of memory"), (INTERRUPTED, "interrupted"),
                 (TIME_LIMIT, "time limit"), (TERMINATED, "terminated"), (NAN, "nan"))


def _kind(text: str) -> str:
    return next((kind for pattern, kind in KIND_PATTERNS if pattern.search(text)), "exception")


def failure_kind(ctx: Context) -> Fact:
    """One of KINDS when the run's last process ended in a traceback; None when it printed
    none."""
    if ctx.run.format == Dialect.NANOGPT_CKPT:
        return unknown("failure_kind", "", SOURCE, "a checkpoint does not say how its run ended")
    event = _last_traceback(ctx)
    if event is None:
        return Fact("failure_kind", None, "", "read", SOURCE, NO_FAILURE)
    return Fact("failure_kind", _kind(event.text), "", "read", SOURCE)


def failure_text(ctx: Context) -> Fact:
    """The exception line of that traceback, as printed (shortened past 200 characters)."""
    event = _last_traceback(ctx)
    if event is None:
        return Fact("failure_text", None, "", "read", SOURCE, NO_FAILURE)
    text = event.text.strip()
    return Fact("failure_text", text if len(text) <= 200 else text[:197] + "...", "", "read", SOURCE)


# where in a training step the exception was raised, by the phase a frame anywhere in the
# traceback is in, the optimizer step first, then the backward pass, then the forward: an
# optimizer step that calls a compiled kernel (whose frames are named `forward`) is still the
# optimizer step, and a forward pass is not called from either
OPTIMIZER_FRAME = re.compile(r"(^|/)torch/optim/|(^|/)optim\w*\.py:_?(step|\w*_step\w*)$")
BACKWARD_FRAME = re.compile(r"(^|/)torch/autograd/(__init__|graph)\.py:|_tensor\.py:backward$|:backward$")
FORWARD_FRAME = re.compile(r":(forward|_call_impl|_wrapped_call_impl)$")


def failure_in(ctx: Context) -> Fact:
    """Where the failing traceback was raised, by its frames: "optimizer step" (torch.optim,
    or a step function of the trainer's optimizer file, as nanochat's Muon), "backward"
    (loss.backward, torch.autograd's engine; not an autograd Function's forward), "forward",
    or "elsewhere"; unknown where the log prints no frames."""
    name, src = "failure_in", "log: the failing traceback's frames"
    event = _last_traceback(ctx)
    if event is None:
        return Fact(name, None, "", "read", src, NO_FAILURE)
    # a stop read off its line (KeyboardInterrupt) is the traceback read there too, with the frames
    frames = event.frames or next((e.frames for e in ctx.run.events
                                   if e.line is not None and e.line == event.line and e.frames), ())
    if not frames:
        return unknown(name, "", src, "the log prints no frames for that exception")
    for where, pattern in (("optimizer step", OPTIMIZER_FRAME), ("backward", BACKWARD_FRAME),
                           ("forward", FORWARD_FRAME)):
        if hit := next((f for f in frames if pattern.search(f)), None):
            return Fact(name, where, "", "read", src, f"frame {hit}")
    return Fact(name, "elsewhere", "", "read", src, f"innermost frame {frames[-1]}")


def failure_line(ctx: Context) -> Fact:
    """The 1-based line of that exception in the log."""
    event = _last_traceback(ctx)
    line = event.line if event is not None else None
    return Fact("failure_line", line, "", "read", SOURCE, None if event else NO_FAILURE)


def log_cut(ctx: Context) -> Fact:
    """Whether the file ends inside its last line: a copy made while the run was still
    writing, or a process stopped in the middle of a line; either way, the file does not
    show how the run ended."""
    if ctx.run.format == Dialect.NANOGPT_CKPT:
        return unknown("log_cut", "", "log: its last line", "a checkpoint has no log")
    cut = next((e for e in ctx.run.events if e.kind == "truncated"), None)
    return Fact("log_cut", cut is not None, "", "read", "log: its last line",
                f"line {cut.line:,} ends without a newline" if cut is not None and cut.line else None)


def log_elided(ctx: Context) -> Fact:
    """Whether the log is an excerpt that leaves out how the run went on: a line of `...`
    alone (an elision) after its last loss line, or a Markdown post's pasted output that
    ends with no failure or stop in it (a post shows what it discusses, not every line)."""
    run, src = ctx.run, "log: its lines after the last loss"
    if run.format == Dialect.NANOGPT_CKPT:
        return unknown("log_elided", "", src, "a checkpoint has no log")
    last = max([int(c.line.max()) for c in (run.evals, run.iters) if len(c.line)], default=0)
    cut = next((e for e in reversed(run.events) if e.kind == "elided" and (e.line or 0) > last), None)
    if cut is not None:
        return Fact("log_elided", True, "", "read", src, f"line {cut.line or 0:,} is `{cut.text.strip()}` after the "
                    "last loss line")
    if run.format == Dialect.NANOGPT_MD and _last_traceback(ctx) is None:
        return Fact("log_elided", True, "", "inferred", src, "a Markdown post's pasted output, with no failure or "
                    "stop after its last loss line: an excerpt")
    return Fact("log_elided", False, "", "read", src)




def has_checkpoint(ctx: Context) -> Fact:
    """Whether the run left a checkpoint to resume from: its ckpt.pt (given alone, or beside
    the log and no later than its last step), a save its last process printed, or the
    checkpoint that process itself resumed from. From the log, known only for trainers that
    print every save (PRINTS_SAVES); False: nothing to resume, the run starts over."""
    name, unit, src = "has_checkpoint", "", "log: the last process's checkpoint saves, or its resume"
    run = ctx.run
    if run.checkpoint is not None:  # read alone, or merged (one from past the log's end is not: combine.merge)
        return Fact(name, True, unit, "read", f"checkpoint {run.checkpoint.path}")
    if run.format not in PRINTS_SAVES:
        return unknown(name, unit, src, f"{run.format} does not print its checkpoint saves")
    if run.shows_no_save():  # from what the log does not print: a log's tail or a silent fork reads the same
        return Fact(name, False, unit, "inferred", src, "inferred: no checkpoint save printed")
    saves = run.last_process_saves()
    if saves:
        last = None if saves[-1] is None else (  # llm.c's save N holds N updates; its step line N the N + 1st's
            f"last save: {run.format}'s 'at step {saves[-1]:,}', after {saves[-1]:,} updates, numbered apart from "
            "its losses' steps" if run.format.counts_steps else f"last save at step {saves[-1]:,}")
        return Fact(name, True, unit, "read", src, last)
    return Fact(name, True, unit, "read", src, "no save printed; the checkpoint it resumed from")


def last_save_step(ctx: Context) -> Fact:
    """The step of the last checkpoint save the log's last process printed (nanoGPT saves
    at an eval, so the eval's step), or the given ckpt.pt's iter_num: the model a resume
    would load. Unknown where the trainer does not print its saves or printed none."""
    name, unit, src = "last_save_step", "steps", "log: the last process's last checkpoint save"
    run, held = ctx.run, ctx.fact("checkpoint_step")
    if held.known:  # the ckpt.pt given with the log: what a resume loads
        return Fact(name, held.value, unit, held.status, held.source)
    if run.format not in PRINTS_SAVES:
        return unknown(name, unit, src, f"{run.format} does not print its checkpoint saves")
    if run.format.counts_steps:  # llm.c saves at N before the update it prints as step N + 1
        return unknown(name, unit, src, f"{run.format} numbers its saves and its losses apart")
    saves = run.last_process_saves()
    if not saves or saves[-1] is None:
        return unknown(name, unit, src, "no save with a step printed in the last process")
    return Fact(name, saves[-1], unit, "read", src)


def checkpoint_step(ctx: Context) -> Fact:
    """The step the given ckpt.pt holds (its iter_num): what a resume starts from."""
    ck = ctx.run.checkpoint
    if ck is None or ck.iter_num is None:
        return unknown("checkpoint_step", "steps", "ckpt iter_num", "no ckpt.pt given with the log")
    return Fact("checkpoint_step", ck.iter_num, "steps", "read", f"checkpoint {ck.path}: iter_num")
