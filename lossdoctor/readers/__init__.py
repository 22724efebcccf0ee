"""Find what a path holds and read it into a Run.

A path may be a nanoGPT log (plain or pasted into Markdown), a `ckpt.pt`, or a
directory such as nanoGPT's out_dir holding a log and/or a checkpoint. A log and its
checkpoint given together become one Run.
"""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from typing import Any

from .. import config as C
from ..errors import InputError
from ..run import CheckpointInfo, Event, Header, Run, empty_evals, empty_iters

LOG_SUFFIXES = (".log", ".txt", ".out", ".err", ".md", ".markdown")
CKPT_NAMES = ("ckpt.pt",)
_ZIP = b"PK\x03\x04"
_PICKLE = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_LFS = b"version https://git-lfs.github.com/spec/"


def load(path: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None) -> Run:
    """Read a log, a checkpoint or a run directory into a Run.

    Args:
        path: a nanoGPT log, a ckpt.pt, or a directory holding them.
        checkpoint: a ckpt.pt to merge into the log's Run.

    Raises:
        InputError: the path cannot be read as a training run (with the reason).
    """
    p = os.fspath(path)
    if os.path.isdir(p):
        log, ckpt = _find_in_dir(p)
        run = _load_file(log) if log else None
        if ckpt and checkpoint is None:
            checkpoint = ckpt
        if run is None:
            if checkpoint is None:
                raise InputError(p, "directory holds no nanoGPT log or ckpt.pt")
            return load_checkpoint(os.fspath(checkpoint))
    else:
        run = _load_file(p)
    if checkpoint is not None:
        if run.format.endswith("ckpt"):
            raise InputError(os.fspath(checkpoint), "two checkpoints given for one run")
        from .checkpoint import read_checkpoint
        return merge(run, read_checkpoint(os.fspath(checkpoint)))
    return run


def load_many(paths: list[str]) -> list[Run]:
    """Read several paths; a checkpoint that follows its own log is merged into it."""
    runs: list[Run] = []
    for p in paths:
        run = load(p)
        if run.checkpoint is not None and run.format == "nanogpt-ckpt" and runs and _belongs(runs[-1], p):
            runs[-1] = merge(runs[-1], run.checkpoint)
        else:
            runs.append(run)
    return runs


def discover(directory: str = ".") -> list[str]:
    """Logs in `directory` and `out*/ckpt.pt` below it, for `lossdoctor analyze` with no path."""
    found = []
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        if os.path.isfile(full) and name.endswith(LOG_SUFFIXES) and _looks_like_log(full):
            found.append(full)
        elif os.path.isdir(full) and name.startswith("out"):
            ck = os.path.join(full, "ckpt.pt")
            if os.path.isfile(ck):
                found.append(ck)
    return found


# -- single files -----------------------------------------------------------------------------

def _read(path: str):  # -> np.ndarray (uint8)
    """The file's bytes as a uint8 array (read straight into numpy memory: no copy)."""
    import numpy as np
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):  # a pipe or a device: size unknown
                return np.frombuffer(f.read(), np.uint8)
            a = np.empty(st.st_size, np.uint8)
            n = f.readinto(memoryview(a))
            return a[:n or 0]
    except FileNotFoundError:
        raise InputError(path, "no such file or directory") from None
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None


def _load_file(path: str) -> Run:
    data = _read(path)
    head = data[:8192].tobytes()
    if not len(data) or (head.isspace() and data.tobytes().isspace()):
        raise InputError(path, "empty file")
    if head.startswith(_ZIP) or head.startswith(_PICKLE) or head.startswith(_LFS) or path.endswith(".pt"):
        return load_checkpoint(path)
    if b"\0" in head:
        raise InputError(path, "binary file, not a training log or a torch checkpoint")
    from . import nanogpt
    from .assemble import assemble
    markdown = path.lower().endswith((".md", ".markdown"))
    scan = nanogpt.scan(data, markdown=markdown)
    if not _is_nanogpt(scan):
        raise InputError(path, "no nanoGPT log lines found (looked for `iter N: loss ...`, "
                               "`step N: train loss ...` and train.py's header lines)")
    return assemble(scan, path, "nanogpt-md" if markdown else "nanogpt")


def _is_nanogpt(scan: Any) -> bool:
    kinds = {r.kind for r in scan.records}
    if len(scan.fast.step) or kinds & {"eval", "iter", "tokens", "config_file", "override", "init",
                                       "params", "saving", "vocab"}:
        return True
    return bool(scan.traceback_in_train_py)  # a run that died in train.py before any metric


