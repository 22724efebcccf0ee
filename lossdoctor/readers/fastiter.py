"""Vectorised reading of stock nanoGPT `iter` lines, straight from the file's bytes.

A nanoGPT log is mostly lines printed by

    print(f"iter {iter_num}: loss {lossf:.4f}, time {dt*1000:.2f}ms, mfu {running_mfu*100:.2f}%")

Lines of one length nearly always share one *shape*: the same number of digits in each
field, so every byte sits in the same column. This module groups the candidate lines
by length, reads the shape of the first line of a group with a regex, and then checks
and decodes all lines of that shape at once as a 2-D byte array (rows = lines): a line
is taken only if every byte equals the shape's text or is a digit where the shape has
one. Digits are decoded eight at a time inside a uint64 ("SWAR"). Lines of another shape
get their own pass; anything else (a prefix, `nan`, another format, a missing newline,
an unusual number width) is left to the line-by-line parser, which is slower but general.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_PAD = 256  # zero bytes after the copy of the buffer's end (see scan)
_MAX_LEN = 96  # longer lines are left to the general parser (< _PAD - 11)
_MAX_SHAPES = 32  # shapes kept per line length; lines of any other go to the general parser
_CHUNK = 16384  # lines per pass: keeps the (lines, width) byte block in cache

# Number widths are capped so that `int.frac` fits in one uint64 word (8 bytes).
_STOCK = re.compile(rb"iter (\d{1,8}): loss (-?)(\d{1,3})\.(\d{4}), "
                    rb"time (\d{1,5})\.(\d{2})ms, mfu (-?)(\d{1,5})\.(\d{2})%")


@dataclass(frozen=True, eq=False)
class FastIters:
    """Stock `iter` lines found in a buffer."""

    line: np.ndarray  # (I,) int64, 0-based line index
    step: np.ndarray  # (I,) int64
    loss: np.ndarray  # (I,) float64
    time_ms: np.ndarray  # (I,) float64
    mfu: np.ndarray  # (I,) float64, percent


def empty() -> FastIters:
    """No iter lines."""
    return FastIters(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0))


@dataclass(frozen=True, eq=False)
class Lines:
    """Where the lines of a buffer are."""

    starts: np.ndarray  # (N,) int64, first byte of each newline-terminated line
    ends: np.ndarray  # (N,) int64, exclusive, excludes the '\\n'
    partial: bool  # a last line with no newline follows them
    dirty: bool  # a '\\r' or an ESC byte is present: the text needs cleaning first


def split_lines(a: np.ndarray) -> Lines:
    """Find the newlines, and whether the buffer holds '\\r' or ESC, in one pass."""
    block = 1 << 20  # bytes per pass: the temporary mask stays small and in cache
    mask = np.empty(min(len(a), block), bool)
    found = []
    dirty = False
    for lo in range(0, len(a), block):
        piece = a[lo:lo + block]
        pos = np.flatnonzero(np.less_equal(piece, 27, out=mask[:len(piece)]))  # control bytes
        kind = piece[pos]
        newline = kind == 10
        if not newline.all():  # tabs, '\\r', ESC...: keep the newlines, note the others
            dirty = dirty or bool(((kind == 13) | (kind == 27)).any())
            pos = pos[newline]
        found.append(pos + lo)
    ends = np.concatenate(found) if found else np.zeros(0, np.int64)
    starts = np.empty_like(ends)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    partial = int(ends[-1]) + 1 < len(a) if len(ends) else len(a) > 0
    return Lines(starts, ends, partial, dirty)


# -- eight ASCII digits in a uint64 --------------------------------------------------
_U = np.uint64
_MASK = _U(0x000000FF000000FF)
_MUL1 = _U(100 + (1000000 << 32))
_MUL2 = _U(1 + (10000 << 32))


def _swar8(v: np.ndarray) -> np.ndarray:
    """Value of 8 digit bytes (0..9 each, first digit in the lowest byte)."""
    v = v * _U(10) + (v >> _U(8))  # pairs of digits
    return ((v & _MASK) * _MUL1 + ((v >> _U(16)) & _MASK) * _MUL2) >> _U(32)


@dataclass(frozen=True)
class _Shape:
    """The text of one line with its digits as '0', and where its numbers sit.

    The numbers are step, loss, time_ms and mfu: an integer part, '.', and `decimals`
    digits (the step has neither '.' nor decimals). The (4, 1) columns below decode all
    four at once."""

    template: np.ndarray  # (W,) uint8
    limit: np.ndarray  # (W,) uint8: 9 at digits, 0 at fixed text, 255 past the line
    col: tuple[int, int, int, int]  # first byte of each number
    decimals: tuple[int, int, int, int]
    negative: tuple[bool, bool, bool, bool]
    low: np.ndarray  # (4, 1) uint64: mask of the integer part's bytes
    high_shift: np.ndarray  # (4, 1): brings the decimals down over the '.'
    low_shift: np.ndarray  # (4, 1)
    top_shift: np.ndarray  # (4, 1): moves the digits to the top, zeros in front


def _shape(line: bytes, width: int) -> _Shape | None:
    m = _STOCK.fullmatch(line)
    if m is None:
        return None
    template = np.frombuffer(line.ljust(width, b"\0"), np.uint8).copy()
    limit = np.zeros(width, np.uint8)
    limit[len(line):] = 255
    for g in (1, 3, 4, 5, 6, 8, 9):
        template[m.start(g):m.end(g)] = 48
        limit[m.start(g):m.end(g)] = 9
    groups = (1, 3, 5, 8)  # the integer part of each number
    k = [len(m.group(g)) for g in groups]
    d = [0, 4, 2, 2]

    def col(values: list[int]) -> np.ndarray:
        return np.array(values, np.uint64)[:, None]

    return _Shape(
        template=template, limit=limit,
        col=tuple(m.start(g) for g in groups), decimals=tuple(d),  # type: ignore[arg-type]
        negative=(False, bool(m.group(2)), False, bool(m.group(7))),
        low=col([(1 << (8 * ki)) - 1 for ki in k]),
        high_shift=col([8 * (ki + 1) for ki in k]), low_shift=col([8 * ki for ki in k]),
        top_shift=col([8 * (8 - ki - di) for ki, di in zip(k, d, strict=True)]))


def _match(shape: _Shape, x: np.ndarray, delta: np.ndarray, scratch: np.ndarray
           ) -> tuple[np.ndarray, list[np.ndarray]]:
    """ok mask, and the four columns of the lines that are ok, for a (lines, W) block of
    equal-length lines.

    x is changed in place: `delta` (the template x was last compared with, xor this
    shape's) is taken off, which leaves this shape's digits as 0..9 and its text as 0.
    scratch: a bool array of at least x's size."""
    np.bitwise_xor(x, delta, out=x)
    bad = np.greater(x, shape.limit, out=scratch[:x.size].reshape(x.shape))  # a byte that is off
    n, width = x.shape
    if bad.any():  # some lines have another shape: find which, 8 bytes at a time
        words = bad.view(np.uint64)  # (n, W / 8)
        acc = words[:, 0].copy()
        for j in range(1, width // 8):
            acc |= words[:, j]
        ok = acc == 0
        rows: slice | np.ndarray = ok
    else:
        ok = np.ones(n, bool)
        rows = slice(None)
    m = int(ok.sum()) if isinstance(rows, np.ndarray) else n
    words = np.empty((4, m), np.uint64)  # the 8 bytes from each number's first column
    for j, c in enumerate(shape.col):
        words[j] = np.ndarray((n,), "<u8", buffer=x, offset=c, strides=(width,))[rows]
    # drop the '.' (0 after the template is taken off): decimals move down one byte; bytes
    # past the number (step: all past its digits) are pushed out by the last shift
    digits = (words & shape.low) | ((words >> shape.high_shift) << shape.low_shift)
    values = _swar8(digits << shape.top_shift)  # (4, n)
    cols = [values[0].astype(np.int64)]
    for j in (1, 2, 3):
        v = values[j] / float(10 ** shape.decimals[j])  # exact int / 10**d: as float(text)
        cols.append(-v if shape.negative[j] else v)
    return ok, cols


def scan(a: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[FastIters, np.ndarray]:
    """Find the stock `iter` lines among the given lines.

    Returns the parsed lines and a boolean mask over all lines marking those taken.
    """
    length = ends - starts
    # shortest: 'iter 0: loss 0.0000, time 0.00ms, mfu 0.00%'
    cand = np.flatnonzero((length >= 43) & (length <= _MAX_LEN))
    c_start = starts[cand]
    keep = a[c_start] == 105  # 'i'; the shapes check the rest
    cand, c_start, c_len = cand[keep], c_start[keep], length[cand[keep]]
    # Reads run up to _MAX_LEN + 8 bytes past a line's start: the lines near the end of
    # the buffer are read from a zero-padded copy of its last bytes.
    split = int(np.searchsorted(c_start, len(a) - _PAD))
    t0 = int(c_start[split]) if split < len(cand) else len(a)
    end = np.zeros(len(a) - t0 + _PAD, np.uint8)
    end[:len(a) - t0] = a[t0:]
    # work in candidate space: got[i] and cols[k][i] belong to line cand[i]
    got = np.zeros(len(cand), bool)
    cols = [np.zeros(len(cand), np.int64)] + [np.zeros(len(cand)) for _ in range(3)]
    for buf, lo, hi, offset in ((a, 0, split, 0), (end, split, len(cand), t0)):
        lens = c_len[lo:hi].astype(np.int16)
        part_start = c_start[lo:hi] - offset if offset else c_start[lo:hi]
        part_cols = [c[lo:hi] for c in cols]
        by_length = np.argsort(lens, kind="stable")  # radix sort
        count = np.bincount(lens)
        upto = np.cumsum(count)  # rows of length n: by_length[upto[n] - count[n]:upto[n]]
        for n in np.flatnonzero(count):
            group = by_length[upto[n] - count[n]:upto[n]]
            _scan_group(buf, part_start, group, int(n), got[lo:hi], part_cols)
    if not got.all():
        cand, cols = cand[got], [c[got] for c in cols]
    taken = np.zeros(len(starts), bool)
    taken[cand] = True
    return FastIters(cand.astype(np.int64, copy=False), *cols), taken


def _scan_group(a: np.ndarray, starts: np.ndarray, rows: np.ndarray, length: int,
                taken: np.ndarray, cols: list[np.ndarray]) -> None:
    """Lines of one length, a chunk at a time: each chunk is compared with the shapes
    found so far, in turn; a line that fits none gives a new shape (or, if it is no stock
    line, is left to the general parser)."""
    width = (length + 10) // 8 * 8  # every number's 8-byte word ends within the row (the
    # last number starts at least 5 bytes before the end: '0.00%'); whole uint64 words
    windows = sliding_window_view(a, width)  # (len(a) - width + 1, width), a view
    scratch = np.empty(min(len(rows), _CHUNK) * width, bool)
    shapes: list[_Shape] = []
    for i in range(0, len(rows), _CHUNK):
        r = rows[i:i + _CHUNK]
        x = windows[starts[r]]  # (n, W) copy of the lines' bytes
        applied = np.zeros(width, np.uint8)  # the template x is currently xor-ed with
        k = 0
        while len(r):
            if k == len(shapes):  # no known shape fits the first line left: read its shape
                if len(shapes) == _MAX_SHAPES:
                    break
                first = int(starts[r[0]])
                shape = _shape(a[first:first + length].tobytes(), width)
                if shape is None:  # no stock line: the general parser reads it
                    r, x = r[1:], x[1:]
                    continue
                shapes.append(shape)
            shape = shapes[k]
            k += 1
            ok, values = _match(shape, x, applied ^ shape.template, scratch)
            applied = shape.template
            mine = r
            if not ok.all():
                mine, r, x = r[ok], r[~ok], x[~ok]
            else:
                r = r[:0]
            where: slice | np.ndarray = mine
            if len(mine) and mine[-1] - mine[0] == len(mine) - 1:  # consecutive: copy
                where = slice(int(mine[0]), int(mine[-1]) + 1)
            taken[where] = True
            for col, v in zip(cols, values, strict=True):
                col[where] = v
