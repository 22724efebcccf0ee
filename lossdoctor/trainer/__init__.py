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
           "TrainResult", "get_lr", "train", "run_training", "data_for", "Trainer", "Step", "WARMUP_STEPS",
           "CPU_DEFAULT", "EMBEDDED", "cpu_default", "without_local_data"]


# the config of `lossdoctor train` with none given, on a CPU: nanoGPT's README CPU run
CPU_DEFAULT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                           "shakespeare_char_cpu.yaml")
EMBEDDED = "embedded"  # the dataset name of the embedded corpus


def cpu_default(config_file: str | None, args: list[str]) -> bool:
    """Whether `lossdoctor train` should start from CPU_DEFAULT: no config file, no model
    shape on the command line (who gives one has chosen a model), and the run goes to a CPU
    (--device=cpu, or no --device and no CUDA here). train.py's own defaults are GPT-2 124M,
    hours per hundred steps on a CPU. A resume goes on from the base its checkpoint ran (its
    model is the checkpoint's, whatever shape flags say): the same command with
    --init_from=resume is the same run; with no checkpoint there is none to start from."""
    shape = ("--n_layer=", "--n_head=", "--n_embd=", "--block_size=", "--batch_size=")
    resume = "--init_from=resume" in args
    if config_file is not None:
        return False
    if resume:  # no checkpoint: nothing to announce, the resume's own error says so
        return bool(_checkpoint_ran_cpu_default(args))
    if not resume and any(a.startswith(shape) for a in args):
        return False
    device = next((a.split("=", 1)[1] for a in args if a.startswith("--device=")), None)
    if device is not None:
        return device == "cpu"
    import torch
    return not torch.cuda.is_available()


def _checkpoint_ran_cpu_default(args: list[str]) -> bool | None:
    """Whether the checkpoint a resume reads was trained from CPU_DEFAULT rather than
    train.py's defaults: of the keys where the two differ (batch, LR schedule, betas,
    evals), more hold CPU_DEFAULT's value in the config it saved; None where no checkpoint
    is found (in --out_dir, else in either base's out_dir)."""
    from ..nanogpt import NANOGPT_DEFAULTS, load_checkpoint
    from .checkpoint import resume_path
    cpu = resolve(CPU_DEFAULT, ["--device=cpu"]).values  # as the config loader reads it
    given = next((a.split("=", 1)[1] for a in args if a.startswith("--out_dir=")), None)
    for out_dir in [given] if given else [cpu["out_dir"], NANOGPT_DEFAULTS["out_dir"]]:
        path = resume_path(out_dir)
        if not os.path.isfile(path):
            continue
        saved = load_checkpoint(path, mapped=True).get("config") or {}  # its config, not its 1.5 GB
        keys = [k for k, v in cpu.items() if k in NANOGPT_DEFAULTS and NANOGPT_DEFAULTS[k] != v
                and k not in ("out_dir", "device", "compile") and k in saved]
        return bool(2 * sum(saved[k] == cpu[k] for k in keys) > len(keys))
    return None


def data_for(cfg: TrainConfig, path: str | None) -> Data:
    """The data a run uses: `path` if given; else nanoGPT's `data/DATASET` when it exists
    here; else, for the default dataset (or `embedded`), the embedded corpus."""
    if path is not None:
        return load_data(path)
    local = os.path.join("data", cfg["dataset"])
    if os.path.exists(os.path.join(local, "train.bin")):
        return load_data(local)
    if cfg["dataset"] not in ("openwebtext", EMBEDDED):
        from ..errors import UsageError
        raise UsageError(f"dataset {cfg['dataset']!r}: no {local}/train.bin here; "
                         "give the data with --data DIR|FILE")
    return load_data(None)


def run_training(config_file: str | None, args: list[str], data: str | None,
                 progress: bool = True) -> TrainResult:
    cfg = resolve(config_file, args)
    named = dataset_name(data) if data is not None else EMBEDDED if without_local_data("openwebtext", None) else None
    if cfg["dataset"] == "openwebtext" and named is not None:  # train.py's default, not the data used
        cfg = resolve(base=cfg, overrides={"dataset": named})  # the log and ckpt name the data that is used
    return train(cfg, data_for(cfg, data), progress=progress)


def dataset_name(path: str) -> str:
    """The dataset a --data path names, as nanoGPT names data/DATASET: a data directory's
    own name; a text file's folder where the file is nanoGPT's `input.txt`
    (data/shakespeare_char/input.txt), else the file's stem."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return os.path.basename(path.rstrip(os.sep)) or path
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.basename(os.path.dirname(path)) if stem == "input" else stem


def without_local_data(cfg_dataset: str, data: str | None) -> bool:
    """No --data and no nanoGPT data/DATASET here."""
    return data is None and not os.path.exists(os.path.join("data", cfg_dataset, "train.bin"))
