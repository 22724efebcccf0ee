"""The training loop, with nanoGPT's train.py semantics and output.

Same as nanoGPT: the config keys; torch.manual_seed(seed) before the model is built (so
the init matches nanoGPT's for the same seed); batches drawn with torch.randint from the
global generator, the first one before the loop; an eval every eval_interval steps
(eval_iters random batches per split, model.eval()); warmup + cosine LR; AdamW with decay
and no-decay groups; gradient accumulation and clipping; best-val checkpointing; log lines
in train.py's exact format.

Different from nanoGPT, and said in docs/trainer.md: `time` in the iter line leaves out the
eval (nanoGPT's includes it in the iteration after an eval); dtype bfloat16/float16
autocast also works on CPU; fused AdamW is also used on CPU; checkpoints are written
atomically; Ctrl-C saves a checkpoint to resume from; a NaN loss stops the run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import LossdoctorError
from .config import TrainConfig
from .data import Data

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


def get_lr(it: int, cfg: dict[str, Any]) -> float:
    """nanoGPT's schedule: linear warmup, cosine decay to min_lr, then min_lr (the same
    function lossdoctor uses to rebuild a logged run's schedule)."""
    from ..facts.schedule import SCHEDULE_KEYS, lr_at
    return float(lr_at(it, **{k: cfg[k] for k in SCHEDULE_KEYS}))


class _Output:
    """Log lines to stdout and OUT_DIR/train.log; metrics to OUT_DIR/metrics.jsonl."""

    def __init__(self, out_dir: str, append: bool, echo: bool) -> None:
        mode = "a" if append else "w"
        self.log = open(os.path.join(out_dir, "train.log"), mode, encoding="utf-8")
        self.metrics = open(os.path.join(out_dir, "metrics.jsonl"), mode, encoding="utf-8")
        self.echo = echo

    def line(self, text: str) -> None:
        if self.echo:
            print(text, flush=True)
        self.log.write(text + "\n")
        self.log.flush()

    def metric(self, **values: Any) -> None:
        self.metrics.write(json.dumps(values) + "\n")
        self.metrics.flush()

    def close(self) -> None:
        self.log.close()
        self.metrics.close()


def train(cfg: TrainConfig, data: Data, callbacks: list[Callback] | None = None,
          echo: bool = True, progress: bool = False) -> TrainResult:
    """Train as nanoGPT's train.py would with this config; returns what happened.

    echo: print log lines to stdout (they always go to OUT_DIR/train.log).
    progress: show a progress bar on stderr.
    """
    c = dict(cfg.values)
    out_dir = c["out_dir"]
    resume = c["init_from"] == "resume"
    ckpt_path = os.path.join(out_dir, "ckpt.pt")
    checkpoint = load_checkpoint(ckpt_path) if resume else None
    os.makedirs(out_dir, exist_ok=True)
    out = _Output(out_dir, append=resume, echo=echo)
    try:
        return _train(c, cfg.echo, data, checkpoint, out, callbacks, progress)
    finally:
        out.close()


