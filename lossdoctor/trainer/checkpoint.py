"""Checkpoints in nanoGPT's format: `{'model', 'optimizer', 'model_args', 'iter_num',
'best_val_loss', 'config'}`, written atomically and read with weights_only=True."""

from __future__ import annotations

import os
from typing import Any


def save_checkpoint(state: dict[str, Any], path: str) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves half a file."""
    import torch
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def save_meta(stoi: dict[str, int], path: str) -> None:
    """nanoGPT's meta.pkl of a char-level dataset: {'vocab_size', 'stoi', 'itos'}, plain
    dicts that lossdoctor's no-code unpickler (trainer.data.read_meta) reads back."""
    import pickle
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump({"vocab_size": len(stoi), "stoi": dict(stoi), "itos": {i: ch for ch, i in stoi.items()}}, f)
    os.replace(tmp, path)


def load_checkpoint(path: str) -> dict[str, Any]:
    """The checkpoint to resume from, by nanoGPT's one loader (weights_only=True, no code
    is run), with everything train.py reads back for init_from='resume'."""
    from .. import nanogpt
    from ..errors import CheckpointError
    if not os.path.exists(path):
        raise CheckpointError(path, "no checkpoint to resume from (init_from=resume reads "
                                    "OUT_DIR/ckpt.pt)")
    return nanogpt.load_checkpoint(path, require=nanogpt.RESUME_KEYS)
