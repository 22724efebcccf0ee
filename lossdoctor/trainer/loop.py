"""The training loop, with nanoGPT's train.py semantics and output, in stages.

`Trainer.setup` builds a run (seed, precision, model or checkpoint, optimizer, compile,
the first batch); `Trainer.step` is one optimizer step; `Trainer.evaluate` is nanoGPT's
estimate_loss; `Trainer.save` writes a checkpoint. `train` strings them together as
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
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, cast

import numpy as np

from .. import nanogpt
from ..errors import LossdoctorError
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .data import Data
from .output import Output, Progress

if TYPE_CHECKING:
    import torch

    from .model import GPT

__all__ = ["TrainingStopped", "Event", "Callback", "TrainResult", "Step", "Trainer", "WARMUP_STEPS",
           "load_checkpoint", "train"]

# A Trainer's first steps: compile and warm-up happen there. nanoGPT leaves them out of its
# MFU; here they are also left out of ms_per_iter, and marked in each Step.
WARMUP_STEPS = 5


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


@dataclass(frozen=True)
class Step:
    """What one `Trainer.step` did."""

    iter_num: int  # the iteration done; the trainer's iter_num is now iter_num + 1
    loss: float  # nats per token, of the last micro-batch (what nanoGPT logs as the iter's loss)
    lr: float  # the learning rate of this update
    seconds: float  # wall time of the step alone, waiting for the device to finish; no eval in it
    tokens: int  # tokens trained on: gradient_accumulation_steps * batch_size * block_size
    warmup: bool  # one of the first WARMUP_STEPS steps since setup (compile, warm-up): leave out of timing


def _silent(text: str) -> None:
    pass


class Trainer:
    """A run's model, optimizer, data and position, and its stages: `setup` (a classmethod
    that builds one), `step`, `evaluate`, `save`.

    Public state: `cfg` (the config's values), `iter_num` (the next iteration), `best_val_loss`,
    `steps` (steps taken since setup), `model` (compiled when cfg['compile']), `raw_model`
    (the GPT), `optimizer`, `model_args`, `tokens_per_iter`, `checkpoint_path`, `lr`.
    """

    def __init__(self, cfg: dict[str, Any], data: Data, raw_model: GPT, model: torch.nn.Module,
                 optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                 ctx: contextlib.AbstractContextManager[Any], model_args: dict[str, Any],
                 iter_num: int, best_val_loss: float, log: Callable[[str], None]) -> None:
        self.cfg, self.raw_model, self.model, self.log = cfg, raw_model, model, log
        self.optimizer, self.scaler, self.ctx, self.model_args = optimizer, scaler, ctx, model_args
        self.iter_num, self.best_val_loss, self.steps = iter_num, best_val_loss, 0
        self.checkpoint_path = os.path.join(cfg["out_dir"], "ckpt.pt")
        self.tokens_per_iter: int = cfg["gradient_accumulation_steps"] * cfg["batch_size"] * cfg["block_size"]
        self.splits = {"train": data.train, "val": data.val}
        self.block: int = model_args["block_size"]
        for name, arr in self.splits.items():
            if len(arr) <= self.block:
                raise LossdoctorError(f"the {name} split has {len(arr)} tokens, not more than "
                                      f"block_size={self.block}")
        self.offsets = np.arange(self.block + 1)  # (T+1,)
        self.device_type = nanogpt.device_type(cfg["device"])
        self.next_batch = self.get_batch("train")  # the next step's first batch; nanoGPT draws it before its loop

    @classmethod
    def setup(cls, cfg: TrainConfig, data: Data, log: Callable[[str], None] | None = None) -> Trainer:
        """Seed, precision, the model (new, or resumed from OUT_DIR/ckpt.pt when
        init_from='resume'), the optimizer, compile, and the first training batch.

        log: receives nanoGPT's setup lines ('Overriding ...', 'tokens per iteration ...',
        'number of parameters ...'), and later the line of each save; by default none.
        """
        import torch
        c, say = dict(cfg.values), log if log is not None else _silent
        ckpt_path = os.path.join(c["out_dir"], "ckpt.pt")
        checkpoint = load_checkpoint(ckpt_path) if c["init_from"] == "resume" else None
        for text in cfg.echo:
            say(text)
        say(f"tokens per iteration will be: "
            f"{c['gradient_accumulation_steps'] * c['batch_size'] * c['block_size']:,}")
        torch.manual_seed(c["seed"])
        device_type, ptdtype, ctx = _precision(c)
        model, model_args = _build_model(c, data, checkpoint, say)
        scaler = torch.amp.GradScaler(device_type, enabled=(ptdtype == torch.float16))
        optimizer = model.configure_optimizers(c["weight_decay"], c["learning_rate"],
                                               (c["beta1"], c["beta2"]), device_type, log=say)
        iter_num, best_val_loss = 0, 1e9
        if checkpoint is not None:
            optimizer.load_state_dict(checkpoint["optimizer"])
            iter_num, best_val_loss = int(checkpoint["iter_num"]), float(checkpoint["best_val_loss"])
        compiled: torch.nn.Module = model
        if c["compile"]:
            say("compiling the model... (takes a ~minute)")
            compiled = cast("torch.nn.Module", torch.compile(model))
        return cls(c, data, model, compiled, optimizer, scaler, ctx, model_args, iter_num, best_val_loss, say)

    @property
    def lr(self) -> float:
        """The learning rate of the next step (of iteration iter_num) on the schedule."""
        return nanogpt.get_lr(self.iter_num, self.cfg)

    def get_batch(self, split: str, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """batch_size random windows of `split` ('train' or 'val'): inputs and next-token
        targets, each (B, T) int64 on the device; drawn from `generator`, by default the
        global one (the draws nanoGPT makes)."""
        import torch
        arr = self.splits[split]
        ix = torch.randint(len(arr) - self.block, (self.cfg["batch_size"],), generator=generator).numpy()
        xy = torch.from_numpy(arr[ix[:, None] + self.offsets].astype(np.int64))  # (B, T+1)
        x, y = xy[:, :-1], xy[:, 1:]
        if self.device_type == "cuda":
            device = self.cfg["device"]
            return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        return x.contiguous(), y.contiguous()

    def step(self) -> Step:
        """One optimizer step of iteration iter_num: LR from the schedule, forward and
        backward over gradient_accumulation_steps micro-batches (each next batch drawn
        after a forward, as nanoGPT), gradient clipping, the update; then iter_num += 1.
        A non-finite loss is returned as it is; the caller decides what to do."""
        import torch
        start = time.perf_counter()
        gas, lr = self.cfg["gradient_accumulation_steps"], self.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        for _ in range(gas):
            x, y = self.next_batch
            with self.ctx:
                _, loss = self.model(x, y)
                loss = loss / gas
            self.next_batch = self.get_batch("train")  # fetched while the device works, as nanoGPT
            self.scaler.scale(loss).backward()
        if self.cfg["grad_clip"] != 0.0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg["grad_clip"])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        lossf = float(loss.item()) * gas  # waits for the device: the time below is the whole step's
        done = Step(self.iter_num, lossf, lr, time.perf_counter() - start, self.tokens_per_iter,
                    self.steps < WARMUP_STEPS)
        self.iter_num += 1
        self.steps += 1
        return done

    def evaluate(self, batches: int | None = None, generator: torch.Generator | None = None) -> dict[str, float]:
        """nanoGPT's estimate_loss: the mean loss (nats per token) over `batches` random
        batches of each split, {'train': ..., 'val': ...}, in model.eval() without grad.

        batches: default cfg['eval_iters']. generator: where the batches are drawn from;
        by default the global generator, as nanoGPT, so that the training batches after an
        eval depend on how many batches it drew; give a torch.Generator to leave them as
        they would be without this eval.
        """
        import torch
        n = self.cfg["eval_iters"] if batches is None else batches
        if n < 1:
            raise ValueError(f"batches must be at least 1, got {n}")
        res = {}
        self.model.eval()
        with torch.no_grad():
            for split in ("train", "val"):
                losses = torch.zeros(n)
                for k in range(n):
                    x, y = self.get_batch(split, generator)
                    with self.ctx:
                        _, loss = self.model(x, y)
                    losses[k] = loss.item()
                res[split] = float(losses.mean())
        self.model.train()
        return res

    def save(self, path: str | None = None) -> str:
        """Write a nanoGPT checkpoint of the current state to `path` (default
        OUT_DIR/ckpt.pt) atomically; `log` gets 'saving checkpoint to DIR'. Returns the path."""
        where = self.cfg["out_dir"] if path is None else (os.path.dirname(path) or ".")
        path = self.checkpoint_path if path is None else path
        state = {"model": self.raw_model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "model_args": self.model_args, "iter_num": self.iter_num,
                 "best_val_loss": self.best_val_loss, "config": self.cfg}
        self.log(f"saving checkpoint to {where}")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        save_checkpoint(state, path)
        return path


def _precision(c: dict[str, Any]) -> tuple[str, torch.dtype, contextlib.AbstractContextManager[Any]]:
    """(device type, dtype, the autocast context the forward passes run in)."""
    import torch
    device_type = nanogpt.device_type(c["device"])
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    ptdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[c["dtype"]]
    ctx: contextlib.AbstractContextManager[Any] = (
        contextlib.nullcontext() if ptdtype == torch.float32
        else torch.autocast(device_type=device_type, dtype=ptdtype))
    return device_type, ptdtype, ctx


def _build_model(c: dict[str, Any], data: Data, checkpoint: dict[str, Any] | None,
                 log: Callable[[str], None]) -> tuple[GPT, dict[str, Any]]:
    """The GPT on the device, new or with the checkpoint's weights, and its model_args."""
    from .model import GPT, GPTConfig
    if data.vocab_size is not None:
        inside = data.source
        if os.path.isdir(inside):
            inside = os.path.join(inside, "meta.pkl")
        elif inside.startswith("embedded corpus"):
            inside = "the embedded corpus"  # its long description has parentheses
        log(f"found vocab_size = {data.vocab_size} (inside {inside})")
    model_args: dict[str, Any] = {k: (None if k == "vocab_size" else c[k]) for k in nanogpt.MODEL_KEYS}
    if checkpoint is None:
        log("Initializing a new model from scratch")
        if data.vocab_size is None:
            log(f"defaulting to vocab_size of GPT-2 to {nanogpt.PADDED_VOCAB_SIZE} "
                f"({nanogpt.GPT2_VOCAB_SIZE} rounded up for efficiency)")
        model_args["vocab_size"] = data.vocab_size if data.vocab_size is not None else nanogpt.PADDED_VOCAB_SIZE
    else:
        log(f"Resuming training from {c['out_dir']}")
        for k in nanogpt.SHAPE_KEYS:
            model_args[k] = checkpoint["model_args"][k]  # the checkpoint's shape wins
    model = GPT(GPTConfig(**model_args))
    log("number of parameters: %.2fM" % (model.get_num_params() / 1e6,))
    if checkpoint is not None:
        _load_weights(model, checkpoint["model"], os.path.join(c["out_dir"], "ckpt.pt"))
    if c["block_size"] < model.config.block_size:
        model.crop_block_size(c["block_size"])
        model_args["block_size"] = c["block_size"]
    model.to(c["device"])
    if data.vocab_size is not None and model_args["vocab_size"] < data.vocab_size:
        raise LossdoctorError(f"the data has {data.vocab_size} symbols, the model only "
                              f"{model_args['vocab_size']}")
    return model, model_args


