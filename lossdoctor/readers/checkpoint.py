"""Read a nanoGPT ``ckpt.pt`` safely and say what it holds.

nanoGPT's train.py saves ``{'model': state_dict, 'optimizer': AdamW state_dict,
'model_args': {n_layer, n_head, n_embd, block_size, bias, vocab_size, dropout},
'iter_num': int, 'best_val_loss': 0-d tensor or float, 'config': dict}``.

Safety: the file is loaded only with ``torch.load(path, map_location="cpu",
weights_only=True)``, which refuses any pickle that would need code (classes, functions)
to rebuild. lossdoctor never falls back to ``weights_only=False``. Every failure becomes
a one-line ``CheckpointError``; no traceback from torch leaks out.

torch is imported inside ``read_checkpoint`` so that importing lossdoctor (and
``lossdoctor --help``) does not pay for it.
"""

from __future__ import annotations

import math
import os
import re
import warnings
import zipfile
from typing import Any, Mapping

from ..errors import CheckpointError
from ..run import CheckpointInfo

# nanoGPT's GPTConfig fields, in model.py's order
NANOGPT_MODEL_KEYS: tuple[str, ...] = (
    "n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout",
)

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

# prefixes wrappers add to state-dict keys: torch.compile, then DDP (either order)
_WRAPPER_PREFIXES: tuple[str, ...] = ("_orig_mod.", "module.")

_LFS_PREFIXES: tuple[bytes, ...] = (
    b"version https://git-lfs.github.com/spec/v1",
    b"version https://hawser.github.com/spec/v1",  # pre-1.0 Git LFS pointers
)
_HEAD_BYTES = 1024  # a Git LFS pointer is under 1024 bytes by its spec

# train.py settings; a 'config' with none of them is not nanoGPT's config dict
_TRAIN_CONFIG_KEYS: tuple[str, ...] = (
    "learning_rate", "max_iters", "batch_size", "eval_interval", "out_dir",
    "gradient_accumulation_steps", "weight_decay", "init_from",
)

_LAYER_RE = re.compile(r"^transformer\.h\.(\d+)\.")


# --------------------------------------------------------------------------- public API


def read_checkpoint(path: str) -> CheckpointInfo:
    """Load `path` with weights_only=True and summarise it as a CheckpointInfo.

    Raises CheckpointError (one line) for a missing/empty/text/LFS-pointer/corrupt file, a
    file that needs code to unpickle, or an object that is not a nanoGPT checkpoint.
    """
    _precheck_file(path)
    ckpt = _load(path)
    _require_nanogpt_dict(path, ckpt)
    notes: list[str] = []

    state = _state_dict(ckpt, notes)
    model_args = _plain_dict(ckpt.get("model_args"), "model_args", notes)
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
        if key in NANOGPT_MODEL_KEYS:
            out[key] = value
        elif key in MODEL_ARG_ALIASES:
            renamed.append(key)
        else:
            unknown.append(key)
    for key in renamed:
        target = MODEL_ARG_ALIASES[key]
        value = _plain(model_args[key])
        if target not in out:
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
    missing = [k for k in NANOGPT_MODEL_KEYS if k not in out]
    if missing:
        notes.append(f"could not know {', '.join(missing)} (not in model_args"
                     f"{' nor inferable from the weights' if state_shapes else ''}).")
    return out, tuple(notes)


# --------------------------------------------------------------------------- loading


def _precheck_file(path: str) -> None:
    """Refuse what torch should never see: missing, directory, empty, LFS pointer."""
    if not os.path.exists(path):
        raise CheckpointError(path, "file not found")
    if os.path.isdir(path):
        raise CheckpointError(path, "is a directory, not a checkpoint file")
    head = _read_head(path)
    if not head:
        raise CheckpointError(path, "empty file (0 bytes), not a checkpoint")
    if head.startswith(_LFS_PREFIXES):
        raise CheckpointError(path, _lfs_reason(head))


