"""The file formats lossdoctor reads, and how a file's format is found: by sniffing.

Each format is a `Reader(name, sniff, read)`: `sniff(sample)` says whether a file is in
that format, `read(sample)` reads it into a Run (or a tuple of Runs, for a file that holds
several: a W&B panel export, a runs table). `READERS` lists them; the first whose sniff
says yes reads the file, so specific sniffs come first and catch-alls last. A new format
is one module with its sniff and read functions plus one line in READERS (or a call to
`register`); a Run's values keep the meaning of the Dialect its reader gives it, and
`by_name` forces a format (`--input-format`).

A sniff may parse the file to decide (a log format looks for its lines); what it parsed it
keeps with `sample.memo`, so that its reader does not parse the file again.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import InputError
from . import build_nanogpt, checkpoint, crash, csvlogs, jsonlogs, llmc, modded, nanochat, nanogpt, tensorboard
from . import nanochat_ckpt as nanochat_ckpt
from .chunks import BOM

if TYPE_CHECKING:
    import numpy as np

    from ..run import Run

T = TypeVar("T")


class Sample:
    """A file whose format is being found: its path, its first bytes, all its bytes when
    asked (read once, straight into numpy memory), and what sniffs parsed from it."""

    HEAD_BYTES = 8192

    def __init__(self, path: str) -> None:
        self.path = path
        self._memo: dict[Hashable, Any] = {}
        self._whole: np.ndarray | None = None  # set at once for a pipe: it cannot be read twice
        try:
            mode = os.stat(path).st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
                raise InputError(path, "is a device or a socket, not a log file")
            if stat.S_ISREG(mode):
                with open(path, "rb") as f:
                    self.head = f.read(self.HEAD_BYTES)
            else:
                self._whole = _read_pipe(path)
                if self._whole[:3].tobytes() == BOM:
                    self._whole = self._whole[3:]
                self.head = self._whole[:self.HEAD_BYTES].tobytes()
            self._bom = self.head.startswith(BOM)  # an editor's UTF-8 byte order mark: no text of line 1
            self.head = self.head.removeprefix(BOM)
        except FileNotFoundError:
            raise InputError(path, "no such file or directory") from None
        except OSError as e:
            raise InputError(path, f"cannot read: {e.strerror or e}") from None

    @cached_property
    def data(self) -> np.ndarray:
        """The file's bytes as a uint8 array."""
        if self._whole is not None:
            return self._whole
        import numpy as np
        try:
            with open(self.path, "rb") as f:
                a = np.empty(os.fstat(f.fileno()).st_size, np.uint8)
                n = f.readinto(a.data)
                return a[3 if self._bom else 0:n or 0]
        except OSError as e:
            raise InputError(self.path, f"cannot read: {e.strerror or e}") from None

    @property
    def regular(self) -> bool:
        """A file on disk (not a pipe read whole): a reader may read it again in pieces."""
        return self._whole is None

    @property
    def cut_mid_line(self) -> bool:
        """Whether the file ends inside a line (text after its last newline)."""
        if self._whole is not None:
            return bool(len(self._whole)) and int(self._whole[-1]) != ord("\n")
        try:
            with open(self.path, "rb") as f:
                if f.seek(0, os.SEEK_END) == 0:
                    return False
                f.seek(-1, os.SEEK_END)
                return f.read(1) != b"\n"
        except OSError:
            return False

    @property
    def binary(self) -> bool:
        """A NUL byte in the first bytes: no text."""
        return b"\0" in self.head

    @property
    def empty(self) -> bool:
        """No bytes, or only whitespace."""
        if not self.head.isspace():
            return not self.head
        return len(self.head) < self.HEAD_BYTES or self.data.tobytes().isspace()

    def suffix_in(self, suffixes: tuple[str, ...]) -> bool:
        """Whether the file's name ends with one of `suffixes` (any case)."""
        return self.path.lower().endswith(suffixes)

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """`make()`, computed once per sample and key."""
        if key not in self._memo:
            self._memo[key] = make()
        value: T = self._memo[key]
        return value


PIPE_LIMIT = 1 << 30  # bytes read from a pipe, which is held whole in memory; a file is not


