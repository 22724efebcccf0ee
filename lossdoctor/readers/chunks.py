"""A big log read a piece at a time, and its iteration lines kept within a bound.

`of_file` yields a file's bytes in pieces of about CHUNK_BYTES that end just after a
newline, so that no line is split (a line longer than LONG_LINE is cut: it is no log line).
`IterStore` keeps the stock iter lines a scan finds, at most ITER_CAP of them: past that it
keeps every 2nd, then every 4th, ... (the first and last are always kept), so that a
gigabyte log of 17 million iter lines costs tens of megabytes, and each kept point is a
real iteration's loss (not an average, which would hide its noise).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .fastiter import FastIters, empty

CHUNK_BYTES = 16 << 20  # bytes read at a time, for the vectorised nanoGPT scan
LINE_CHUNK_BYTES = 256 << 10  # bytes read at a time for line-by-line readers (each line a str)
LONG_LINE = 64 << 20  # a line longer than this is cut into pieces of this size
ITER_CAP = 500_000  # stock iter lines kept: 20 MB of (line, step, loss, time, mfu)


def of_array(a: np.ndarray, size: int | None = None) -> Iterator[np.ndarray]:
    """`a` in pieces of about `size` (CHUNK_BYTES) ending after a newline (views, not copies)."""
    lo, size = 0, size or CHUNK_BYTES
    while lo < len(a):
        hi = min(lo + size, len(a))
        if hi < len(a):
            nl = np.flatnonzero(a[hi:min(hi + LONG_LINE, len(a))] == 10)
            hi = hi + int(nl[0]) + 1 if len(nl) else min(hi + LONG_LINE, len(a))
        yield a[lo:hi]
        lo = hi


BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark


def of_file(path: str, size: int | None = None) -> Iterator[np.ndarray]:
    """A file's bytes in pieces of about `size` (CHUNK_BYTES) ending after a newline; one
    piece in memory at a time."""
    rest = b""
    with open(path, "rb") as f:
        first = True
        while True:
            block = f.read(size or CHUNK_BYTES)
            if not block:
                break
            if first:  # a UTF-8 byte order mark (an editor's) is no text of the first line
                block, first = block.removeprefix(BOM), False
            data = rest + block
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < LONG_LINE:  # no newline yet: read on
                rest = data
                continue
            cut = cut or len(data)
            rest = data[cut:]
            yield np.frombuffer(data[:cut], np.uint8)
    if rest:
        yield np.frombuffer(rest, np.uint8)


class IterStore:
    """The iter lines of a scan's pieces, thinned to at most ITER_CAP rows."""

    def __init__(self, cap: int | None = None) -> None:
        self.cap = ITER_CAP if cap is None else cap
        self.stride = 1  # every stride-th iter line (by its order in the file) is kept
        self.seen = 0  # iter lines seen
        self.parts: list[tuple[np.ndarray, FastIters]] = []  # (order of each row, rows)
        self.kept = 0
        self.last: FastIters | None = None  # the last line seen, kept whatever the stride

    def add(self, fast: FastIters, base: int) -> None:
        """One piece's iter lines; `base`: the lines before the piece."""
        n = len(fast.step)
        if n == 0:
            return
        order = np.arange(self.seen, self.seen + n)
        self.seen += n
        fast = FastIters(fast.line + base, fast.step, fast.loss, fast.time_ms, fast.mfu)
        self.last = _take(fast, np.array([n - 1]))
        if self.stride == 1:  # every line kept: no copy
            self.parts.append((order, fast))
            self.kept += n
        else:
            keep = np.flatnonzero(order % self.stride == 0)
            self.parts.append((order[keep], _take(fast, keep)))
            self.kept += len(keep)
        while self.kept > self.cap:
            self.stride *= 2
            self.parts = [(o[o % self.stride == 0], _take(f, np.flatnonzero(o % self.stride == 0)))
                          for o, f in self.parts]
            self.kept = sum(len(o) for o, _ in self.parts)

    def result(self) -> FastIters:
        """The kept rows in file order, with the last line seen."""
        parts = [f for _, f in self.parts]
        if self.last is not None and self.stride > 1 and (self.seen - 1) % self.stride:
            parts.append(self.last)
        if not parts:
            return empty()
        return FastIters(*(np.concatenate([getattr(p, k) for p in parts])
                           for k in ("line", "step", "loss", "time_ms", "mfu")))


def _take(f: FastIters, idx: np.ndarray) -> FastIters:
    return FastIters(f.line[idx], f.step[idx], f.loss[idx], f.time_ms[idx], f.mfu[idx])