def _looks_like_log(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return any(k in head for k in (b"iter ", b"step ", b"Overriding", b"tokens per iteration"))


def _find_in_dir(d: str) -> tuple[str | None, str | None]:
    """(newest log, ckpt.pt) in a run directory."""
    ckpt = next((os.path.join(d, n) for n in CKPT_NAMES if os.path.isfile(os.path.join(d, n))), None)
    logs = [os.path.join(d, n) for n in os.listdir(d)
            if n.endswith(LOG_SUFFIXES) and n.lower() != "readme.md"
            and os.path.isfile(os.path.join(d, n)) and _looks_like_log(os.path.join(d, n))]
    logs.sort(key=lambda f: (os.path.getmtime(f), f))
    return (logs[-1] if logs else None), ckpt


def _belongs(run: Run, ckpt_path: str) -> bool:
    """Whether ckpt_path is the checkpoint a log's run wrote (same out_dir or folder)."""
    ck_dir = os.path.dirname(os.path.abspath(ckpt_path))
    if ck_dir == os.path.dirname(os.path.abspath(run.source)):
        return True
    out_dir = run.config.get("out_dir")
    return bool(out_dir) and os.path.basename(ck_dir) == os.path.basename(str(out_dir).rstrip("/\\"))


# -- checkpoints --------------------------------------------------------------------------------

def load_checkpoint(path: str) -> Run:
    """A Run made from a ckpt.pt alone."""
    from .checkpoint import read_checkpoint
    info = read_checkpoint(path)
    cfg = _config_from_checkpoint(info, C.ConfigBuilder())
    z = empty_iters()
    run = Run(source=path, format="nanogpt-ckpt", config=cfg, model_args={}, evals=empty_evals(),
              iters=z, events=(), segments=(), header=Header(), unparsed=())
    return _with_checkpoint(run, info)


def merge(run: Run, info: CheckpointInfo) -> Run:
    """Merge a checkpoint into the Run read from its log.

    The log's own values win; the checkpoint fills what the log did not show (a log
    with no header gets its whole config from the checkpoint), and its model_args and
    parameter count are exact.
    """
    b = C.ConfigBuilder()
    for cv in run.config.values.values():
        if cv.origin != C.DEFAULT:
            b.set(cv)
    cfg = _config_from_checkpoint(info, b, keep=set(k for k, v in run.config.values.items()
                                                    if v.origin != C.DEFAULT))
    notes = list(run.notes)
    if run.config.seen is False and cfg.seen:
        notes = [n for n in notes if not n.startswith("the log shows no config")]
        notes.append("the log shows no config; it was taken from the checkpoint")
    saves = [e.step for e in run.events if e.kind == "checkpoint_saved" and e.step is not None]
    if info.iter_num is not None and saves and saves[-1] != info.iter_num:
        notes.append(f"the checkpoint is from step {info.iter_num}, but the log's last save "
                     f"was at step {saves[-1]}: they may not belong together")
    merged = replace(run, config=cfg, format="nanogpt+ckpt",
                     source=f"{run.source} + {info.path}", notes=tuple(notes))
    return _with_checkpoint(merged, info)


def _config_from_checkpoint(info: CheckpointInfo, b: C.ConfigBuilder, keep: set[str] | None = None
                            ) -> C.Config:
    for key, value in info.config.items():
        if keep and key in keep:
            continue
        if isinstance(value, (int, float, str, bool)) or value is None:
            b.set(C.ConfigValue(key, value, C.CHECKPOINT))
    return b.build()


def _with_checkpoint(run: Run, info: CheckpointInfo) -> Run:
    from .checkpoint import normalize_model_args
    shapes_args, notes = normalize_model_args(info.model_args)
    args = dict(run.model_args)
    args.update({k: v for k, v in shapes_args.items() if v is not None})
    header = run.header
    if header.vocab_size is None and args.get("vocab_size"):
        header = replace(header, vocab_size=int(args["vocab_size"]), vocab_source="checkpoint")
    events = list(run.events)
    events.append(Event("checkpoint_saved", None, f"{info.path}: iter_num={info.iter_num}, "
                        f"best_val_loss={info.best_val_loss}", info.iter_num, None))
    return replace(run, checkpoint=info, model_args=args, header=header, events=tuple(events),
                   notes=tuple(dict.fromkeys(run.notes + tuple(info.notes) + tuple(notes))))
