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


def load_checkpoint(path: str) -> dict[str, Any]:
    """The checkpoint to resume from, by nanoGPT's one loader (weights_only=True, no code
    is run), with everything train.py reads back for init_from='resume'."""
    from .. import nanogpt
    from ..errors import CheckpointError
    if not os.path.exists(path):
        raise CheckpointError(path, "no checkpoint to resume from (init_from=resume reads "
                                    "OUT_DIR/ckpt.pt)")
    return nanogpt.load_checkpoint(path, require=nanogpt.RESUME_KEYS)
