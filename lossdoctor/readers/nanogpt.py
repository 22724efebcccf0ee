"""Reader for nanoGPT train.py stdout (dialect `nanogpt`) and logs pasted into Markdown
(`nanogpt-md`).

1) clean the bytes (ANSI colours, `\\r` progress bars),
2) take the stock `iter` lines with the vectorised scanner (fastiter),
3) read every other line with the grammar in `lines.py`, keeping its line number,
4) cut the file into segments (one per process run) and assemble the Run (assemble.py).

Nothing is dropped silently: every line is counted under one kind, and lines that no
pattern understands are kept in Run.unparsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from ..run import Dialect
from . import chunks, fastiter
from .linereader import LineReader, Record, Scan

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

MARKDOWN_SUFFIXES = (".md", ".markdown")
# record kinds only nanoGPT's output has: one of them (or a stock iter line) makes a log
_NANOGPT_KINDS = frozenset({"eval", "iter", "tokens", "config_file", "override", "init", "params",
                            "saving", "vocab"})

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]")


# -- the registry's entries ---------------------------------------------------------------

def sniff_log(sample: Sample) -> bool:
    """A text file, not named as Markdown, with nanoGPT's lines."""
    return not sample.binary and not sample.suffix_in(MARKDOWN_SUFFIXES) and is_nanogpt(_scan(sample, False))


def sniff_markdown(sample: Sample) -> bool:
    """A Markdown file with nanoGPT's lines in its code."""
    return not sample.binary and sample.suffix_in(MARKDOWN_SUFFIXES) and is_nanogpt(_scan(sample, True))


def read_log(sample: Sample) -> Run:
    from .assemble import assemble
    return assemble(_scan(sample, False), sample.path, Dialect.NANOGPT)


def read_markdown(sample: Sample) -> Run:
    from .assemble import assemble
    return assemble(_scan(sample, True), sample.path, Dialect.NANOGPT_MD)


def _scan(sample: Sample, markdown: bool) -> Scan:
    def make() -> Scan:
        if sample.regular:  # read a chunk at a time, never the whole file
            return scan_file(sample.path, markdown=markdown)
        return scan(sample.data, markdown=markdown)
    return sample.memo(("nanogpt.scan", markdown), make)


def is_nanogpt(found: Scan) -> bool:
    """Whether a scan found nanoGPT's output: a metric or header line, or a traceback in
    train.py (a run that died before any metric); not sample.py's output alone."""
    if found.traceback_in_train_py or len(found.fast.step):
        return True
    if any(r.kind == "sample_py" for r in found.records) and not trains(found.records):
        return False  # sample.py's output alone: a trained model's samples, no training
    return any(r.kind in _NANOGPT_KINDS for r in found.records)


# what only train.py prints: a metric, the batch, meta.pkl's vocab, the optimizer, saves,
# compiling (sample.py prints its overrides and the parameter count too)
TRAIN_ONLY = frozenset({"eval", "iter", "tokens", "vocab", "split", "decayed", "nodecay", "fused", "saving", "compile",
                        "interrupted", "truncated"})


def trains(records: Iterable[Record]) -> bool:
    """Whether `records` hold a line only train.py prints (a new or resumed model too)."""
    return any(r.kind in TRAIN_ONLY or (r.kind == "init" and r.value in ("scratch", "resume")) for r in records)


# -- reading -------------------------------------------------------------------------------

def clean(data: bytes) -> bytes:
    """Remove ANSI escapes; keep only the last `\\r` segment of each line."""
    if b"\x1b" in data:
        data = _ANSI.sub(b"", data)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:  # split, not a regex: `[^\n]*\r` is quadratic on a long line
            data = b"\n".join(line[line.rfind(b"\r") + 1:] for line in data.split(b"\n"))
    return data


def scan(data: bytes | np.ndarray, *, markdown: bool = False) -> Scan:
    """Read a nanoGPT log's bytes (or a uint8 array of them) into records, not yet segmented."""
    a = data if isinstance(data, np.ndarray) else np.frombuffer(data, np.uint8)
    return scan_chunks(chunks.of_array(a), markdown=markdown)


def scan_file(path: str, *, markdown: bool = False) -> Scan:
    """scan() of a file read a chunk at a time: memory follows the chunk, not the file."""
    return scan_chunks(chunks.of_file(path), markdown=markdown)


def scan_chunks(pieces: Iterable[np.ndarray], *, markdown: bool = False) -> Scan:
    """scan() over a log's bytes cut after newlines (chunks.py): each piece's stock iter
    lines are read vectorised, the rest line by line; the iter lines are thinned to at most
    chunks.ITER_CAP (IterStore)."""
    out = Scan(fast=fastiter.empty())
    reader = LineReader(out, markdown)
    store = chunks.IterStore()
    base = 0  # lines before this piece
    for a in pieces:
        lines = fastiter.split_lines(a)
        if lines.dirty:
            a = np.frombuffer(clean(a.tobytes()), np.uint8)
            lines = fastiter.split_lines(a)
        starts, ends = lines.starts, lines.ends
        if markdown:  # in Markdown only code is log; the line reader sorts prose from code
            taken = np.zeros(len(starts), bool)
        else:
            fast, taken = fastiter.scan(a, starts, ends)
            store.add(fast, base)
        for i in np.flatnonzero(~taken):
            reader.feed(base + int(i) + 1, a[starts[i]:ends[i]].tobytes().decode("utf-8", "replace"), partial=False)
        base += len(starts)
        if lines.partial:  # only the last piece ends without a newline
            start = int(ends[-1]) + 1 if len(ends) else 0
            base += 1
            reader.feed(base, a[start:].tobytes().decode("utf-8", "replace"), partial=True)
    reader.finish()
    out.fast, out.n_lines, out.iter_stride = store.result(), base, store.stride
    out.counts["iter"] = store.seen + out.counts.get("iter", 0)  # the fast path's and the grammar's
    return out
