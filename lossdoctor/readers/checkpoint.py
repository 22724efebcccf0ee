"""Read a nanoGPT ``ckpt.pt`` safely and say what it holds (dialect `nanogpt-ckpt`).

The file is loaded by `lossdoctor.nanogpt.load_checkpoint` (weights_only=True only; every
failure a one-line ``CheckpointError``); this module summarises what it holds: model_args
mapped onto nanoGPT's keys, the parameter count, the optimizer's steps and LRs, and notes
on what could not be known. torch is imported only when a checkpoint is read, so that
importing lossdoctor (and ``lossdoctor --help``) does not pay for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..config import NUMBER_LIMIT, wrong_type
from ..nanogpt import MODEL_KEYS, is_mask_buffer, load_checkpoint, state_dict
from ..run import CheckpointInfo

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

# forks' names for nanoGPT's model_args keys (alias -> nanoGPT name)
MODEL_ARG_ALIASES: dict[str, str] = {
    "num_layers": "n_layer", "n_layers": "n_layer", "num_hidden_layers": "n_layer",
    "num_heads": "n_head", "n_heads": "n_head", "num_attention_heads": "n_head",
    "dim_embedding": "n_embd", "d_model": "n_embd", "n_embed": "n_embd",
    "hidden_size": "n_embd", "embed_dim": "n_embd", "n_embedding": "n_embd",
    "seq_length": "block_size", "seq_len": "block_size", "context_length": "block_size",
    "max_seq_len": "block_size", "context_size": "block_size", "n_ctx": "block_size",
    "n_positions": "block_size",
    "use_bias": "bias",
    "dropout_rate": "dropout", "p_dropout": "dropout", "drop_rate": "dropout",
    "vocab": "vocab_size", "n_vocab": "vocab_size",
}

# how a checkpoint file starts: a zip (torch >= 1.6), a legacy pickle, a Git LFS pointer
_MAGIC: tuple[bytes, ...] = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05",
                             b"version https://git-lfs.github.com/spec/")

# train.py settings; a 'config' with none of them is not nanoGPT's config dict
_TRAIN_CONFIG_KEYS: tuple[str, ...] = (
    "learning_rate", "max_iters", "batch_size", "eval_interval", "out_dir",
    "gradient_accumulation_steps", "weight_decay", "init_from",
)

_LAYER_RE = re.compile(r"^transformer\.h\.(\d+)\.")


# --------------------------------------------------------------------------- public API


def sniff(sample: Sample) -> bool:
    """A torch file (zip or legacy pickle), a Git LFS pointer, or a file named *.pt."""
    return sample.head.startswith(_MAGIC) or sample.path.endswith(".pt")


def read(sample: Sample) -> Run:
    """The Run of a checkpoint alone."""
    from .combine import run_from_checkpoint
    return run_from_checkpoint(read_checkpoint(sample.path))


def read_checkpoint(path: str) -> CheckpointInfo:
    """Load `path` with weights_only=True and summarise it as a CheckpointInfo.

    Raises CheckpointError (one line) for a missing/empty/text/LFS-pointer/corrupt file, a
    file that needs code to unpickle, or an object that is not a nanoGPT checkpoint.
    """
    from ..errors import checked_path
    ckpt = load_checkpoint(checked_path("read_checkpoint", path), mapped=True)
    notes: list[str] = []

    state = _state_dict(ckpt, notes)
    model_args = _checked(_plain_dict(ckpt.get("model_args"), "model_args", notes), notes)
    config = _plain_dict(ckpt.get("config"), "config", notes)
    shapes = {key: tuple(int(d) for d in t.shape) for key, t in state.items()}
    _, arg_notes = normalize_model_args(model_args, shapes if state else None)
    notes.extend(arg_notes)
    notes.extend(_state_dict_notes(state))

    n_params = _count_params(state) if state else None
    wpe = state.get("transformer.wpe.weight")
    n_no_wpe = n_params - int(wpe.numel()) if n_params is not None and wpe is not None else None

    iter_num = _as_int(ckpt.get("iter_num"), "iter_num", notes)
    best = _as_float(ckpt.get("best_val_loss"), "best_val_loss", notes)
    optimizer = ckpt.get("optimizer")
    steps = _optimizer_steps(optimizer, notes)
    lrs = _group_values(optimizer, "lr")
    wds = _group_values(optimizer, "weight_decay")
    notes.extend(_consistency_notes(iter_num, steps, config))

    return CheckpointInfo(
        path=path,
        iter_num=iter_num,
        best_val_loss=best,
        model_args=model_args,
        config=config,
        n_params=n_params,
        n_params_no_wpe=n_no_wpe,
        optimizer_steps=steps,
        param_group_lrs=lrs,
        param_group_weight_decay=wds,
        notes=tuple(notes),
    )


def normalize_model_args(
    model_args: Mapping[str, Any],
    state_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Map `model_args` onto nanoGPT's key names; fill gaps from state-dict shapes.

    Returns (normalized, notes). `normalized` holds only nanoGPT keys (n_layer, n_head,
    n_embd, block_size, bias, vocab_size, dropout) that are known; a key stored under
    nanoGPT's own name wins over a fork's alias. `state_shapes` maps state-dict keys
    (wrapper prefixes already stripped) to tensor shapes.
    """
    out: dict[str, Any] = {}
    renamed: list[str] = []
    unknown: list[str] = []
    notes: list[str] = []
    for key, value in model_args.items():
        value = _plain(value)
        if key in MODEL_KEYS and (why := wrong_type(key, value)) is not None:
            notes.append(f"model_args {key} = {_short(value)} ({why}); ignored.")
        elif key in MODEL_KEYS:
            out[key] = value
        elif key in MODEL_ARG_ALIASES:
            renamed.append(key)
        else:
            unknown.append(key)
    for key in renamed:
        target = MODEL_ARG_ALIASES[key]
        value = _plain(model_args[key])
        if (why := wrong_type(target, value)) is not None:
            notes.append(f"model_args {key} = {_short(value)} ({why}); ignored.")
        elif target not in out:
            out[target] = value
        elif out[target] != value:
            notes.append(f"model_args has both {target}={out[target]!r} and {key}={value!r}; "
                         f"using {target}.")
    if renamed:
        pairs = ", ".join(f"{k} -> {MODEL_ARG_ALIASES[k]}" for k in renamed)
        notes.insert(0, f"model_args uses a fork's key names ({pairs}).")
    if unknown:
        notes.append("model_args keys lossdoctor does not know were ignored: "
                     f"{', '.join(unknown)}.")
    if state_shapes:
        notes.extend(_infer_from_shapes(out, state_shapes))
    missing = [k for k in MODEL_KEYS if k not in out]
    if missing:
        notes.append(f"could not know {', '.join(missing)} (not in model_args"
                     f"{' nor inferable from the weights' if state_shapes else ''}).")
    return out, tuple(notes)


