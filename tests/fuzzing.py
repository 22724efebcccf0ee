"""Mutated inputs for every reader, and the pipeline run on each: what benchmarks/fuzz.py
and tests/test_fuzz.py share.

A case is a seed file of the project's own (fixtures/) changed by one or more mutations
that real files suffer: bytes flipped, cut at any offset, lines duplicated, reordered or
deleted, binary chunks, a very long line, invalid UTF-8, NUL bytes, CRLF, another encoding,
numbers replaced by nan/inf/1e308/-0/huge integers, steps going backwards, the header
repeated mid-file. `run_case` takes it through every stage (load, facts, rules, compare,
extrapolate) and returns the crash it met, if any: an exception that is not lossdoctor's
own one-line error.
"""

from __future__ import annotations

import os
import random
import re
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CRASHES = FIXTURES / "fuzz" / "crashes"  # every input that ever crashed a stage
SEED_SUFFIXES = (".log", ".txt", ".md", ".csv", ".json", ".jsonl", ".err")
MAX_SEED = 64 * 1024  # bytes of a seed kept: the mutations, not the length, find the bugs
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
STEP_NUMBER = re.compile(rb"((?:step|iter|s:)\s?)(\d+)")
WEIRD_NUMBERS = (b"nan", b"inf", b"-inf", b"1e308", b"-0", b"-0.0", b"99999999999999999999999", b"1" * 400,
                 b"-1", b"0", b"1e-320", b"NaN", b"+inf")


def seeds() -> list[Path]:
    """The project's own inputs of every format: fixtures' logs, tables, JSON and crashes."""
    found = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file() and path.suffix in SEED_SUFFIXES and "calibration" not in path.parts:
            found.append(path)
    return found


# -- mutations: bytes -> bytes ---------------------------------------------------------------

def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def flip(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randint(0, len(data))]


def duplicate_line(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    return b"\n".join(lines[:i] + [lines[i]] * rng.randint(2, 50) + lines[i + 1:])


def delete_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    return b"\n".join(lines[:i] + lines[i + rng.randint(1, 20):])


def shuffle_lines(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i, j = sorted(rng.randrange(len(lines)) for _ in range(2))
    part = lines[i:j + 1]
    rng.shuffle(part)
    return b"\n".join(lines[:i] + part + lines[j + 1:])


def binary_chunk(data: bytes, rng: random.Random) -> bytes:
    i = rng.randint(0, len(data))
    return data[:i] + rng.randbytes(rng.randint(1, 4096)) + data[i:]


def long_line(data: bytes, rng: random.Random) -> bytes:
    i = rng.randint(0, len(data))
    unit = rng.choice([b"a", b"1", b"step ", b"iter 1: loss ", b"1+", b"-", b"(", b"[", b" ", b"9", b"|"])
    size = rng.choice([10_000, 100_000, 1_000_000, 10_000_000])
    return data[:i] + unit * (size // len(unit)) + data[i:]


def bad_utf8(data: bytes, rng: random.Random) -> bytes:
    i = rng.randint(0, len(data))
    return data[:i] + rng.choice([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80\x80\x80", b"\xf8\x88\x80"]) + data[i:]


def nul_bytes(data: bytes, rng: random.Random) -> bytes:
    i = rng.randint(0, len(data))
    return data[:i] + b"\0" * rng.randint(1, 64) + data[i:]


def crlf(data: bytes, rng: random.Random) -> bytes:
    return data.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\r"]))


def other_encoding(data: bytes, rng: random.Random) -> bytes:
    text = data.decode("utf-8", "replace")
    codec = rng.choice(["utf-16", "latin-1", "utf-32", "cp1252"])
    encoded = text.encode(codec, "replace")
    if rng.random() < 0.5:  # mixed: only a part re-encoded
        i = rng.randint(0, len(data))
        return data[:i] + encoded[i:i + 2000]
    return encoded


def weird_numbers(data: bytes, rng: random.Random) -> bytes:
    matches = list(NUMBER.finditer(data))
    if not matches:
        return data
    out = data
    for m in sorted(rng.sample(matches, min(len(matches), rng.randint(1, 10))), key=lambda m: -m.start()):
        out = out[:m.start()] + rng.choice(WEIRD_NUMBERS) + out[m.end():]
    return out


def steps_backwards(data: bytes, rng: random.Random) -> bytes:
    matches = [m for m in STEP_NUMBER.finditer(data) if len(m.group(2)) <= 18]  # int() refuses 4300+ digits
    if not matches:
        return data
    out = data
    for m in sorted(rng.sample(matches, min(len(matches), rng.randint(1, 10))), key=lambda m: -m.start()):
        new = str(max(0, int(m.group(2)) - rng.randint(1, 10_000))).encode()
        out = out[:m.start(2)] + new + out[m.end(2):]
    return out


def repeat_header(data: bytes, rng: random.Random) -> bytes:
    lines = _lines(data)
    i = rng.randrange(len(lines))
    return b"\n".join(lines[:i] + lines[:rng.randint(1, 60)] + lines[i:])


MUTATIONS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    flip, truncate, duplicate_line, delete_lines, shuffle_lines, binary_chunk, long_line, bad_utf8, nul_bytes,
    crlf, other_encoding, weird_numbers, steps_backwards, repeat_header)


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """`data` after 1-3 mutations (long_line rarely: it is slow by design), and their names."""
    names = []
    for _ in range(rng.randint(1, 3)):
        m = rng.choice(MUTATIONS)
        if m is long_line and rng.random() > 0.1:
            m = weird_numbers
        data = m(data, rng)
        names.append(m.__name__)
    return data, names


# -- the pipeline ------------------------------------------------------------------------------

class TooSlow(Exception):
    """A case that ran past its time limit: where it was is where it is slow."""


def _alarm(signum: int, frame: object) -> None:
    raise TooSlow


def run_case(path: str, *, extrapolate: bool = True, other: str | None = None, limit: int = 30) -> str | None:
    """Every stage on one file: None when each ended in a result or lossdoctor's own error
    within `limit` seconds, else the crash as `ExceptionType at file:line in function` (the
    traceback's last frame inside lossdoctor, else its last frame); `TooSlow at ...` for a
    case past the limit."""
    import signal
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit)
    try:
        return _stages(path, extrapolate, other)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _stages(path: str, extrapolate: bool, other: str | None) -> str | None:
    import lossdoctor
    from lossdoctor.errors import LossdoctorError
    from lossdoctor.fit import Extrapolator
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            paths = [path] + ([other] if other else [])
            analysis = lossdoctor.analyze(paths)
            if extrapolate:
                for run, fit in zip(analysis.runs, analysis.fits, strict=True):
                    last = int(max([*run.evals.step.tolist(), *run.iters.step.tolist(), 1]))
                    try:
                        fit.extrapolate(2 * last)
                    except LossdoctorError:
                        pass
                    Extrapolator(run)
    except LossdoctorError:
        return None
    except (Exception, TooSlow) as e:  # the crash: what the fuzzer looks for
        return where(e)
    return None


def where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if f"{os.sep}lossdoctor{os.sep}" in f.filename] or frames
    f = ours[-1] if ours else None
    place = f"{os.path.relpath(f.filename, ROOT)}:{f.lineno} in {f.name}" if f else "?"
    return f"{type(e).__name__} at {place}"
