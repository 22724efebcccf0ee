"""The trainer's stages: `Trainer.setup` builds a run (seed, precision, model or
checkpoint, optimizer, compile, the first batch); `Trainer.step` is one optimizer step;
`Trainer.evaluate` is nanoGPT's estimate_loss; `Trainer.save` writes a checkpoint.
loop.py strings them together as train.py's loop does; a caller (verify) can drive them
itself, and the same seed and calls give the same run.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, cast

import numpy as np

from .. import nanogpt
from ..errors import InputError, LossdoctorError, UsageError
from . import ddp
from .checkpoint import (
    EARLIER_RUN_KEY,
    INTERRUPTED_NAME,
    TOKENS_KEY,
    VAL_AT_SAVE_KEY,
    VAL_STEP_KEY,
    load_checkpoint,
    resume_path,
    save_checkpoint,
    save_meta,
    tokens_before,
)
from .config import TrainConfig
from .data import Data

if TYPE_CHECKING:
    import torch

    from .model import GPT

__all__ = ["Step", "Trainer", "WARMUP_STEPS"]

# A Trainer's first steps: compile and warm-up happen there. nanoGPT leaves them out of its
# MFU; here they are also left out of ms_per_iter, and marked in each Step.
WARMUP_STEPS = 5


@dataclass(frozen=True)
class Step:
    """What one `Trainer.step` did."""

    iter_num: int  # the iteration done; the trainer's iter_num is now iter_num + 1
    loss: float  # nats per token, of the last micro-batch (what nanoGPT logs as the iter's loss)
    lr: float  # the learning rate of this update
    seconds: float  # wall time of the step alone, waiting for the device to finish; no eval in it
    tokens: int  # tokens trained on: gradient_accumulation_steps * batch_size * block_size
    tokens_seen: int  # tokens trained on since the run began, this step's included (over every resume)
    warmup: bool  # one of the first WARMUP_STEPS steps since setup (compile, warm-up): leave out of timing


def _silent(text: str) -> None:
    pass


class Trainer:
    """A run's model, optimizer, data and position, and its stages: `setup` (a classmethod
    that builds one), `step`, `evaluate`, `save`.

    Public state: `cfg` (the config's values), `iter_num` (the next iteration), `best_val_loss`,
    `steps` (steps taken since setup), `model` (compiled when cfg['compile'], in
    DistributedDataParallel under torchrun), `raw_model` (the GPT), `optimizer`, `model_args`,
    `tokens_per_iter` (over all ranks), `tokens_seen` (trained on before iteration
    iter_num, over every process of the run), `checkpoint_path`, `lr`, `rank` (ddp.Rank under
    torchrun, else None; `cfg` then holds this rank's device, seed and micro-steps).
    """

    def __init__(self, cfg: dict[str, Any], data: Data, raw_model: GPT, model: torch.nn.Module,
                 optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                 ctx: contextlib.AbstractContextManager[Any], model_args: dict[str, Any],
                 iter_num: int, best_val_loss: float, log: Callable[[str], None],
                 rank: ddp.Rank | None = None) -> None:
        self.cfg, self.raw_model, self.model, self.log = cfg, raw_model, model, log
        self.optimizer, self.scaler, self.ctx, self.model_args = optimizer, scaler, ctx, model_args
        self.iter_num, self.best_val_loss, self.steps = iter_num, best_val_loss, 0
        self.tokens_seen = 0  # set from the checkpoint by setup on a resume
        # ckpt.pt is an earlier run's that this run has not replaced yet (its state was saved beside it)
        self.earlier_ckpt = False
        # the val of the model a save holds where that is not best_val_loss (the final model,
        # saved at the end when no eval improved): recorded in the checkpoint as VAL_AT_SAVE_KEY
        self.val_at_save: tuple[int, float] | None = None  # (step, val)
        self.rank, world = rank, (rank.world_size if rank is not None else 1)
        self.checkpoint_path = os.path.join(cfg["out_dir"], "ckpt.pt")
        self.tokens_per_iter: int = (cfg["gradient_accumulation_steps"] * world * cfg["batch_size"]
                                     * model_args["block_size"])  # the model's sequences: a resume's may not be cfg's
        self.splits = {"train": data.train, "val": data.val}
        self.vocab = data.stoi  # char -> id, char-level data only: saved as meta.pkl for sampling
        self.block: int = model_args["block_size"]
        for name, arr in self.splits.items():
            if len(arr) <= self.block:
                raise LossdoctorError(f"the {name} split has {len(arr)} tokens, not more than "
                                      f"block_size={self.block}")
        self.offsets = np.arange(self.block + 1)  # (T+1,)
        self.source = data.source
        self.device_type = nanogpt.device_type(cfg["device"])
        self.next_batch = self.get_batch("train")  # the next step's first batch; nanoGPT draws it before its loop

    @classmethod
    def setup(cls, cfg: TrainConfig, data: Data, log: Callable[[str], None] | None = None) -> Trainer:
        """Seed, precision, the model (new, or resumed from OUT_DIR/ckpt.pt when
        init_from='resume'), the optimizer, compile, and the first training batch.

        log: receives nanoGPT's setup lines ('Overriding ...', 'tokens per iteration ...',
        'number of parameters ...'), and later the line of each save; by default none.
        Under torchrun (RANK set), joins the DDP run as ddp.setup says; only rank 0 logs.
        """
        import torch
        c, say = dict(cfg.values), log if log is not None else _silent
        rank = ddp.setup(c)
        if rank is not None and not rank.master:
            say = _silent
        world = rank.world_size if rank is not None else 1
        ckpt_path = resume_path(c["out_dir"])
        checkpoint = load_checkpoint(ckpt_path) if c["init_from"] == "resume" else None
        if checkpoint is not None and int(checkpoint["iter_num"]) > c["max_iters"] and not c["eval_only"]:
            raise UsageError(f"{ckpt_path} is at iter {checkpoint['iter_num']}, past max_iters={c['max_iters']}: "
                             f"nothing is left to train (train.py would train one more step and stop); give a "
                             f"larger --max_iters, or --eval_only=True to evaluate the checkpoint")
        if checkpoint is not None:
            _same_vocabulary(ckpt_path, data)
        for text in cfg.echo:
            say(text)
        if checkpoint is not None and os.path.basename(ckpt_path) == INTERRUPTED_NAME:
            say(f"resuming from the state at an interruption: {ckpt_path} (iter {checkpoint['iter_num']})")
        block = c["block_size"] if checkpoint is None else min(c["block_size"], checkpoint["model_args"]["block_size"])
        say(f"tokens per iteration will be: "  # a resume's sequences are its checkpoint's (or shorter, cropped)
            f"{c['gradient_accumulation_steps'] * world * c['batch_size'] * block:,}")
        torch.manual_seed(c["seed"])
        device_type, ptdtype, ctx = _precision(c)
        if device_type == "cpu" and ptdtype != torch.float32:  # unlike train.py: said, so that analyze knows
            say(f"{AUTOCAST_CPU} {c['dtype']} (nanoGPT's train.py would compute in float32 on a CPU)")
        if device_type == "cuda":  # lossdoctor's own line: analyze takes the GPU's peak from its name (MFU)
            say(f"{GPU_LINE} {torch.cuda.get_device_name(c['device'])}, dtype: {c['dtype']}")
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
        if rank is not None:
            compiled = ddp.wrap(compiled, rank)  # after compile, as nanoGPT
        t = cls(c, data, model, compiled, optimizer, scaler, ctx, model_args, iter_num, best_val_loss, say, rank)
        t.earlier_ckpt = bool(checkpoint is not None and checkpoint.get(EARLIER_RUN_KEY))
        if checkpoint is not None:
            t.tokens_seen = tokens_before(checkpoint, t.tokens_per_iter)
        return t

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
        if int(xy.max()) >= self.raw_model.config.vocab_size:  # else an index error deep in the model
            raise InputError(self.source, f"the {split} split holds token id {int(xy.max())}, past the model's "
                                          f"vocab_size of {self.raw_model.config.vocab_size} (meta.pkl's "
                                          "vocab_size does not fit the data)")
        x, y = xy[:, :-1], xy[:, 1:]
        if self.device_type == "cuda":
            device = self.cfg["device"]
            return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        return x.contiguous(), y.contiguous()

    def step(self) -> Step:
        """One optimizer step of iteration iter_num: LR from the schedule, forward and
        backward over gradient_accumulation_steps micro-batches (each next batch drawn
        after a forward, as nanoGPT), gradient clipping, the update, and iter_num += 1 right
        after it (an interruption then saves iter_num as the updates the weights hold).
        A non-finite loss is returned as it is; the caller decides what to do."""
        import torch
        start, it = time.perf_counter(), self.iter_num
        gas, lr = self.cfg["gradient_accumulation_steps"], self.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        for micro in range(gas):
            if self.rank is not None:  # all-reduce the gradients in the last micro-step's backward only
                ddp.sync_gradients(self.model, micro == gas - 1)
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
        self.iter_num += 1  # at once: an interruption from here on saves a state that has this update
        self.tokens_seen += self.tokens_per_iter  # (and the tokens it trained on)
        self.steps += 1
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        lossf = float(loss.item()) * gas  # waits for the device: the time below is the whole step's
        return Step(it, lossf, lr, time.perf_counter() - start, self.tokens_per_iter, self.tokens_seen,
                    self.steps <= WARMUP_STEPS)

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
        OUT_DIR/ckpt.pt) atomically; `log` gets 'saving checkpoint to DIR'. Returns the path.
        Under DDP only rank 0 writes (every rank holds the same weights), with the config's
        values as given rather than this rank's."""
        where = self.cfg["out_dir"] if path is None else (os.path.dirname(path) or ".")
        path = self.checkpoint_path if path is None else path
        if path == self.checkpoint_path:
            self.earlier_ckpt = False  # ckpt.pt is this run's from now on (on every rank)
        if self.rank is not None and not self.rank.master:
            return path
        config = self.cfg if self.rank is None else dict(self.rank.config)
        state = {"model": self.raw_model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "model_args": self.model_args, "iter_num": self.iter_num,
                 "best_val_loss": self.best_val_loss, "config": config, TOKENS_KEY: self.tokens_seen}
        if self.earlier_ckpt:  # (cleared above for a save to ckpt.pt)
            state[EARLIER_RUN_KEY] = True  # so that a resume from it knows ckpt.pt is not its best
        if self.val_at_save is not None:
            state[VAL_AT_SAVE_KEY], state[VAL_STEP_KEY] = self.val_at_save[1], self.val_at_save[0]
        self.log(f"saving checkpoint to {where}")
        meta = os.path.join(os.path.dirname(path) or ".", "meta.pkl")
        try:
            save_checkpoint(state, path)
            # another run's meta.pkl is replaced with ckpt.pt only: while an earlier run's ckpt.pt stays
            # (this run's state saved beside it) the vocabulary beside it is that run's
            if self.vocab is not None and not _meta_holds(meta, self.vocab) and (
                    path == self.checkpoint_path or not os.path.exists(meta)):
                save_meta(self.vocab, meta)
        except OSError as e:  # a full disk, a read-only folder: the previous files are intact
            raise LossdoctorError(f"{path}: cannot write the checkpoint ({e.strerror or e}); "
                                  "the previous checkpoint, if any, is left as it was") from None
        return path


def _same_vocabulary(ckpt_path: str, data: Data) -> None:
    """Refuse a resume on character data whose vocabulary is not the one the meta.pkl beside
    the checkpoint holds (UsageError): the checkpoint's ids would mean other characters."""
    from .data import read_meta
    meta = os.path.join(os.path.dirname(ckpt_path) or ".", "meta.pkl")
    if data.stoi is None or not os.path.exists(meta):
        return
    try:
        theirs = read_meta(meta).get("stoi")
    except InputError:
        return  # unreadable: nothing says what the checkpoint's ids mean
    if isinstance(theirs, dict) and theirs != data.stoi:
        raise UsageError(f"the characters of {data.source} ({len(data.stoi)}) are not those of the checkpoint's "
                         f"vocabulary ({meta}: {len(theirs)}): its ids would mean other characters; resume on the "
                         "data it trained on (--data)")


def _meta_holds(path: str, vocab: dict[str, int]) -> bool:
    """Whether the meta.pkl at `path` is this vocabulary's (no file, or another's: False)."""
    from .data import read_meta
    if not os.path.exists(path):
        return False
    try:
        return read_meta(path).get("stoi") == vocab
    except InputError:  # unreadable: written again
        return False


AUTOCAST_CPU = "autocast on cpu:"  # the log line of a CPU run in bfloat16 or float16 (readers/lines.py)
GPU_LINE = "cuda device:"  # the log line that names a CUDA run's GPU and dtype (readers/lines.py)


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
    # lossdoctor's own line (nanoGPT prints none): the train split's size gives analyze the epochs
    log(f"train split: {len(data.train):,} tokens, val split: {len(data.val):,} tokens")
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