def _read_head(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read ({exc.strerror or exc})") from None


def _lfs_reason(head: bytes) -> str:
    match = re.search(rb"^size (\d+)", head, re.MULTILINE)
    if match:
        size = int(match.group(1))
        target = f"the real file (size {size} bytes, {size / 1e6:.1f} MB)"
    else:
        target = "the real file"
    return (f"is a Git LFS pointer, not the checkpoint: {target} was never downloaded; "
            "run `git lfs pull` to fetch it")


def _load(path: str) -> Any:
    """torch.load with weights_only=True only; every failure becomes a CheckpointError."""
    try:
        import torch
    except ImportError:
        raise CheckpointError(path, "reading a checkpoint needs PyTorch, which is not installed "
                                    "(pip install torch)") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # storage deprecation chatter on old files
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types; none may leak as a traceback
        raise CheckpointError(path, _load_failure_reason(path, exc)) from None


def _load_failure_reason(path: str, exc: Exception) -> str:
    """One line saying why torch.load failed, most specific cause first."""
    text = str(exc)
    name = _forbidden_global(text)
    if name is not None or _needs_code(text):
        ref = f" (it references {name})" if name else ""
        return (f"the file needs code to be unpickled{ref}; lossdoctor loads checkpoints with "
                "weights_only=True only and will not run code from a file")
    head = _read_head(path)
    if _looks_like_text(head):
        first = head.decode("utf-8", "replace").strip().splitlines()[0][:60]
        return f"is a text file, not a torch checkpoint (starts with {first!r})"
    if head.startswith(b"PK"):
        return _zip_reason(path, exc)
    detail = _first_line(exc)
    if "Weights only load failed" in text:
        return (f"could not be unpickled with weights_only=True ({detail}): it is corrupt, not a "
                "torch checkpoint, or needs code, which lossdoctor will not run")
    if isinstance(exc, EOFError):
        return "ends early (EOFError): the file is truncated or not a torch checkpoint"
    return f"is not a readable torch checkpoint ({detail})"


def _forbidden_global(text: str) -> str | None:
    """The class/function name torch's weights-only unpickler refused, if it says one."""
    for pattern in (r"Unsupported global: GLOBAL ([\w.]+)",
                    r"GLOBAL ([\w.]+) was not an allowed global",
                    r"but got <class '([\w.]+)'>",
                    r"unrecognized function <function ([\w.]+)"):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return None


def _needs_code(text: str) -> bool:
    return any(s in text for s in ("Unsupported global", "add_safe_globals", "allowlisted"))


def _looks_like_text(head: bytes) -> bool:
    """No NUL/control bytes and valid UTF-8 (a cut multi-byte char at the end is fine)."""
    if not head or any(b < 9 or 13 < b < 32 for b in head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3
    return True


def _zip_reason(path: str, exc: Exception) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return f"is a truncated or corrupt zip/torch file ({_first_line(exc)})"
    if not any(n.endswith("data.pkl") for n in names):
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return ("is a zip archive but not a torch checkpoint "
                f"(no data.pkl; members: {shown or 'none'})")
    return f"is a damaged torch checkpoint ({_first_line(exc)})"


def _first_line(exc: BaseException) -> str:
    """Type and first informative line of an exception message (torch's run long)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:  # the useful part of torch's weights-only message
        text = text.split(marker, 1)[1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    line = re.sub(r"^\[enforce fail at [^\]]*\]\s*\.?\s*", "", line)  # c10 source location
    line = line.split(". This is an internal")[0]  # miniz boilerplate
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _require_nanogpt_dict(path: str, ckpt: Any) -> None:
    if not isinstance(ckpt, dict):
        raise CheckpointError(path, f"not a nanoGPT checkpoint (top-level object is a "
                                    f"{type(ckpt).__name__}, not a dict)")
    if "model" in ckpt or "model_args" in ckpt:
        return
    keys = [str(k) for k in ckpt]
    shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
    hint = "; it looks like a bare model state_dict" if _is_state_dict(ckpt) else ""
    reason = f"not a nanoGPT checkpoint (top-level keys: {shown or 'none'}){hint}"
    raise CheckpointError(path, reason)


def _is_state_dict(obj: Mapping[Any, Any]) -> bool:
    import torch  # already loaded by _load

    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


# --------------------------------------------------------------------------- model


def _state_dict(ckpt: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    """The 'model' tensors with torch.compile/DDP prefixes stripped ({} when absent)."""
    import torch

    model = ckpt.get("model")
    if model is None:
        notes.append("the checkpoint has no 'model' state dict; parameter counts are unknown.")
        return {}
    if not isinstance(model, Mapping):
        notes.append(f"'model' is a {type(model).__name__}, not a state dict; "
                     "parameter counts are unknown.")
        return {}
    return {_strip_prefixes(str(k)): v for k, v in model.items() if isinstance(v, torch.Tensor)}


def _strip_prefixes(key: str) -> str:
    """`module._orig_mod.transformer...` -> `transformer...` (DDP and torch.compile)."""
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def _is_buffer(key: str, tensor: Any) -> bool:
    """nanoGPT's causal-mask buffer `attn.bias` (1, 1, T, T) is saved but is no parameter."""
    return (key.endswith(".attn.bias") and tensor.dim() == 4) or key.endswith(".attn.masked_bias")


def _count_params(state: Mapping[str, Any]) -> int:
    """Total numel, counting each shared tensor (tied wte/lm_head) once."""
    seen: set[tuple[int, int, tuple[int, ...], tuple[int, ...]]] = set()
    counted: dict[str, Any] = {}
    total = 0
    for key, t in state.items():
        if _is_buffer(key, t):
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


def _plain(value: Any) -> Any:
    """Tensors/numpy scalars of one element -> Python numbers; containers recursively."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
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


def _as_float(value: Any, name: str, notes: list[str]) -> float | None:
    if value is None:
        notes.append(f"the checkpoint has no {name}.")
        return None
    value = _plain(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    notes.append(f"{name} is a {type(value).__name__}, not a number; ignored.")
    return None


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
    steps = [s for s in steps if isinstance(s, (int, float)) and not isinstance(s, bool)]
    if not steps:
        notes.append("the optimizer state has no 'step'; the number of updates is unknown.")
        return None
    return int(round(max(steps)))


def _group_values(optimizer: Any, key: str) -> tuple[float, ...]:
    """`key` ('lr', 'weight_decay') of each param group that has a number for it."""
    groups = optimizer.get("param_groups") if isinstance(optimizer, Mapping) else None
    values = [_plain(g.get(key)) for g in (groups or ()) if isinstance(g, Mapping)]
    return tuple(float(v) for v in values
                 if isinstance(v, (int, float)) and not isinstance(v, bool))


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