def _load_weights(model: GPT, weights: dict[str, Any], path: str) -> None:
    """A checkpoint's weights into the model, keyed without the prefixes torch.compile and
    DDP add, and without the causal-mask buffers (nanogpt.is_mask_buffer)."""
    state = {k: v for k, v in nanogpt.state_dict(weights).items() if not nanogpt.is_mask_buffer(k, v)}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        from ..errors import CheckpointError
        lines = str(e).splitlines()
        raise CheckpointError(path, "its weights do not fit nanoGPT's GPT: "
                                    f"{lines[1] if len(lines) > 1 else e}") from None


def train(cfg: TrainConfig, data: Data, callbacks: list[Callback] | None = None,
          echo: bool = True, progress: bool = False) -> TrainResult:
    """Train as nanoGPT's train.py would with this config; returns what happened.

    echo: print log lines to stdout (they always go to OUT_DIR/train.log).
    progress: show a progress bar on stderr.
    """
    out = Output(cfg["out_dir"], append=cfg["init_from"] == "resume", echo=echo)
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
    bar = Progress(c["max_iters"], t.iter_num) if progress else None
    it = t.iter_num  # the iteration in progress
    try:
        while True:
            it = t.iter_num
            if it % c["eval_interval"] == 0:
                run.stopped = run.eval()
                if run.stopped:
                    break
            if it == 0 and c["eval_only"]:
                break
            step = t.step()
            run.stopped = run.stepped(step)
            if run.stopped:
                break
            if bar:
                bar.update(t.iter_num, step.loss)
            if t.iter_num > c["max_iters"]:
                break
    except KeyboardInterrupt:
        t.iter_num = it  # the checkpoint resumes at the interrupted iteration, which is done again
        run.stopped = f"interrupted at iter {it}"
        run.save("interrupt")
        out.line(f"interrupted: resume with --init_from=resume --out_dir={c['out_dir']}")
    except (torch.OutOfMemoryError, RuntimeError) as e:
        text = str(e)
        if not isinstance(e, torch.OutOfMemoryError) and not _is_oom(text):
            raise
        run.stopped = f"out of memory at iter {it}: {text.splitlines()[0] if text else 'no detail'}"
    finally:
        if bar:
            bar.close()
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
            if it > 0:
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
                        tokens=(s.iter_num + 1) * s.tokens)
        if _notify(self.callbacks, Event("iter", s.iter_num, {"loss": s.loss, "time_ms": s.seconds * 1000,
                                                               "lr": s.lr})):
            return "stopped by a callback"
        return None

    def _iter_line(self, s: Step) -> str:
        return (f"iter {s.iter_num}: loss {s.loss:.4f}, time {s.seconds * 1000:.2f}ms, "
                f"mfu {self.running_mfu * 100:.2f}%")

    def save(self, reason: str) -> None:
        self.saved = self.t.save()
        _notify(self.callbacks, Event("checkpoint", self.t.iter_num, {"reason_" + reason: 1.0}))

    def result(self) -> TrainResult:
        """The TrainResult, after the 'end' callback; TrainingStopped for a NaN or OOM stop."""
        t, ckpt_path = self.t, self.t.checkpoint_path
        if self.stopped and self.stopped.startswith(("non-finite", "out of memory")):
            kept = f"; the last good checkpoint is {ckpt_path}" if os.path.exists(ckpt_path) else ""
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


def _is_oom(text: str) -> bool:
    """A RuntimeError that is an allocation failure (CPU allocators raise RuntimeError)."""
    return "out of memory" in text.lower() or "can't allocate memory" in text.lower()


def _notify(callbacks: list[Callback] | None, event: Event) -> bool:
    stop = False
    for cb in callbacks or []:
        stop = bool(cb(event)) or stop
    return stop
