"""The line-by-line half of the nanoGPT reader: every line the vectorised iter scanner did
not take goes through LineReader, a small state machine over the grammar in `lines.py`
(config echoes, tracebacks, warnings, Markdown fences, sample.py's output), which records
what each line is (Record) into the log's Scan.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from . import fastiter
from . import lines as L

_TRAIN_FRAME = re.compile(r"[/\\\\\"]train\.py\"|, in estimate_loss\b")
_INLINE_CODE = re.compile(r"`([^`]+)`")  # Markdown prose's inline code: a command a post shows
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
    rank_tags: int = 0  # 1 + the highest torchrun `[rankN]:` tag on a line; 0: none


class LineReader:
    """A small state machine over the lines the vectorised scanner did not take."""

    def __init__(self, out: Scan, markdown: bool) -> None:
        self.out = out
        self.markdown = markdown
        self.in_code = False  # inside a ``` fence (Markdown only)
        self.mode = "normal"  # normal | echo | dump | traceback | after_exception | warning
        self.echo: list[str] = []
        self.continued: list[tuple[int, str, str]] = []  # lines ending in `\`: a command continued
        self.echo_line = 0
        self.frames: list[str] = []  # the frames of the traceback being read
        self.sampling = False  # after sample.py's `Loading meta` line, until the next line a log reader knows

    def count(self, kind: str) -> None:
        self.out.counts[kind] = self.out.counts.get(kind, 0) + 1

    def add(self, line: int, kind: str, value: Any = None, text: str = "") -> None:
        self.sampling = kind == "sample_py"
        self.out.records.append(Record(line, kind, value, text))

    def feed(self, n: int, raw: str, partial: bool) -> None:
        if self.markdown and not self._markdown_code(n, raw):
            return
        m = L.PREFIX.match(raw)
        assert m is not None  # every part of PREFIX is optional
        if m["rank"] is not None:
            self.out.rank_tags = max(self.out.rank_tags, int(m["rank"]) + 1)
        text = raw[m.end():].rstrip()
        if partial and self._partial(n, text, raw):
            return
        self._dispatch(n, text, raw)

    def _dispatch(self, n: int, text: str, raw: str) -> None:
        if self.continued or (text.endswith("\\") and self.mode == "normal"):  # a command continued
            self.continued.append((n, text, raw))
            if not text.endswith("\\"):
                self._end_command()
            return
        self._read(n, text, raw)

    def _read(self, n: int, text: str, raw: str) -> None:
        if self.mode == "echo" and not L.ECHO_END.search(text):
            self.echo.append(L.undecorated(raw))
            self.count("config")
        else:
            if self.mode == "echo":
                self._end_echo()
            pieces = L.GLUE.split(text) if len(text) > 8 else [text]
            for piece in pieces:
                self._line(n, piece, raw)

    def finish(self) -> None:
        if self.continued:
            self._end_command()
        if self.mode == "echo":
            self._end_echo()

    def _end_command(self) -> None:
        """A command continued over lines with `\\` (a shell's line continuation): one
        train.py command where its lines join into one, else each line read as it is."""
        held, self.continued = self.continued, []
        joined = " ".join(text.removesuffix("\\").strip() for _, text, _ in held)
        command = L.train_command(joined)
        if command is None:
            for n, text, raw in held:
                self._read(n, text, raw)
            return
        self.add(held[0][0], "command", command, joined)
        for _ in held:
            self.count("header")

    # -- Markdown ------------------------------------------------------------------
    def _markdown_code(self, n: int, raw: str) -> bool:
        """Whether a Markdown line is code (fenced or indented); count the rest, and read a
        train.py command a prose line shows as inline code."""
        if L.FENCE.match(raw):
            self.in_code = not self.in_code
            self.count("markdown")
            return False
        if self.in_code or raw.startswith(("    ", "\t")):
            return True
        commands = [c for span in _INLINE_CODE.findall(raw) if "train.py" in span
                    and (c := L.train_command(span)) is not None]
        for command in commands[:1]:  # `cmd` or just `cmd`: one run follows, the first names it
            self.add(n, "command", command, raw.strip())
        self.count("header" if commands else "markdown" if raw.strip() else "blank")
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

    def _stock(self, n: int, text: str, eval_re: re.Pattern[str], iter_re: re.Pattern[str]) -> bool:
        """An eval or iter line of train.py's own wording, by `eval_re` and `iter_re`."""
        if m := eval_re.search(text):
            self.add(n, "eval", (int(m.group(1)), float(m.group(2)), float(m.group(3))))
            self.count("eval")
            return True
        if m := iter_re.search(text):
            mfu = float(m.group(4)) if m.group(4) is not None else float("nan")
            self.add(n, "iter", (int(m.group(1)), float(m.group(2)), float(m.group(3)), mfu))
            self.count("iter")
            return True
        return False

    def _metric(self, n: int, text: str) -> bool:
        if self._stock(n, text, L.EVAL, L.ITER):
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
            self.mode, self.frames = "traceback", []
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
        if L.ELISION.match(text):  # lines left out of a pasted log: an excerpt may end here
            sampling = self.sampling  # sample.py's text may go on after its elision
            self.add(n, "elided", None, text)
            self.sampling = sampling
            self.count("foreign")
            return True
        if L.WANDB.match(text) or L.FOREIGN.match(text):
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
            self.add(n, "traceback", tuple(self.frames), text)
            if "KeyboardInterrupt" in text:
                self.add(n, "interrupted", None, text)
            self.count("traceback")
            return True
        stripped = raw.lstrip()
        if stripped.startswith("File ") and _TRAIN_FRAME.search(stripped):
            self.out.traceback_in_train_py = True
        if (f := L.frame(text)) is not None:  # `text`: a DDP rank's `[rank0]: ` taken off
            L.keep_frame(self.frames, f)
        if raw[:1].isspace() or stripped.startswith(("File ", "[rank", "^", "~")) or text.startswith(
                ("During handling", "The above exception", "Traceback")):
            self.count("traceback")
            return True
        self.mode = "normal"
        return False

    def _partial(self, n: int, text: str, raw: str) -> bool:
        """A last line with no newline: a value only if complete to its last digit (a
        config line cut is not read: `lr = 1e-3` cut reads `lr = 1`).
        Returns False when it is no metric or config line, to be read like any other line."""
        if self._stock(n, text, L.EVAL_STRICT, L.ITER_STRICT):
            return True
        in_echo = self.mode == "echo" and not L.ECHO_END.search(text)  # a config line cut: its value may be too
        if in_echo or text.startswith("Overriding") or _CUT_METRIC.match(text) or L.EVAL.search(text) \
                or L.ITER.search(text):
            self.add(n, "truncated", None, raw)
            self.count("truncated")
            return True
        return False

    def _end_echo(self) -> None:  # the file as it was: its lines less the indentation they all share
        self.add(self.echo_line, "echo_body", textwrap.dedent("\n".join(self.echo)))
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
    m = L.SPLIT.match(text)
    if m:
        return "split", L.to_int(m.group(1))
    m = L.GPU.match(text)
    if m:
        return "gpu", (m.group(1), m.group(2))
    if "train.py" in text and (command := L.train_command(text)) is not None:
        return "command", command
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
