"""Reader for nanochat's checkpoints (dialect `nanochat-ckpt`): `meta_NNNNNN.json`, and
`model_NNNNNN.pt` beside it.

The JSON holds the step, `val_bpb` (the val at that step, in bits per byte),
`model_config` (`n_layer`, `n_head`, `n_kv_head`, `n_embd`, `sequence_len`, `vocab_size`),
`user_config` (the script's arguments) and the batch sizes. The weights file is a bare
state dict: it is loaded weights-only (never code) to count the parameters, and read
through the meta JSON of its step, which it needs.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..run import Dialect, Measures
from .build import Found, make_run

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

MODEL = re.compile(r"^model_(\d+)\.pt$")
MODEL_KEYS = {"n_layer": "n_layer", "n_head": "n_head", "n_embd": "n_embd", "sequence_len": "block_size",
              "vocab_size": "vocab_size", "n_kv_head": "n_kv_head"}
BATCH_KEYS = {"device_batch_size": "batch_size", "max_seq_len": "block_size", "total_batch_size": "total_batch_size"}


def _meta_of(path: str) -> str | None:
    m = MODEL.match(os.path.basename(path))
    return os.path.join(os.path.dirname(path), f"meta_{m.group(1)}.json") if m else None


def sniff_model(sample: Sample) -> bool:
    """A file named model_NNNNNN.pt."""
    return _meta_of(sample.path) is not None


def read_model(sample: Sample) -> Run:
    meta = _meta_of(sample.path)
    assert meta is not None
    if not os.path.isfile(meta):
        raise InputError(sample.path, f"a nanochat model file without its {os.path.basename(meta)} beside it "
                                      "(the step, val bpb and config are there)")
    with open(meta, "rb") as f:
        doc = _json(meta, f.read())
    from ..nanogpt.checkpoint import load_weights
    weights = load_weights(sample.path)
    params = sum(int(t.numel()) for t in weights.values())
    return _run(doc, f"{meta} + {sample.path}", params)


def sniff_meta(sample: Sample) -> bool:
    """A JSON object with `model_config` and `step` (parsed once, with the other JSON
    readers' sniffs)."""
    from .jsonlogs import _doc, _is_json
    doc = _doc(sample) if _is_json(sample) else None
    return isinstance(doc, dict) and isinstance(doc.get("model_config"), dict) and "step" in doc


def read_meta(sample: Sample) -> Run:
    return _run(_json(sample.path, sample.data.tobytes()), sample.path, None)


def _json(path: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as e:
        raise InputError(path, f"not valid JSON: {e}") from None


def _run(doc: Any, source: str, params: int | None) -> Run:
    if not isinstance(doc, dict):
        raise InputError(source, "a nanochat meta JSON that is not an object")
    found = Found(n_lines=1, params=params)
    step, val = doc.get("step"), doc.get("val_bpb")
    if isinstance(step, int) and isinstance(val, (int, float)) and not isinstance(val, bool):
        found.val.add(step, float(val), 1)
    model: dict[str, Any] = doc["model_config"] if isinstance(doc.get("model_config"), dict) else {}
    for key, mapped in MODEL_KEYS.items():
        if isinstance(model.get(key), int):
            found.set(mapped, model[key])
    for key, mapped in BATCH_KEYS.items():
        if isinstance(doc.get(key), int):
            found.set(mapped, doc[key])
    user: dict[str, Any] = doc["user_config"] if isinstance(doc.get("user_config"), dict) else {}
    shown = {k for k, _, _ in found.config}
    for key, value in user.items():
        if isinstance(value, (int, float, str, bool)) and key not in shown:
            found.set(key, value)
    found.vocab_size = model.get("vocab_size") if isinstance(model.get("vocab_size"), int) else None
    found.notes.append("a nanochat checkpoint: the val bpb at its step, no curve"
                       + (f"; {params:,} parameters in its weights (read weights-only)" if params else ""))
    return make_run(found, source, Dialect.NANOCHAT_CKPT, Measures(val="bpb", train="none", eval_train=False))
