"""Vectorised reading of stock nanoGPT `iter` lines, straight from the file's bytes.

A nanoGPT log is mostly lines printed by

    print(f"iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms, mfu {running_mfu*100:.2f}%")

so this module finds every line of exactly that shape with numpy (no Python loop per
line) and decodes its four numbers column by column, using the fixed decimals of the
f-string. Any line that deviates in the slightest (a prefix, `nan`, another format, a
missing newline) is left to the line-by-line parser, which is slower but general.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MAX_INT_DIGITS = 12  # longer integer parts go to the general parser
_CHUNK = 1 << 15  # lines per chunk: keeps the temporaries in cache
_TAIL = 256  # bytes at the end of the buffer left to the general parser


def _word(text: bytes) -> tuple[int, int]:
    """(value, mask) to compare up to 8 bytes read as one little-endian uint64."""
    raw = text.ljust(8, b"\0")
    return int.from_bytes(raw, "little"), (1 << (8 * len(text))) - 1


_ITER, _LOSS, _TIME, _MFU = (_word(w) for w in (b"iter ", b": loss ", b", time ", b"ms, mfu "))


@dataclass(frozen=True, eq=False)
class FastIters:
    """Stock `iter` lines found in a buffer."""

    line: np.ndarray  # (I,) int64, 0-based line index
    step: np.ndarray  # (I,) int64
    loss: np.ndarray  # (I,) float64
    time_ms: np.ndarray  # (I,) float64
    mfu: np.ndarray  # (I,) float64, percent


def line_bounds(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(starts, ends) of the newline-terminated lines of `a`, and whether a partial
    last line (no trailing newline) follows them. ends are exclusive and exclude '\\n'."""
    ends = np.flatnonzero(a == 10)
    starts = np.empty_like(ends)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    tail = int(ends[-1]) + 1 < len(a) if len(ends) else len(a) > 0
    return starts, ends, tail


class _Bytes:
    """The buffer seen as bytes and as an unaligned uint64 at every offset."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        self.last8 = max(len(a) - 8, 0)
        self.u64 = (np.ndarray((self.last8 + 1,), "<u8", buffer=a, strides=(1,))
                    if len(a) >= 8 else np.zeros(1, np.uint64))

    def is_word(self, pos: np.ndarray, word: tuple[int, int]) -> np.ndarray:
        value, mask = word
        w = self.u64[pos]  # callers keep pos <= last8 (see _TAIL)
        return (w & np.uint64(mask)) == np.uint64(value)

    def digit(self, pos: np.ndarray) -> np.ndarray:
        """Digit value at pos, or >= 10 for any other byte (uint8 wraps below '0')."""
        return self.a[pos] - np.uint8(48)


def _number(b: _Bytes, p: np.ndarray, decimals: int, signed: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse `-?\\d+\\.\\d{decimals}` at p; returns (value, end position, ok)."""
    neg = (b.a[p] == 45) if signed else np.zeros(len(p), bool)
    p = p + neg
    acc = np.zeros(len(p), np.int64)
    run = np.ones(len(p), bool)
    n = np.zeros(len(p), p.dtype)
    for k in range(_MAX_INT_DIGITS):
        d = b.digit(p + k)
        run &= d < 10
        if not run.any():
            break
        acc = np.where(run, acc * 10 + d, acc)
        n += run
    dot = p + n
    ok = (n >= 1) & ~run & (b.a[dot] == 46)  # '.'
    for k in range(decimals):
        d = b.digit(dot + 1 + k)
        ok &= d < 10
        acc = acc * 10 + d
    val = acc / float(10 ** decimals)
    return np.where(neg, -val, val), dot + 1 + decimals, ok


def _scan_chunk(b: _Bytes, s: np.ndarray, e: np.ndarray
                ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """ok mask and (step, loss, time_ms, mfu) for candidate lines [s, e)."""
    ok = b.is_word(s, _ITER)
    step = np.zeros(len(s), np.int64)
    run = ok.copy()
    n = np.zeros(len(s), s.dtype)
    for k in range(_MAX_INT_DIGITS):
        d = b.digit(s + 5 + k)
        run &= d < 10
        if not run.any():
            break
        step = np.where(run, step * 10 + d, step)
        n += run
    c0 = s + 5 + n
    ok &= (n >= 1) & ~run & b.is_word(c0, _LOSS)
    loss, end, ok_l = _number(b, c0 + 7, 4, signed=True)
    ok &= ok_l & b.is_word(end, _TIME)
    time_ms, end, ok_t = _number(b, end + 7, 2, signed=False)
    ok &= ok_t & b.is_word(end, _MFU)
    mfu, end, ok_m = _number(b, end + 8, 2, signed=True)
    ok &= ok_m & (end == e - 1) & (b.a[e - 1] == 37)  # '%' ends the line
    return ok, (step, loss, time_ms, mfu)


def scan(a: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[FastIters, np.ndarray]:
    """Find the stock `iter` lines among the given lines.

    Returns the parsed lines and a boolean mask over all lines marking those taken.
    """
    taken = np.zeros(len(starts), bool)
    # shortest: 'iter 0: loss 0.0000, time 0.00ms, mfu 0.00%'; a line too close to the end
    # of the buffer goes to the general parser, so that no read below runs past the end
    cand = np.flatnonzero((ends - starts >= 30) & (starts < len(a) - _TAIL))
    b = _Bytes(a)
    pos_t = np.int32 if len(a) < 2**31 - 64 else np.int64
    lines, cols = [], []
    for i in range(0, len(cand), _CHUNK):
        c = cand[i:i + _CHUNK]
        ok, values = _scan_chunk(b, starts[c].astype(pos_t), ends[c].astype(pos_t))
        lines.append(c[ok])
        cols.append([v[ok] for v in values])
    if not lines:
        z = np.zeros(0)
        return FastIters(np.zeros(0, np.int64), np.zeros(0, np.int64), z, z, z), taken
    line = np.concatenate(lines).astype(np.int64)
    step, loss, time_ms, mfu = (np.concatenate([c[j] for c in cols]) for j in range(4))
    taken[line] = True
    return FastIters(line, step, loss, time_ms, mfu), taken
