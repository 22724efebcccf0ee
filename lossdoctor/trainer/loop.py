"""The training loop, with nanoGPT's train.py semantics and output.

`train` strings the stages of stages.py (setup, step, evaluate, save) together as
train.py's loop does, with its log lines, metrics, callbacks and checkpointing. A caller
can drive the stages itself: the same seed and calls give the same run as `train`.

Same as nanoGPT: the config keys; torch.manual_seed(seed) before the model is built (so
the init matches nanoGPT's for the same seed); batches drawn with torch.randint from the
global generator, the first one before the loop; an eval every eval_interval steps
(eval_iters random batches per split, model.eval()); warmup + cosine LR; AdamW with decay
and no-decay groups; gradient accumulation and clipping; best-val checkpointing; log lines
in train.py's exact format.

Different from nanoGPT, and said in docs/trainer.md: `time` in the iter line is the step's
own (nanoGPT's includes the eval in the iteration after an eval, and the logging between
iterations); dtype bfloat16/float16 autocast also works on CPU; fused AdamW is also used
on CPU; checkpoints are written atomically; Ctrl-C saves a checkpoint to resume from; a
NaN loss stops the run.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import LossdoctorError, Terminated
from . import ddp
from .checkpoint import INTERRUPTED_NAME, load_checkpoint
from .config import TrainConfig
from .data import Data
from .output import Output, Progress
from .stages import WARMUP_STEPS, Step, Trainer

__all__ = ["TrainingStopped", "Event", "Callback", "TrainResult", "Step", "Trainer", "WARMUP_STEPS",
           "load_checkpoint", "train"]


class TrainingStopped(LossdoctorError):
    """The run stopped early (NaN loss, out of memory); the last good checkpoint is kept."""


@dataclass(frozen=True)
class Event:
    """What a callback receives: kind is 'eval', 'iter', 'checkpoint' or 'end'."""

    kind: str
    step: int
    values: dict[str, float] = field(default_factory=dict)


# A callback returns True to stop the run after the current step.
Callback = Callable[[Event], "bool | None"]


@dataclass(frozen=True)
class TrainResult:
    out_dir: str
    iter_num: int  # the next iteration, as in the checkpoint
    best_val_loss: float
    evals: tuple[tuple[int, float, float], ...]  # (step, train, val)
    final_train_loss: float | None  # of the last eval
    final_val_loss: float | None
    tokens_per_s: float | None  # training iterations only, excludes eval and the first 5
    ms_per_iter: float | None  # same iterations
    stopped: str | None  # None when max_iters was reached; else why
    log_path: str
    metrics_path: str
    checkpoint_path: str | None


def train(cfg: TrainConfig, data: Data, callbacks: list[Callback] | None = None,
          echo: bool = True, progress: bool = False) -> TrainResult:
    """Train as nanoGPT's train.py would with this config; returns what happened.

    echo: print log lines to stdout (they always go to OUT_DIR/train.log).
    progress: show a progress bar on stderr.
    """
    rank = ddp.from_env()
    master = rank is None or rank[0] == 0  # under torchrun only rank 0 logs and evaluates, as nanoGPT
    # an eval-only run prints its eval and writes no file: an earlier run's log stays where it is
    out = Output(cfg["out_dir"], append=cfg["init_from"] == "resume", echo=echo and master, enabled=master,
                 write=not cfg["eval_only"])
    try:
        trainer = Trainer.setup(cfg, data, log=out.line)
        return _run(trainer, out, callbacks, progress)
    finally:
        out.close()


def _run(t: Trainer, out: Output, callbacks: list[Callback] | None, progress: bool) -> TrainResult:
    """train.py's loop over the stages: an eval every eval_interval iterations, a step each
    iteration, until iter_num passes max_iters, a callback stops it, or it fails."""
    import torch
    c, run = t.cfg, _Run(t, out, callbacks)
    bar = Progress(c["max_iters"], t.iter_num) if progress and (t.rank is None or t.rank.master) else None
    it = t.iter_num  # the iteration in progress
    try:
        while True:
            it = t.iter_num
            if (it % c["eval_interval"] == 0 or c["eval_only"]) and (t.rank is None or t.rank.master):
                run.stopped = run.eval()
                if run.stopped:
                    break
            if c["eval_only"]:  # one eval of the model as it is (train.py stops at iter 0 only: a resume trains)
                break
            step = t.step()
            run.stopped = run.stepped(step)
            if run.stopped:
                break
            if bar:
                bar.update(t.iter_num, step.loss, run.evals[-1][2] if run.evals else None)
            if t.iter_num > c["max_iters"]:
                break
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM through the CLI (errors.Terminated)
        # iter_num counts the updates the weights hold: an iteration interrupted before its
        # update is done again on resume, one interrupted after it is not
        run.stopped = f"interrupted at iter {t.iter_num}" + (" (SIGTERM)" if isinstance(e, Terminated) else "")
        if not c["eval_only"]:  # an eval-only run has no state to keep: it writes nothing
            run.interrupted("SIGTERM" if isinstance(e, Terminated) else "Ctrl-C")
    except (torch.OutOfMemoryError, RuntimeError) as e:
        text = str(e)
        if not isinstance(e, torch.OutOfMemoryError) and not _is_oom(text):
            raise
        run.stopped = f"out of memory at iter {it}: {text.splitlines()[0] if text else 'no detail'}"
    finally:
        if bar:
            bar.close()
    if c["eval_only"]:  # one eval, no training: every file in OUT_DIR is left as it was
        return run.result()
    if run.stopped is None:  # finished: a state saved at an earlier interruption is behind it now
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(c["out_dir"], INTERRUPTED_NAME))
    resumed_best = (c["init_from"] == "resume" and os.path.exists(t.checkpoint_path)  # never overwritten
                    and not t.earlier_ckpt)
    if run.stopped is None and run.saved is None and not resumed_best and (t.rank is None or t.rank.master):
        out.line(f"no checkpoint was saved during training (none at step 0, and no later eval improved "
                 f"the val loss, or none ran): saving the final model to {t.checkpoint_path}")
        t.val_at_save = (run.evals[-1][0], run.evals[-1][2]) if run.evals else None  # its last eval, not the best
        run.save("end")
    return run.result()


class _Run:
    """What the loop logs, tells the callbacks and reports, around the trainer's stages."""

    def __init__(self, trainer: Trainer, out: Output, callbacks: list[Callback] | None) -> None:
        self.t, self.out, self.callbacks = trainer, out, callbacks
        self.evals: list[tuple[int, float, float]] = []  # (step, train, val)
        self.times: list[float] = []  # seconds per step, warm-up steps left out
        self.running_mfu = -1.0
        self.saved: str | None = None
        self.stopped: str | None = None  # why the run stopped early

    def eval(self) -> str | None:
        """The eval at iter_num: its line and metric, the best-val checkpoint, the callbacks.
        Returns why to stop, or None."""
        t = self.t
        it, lr = t.iter_num, t.lr
        losses = t.evaluate()
        self.out.line(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
        self.out.metric(kind="eval", step=it, train=losses["train"], val=losses["val"], lr=lr)
        self.evals.append((it, losses["train"], losses["val"]))
        if not (math.isfinite(losses["train"]) and math.isfinite(losses["val"])):
            return f"non-finite eval loss at step {it}"
        if losses["val"] < t.best_val_loss or t.cfg["always_save_checkpoint"]:
            t.best_val_loss = losses["val"]
            if it > 0 and not t.cfg["eval_only"]:  # an eval-only run measures; it saves nothing
                self.save("eval")
        if _notify(self.callbacks, Event("eval", it, {"train": losses["train"], "val": losses["val"], "lr": lr})):
            return "stopped by a callback"
        return None

    def stepped(self, s: Step) -> str | None:
        """A step's line and metric (every log_interval), MFU, the callbacks. Returns why
        to stop, or None."""
        c = self.t.cfg
        if not math.isfinite(s.loss):
            self.out.line(self._iter_line(s))
            self.out.commit()
            return f"non-finite training loss at iter {s.iter_num}"
        if not s.warmup:
            self.times.append(s.seconds)
        if s.iter_num % c["log_interval"] != 0:
            return None
        if not s.warmup:  # let the first iterations settle, as nanoGPT
            mfu = self.t.raw_model.estimate_mfu(c["batch_size"] * c["gradient_accumulation_steps"], s.seconds)
            self.running_mfu = mfu if self.running_mfu == -1.0 else 0.9 * self.running_mfu + 0.1 * mfu
        self.out.line(self._iter_line(s))
        self.out.metric(kind="iter", step=s.iter_num, loss=s.loss, time_ms=s.seconds * 1000, lr=s.lr,
                        tokens=s.tokens_seen)
        if _notify(self.callbacks, Event("iter", s.iter_num, {"loss": s.loss, "time_ms": s.seconds * 1000,
                                                               "lr": s.lr})):
            return "stopped by a callback"
        return None

    def _iter_line(self, s: Step) -> str:
        return (f"iter {s.iter_num}: loss {s.loss:.4f}, time {s.seconds * 1000:.2f}ms, "
                f"mfu {self.running_mfu * 100:.2f}%")

    def save(self, reason: str, path: str | None = None) -> None:
        self.out.commit()  # a checkpoint is never without the log that says what made it
        self.saved = self.t.save(path)
        _notify(self.callbacks, Event("checkpoint", self.t.iter_num, {"reason_" + reason: 1.0}))

    def interrupted(self, by: str) -> None:
        """Save the state at an interruption (`by`: Ctrl-C or SIGTERM) where it resumes
        from: ckpt.pt when every eval saves anyway (always_save_checkpoint) and ckpt.pt is
        this run's, else ckpt_interrupted.pt beside it, so that ckpt.pt keeps the best
        model that best_val_loss names, or an earlier run's model this run has not yet
        replaced. The log says how to resume: the same command with --init_from=resume (the
        same config file and flags, so the same run goes on)."""
        t, out_dir = self.t, self.t.cfg["out_dir"]
        mine = _ckpt_is_mine(self)
        beside = os.path.exists(t.checkpoint_path) and (not mine or not t.cfg["always_save_checkpoint"])
        t.earlier_ckpt = beside and not mine
        # the model saved is the one at the interruption: its val is its last eval's (at that step), not
        # best_val_loss, which may be an earlier eval's (step 0's, where no other ran)
        t.val_at_save = (self.evals[-1][0], self.evals[-1][2]) if self.evals else None
        self.save("interrupt", os.path.join(out_dir, INTERRUPTED_NAME) if beside else None)
        kept = ("" if not beside else f"; the best model stays in {t.checkpoint_path}" if mine else
                f"; {t.checkpoint_path} is an earlier run's, left as it was")
        self.out.line(f"interrupted at iter {t.iter_num} ({by}): to resume, run the same command with "
                      f"--init_from=resume (it reads {out_dir}){kept}")

    def result(self) -> TrainResult:
        """The TrainResult, after the 'end' callback; TrainingStopped for a NaN or OOM stop."""
        t, ckpt_path = self.t, self.t.checkpoint_path
        if self.stopped and self.stopped.startswith(("non-finite", "out of memory")):
            kept = f"; the last good checkpoint is {ckpt_path}" if _ckpt_is_mine(self) and os.path.exists(ckpt_path) \
                else ""
            raise TrainingStopped(f"{self.stopped}{kept}")
        ms = 1000 * float(np.median(self.times)) if self.times else None
        evals, out_dir = self.evals, t.cfg["out_dir"]
        result = TrainResult(
            out_dir=out_dir, iter_num=t.iter_num, best_val_loss=float(t.best_val_loss), evals=tuple(evals),
            final_train_loss=evals[-1][1] if evals else None, final_val_loss=evals[-1][2] if evals else None,
            tokens_per_s=t.tokens_per_iter / (ms / 1000) if ms else None, ms_per_iter=ms, stopped=self.stopped,
            log_path=os.path.join(out_dir, "train.log"), metrics_path=os.path.join(out_dir, "metrics.jsonl"),
            checkpoint_path=self.saved or (ckpt_path if os.path.exists(ckpt_path) else None))
        _notify(self.callbacks, Event("end", t.iter_num, {"best_val_loss": float(t.best_val_loss)}))
        return result


def _ckpt_is_mine(run: _Run) -> bool:
    """Whether OUT_DIR/ckpt.pt is this run's: saved by it, or the one it resumed from (not
    an earlier run's that its interrupted state was saved beside)."""
    t = run.t
    return not t.earlier_ckpt and (run.saved is not None or t.cfg["init_from"] == "resume")


def _is_oom(text: str) -> bool:
    """A RuntimeError that is an allocation failure (CPU allocators raise RuntimeError)."""
    return "out of memory" in text.lower() or "can't allocate memory" in text.lower()


def _notify(callbacks: list[Callback] | None, event: Event) -> bool:
    stop = False
    for cb in callbacks or []:
        stop = bool(cb(event)) or stop
    return stop
