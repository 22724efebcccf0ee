"""How `lossdoctor` ends: each kind of failure as one line on stderr and an exit status
(2 for a usage or input error, 130/143 for Ctrl-C/SIGTERM, 141 for a closed pipe), the
traceback only on request (--debug)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from . import cli_args as args_mod

if TYPE_CHECKING:
    from .verify.results import VerifyReport

EXIT_ERROR = 2
BROKEN_PIPE = 128 + 13  # as a shell reports a process that SIGPIPE ended
# the machine's errors, not lossdoctor's: a full disk or quota, a failing device, a file too big
MACHINE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS)
# what a path the user gave can be wrong with (the error names it)
PATH_ERRORS = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EEXIST)


def guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """func(args)'s exit status, or the status of what it raised, said on stderr."""
    debug = getattr(args, "debug", False)
    from .errors import LossdoctorError
    if sys.stdout is None:  # started with stdout closed (`>&-`): Python gives no stream to write to
        error("lossdoctor: error: stdout is closed: there is nowhere to write the output (give it a file or a pipe)")
        return EXIT_ERROR
    try:
        with warnings.catch_warnings(), sigterm_as_interrupt():
            if not debug:  # overflow in a sum of absurd losses: the facts say what is non-finite
                warnings.simplefilter("ignore", RuntimeWarning)
            status = func(args)
        return BROKEN_PIPE if _reader_gone() else status
    except LossdoctorError as e:
        if debug:  # the traceback asked for, and still a usage or input error's status (1 is findings)
            traceback.print_exc()
        error(f"lossdoctor: error: {e}")
        return EXIT_ERROR
    except KeyboardInterrupt as e:  # Ctrl-C 130, SIGTERM 143, as a shell reports them
        from .errors import Terminated
        print("lossdoctor: terminated" if isinstance(e, Terminated) else "lossdoctor: interrupted", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except (MemoryError, RecursionError) as e:
        if debug:
            traceback.print_exc()
        error(f"lossdoctor: error: the input is too large or too deeply nested to process ({type(e).__name__})")
        return EXIT_ERROR
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to write, to anyone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE
    except OSError as e:  # a path the user gave that cannot be written (it names it), or the machine's
        if debug or e.errno not in MACHINE_ERRORS and not (e.filename and e.errno in PATH_ERRORS):
            return _internal(e, debug)
        what = str(e.strerror or e)
        said = f"{e.filename}: {what[:1].lower()}{what[1:]}" if e.filename else f"{what} (writing the output)"
        error(f"lossdoctor: error: {said}")
        return EXIT_ERROR
    except Exception as e:
        return _internal(e, debug)


def _reader_gone() -> bool:
    """Whether stdout is a pipe whose reader closed it before taking all of the output
    (`| head`), where a write into it may not have said so: a write that blocked on the full
    pipe returns the part the reader took, and Python's buffered stdout then ends without an
    error. A reader that took it all and left (`| head -n N`, N the report's lines) lost
    nothing. True: nothing more goes out (stdout is pointed at /dev/null, so that the
    interpreter's last flush is quiet)."""
    import select
    import stat
    try:
        sys.stdout.flush()
        fd = sys.stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        gone = any(events & select.POLLERR for _, events in poller.poll(0)) and _unread(fd) != 0
    except BrokenPipeError:
        gone = True
    except (AttributeError, ValueError, OSError):  # no file behind stdout (a test's StringIO), or no poll
        return False
    if gone:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return gone


def _unread(fd: int) -> int | None:
    """Bytes written into the pipe `fd` and not read (Linux answers FIONREAD on a pipe's
    write end); None where the system does not say."""
    import fcntl
    import struct
    import termios
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])
    except OSError:
        return None


def _internal(e: Exception, debug: bool) -> int:
    """A bug: one line, and the traceback on request (--debug)."""
    if debug:
        traceback.print_exception(e)
    error(f"lossdoctor: internal error: {type(e).__name__}: {str(e)[:200]} (--debug shows the traceback; "
          "please report it with the input)")
    return EXIT_ERROR


def wrapped(text: str, stream: Any, indent: str = "  ") -> str:
    """`text` as one line where a program reads `stream`, wrapped at the console's width
    (between words, never inside a path, a flag or a command in backticks, which a copy
    must get whole) where a person does: a terminal, or a COLUMNS the user set."""
    if not (stream.isatty() or "COLUMNS" in os.environ):
        return text
    import re
    import shutil
    import textwrap
    width = max(shutil.get_terminal_size().columns, args_mod.MIN_WIDTH)
    room = width - len(indent)  # a span longer than a line is wrapped as words (an unmatched ` pairs too far)
    # a command in backticks, or the `lossdoctor CMD --help` a usage error points to: one word to textwrap
    kept = re.sub(r"`[^`\n]+`|\blossdoctor(?: [a-z]+)? --help\b",
                  lambda m: m.group(0).replace(" ", KEEP) if len(m.group(0)) <= room else m.group(0), text)
    return textwrap.fill(kept, width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False).replace(KEEP, " ")


KEEP = "\ue000"  # a space inside a backticked command while it is wrapped (a private-use character)


def error(text: str) -> None:
    """An error on stderr, wrapped as `wrapped` says."""
    text = wrapped(text, sys.stderr)
    escaped = any("\udc80" <= c <= "\udcff" for c in text)  # os.fsdecode's escapes of bytes that are no UTF-8
    buffer = getattr(sys.stderr, "buffer", None)
    if not escaped or buffer is None:
        print(text, file=sys.stderr)
        return
    sys.stderr.flush()  # a path's bytes that are no UTF-8 (os.fsdecode's escapes) as the file system holds them
    buffer.write(text.encode("utf-8", "surrogateescape") + b"\n")
    buffer.flush()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's kill, `kill PID`) is handled as Ctrl-C: a training saves its
    checkpoint and verify keeps its finished trainings, instead of dying mid-write."""
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        from .errors import Terminated
        raise Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


VERIFY_FAIL_ON = ("refuted", "unsupported")


def verify_exit(report: VerifyReport, fail_on: str | None) -> int:
    """1 where an experiment's verdict is at `fail_on` (VERIFY_FAIL_ON: one against its
    recommendation; or, `unsupported`, any that does not support it, or none run), else 0."""
    if fail_on is None:
        return 0
    supports = [e.supports for e in report.experiments]
    unsupported = not supports or any(s is not True for s in supports)  # nothing run supports nothing
    failed = any(s is False for s in supports) or (fail_on == "unsupported" and unsupported)
    return 1 if failed else 0