def _train(c: dict[str, Any], echo_lines: tuple[str, ...], data: Data, checkpoint: dict[str, Any] | None,
           out: _Output, callbacks: list[Callback] | None, progress: bool) -> TrainResult:
    import torch

    from .model import GPT, GPTConfig
    out_dir = c["out_dir"]
    ckpt_path = os.path.join(out_dir, "ckpt.pt")
    for text in echo_lines:
        out.line(text)
    tokens_per_iter = c["gradient_accumulation_steps"] * c["batch_size"] * c["block_size"]
    out.line(f"tokens per iteration will be: {tokens_per_iter:,}")

    torch.manual_seed(c["seed"])
    device = c["device"]
    device_type = "cuda" if "cuda" in device else "cpu"
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    ptdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[c["dtype"]]
    ctx = (contextlib.nullcontext() if ptdtype == torch.float32
           else torch.autocast(device_type=device_type, dtype=ptdtype))

    if data.vocab_size is not None:
        inside = data.source
        if os.path.isdir(inside):
            inside = os.path.join(inside, "meta.pkl")
        elif inside.startswith("embedded corpus"):
            inside = "the embedded corpus"  # its long description has parentheses
        out.line(f"found vocab_size = {data.vocab_size} (inside {inside})")
    model_args = dict(n_layer=c["n_layer"], n_head=c["n_head"], n_embd=c["n_embd"],
                      block_size=c["block_size"], bias=c["bias"], vocab_size=None, dropout=c["dropout"])
    iter_num, best_val_loss = 0, 1e9
    if checkpoint is None:
        out.line("Initializing a new model from scratch")
        if data.vocab_size is None:
            out.line("defaulting to vocab_size of GPT-2 to 50304 (50257 rounded up for efficiency)")
        model_args["vocab_size"] = data.vocab_size if data.vocab_size is not None else 50304
    else:
        out.line(f"Resuming training from {out_dir}")
        for k in ("n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size"):
            model_args[k] = checkpoint["model_args"][k]  # the checkpoint's shape wins
        iter_num = int(checkpoint["iter_num"])
        best_val_loss = float(checkpoint["best_val_loss"])
    model = GPT(GPTConfig(**model_args))
    out.line("number of parameters: %.2fM" % (model.get_num_params() / 1e6,))
    if checkpoint is not None:
        # '_orig_mod.' comes from torch.compile; '.attn.bias' is the causal-mask buffer of
        # nanoGPT's attention without flash, not a parameter
        state = {k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()
                 if not k.endswith(".attn.bias") or v.dim() != 4}
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            from ..errors import CheckpointError
            raise CheckpointError(ckpt_path, "its weights do not fit nanoGPT's GPT: "
                                  f"{str(e).splitlines()[1] if len(str(e).splitlines()) > 1 else e}") from None
    if c["block_size"] < model.config.block_size:
        model.crop_block_size(c["block_size"])
        model_args["block_size"] = c["block_size"]
    model.to(device)
    if data.vocab_size is not None and model_args["vocab_size"] < data.vocab_size:
        raise LossdoctorError(f"the data has {data.vocab_size} symbols, the model only "
                              f"{model_args['vocab_size']}")

    scaler = torch.amp.GradScaler(device_type, enabled=(ptdtype == torch.float16))
    optimizer = model.configure_optimizers(c["weight_decay"], c["learning_rate"],
                                           (c["beta1"], c["beta2"]), device_type, log=out.line)
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
    checkpoint = None  # free it
    raw_model = model
    if c["compile"]:
        out.line("compiling the model... (takes a ~minute)")
        model = torch.compile(model)

    block, batch = model_args["block_size"], c["batch_size"]
    splits = {"train": data.train, "val": data.val}
    for name, arr in splits.items():
        if len(arr) <= block:
            raise LossdoctorError(f"the {name} split has {len(arr)} tokens, not more than "
                                  f"block_size={block}")
    offsets = np.arange(block + 1)  # (T+1,)

    def get_batch(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        arr = splits[split]
        ix = torch.randint(len(arr) - block, (batch,)).numpy()  # same draws as nanoGPT
        xy = torch.from_numpy(arr[ix[:, None] + offsets].astype(np.int64))  # (B, T+1)
        x, y = xy[:, :-1], xy[:, 1:]
        if device_type == "cuda":
            return (x.pin_memory().to(device, non_blocking=True),
                    y.pin_memory().to(device, non_blocking=True))
        return x.contiguous(), y.contiguous()

    @torch.no_grad()
    def estimate_loss() -> dict[str, float]:
        res = {}
        model.eval()
        for split in ("train", "val"):
            losses = torch.zeros(c["eval_iters"])
            for k in range(c["eval_iters"]):
                X, Y = get_batch(split)
                with ctx:
                    _, loss = model(X, Y)
                losses[k] = loss.item()
            res[split] = float(losses.mean())
        model.train()
        return res

    def save(reason: str) -> str:
        state = {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                 "model_args": model_args, "iter_num": iter_num,
                 "best_val_loss": best_val_loss, "config": c}
        out.line(f"saving checkpoint to {out_dir}")
        save_checkpoint(state, ckpt_path)
        _notify(callbacks, Event("checkpoint", iter_num, {"reason_" + reason: 1.0}))
        return ckpt_path

    bar = _Progress(c["max_iters"], iter_num) if progress else None
    evals: list[tuple[int, float, float]] = []
    times: list[float] = []  # seconds per training iteration, after the first 5
    stopped, saved = None, None
    X, Y = get_batch("train")
    t0 = time.time()
    local_iter_num, running_mfu = 0, -1.0
    try:
        while True:
            lr = get_lr(iter_num, c)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if iter_num % c["eval_interval"] == 0:
                losses = estimate_loss()
                out.line(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
                out.metric(kind="eval", step=iter_num, train=losses["train"], val=losses["val"], lr=lr)
                evals.append((iter_num, losses["train"], losses["val"]))
                if not (math.isfinite(losses["train"]) and math.isfinite(losses["val"])):
                    stopped = f"non-finite eval loss at step {iter_num}"
                    break
                if losses["val"] < best_val_loss or c["always_save_checkpoint"]:
                    best_val_loss = losses["val"]
                    if iter_num > 0:
                        saved = save("eval")
                if _notify(callbacks, Event("eval", iter_num, {"train": losses["train"],
                                                               "val": losses["val"], "lr": lr})):
                    stopped = "stopped by a callback"
                    break
                t0 = time.time()  # the iteration's time leaves the eval out
            if iter_num == 0 and c["eval_only"]:
                break
            for _ in range(c["gradient_accumulation_steps"]):
                with ctx:
                    _, loss = model(X, Y)
                    loss = loss / c["gradient_accumulation_steps"]
                X, Y = get_batch("train")  # fetched while the device works, as nanoGPT
                scaler.scale(loss).backward()
            if c["grad_clip"] != 0.0:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), c["grad_clip"])
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            t1 = time.time()
            dt, t0 = t1 - t0, t1
            lossf = loss.item() * c["gradient_accumulation_steps"]
            if not math.isfinite(lossf):
                out.line(f"iter {iter_num}: loss {lossf:.4f}, time {dt * 1000:.2f}ms, mfu {running_mfu * 100:.2f}%")
                stopped = f"non-finite training loss at iter {iter_num}"
                break
            if local_iter_num >= 5:
                times.append(dt)
            if iter_num % c["log_interval"] == 0:
                if local_iter_num >= 5:  # let the first iterations settle, as nanoGPT
                    mfu = raw_model.estimate_mfu(batch * c["gradient_accumulation_steps"], dt)
                    running_mfu = mfu if running_mfu == -1.0 else 0.9 * running_mfu + 0.1 * mfu
                out.line(f"iter {iter_num}: loss {lossf:.4f}, time {dt * 1000:.2f}ms, mfu {running_mfu * 100:.2f}%")
                out.metric(kind="iter", step=iter_num, loss=lossf, time_ms=dt * 1000, lr=lr,
                           tokens=(iter_num + 1) * tokens_per_iter)
                if _notify(callbacks, Event("iter", iter_num, {"loss": lossf, "time_ms": dt * 1000, "lr": lr})):
                    iter_num += 1
                    stopped = "stopped by a callback"
                    break
            if bar:
                bar.update(iter_num + 1, lossf)
            iter_num += 1
            local_iter_num += 1
            if iter_num > c["max_iters"]:
                break
    except KeyboardInterrupt:
        stopped = f"interrupted at iter {iter_num}"
        saved = save("interrupt")
        out.line(f"interrupted: resume with --init_from=resume --out_dir={out_dir}")
    except (torch.OutOfMemoryError, RuntimeError) as e:
        text = str(e)
        if not isinstance(e, torch.OutOfMemoryError) and not _is_oom(text):
            raise
        stopped = f"out of memory at iter {iter_num}: {text.splitlines()[0] if text else 'no detail'}"
    finally:
        if bar:
            bar.close()
    if stopped and stopped.startswith(("non-finite", "out of memory")):
        kept = f"; the last good checkpoint is {ckpt_path}" if os.path.exists(ckpt_path) else ""
        raise TrainingStopped(f"{stopped}{kept}")
    ms = 1000 * float(np.median(times)) if times else None
    result = TrainResult(
        out_dir=out_dir, iter_num=iter_num, best_val_loss=float(best_val_loss), evals=tuple(evals),
        final_train_loss=evals[-1][1] if evals else None, final_val_loss=evals[-1][2] if evals else None,
        tokens_per_s=tokens_per_iter / (ms / 1000) if ms else None, ms_per_iter=ms, stopped=stopped,
        log_path=os.path.join(out_dir, "train.log"), metrics_path=os.path.join(out_dir, "metrics.jsonl"),
        checkpoint_path=saved or (ckpt_path if os.path.exists(ckpt_path) else None))
    _notify(callbacks, Event("end", iter_num, {"best_val_loss": float(best_val_loss)}))
    return result


