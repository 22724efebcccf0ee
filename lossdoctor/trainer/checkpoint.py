"""Checkpoints in nanoGPT's format: `{'model', 'optimizer', 'model_args', 'iter_num',
'best_val_loss', 'config'}`, written atomically and read with weights_only=True."""

from __future__ import annotations

import os
from typing import Any

from ..fsio import atomic_write


def save_checkpoint(state: dict[str, Any], path: str) -> None:
    """torch.save to a temporary file, fsync, then rename: a crash, a kill or a full disk
    never leaves half a file, and the previous checkpoint stays until the new one is whole."""
    import torch
    atomic_write(path, lambda f: torch.save(state, f))


def save_meta(stoi: dict[str, int], path: str) -> None:
    """nanoGPT's meta.pkl of a char-level dataset: {'vocab_size', 'stoi', 'itos'}, plain
    dicts that lossdoctor's no-code unpickler (trainer.data.read_meta) reads back."""
    import pickle
    meta = {"vocab_size": len(stoi), "stoi": dict(stoi), "itos": {i: ch for ch, i in stoi.items()}}
    atomic_write(path, lambda f: pickle.dump(meta, f))


INTERRUPTED_NAME = "ckpt_interrupted.pt"  # the state at Ctrl-C when ckpt.pt keeps the best model


def load_checkpoint(path: str) -> dict[str, Any]:
    """The checkpoint to resume from, by nanoGPT's one loader (weights_only=True, no code
    is run), with everything train.py reads back for init_from='resume'."""
    from .. import nanogpt
    from ..errors import CheckpointError
    if not os.path.exists(path):
        raise CheckpointError(path, "no checkpoint to resume from (init_from=resume reads "
                                    "OUT_DIR/ckpt.pt)")
    return nanogpt.load_checkpoint(path, require=nanogpt.RESUME_KEYS)


# in ckpt_interrupted.pt: ckpt.pt beside it is an earlier run's, not this run's best (nanoGPT
# ignores the key)
EARLIER_RUN_KEY = "ckpt_pt_is_earlier_run"
# the final model's own val where best_val_loss is not it (saved at the end, no eval having
# improved): its last eval's val, and that eval's step (the model may have trained past it)
VAL_AT_SAVE_KEY, VAL_STEP_KEY = "val_at_save", "val_at_save_step"
# the tokens trained on up to iter_num, over every process of the run (a resume may change
# the batch, so iter_num times today's tokens per iteration would not be it)
TOKENS_KEY = "tokens_seen"


def tokens_before(checkpoint: dict[str, Any], tokens_per_iter: int) -> int:
    """The tokens a checkpoint's weights were trained on: TOKENS_KEY where it holds one,
    else (nanoGPT's own checkpoints) its iter_num times the tokens per iteration of the
    config it holds (gradient_accumulation_steps there is over all ranks: nanoGPT saves
    it before dividing it by the world size); `tokens_per_iter`, the resumed run's, only
    where that config lacks them."""
    if isinstance(checkpoint.get(TOKENS_KEY), int):
        return int(checkpoint[TOKENS_KEY])
    c = checkpoint.get("config") or {}
    per = [v for v in (c.get(k) for k in ("gradient_accumulation_steps", "batch_size", "block_size"))
           if isinstance(v, int) and v > 0]
    if len(per) == 3:
        tokens_per_iter = per[0] * per[1] * per[2]
    return int(checkpoint["iter_num"]) * tokens_per_iter


def resume_path(out_dir: str) -> str:
    """The checkpoint init_from='resume' reads: OUT_DIR/ckpt_interrupted.pt when it is
    newer than ckpt.pt (a run interrupted with always_save_checkpoint=False, whose ckpt.pt
    keeps the best model), else OUT_DIR/ckpt.pt."""
    best, interrupted = os.path.join(out_dir, "ckpt.pt"), os.path.join(out_dir, INTERRUPTED_NAME)
    try:
        newer = os.path.getmtime(interrupted) >= os.path.getmtime(best)
    except FileNotFoundError:
        newer = os.path.exists(interrupted)
    return interrupted if newer else best
