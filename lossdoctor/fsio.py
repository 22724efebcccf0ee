"""Files written so that a kill, a crash or a full disk never leaves half of one.

`atomic_write` writes to a temporary file beside the target, flushes it to the disk
(fsync), renames it over the target (atomic on POSIX and Windows), then syncs the folder
so that the rename itself survives a power cut. Until the rename the previous file is
untouched; a write that fails part-way (ENOSPC, a kill) removes the temporary file and
leaves the previous one as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import IO, Any


def atomic_write(path: str, write: Callable[[IO[bytes]], object]) -> None:
    """Call write(f) on a temporary file, then put it at `path` in one rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a failed or interrupted write: the previous file stays
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _sync_folder(folder)


def atomic_text(path: str, text: str) -> None:
    """`text` (UTF-8) at `path`, atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_json(path: str, obj: Any, indent: int | None = None) -> None:
    """`obj` as JSON at `path`, atomically."""
    atomic_text(path, json.dumps(obj, indent=indent, sort_keys=True))


def _sync_folder(folder: str) -> None:
    """fsync a folder so that a rename in it is on the disk (not possible on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def keep_previous(*paths: str) -> list[str]:
    """Move the existing non-empty files at `paths` aside to `path.N`, one N for all of them
    (the first free for every one), so that a new run overwrites none of them and the
    files an earlier run wrote together keep one number; the names they got."""
    present = []
    for path in paths:
        try:
            if os.path.getsize(path) > 0:
                present.append(path)
        except OSError:
            continue
    if not present:
        return []
    n = 1
    while any(os.path.exists(f"{path}.{n}") for path in paths):
        n += 1
    for path in present:
        os.replace(path, f"{path}.{n}")
    return [f"{path}.{n}" for path in present]