def _read_pipe(path: str) -> np.ndarray:
    """All of a pipe's bytes (a named pipe, `<(command)`), up to PIPE_LIMIT. The pipe is
    opened without blocking: a named pipe no program writes to reads as empty instead of
    waiting for ever."""
    import fcntl

    import numpy as np
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)  # now wait for data
    with os.fdopen(fd, "rb") as f:
        data = f.read(PIPE_LIMIT + 1)
    if not data:
        raise InputError(path, "a pipe that gave nothing (no program wrote to it, or it wrote nothing and closed it)")
    if len(data) > PIPE_LIMIT:
        raise InputError(path, f"a pipe of more than {PIPE_LIMIT >> 20} MB: save it to a file and read that")
    return np.frombuffer(data, np.uint8)


@dataclass(frozen=True)
class Reader:
    """One file format.

    name: the format's name; sniff: whether a sample is in this format; read: the Run.
    finds, looks_for: for the error when no reader takes a text file, what this format's
    files hold and the clues its sniff looks for (`no {finds} found (looked for
    {looks_for})`); empty for a format recognised by its bytes.
    """

    name: str
    sniff: Callable[[Sample], bool]
    read: Callable[[Sample], Run | tuple[Run, ...]]
    finds: str = ""
    looks_for: str = ""


_LOG_LINES = "nanoGPT log lines"
_LOG_CLUES = "`iter N: loss ...`, `step N: train loss ...` and train.py's header lines"

READERS: list[Reader] = [
    Reader("nanochat-model", nanochat_ckpt.sniff_model, nanochat_ckpt.read_model),
    Reader("nanogpt-ckpt", checkpoint.sniff, checkpoint.read),
    Reader("tensorboard", tensorboard.sniff, tensorboard.read),
    Reader("hf-trainer", jsonlogs.sniff_hf, jsonlogs.read_hf),
    Reader("wandb-summary", jsonlogs.sniff_wandb, jsonlogs.read_wandb),
    Reader("nanochat-ckpt", nanochat_ckpt.sniff_meta, nanochat_ckpt.read_meta),
    Reader("json", jsonlogs.sniff_other_json, jsonlogs.read_other_json),
    Reader("jsonl", jsonlogs.sniff_jsonl, jsonlogs.read_jsonl),
    Reader("wandb-panel", csvlogs.sniff_panel, csvlogs.read_panel),
    Reader("lightning-csv", csvlogs.sniff_lightning, csvlogs.read_lightning),
    Reader("wandb-runs", csvlogs.sniff_runs, csvlogs.read_runs),
    Reader("csv", csvlogs.sniff_generic, csvlogs.read_generic),
    Reader("llmc-main", llmc.sniff_main, llmc.read_main, "llm.c main.log lines", "`s:N trl:X`, `s:N tel:X`"),
    Reader("build-nanogpt-log", build_nanogpt.sniff_log, build_nanogpt.read_log, "build-nanogpt log.txt lines",
           "`N train X`, `N val X`"),
    Reader("modded-nanogpt", modded.sniff, modded.read, "modded-nanogpt lines", "`step:N/M val_loss:X train_time:`"),
    Reader("nanochat", nanochat.sniff, nanochat.read, "nanochat lines",
           "`step N/M (P%) | loss: X | lrm:`, `Step N | Validation bpb: X`"),
    Reader("llmc", llmc.sniff_stdout, llmc.read_stdout, "llm.c stdout lines", "`step N/M | loss X | norm`"),
    Reader("build-nanogpt", build_nanogpt.sniff_stdout, build_nanogpt.read_stdout, "build-nanogpt stdout lines",
           "`step N | loss: X | lr`"),
    Reader("nanogpt-md", nanogpt.sniff_markdown, nanogpt.read_markdown, _LOG_LINES, _LOG_CLUES),
    Reader("nanogpt", nanogpt.sniff_log, nanogpt.read_log, _LOG_LINES, _LOG_CLUES),
    Reader("crash-log", crash.sniff, crash.read, "a traceback or a stop signal", "`Traceback`, `Assertion`, "
           "Slurm's `CANCELLED`"),
]


def register(reader: Reader, *, first: bool = False) -> Reader:
    """Add a format to READERS, after the others (or before them with first=True)."""
    READERS.insert(0 if first else len(READERS), reader)
    return reader


# formats a reader gives besides its own name: --input-format takes them for that reader
ALIASES = {"llmc-style": "llmc-main"}


def by_name(name: str) -> Reader:
    """The reader of a format, by its name (InputError naming the formats otherwise)."""
    name = ALIASES.get(name, name)
    for reader in READERS:
        if reader.name == name:
            return reader
    raise InputError(name, f"no such input format (formats: {', '.join(names())})")


