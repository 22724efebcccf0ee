"""A nanoGPT-compatible trainer: model, data, training loop.

    from lossdoctor.trainer import resolve, load_data, train
    cfg = resolve("config/train_shakespeare_char.py", ["--device=cpu", "--max_iters=200"])
    result = train(cfg, load_data("data/shakespeare_char"))

The loop's stages, for a caller that drives them itself (same seed, same calls: the same
run as `train`):

    trainer = Trainer.setup(cfg, data)      # seed, model (or resume), optimizer, compile
    losses = trainer.evaluate(batches=50)   # {'train': nats, 'val': nats}
    step = trainer.step()                   # Step: loss, lr, seconds, warmup, ...
    trainer.save()                          # OUT_DIR/ckpt.pt, atomically

`lossdoctor train` is `run_training` with the command line's arguments.
"""

from __future__ import annotations

import os

from ..nanogpt import get_lr
from .config import TrainConfig, resolve
from .data import Data, load_data
from .loop import WARMUP_STEPS, Event, Step, Trainer, TrainingStopped, TrainResult, train

__all__ = ["TrainConfig", "resolve", "Data", "load_data", "Event", "TrainingStopped",
           "TrainResult", "get_lr", "train", "run_training", "data_for", "Trainer", "Step", "WARMUP_STEPS"]


def data_for(cfg: TrainConfig, path: str | None) -> Data:
    """The data a run uses: `path` if given; else nanoGPT's `data/DATASET` when it exists
    here; else, for the default dataset, the embedded corpus."""
    if path is not None:
        return load_data(path)
    local = os.path.join("data", cfg["dataset"])
    if os.path.exists(os.path.join(local, "train.bin")):
        return load_data(local)
    if cfg["dataset"] != "openwebtext":
        from ..errors import UsageError
        raise UsageError(f"dataset {cfg['dataset']!r}: no {local}/train.bin here; "
                         "give the data with --data DIR|FILE")
    return load_data(None)


def run_training(config_file: str | None, args: list[str], data: str | None,
                 progress: bool = True) -> TrainResult:
    cfg = resolve(config_file, args)
    return train(cfg, data_for(cfg, data), progress=progress)