# --------------------------------------------------------------------------- model


def _state_dict(ckpt: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """The 'model' tensors with torch.compile/DDP prefixes stripped ({} when absent)."""
    model = ckpt.get("model")
    if model is None:
        notes.append("the checkpoint has no 'model' state dict; parameter counts are unknown.")
        return {}
    if not isinstance(model, Mapping):
        notes.append(f"'model' is a {type(model).__name__}, not a state dict; "
                     "parameter counts are unknown.")
        return {}
    return state_dict(model)


def _count_params(state: Mapping[str, Any]) -> int:
    """Total numel, counting each shared tensor (tied wte/lm_head) once."""
    seen: set[tuple[int, int, tuple[int, ...], tuple[int, ...]]] = set()
    counted: dict[str, Any] = {}
    total = 0
    for key, t in state.items():
        if is_mask_buffer(key, t):
            continue
        ident = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride())
        if t.numel() and ident in seen:
            continue  # same memory as a tensor already counted: tied weights
        seen.add(ident)
        counted[key] = t
        total += int(t.numel())
    return total - _untracked_tie(counted)


def _untracked_tie(counted: Mapping[str, Any]) -> int:
    """numel of lm_head when it equals wte but lost shared storage (e.g. saved by a copy)."""
    import torch

    wte, head = counted.get("transformer.wte.weight"), counted.get("lm_head.weight")
    if wte is None or head is None or wte.shape != head.shape:
        return 0
    if not (wte.is_contiguous() and head.is_contiguous()):  # an expanded view (stride 0): no saved copy
        return 0
    return int(head.numel()) if torch.equal(wte, head) else 0


def _state_dict_notes(state: Mapping[str, Any]) -> list[str]:
    notes: list[str] = []
    if any(k.endswith((".gamma", ".beta")) for k in state):
        notes.append("LayerNorm weights are named gamma/beta (a fork's naming, not nanoGPT's "
                     "weight/bias).")
    return notes