def resolve(readers: Sequence[Reader | str] | str) -> list[Reader]:
    """Readers given as Reader objects or by their format names (one name alone will do).

    Raises:
        UsageError: an item that is neither, a name no format has, or no reader at all.
    """
    from ..errors import UsageError
    out = []
    if not isinstance(readers, (str, list, tuple)):
        raise UsageError(f"readers: a format's name or a list of Readers and names, not {readers!r}")
    if not readers:  # no format to try: a bad argument, not a file no reader takes
        raise UsageError(f"readers: {readers!r} names no format; None tries them all ({', '.join(names())})")
    for r in [readers] if isinstance(readers, str) else readers:
        if isinstance(r, str):
            if ALIASES.get(r, r) not in names():
                raise UsageError(f"readers: {r!r}: no such input format (formats: {', '.join(names())})")
            out.append(by_name(r))
        elif callable(getattr(r, "sniff", None)) and callable(getattr(r, "read", None)):
            out.append(r)
        else:
            raise UsageError(f"readers: {r!r} is neither a Reader nor a format's name (formats: {', '.join(names())})")
    return out


def names() -> list[str]:
    """The formats' names, in the order they are tried."""
    return [r.name for r in READERS]


def read_runs(path: str, readers: Sequence[Reader | str] | str | None = None) -> tuple[Run, ...]:
    """Every run in one file, read with the first reader (of `readers`, Reader objects or
    format names; default READERS) that takes it.

    Raises:
        InputError: the file cannot be read, is empty, or no reader takes it (the
        reason says what was looked for).
    """
    candidates = READERS if readers is None else resolve(readers)
    sample = Sample(path)
    if sample.empty:
        raise InputError(path, "empty file: nothing to read (a run that has not printed anything yet?)")
    for reader in candidates:
        if reader.sniff(sample):
            got = reader.read(sample)
            return tuple(_negative_said(r) for r in (got if isinstance(got, tuple) else (got,)))
    raise InputError(path, no_reader_reason(sample, candidates))


def _negative_said(run: Run) -> Run:
    """The run, with a note where it logs losses below 0: no cross-entropy is negative, so
    they are corrupt numbers or another loss than the model's, and what is said of the loss's
    size may not hold."""
    import numpy as np
    losses = [(run.iters.step, run.iters.loss), (run.evals.step, run.evals.val), (run.evals.step, run.evals.train)]
    below = [st[np.isfinite(v) & (v < 0)] for st, v in losses if len(v)]  # -inf is a divergence's, said elsewhere
    n = sum(len(b) for b in below)
    if not n:
        return run
    first = min(int(b.min()) for b in below if len(b))
    return replace(run, notes=(*run.notes, f"{n:,} logged losses are below 0 (the first at step {first:,}): no "
                                           "cross-entropy is negative, so they are corrupt numbers or the log's "
                                           "loss is not the model's cross-entropy; what is said of its size may "
                                           "not hold"))


def read_file(path: str, readers: Sequence[Reader | str] | str | None = None) -> Run:
    """The one run in a file (see read_runs); a file that holds several is an InputError
    that names them (read it with read_runs or lossdoctor.load_many)."""
    runs = read_runs(path, readers)
    if len(runs) != 1:
        shown = ", ".join(r.source[len(path) + 1:] if r.source.startswith(path + "#") else r.source for r in runs[:5])
        one_step = all(len({*r.evals.step.tolist(), *r.iters.step.tolist()}) < 2 for r in runs)
        raise InputError(path, f"holds {len(runs)} runs ({shown}{', ...' if len(runs) > 5 else ''}); "
                               "`lossdoctor analyze` reads them all, and FILE#NAME one of them"
                               + ("; each holds one step's losses, no curve to extrapolate" if one_step else "")
                               if runs else "holds no run")
    return runs[0]