def _is_oom(text: str) -> bool:
    """A RuntimeError that is an allocation failure (CPU allocators raise RuntimeError)."""
    return "out of memory" in text.lower() or "can't allocate memory" in text.lower()


def _notify(callbacks: list[Callback] | None, event: Event) -> bool:
    stop = False
    for cb in callbacks or []:
        stop = bool(cb(event)) or stop
    return stop


def save_checkpoint(state: dict[str, Any], path: str) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves half a file."""
    import torch
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str) -> dict[str, Any]:
    """A nanoGPT-format checkpoint, loaded with weights_only=True (no code is run)."""
    import torch

    from ..errors import CheckpointError
    if not os.path.exists(path):
        raise CheckpointError(path, "no checkpoint to resume from (init_from=resume reads "
                                    "OUT_DIR/ckpt.pt)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to load is the same error to the user
        raise CheckpointError(path, f"cannot be loaded safely: {str(e).splitlines()[0]}") from None
    missing = [k for k in ("model", "optimizer", "model_args", "iter_num", "best_val_loss")
               if k not in ckpt]
    if missing:
        raise CheckpointError(path, f"not a nanoGPT training checkpoint (no {', '.join(missing)})")
    return ckpt


class _Progress:
    """A progress bar on stderr (rich), drawn only when stderr is a terminal."""

    def __init__(self, total: int, done: int) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeRemainingColumn)
        console = Console(stderr=True)
        self.progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(),
                                 console=console, transient=True, disable=not console.is_terminal)
        self.task = self.progress.add_task("train", total=total + 1, completed=done, loss="-")
        self.progress.start()

    def update(self, done: int, loss: float) -> None:
        self.progress.update(self.task, completed=done, loss=f"{loss:.4f}")

    def close(self) -> None:
        self.progress.stop()