def _infer_from_shapes(out: dict[str, Any], shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    """Fill missing keys of `out` from weight shapes; note each inference or mismatch."""
    found: dict[str, tuple[int, str]] = {}  # nanoGPT key -> (value, where it came from)
    wte, wpe = shapes.get("transformer.wte.weight"), shapes.get("transformer.wpe.weight")
    if wte is not None and len(wte) == 2:  # (vocab, n_embd)
        found["vocab_size"] = (wte[0], "transformer.wte.weight shape")
        found["n_embd"] = (wte[1], "transformer.wte.weight shape")
    if wpe is not None and len(wpe) == 2:  # (block_size, n_embd)
        found["block_size"] = (wpe[0], "transformer.wpe.weight shape")
        found.setdefault("n_embd", (wpe[1], "transformer.wpe.weight shape"))
    layers = {int(m.group(1)) for k in shapes if (m := _LAYER_RE.match(k))}
    if layers:
        found["n_layer"] = (len(layers), "the count of transformer.h.N blocks")
    notes: list[str] = []
    for key, (value, source) in found.items():
        if key not in out:
            out[key] = value
            notes.append(f"{key} not in model_args; inferred from {source}.")
        elif out[key] != value:
            notes.append(f"model_args says {key}={out[key]!r} but {source} gives {value}.")
    return notes


# --------------------------------------------------------------------------- scalars


PLAIN_DEPTH = 8  # a config or model_args value nested deeper is not walked
PLAIN_ITEMS = 10_000  # nor one holding more values (a list shared with itself 60 times holds 2**60)
TOO_DEEP = "<too deeply nested or too large to read>"


def _plain(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """Tensors/numpy scalars of one element -> Python numbers; containers recursively, up
    to PLAIN_DEPTH levels and PLAIN_ITEMS values (TOO_DEEP past them)."""
    budget = [PLAIN_ITEMS] if budget is None else budget
    budget[0] -= 1
    if isinstance(value, (Mapping, list, tuple)) and (depth >= PLAIN_DEPTH or budget[0] < len(value)):
        budget[0] = -1
        return TOO_DEEP
    if isinstance(value, Mapping):
        return {k: _plain(v, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, depth + 1, budget) for v in value)
    shape = getattr(value, "shape", None)  # torch.Size or numpy shape tuple
    if shape is not None and hasattr(value, "item") and math.prod(shape) == 1:
        return value.item()  # one-element tensor, numpy scalar or 0-d array
    return value


def _plain_dict(value: Any, name: str, notes: list[str]) -> dict[str, Any]:
    if value is None:
        notes.append(f"the checkpoint has no {name}.")
        return {}
    if not isinstance(value, Mapping):
        notes.append(f"{name} is a {type(value).__name__}, not a dict; ignored.")
        return {}
    return {str(k): _plain(v) for k, v in value.items()}


def _checked(model_args: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """model_args without the values train.py could not have saved (wrong type, out of range)."""
    out = {}
    for key, value in model_args.items():
        why = wrong_type(MODEL_ARG_ALIASES.get(key, key), value)
        if why is None:
            out[key] = value
        else:
            notes.append(f"model_args {key} = {_short(value)} ({why}); ignored.")
    return out


def _as_float(value: Any, name: str, notes: list[str]) -> float | None:
    if value is None:
        notes.append(f"the checkpoint has no {name}.")
        return None
    value = _plain(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value) or not abs(value) < NUMBER_LIMIT:
            notes.append(f"{name} is {_short(value)}, out of range; ignored.")
            return None
        return float(value)
    notes.append(f"{name} is a {type(value).__name__}, not a number; ignored.")
    return None


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit int"
    return text if len(text) <= 40 else text[:37] + "..."


def _as_int(value: Any, name: str, notes: list[str]) -> int | None:
    number = _as_float(value, name, notes)
    if number is None:
        return None
    if not math.isfinite(number) or number != int(number):
        notes.append(f"{name} is {number!r}, not a whole number; ignored.")
        return None
    return int(number)


# --------------------------------------------------------------------------- optimizer


def _optimizer_steps(optimizer: Any, notes: list[str]) -> int | None:
    """Largest per-parameter AdamW 'step' (optimizer updates applied so far)."""
    if optimizer is None:
        notes.append("the checkpoint has no optimizer state.")
        return None
    state = optimizer.get("state") if isinstance(optimizer, Mapping) else None
    steps = [_plain(s.get("step")) for s in (state or {}).values() if isinstance(s, Mapping)]
    steps = [s for s in steps if _number(s)]
    if not steps:
        notes.append("the optimizer state has no 'step'; the number of updates is unknown.")
        return None
    return int(round(max(steps)))


def _group_values(optimizer: Any, key: str) -> tuple[float, ...]:
    """`key` ('lr', 'weight_decay') of each param group that has a number for it."""
    groups = optimizer.get("param_groups") if isinstance(optimizer, Mapping) else None
    values = [_plain(g.get(key)) for g in (groups or ()) if isinstance(g, Mapping)]
    return tuple(float(v) for v in values if _number(v))


def _number(v: Any) -> bool:
    """A finite number below NUMBER_LIMIT (what an optimizer's step or lr can be)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < NUMBER_LIMIT


def _consistency_notes(iter_num: int | None, steps: int | None,
                       config: Mapping[str, Any]) -> list[str]:
    notes: list[str] = []
    # train.py saves at iter_num after iter_num updates (iters 0 .. iter_num-1)
    if iter_num is not None and steps is not None and steps != iter_num:
        if steps < iter_num:
            why = (f"{iter_num - steps} iterations did not update the weights (e.g. fp16 "
                   "GradScaler skipped steps on overflow, or the optimizer state was reset)")
        else:
            why = "the optimizer state came from a longer run"
        notes.append(f"the optimizer took {steps} steps but iter_num is {iter_num}: {why}.")
    if config.get("always_save_checkpoint") is True:
        notes.append("best_val_loss is the val loss at iter_num, not necessarily the lowest: "
                     "always_save_checkpoint=True overwrites it at every eval.")
    if config and not any(k in config for k in _TRAIN_CONFIG_KEYS):
        notes.append("config holds none of nanoGPT's train.py settings (learning_rate, "
                     "max_iters, batch_size, ...); the training settings are unknown.")
    return notes
