"""nanoGPT's ``ckpt.pt``: its layout, and the one function that loads it.

train.py saves ``{'model': state_dict, 'optimizer': AdamW state_dict, 'model_args':
{n_layer, n_head, n_embd, block_size, bias, vocab_size, dropout}, 'iter_num': int,
'best_val_loss': 0-d tensor or float, 'config': dict}`` to ``OUT_DIR/ckpt.pt``. The
state dict's keys carry ``_orig_mod.`` when the model was compiled (torch.compile) and
``module.`` when it was wrapped in DDP.

Safety: a file is loaded only with ``torch.load(path, map_location="cpu",
weights_only=True)``, which refuses any pickle that would need code (classes, functions)
to rebuild; there is no fallback to ``weights_only=False``. Every failure becomes a
one-line ``CheckpointError`` naming the file; no traceback from torch leaks out. torch is
imported inside the functions that need it.
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections.abc import Collection, Mapping
from typing import Any

from ..errors import CheckpointError, RefusedCheckpoint

CKPT_NAME = "ckpt.pt"
CHECKPOINT_KEYS: tuple[str, ...] = ("model", "optimizer", "model_args", "iter_num", "best_val_loss", "config")
RESUME_KEYS: tuple[str, ...] = CHECKPOINT_KEYS[:5]  # what train.py reads back for init_from='resume'
# prefixes wrappers add to state-dict keys: torch.compile, then DDP (either order)
WRAPPER_PREFIXES: tuple[str, ...] = ("_orig_mod.", "module.")

_LFS_PREFIXES: tuple[bytes, ...] = (
    b"version https://git-lfs.github.com/spec/v1",
    b"version https://hawser.github.com/spec/v1",  # pre-1.0 Git LFS pointers
)
_HEAD_BYTES = 1024  # a Git LFS pointer is under 1024 bytes by its spec


def load_checkpoint(path: str, *, require: Collection[str] = (), mapped: bool = False) -> dict[str, Any]:
    """The dict a nanoGPT ckpt.pt holds, loaded with weights_only=True on the CPU.

    require: top-level keys the caller needs (e.g. RESUME_KEYS to resume training).
    mapped: the tensors are mapped from the file, not read (torch.load's mmap), for a
    caller that reads the config, the shapes and a few values: a GPT-2 checkpoint's 1.5 GB
    are then not read to learn its iter_num. A file of torch's legacy format is read whole.

    Raises CheckpointError (one line, naming the file) for a missing, empty, text,
    Git-LFS-pointer or corrupt file, a file that needs code to unpickle, an object that is
    not a nanoGPT checkpoint (neither 'model' nor 'model_args'), or a missing `require` key.
    """
    _precheck_file(path)
    ckpt = _load(path, mapped)
    _require_nanogpt_dict(path, ckpt)
    missing = [k for k in require if k not in ckpt]
    if missing:
        raise CheckpointError(path, f"not a nanoGPT training checkpoint (no {', '.join(missing)})")
    return dict(ckpt)


def load_weights(path: str) -> dict[str, Any]:
    """A bare state dict (name -> tensor), as nanochat's model_NNNNNN.pt holds, loaded the
    same safe way as load_checkpoint; CheckpointError (one line) otherwise."""
    _precheck_file(path)
    obj = _load(path)
    if not isinstance(obj, dict) or not _is_state_dict(obj):
        raise CheckpointError(path, "not a model state dict (a dict of tensors)")
    return dict(obj)


def strip_prefixes(key: str) -> str:
    """`module._orig_mod.transformer...` -> `transformer...` (DDP and torch.compile)."""
    changed = True
    while changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def state_dict(model: Mapping[Any, Any]) -> dict[str, Any]:
    """The tensors of a checkpoint's 'model' entry, keyed without wrapper prefixes."""
    import torch

    return {strip_prefixes(str(k)): v for k, v in model.items() if isinstance(v, torch.Tensor)}


def is_mask_buffer(key: str, tensor: Any) -> bool:
    """nanoGPT's causal-mask buffer `attn.bias` (1, 1, T, T) is saved but is no parameter
    (HF-style checkpoints name theirs `attn.masked_bias`)."""
    return (key.endswith(".attn.bias") and tensor.dim() == 4) or key.endswith(".attn.masked_bias")


# --------------------------------------------------------------------------- before torch


def _precheck_file(path: str) -> None:
    """Refuse what torch should never see: missing, directory, empty, LFS pointer."""
    if not os.path.exists(path):
        raise CheckpointError(path, "file not found")
    if os.path.isdir(path):
        raise CheckpointError(path, "is a directory, not a checkpoint file")
    if not os.path.isfile(path):  # a FIFO or a device would block or never end
        raise CheckpointError(path, "is not a regular file (a pipe or a device), not a checkpoint")
    head = _read_head(path)
    if not head:
        raise CheckpointError(path, "empty file (0 bytes), not a checkpoint")
    if head.startswith(_LFS_PREFIXES):
        raise CheckpointError(path, _lfs_reason(head))
    if head.startswith(b"PK"):
        _refuse_zip_bomb(path)


BOMB_RATIO = 100  # torch.save stores its members uncompressed; deflate past this ratio is a bomb
BOMB_BYTES = 64 << 20  # members that inflate to less are never refused


def _refuse_zip_bomb(path: str) -> None:
    """Refuse a zip whose compressed members would inflate past BOMB_BYTES at more than
    BOMB_RATIO times their size: torch never compresses, and loading it would fill memory."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return  # torch.load's own error says what is wrong
    packed = sum(i.compress_size for i in infos if i.compress_type != zipfile.ZIP_STORED)
    inflated = sum(i.file_size for i in infos if i.compress_type != zipfile.ZIP_STORED)
    if inflated > BOMB_BYTES and inflated > BOMB_RATIO * max(packed, 1):
        raise RefusedCheckpoint(path, f"refused: compressed members inflate {packed / 1e6:.1f} MB to "
                                    f"{inflated / 1e9:.1f} GB (a zip bomb; torch.save never compresses)")


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


# --------------------------------------------------------------------------- torch.load


def _load(path: str, mapped: bool = False) -> Any:
    """torch.load with weights_only=True only; every failure becomes a CheckpointError."""
    try:
        import torch
    except ImportError:
        raise CheckpointError(path, "reading a checkpoint needs PyTorch, which is not installed "
                                    "(pip install torch)") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # storage deprecation chatter on old files
            if mapped and zipfile.is_zipfile(path):  # mmap takes torch's zip format only
                try:
                    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                except OSError:  # a file system that cannot map it: read it whole
                    pass
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types; none may leak as a traceback
        reason = _load_failure_reason(path, exc)
        raise (RefusedCheckpoint if reason.startswith("refused") else CheckpointError)(path, reason) from None


def _load_failure_reason(path: str, exc: Exception) -> str:
    """One line saying why torch.load failed, most specific cause first."""
    text = str(exc)
    name = _forbidden_global(text) or pickled_code(path)
    if name is not None or _needs_code(text):
        ref = f": its pickle asks for {name}" if name else ""
        return (f"refused for safety{ref}, which would run code when loaded; lossdoctor loads "
                "checkpoints with weights_only=True and never runs code from a file (the file is not "
                "damaged: if you trust its maker, re-save its tensors with torch.save(model.state_dict()))")
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
                    r"unsupported GLOBAL ([\w.]+)",
                    r"but got <class '([\w.]+)'>",
                    r"unrecognized function <function ([\w.]+)"):
        match = re.search(pattern, text)
        if match:
            return match.group(1)
    return None


# globals a torch checkpoint's pickle names: weights_only rebuilds these without running code
_TENSOR_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode", "builtins.set", "builtins.frozenset",
                   "builtins.bytearray", "builtins.slice", "builtins.complex", "builtins.range")
_SCAN_BYTES = 64 << 20  # a data.pkl past this is not scanned (its tensors live outside it)


def pickled_code(path: str) -> str | None:
    """The first global a checkpoint's pickle names that is not part of a tensor file
    (`posix.system`, `builtins.eval`, a class), read from its opcodes without unpickling;
    None when there is none or the pickle cannot be read."""
    import pickletools
    import zipfile
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                if name is None or zf.getinfo(name).file_size > _SCAN_BYTES:
                    return None
                data = zf.read(name)
        else:
            with open(path, "rb") as fh:
                data = fh.read(_SCAN_BYTES)
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(data):
            if isinstance(arg, str) and "UNICODE" in op.name:
                strings = (strings + [arg])[-2:]
            name = (arg.replace(" ", ".") if op.name == "GLOBAL" and isinstance(arg, str)
                    else ".".join(strings) if op.name == "STACK_GLOBAL" else None)
            if name is not None and not name.startswith(_TENSOR_GLOBALS):
                return name
    except Exception:  # a pickle too damaged to scan names nothing; the load error says the rest
        return None
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
    import zipfile
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


# --------------------------------------------------------------------------- the object


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