def _binary_hint(head: bytes) -> str:
    """What a binary file that is really a log in another dress is, and how to read it."""
    pairs = list(zip(head[0::2][:256], head[1::2][:256], strict=False))  # UTF-16-LE without a BOM
    # text: ASCII or Latin-1 letters (high byte 0), or box and block characters (U+25xx, tqdm's bars)
    texty = sum(hi == 0 and (32 <= lo < 127 or lo in (9, 10, 13, 27) or lo >= 0xA0) or hi == 0x25 for lo, hi in pairs)
    ascii_le = len(pairs) >= 16 and texty >= 0.9 * len(pairs)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or ascii_le:
        return (" (UTF-16 text, as Windows PowerShell's `>` writes it: convert it to UTF-8, e.g. "
                "`iconv -f UTF-16 -t UTF-8 LOG > LOG.txt`)")
    if head[:2] == b"\x1f\x8b":
        return " (gzip-compressed: decompress it first, e.g. `gunzip -k LOG.gz`)"
    rest = head.lstrip(b"\0")
    if head[:1] == b"\0" and rest and _printable(rest):  # `: > train.log` under a running writer
        return (f" (it begins with {len(head) - len(rest):,} NUL bytes, as a log emptied while its run kept writing "
                "leaves it; the text after them is a log: remove them, e.g. `tr -d '\\000' < LOG > LOG.txt`)")
    if head[:4] in (b"PK\x03\x04",) and b"data.pkl" not in head:
        return " (a zip archive: extract the log from it first)"
    return ""


def _printable(text: bytes) -> bool:
    """Whether `text` is UTF-8 text of printable characters, line breaks, tabs and terminal
    escapes (a log's), not bytes that merely decode: b'\\x01\\x02' is no log."""
    if not _utf8(text):
        return False
    chars = text.decode("utf-8", errors="ignore")
    return all(c.isprintable() or c in "\t\n\r\x1b" for c in chars)


def _utf8(text: bytes) -> bool:
    """Whether `text` is UTF-8 text, a character cut at its end aside."""
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(text) - 3 and e.reason == "unexpected end of data"
    return True


def _broken_json(sample: Sample) -> str | None:
    """Why a file that opens as a JSON document (`{` or `[` first) is not one, where it is not:
    where parsing it stopped, and the likely cause of a file that ends early. None where it
    parses, does not open so (a JSONL file parses line by line: its first line is whole), or
    fails on its first line without a .json name (a log whose lines begin `[2024-05-01 ...]`)."""
    import json
    text = sample.head.lstrip()
    if not text.startswith((b"{", b"[")) or len(sample.data) > MAX_JSON_BYTES:
        return None
    try:
        json.loads(sample.data.tobytes())
    except UnicodeDecodeError:
        return None
    except json.JSONDecodeError as e:
        first = sample.head.split(b"\n", 1)[0]
        try:
            json.loads(first)
            return None  # its first line is a document of its own: JSON Lines, for their reader
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
        if e.lineno == 1 and not sample.suffix_in((".json",)) and not JSON_START.match(sample.head):
            return None  # `[2024-05-01 10:00] INFO`, `{Training started}`: a log, not JSON
        end = e.pos >= len(e.doc) - 1
        why = ("it ends before the document does: cut short, or copied while it was being written" if end
               else "two documents one after the other (files joined with cat?), or a damaged one")
        return f"not valid JSON: {e.msg} at line {e.lineno:,}, column {e.colno:,}: {why}"
    return None


# how a JSON document opens, as a log line does not: `{"`, `[{`, `["`, `[[`, `[1,`
JSON_START = re.compile(rb'\s*(?:\{\s*"|\[\s*[\[{"]|\[\s*-?\d[\d.eE+-]*\s*[,\]])')
MAX_JSON_BYTES = 256 * 2**20  # a JSON document larger than this is not parsed again for an error's sake


def no_reader_reason(sample: Sample, readers: Sequence[Reader]) -> str:
    """Why no reader took `sample`: what kind of file it is and what was looked for."""
    if (broken := _broken_json(sample)) is not None:
        return broken
    if len(readers) == 1 and readers[0] is not None and len(READERS) > 1:
        r = readers[0]
        return f"not in the {r.name} format" + (f" (looked for {r.looks_for})" if r.looks_for else "")
    if sample.binary:
        return "binary file, not a training log or a torch checkpoint" + _binary_hint(sample.head)
    if b"\r" in sample.head and b"\n" not in sample.head:  # a `\r` alone is read as a progress bar's redraw
        return ("its lines end in a carriage return alone (old Mac text): convert them to newlines first, e.g. "
                "`tr '\\r' '\\n' < LOG > LOG.txt`")
    if list(readers) == READERS:  # every format: name them, not each one's clues
        logs = ", ".join(dict.fromkeys(r.finds for r in readers if r.finds and r.name != "crash-log"))
        return f"no lines of a training log found (looked for {logs}, and a traceback; docs/formats.md)"
    parts = dict.fromkeys(f"no {r.finds} found (looked for {r.looks_for})" for r in readers if r.finds)
    return "; ".join(parts) or "no reader for this kind of file"
