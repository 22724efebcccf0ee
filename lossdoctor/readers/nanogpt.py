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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..run import Dialect
from . import chunks, fastiter
from . import lines as L

if TYPE_CHECKING:
    from ..run import Run
    from .registry import Sample

MARKDOWN_SUFFIXES = (".md", ".markdown")
# record kinds only nanoGPT's output has: one of them (or a stock iter line) makes a log
_NANOGPT_KINDS = frozenset({"eval", "iter", "tokens", "config_file", "override", "init", "params",
                            "saving", "vocab"})

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]")
_TRAIN_FRAME = re.compile(r"[/\\\\\"]train\.py\"|, in estimate_loss\b")
# the start of a metric line cut short: 'i', 'ite', 'iter 4399', 'step 2000: train loss 1.4'
_CUT_METRIC = re.compile(r"^(?:i|it|ite|iter|s|st|ste|step)(?:\s\d*(?::.*)?)?$")


@dataclass
class Record:
    """One understood thing on a line (a line may hold several when ranks glue)."""

    line: int  # 1-based
    kind: str  # eval, iter, config_file, override, tokens, vocab, init, ...
    value: Any = None
    text: str = ""


@dataclass
class Scan:
    """Everything read from a log's lines, before segmentation."""

    fast: fastiter.FastIters
    records: list[Record] = field(default_factory=list)
    unparsed: list[tuple[int, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    n_lines: int = 0
    nonstandard: int = 0
    traceback_in_train_py: bool = False  # a traceback frame points into nanoGPT's train.py
    iter_stride: int = 1  # every iter_stride-th stock iter line is kept (chunks.IterStore)


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
TRAIN_ONLY = frozenset({"eval", "iter", "tokens", "vocab", "decayed", "nodecay", "fused", "saving", "compile",
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
    reader = _LineReader(out, markdown)
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


class _LineReader:
    """A small state machine over the lines the vectorised scanner did not take."""

    def __init__(self, out: Scan, markdown: bool) -> None:
        self.out = out
        self.markdown = markdown
        self.in_code = False  # inside a ``` fence (Markdown only)
        self.mode = "normal"  # normal | echo | dump | traceback | after_exception | warning
        self.echo: list[str] = []
        self.echo_line = 0
        self.sampling = False  # after sample.py's `Loading meta` line, until the next line a log reader knows

    def count(self, kind: str) -> None:
        self.out.counts[kind] = self.out.counts.get(kind, 0) + 1

    def add(self, line: int, kind: str, value: Any = None, text: str = "") -> None:
        self.sampling = kind == "sample_py"
        self.out.records.append(Record(line, kind, value, text))

    def feed(self, n: int, raw: str, partial: bool) -> None:
        if self.markdown and not self._markdown_code(raw):
            return
        text = L.PREFIX.sub("", raw, count=1).rstrip()
        if partial and self._partial(n, text, raw):
            return
        self._dispatch(n, text, raw)

    def _dispatch(self, n: int, text: str, raw: str) -> None:
        if self.mode == "echo" and not L.ECHO_END.search(text):
            self.echo.append(raw)
            self.count("config")
        else:
            if self.mode == "echo":
                self._end_echo()
            pieces = L.GLUE.split(text) if len(text) > 8 else [text]
            for piece in pieces:
                self._line(n, piece, raw)

    def finish(self) -> None:
        if self.mode == "echo":
            self._end_echo()

    # -- Markdown ------------------------------------------------------------------
    def _markdown_code(self, raw: str) -> bool:
        """Whether a Markdown line is code (fenced or indented); count the rest."""
        if L.FENCE.match(raw):
            self.in_code = not self.in_code
            self.count("markdown")
            return False
        if self.in_code or raw.startswith(("    ", "\t")):
            return True
        self.count("markdown" if raw.strip() else "blank")
        return False

    # -- one logical line ------------------------------------------------------------
    def _line(self, n: int, text: str, raw: str) -> None:
        if not text:
            self.count("blank")
            if self.mode in ("warning", "after_exception"):
                self.mode = "normal"
            return
        if self.mode == "dump":
            if L.RULER.match(text):
                self.mode = "normal"
                self.count("config")
                return
            m = L.DUMP_ITEM.match(text)
            if m:
                self.add(n, "dump_item", (m.group(1), m.group(2)))
                self.count("config")
                return
            self.mode = "normal"
        if self.mode == "traceback":
            if self._traceback_line(n, text, raw):
                return
        if self.mode == "warning":
            self.mode = "normal"
            if raw[:1].isspace():  # the source line Python prints under a warning
                self.count("warning")
                return
        if self._metric(n, text) or self._header(n, text) or self._foreign(n, text):
            return
        if self.mode == "after_exception":  # the rest of an exception's message
            self.count("traceback")
            return
        if self.sampling:  # the text sample.py generated: understood, not kept
            self.count("sample_text")
            return
        L.keep_unparsed(self.out.unparsed, n, raw)
        self.count("unparsed")

    def _metric(self, n: int, text: str) -> bool:
        m = L.EVAL.search(text)
        if m:
            self.add(n, "eval", (int(m.group(1)), float(m.group(2)), float(m.group(3))))
            self.count("eval")
            return True
        m = L.ITER.search(text)
        if m:
            mfu = float(m.group(4)) if m.group(4) is not None else float("nan")
            self.add(n, "iter", (int(m.group(1)), float(m.group(2)), float(m.group(3)), mfu))
            self.count("iter")
            return True
        g = L.loose(text, L.EVAL_LOOSE)
        if g:
            self.add(n, "eval", (int(g[0]), float(g[1]), float(g[2])), text)
            self.count("eval")
            self.out.nonstandard += 1
            return True
        g = L.loose(text, L.ITER_LOOSE)
        if g and not text.lstrip().startswith(("print", "f\"", "#")):
            self.add(n, "iter", (int(g[0]), float(g[1]), float("nan"), float("nan")), text)
            self.count("iter")
            self.out.nonstandard += 1
            return True
        return False

    def _header(self, n: int, text: str) -> bool:
        kind, value = _header_value(text)
        if kind is None:
            return False
        if kind == "config_file":
            self.mode, self.echo, self.echo_line = "echo", [], n + 1
        elif kind == "dump":
            self.mode = "dump"
        self.add(n, kind, value, text)
        self.count("checkpoint" if kind == "saving" else "header")
        return True

    def _foreign(self, n: int, text: str) -> bool:
        if L.TRACEBACK.search(text):
            self.mode = "traceback"
            self.count("traceback")
            return True
        if L.INTERRUPT.search(text):
            self.add(n, "interrupted", None, text)
            self.count("foreign")
            return True
        if L.SAMPLE_PY.match(text):
            self.add(n, "sample_py", None, text)
            self.count("foreign")
            return True
        if L.CPU_AUTOCAST.match(text):
            self.add(n, "cpu_autocast", None, text)
            self.count("foreign")
            return True
        if L.WANDB.match(text) or L.FOREIGN.match(text) or L.ELISION.match(text):
            self.count("foreign")
            return True
        if L.WARNING.search(text):
            self.add(n, "warning", None, text)
            self.mode = "warning"
            self.count("warning")
            return True
        return False

    def _traceback_line(self, n: int, text: str, raw: str) -> bool:
        """Lines of a traceback; its last line (the exception) becomes the event."""
        m = L.EXCEPTION.match(text)
        if m:
            self.mode = "after_exception"  # chained messages may follow the exception line
            self.add(n, "traceback", None, text)
            if "KeyboardInterrupt" in text:
                self.add(n, "interrupted", None, text)
            self.count("traceback")
            return True
        stripped = raw.lstrip()
        if stripped.startswith("File ") and _TRAIN_FRAME.search(stripped):
            self.out.traceback_in_train_py = True
        if raw[:1].isspace() or stripped.startswith(("File ", "[rank", "^", "~")) or text.startswith(
                ("During handling", "The above exception", "Traceback")):
            self.count("traceback")
            return True
        self.mode = "normal"
        return False

    def _partial(self, n: int, text: str, raw: str) -> bool:
        """A last line with no newline: a value only if complete to its last digit.
        Returns False when it is no metric line, to be read like any other line."""
        m = L.EVAL_STRICT.search(text)
        if m:
            self.add(n, "eval", (int(m.group(1)), float(m.group(2)), float(m.group(3))))
            self.count("eval")
            return True
        m = L.ITER_STRICT.search(text)
        if m:
            self.add(n, "iter", (int(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4))))
            self.count("iter")
            return True
        if _CUT_METRIC.match(text) or L.EVAL.search(text) or L.ITER.search(text):
            self.add(n, "truncated", None, raw)
            self.count("truncated")
            return True
        return False

    def _end_echo(self) -> None:
        self.add(self.echo_line, "echo_body", "\n".join(self.echo))
        self.mode, self.echo = "normal", []


def _header_value(text: str) -> tuple[str | None, Any]:
    """(kind, value) of a header line, or (None, None)."""
    m = L.CONFIG_FILE.search(text)
    if m:
        return "config_file", m.group(1)
    m = L.OVERRIDE.search(text)
    if m:
        return "override", (m.group(1), m.group(2))
    m = L.TOKENS.search(text)
    if m:
        return "tokens", L.to_int(m.group(1))
    for pat, src in ((L.VOCAB, 2), (L.VOCAB_OLD, 1)):
        m = pat.search(text)
        if m:
            size = m.group(1) if pat is L.VOCAB else m.group(2)
            return "vocab", (int(size), m.group(src))
    m = L.VOCAB_GPT2.search(text)
    if m:
        return "vocab", (int(m.group(1)), "gpt2 default")
    if L.INIT_SCRATCH.search(text):
        return "init", "scratch"
    m = L.INIT_RESUME.search(text)
    if m:
        return "init", "resume"
    m = L.INIT_GPT2.search(text) or L.LOAD_GPT2.search(text)
    if m:
        return "init", m.group(1)
    m = L.FORCE_GPT2.search(text)
    if m:
        return "force_gpt2", (int(m.group(1)), int(m.group(2)), m.group(3) == "True")
    m = L.DROPOUT_GPT2.search(text)
    if m:
        return "gpt2_dropout", m.group(1)
    m = L.PARAMS.search(text)
    if m:
        return "params", float(m.group(1))
    m = L.DECAYED.search(text)
    if m:
        return "decayed", L.to_int(m.group(2))
    m = L.NODECAY.search(text)
    if m:
        return "nodecay", L.to_int(m.group(2))
    m = L.FUSED.search(text)
    if m:
        return "fused", m.group(1) == "True"
    if L.COMPILE.search(text):
        return "compile", True
    if L.SLOW_ATTN.search(text):
        return "slow_attention", True
    m = L.SAVING.search(text)
    if m:
        return "saving", m.group(1)
    if L.DUMP_START.match(text):
        return "dump", None
    return None, None
