"""The command line's argument types: counts, rates, widths, device peaks and LR schedules,
each checked where it is read, so that a bad value is a usage error naming the flag."""

from __future__ import annotations

import argparse
import math
import os
import stat
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def read_schedule(spec: str) -> dict[str, Any] | np.ndarray:
    """'key=value,...' for warmup_iters, lr_decay_iters, min_lr, learning_rate, decay_lr
    (True unless given); or a file."""
    from .errors import UsageError
    if not spec.strip():
        raise UsageError("--schedule is empty: give key=value pairs (warmup_iters=..., lr_decay_iters=..., "
                         "min_lr=..., learning_rate=...) or a file of one LR per line")
    if os.path.exists(spec):
        return read_lr_file(spec)
    if "=" not in spec:
        raise UsageError(f"--schedule {spec}: no such file, and not key=value pairs (warmup_iters=..., "
                         "lr_decay_iters=..., min_lr=..., learning_rate=...)")
    from .fit.scenarios import SCHEDULE_KINDS, check_value
    out: dict[str, Any] = {}
    for part in spec.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in (*SCHEDULE_KINDS, "decay_lr"):
            raise UsageError(f"--schedule: unknown key {key!r} (use {', '.join(SCHEDULE_KINDS)}, decay_lr, or a file)")
        if key in out:
            raise UsageError(f"--schedule: {key} is given twice")
        if key == "decay_lr":  # False: the LR is learning_rate at every step, no warmup (train.py skips get_lr)
            if value.strip() not in ("True", "False"):
                raise UsageError(f"--schedule: decay_lr={value!r} is not True or False")
            out[key] = value.strip() == "True"
            continue
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--schedule: {key}={value!r} is not a number") from None
        whole = SCHEDULE_KINDS[key][0] is int and math.isfinite(number) and number == int(number)
        out[key] = int(number) if whole else number
        try:
            check_value(key, out[key])  # the library's rules for the value
        except UsageError as e:
            raise UsageError(f"--{e}") from None
    if out.get("decay_lr") is not False and out.get("min_lr", 0.0) > out.get("learning_rate", math.inf):
        raise UsageError(f"--schedule: min_lr={out['min_lr']:g} is above learning_rate={out['learning_rate']:g}")
    out.setdefault("decay_lr", True)
    return out


def read_lr_file(path: str) -> np.ndarray:
    """One non-negative LR per line (blank lines and # comments skipped), from a file or a
    pipe (`<(command)`), read within a bound: an endless device is refused, not read."""
    import numpy as np

    from .errors import UsageError
    values = []
    for n, line in enumerate(_schedule_text(path).splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            lr = float(text)
        except ValueError:
            raise UsageError(f"{path}: line {n}: {text[:40]!r} is not a number (one LR per line)") from None
        if not math.isfinite(lr) or lr < 0:
            raise UsageError(f"{path}: line {n}: {text[:40]} is not a non-negative finite LR")
        values.append(lr)
    if not values:
        raise UsageError(f"{path}: no LRs in it (one LR per line)")
    return np.array(values)


def _schedule_text(path: str) -> str:
    """The text of a --schedule file or pipe, read within a bound (an endless device is
    refused, not read)."""
    import stat

    from .errors import UsageError
    from .fit.limits import MAX_FIT_STEPS
    limit = 32 * (MAX_FIT_STEPS + 1)  # bytes: one LR a line for every step the fit can sum, 32 characters each
    try:
        mode = os.stat(path).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise UsageError(f"--schedule {path}: not a file or a pipe (a file of one LR per line, or key=value "
                             "pairs)")
        if stat.S_ISFIFO(mode):  # as analyze reads a pipe: one no program writes to reads as empty
            import fcntl
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)  # now wait for data
            f = os.fdopen(fd, "rb")
        else:
            f = open(path, "rb")
        with f:
            data = f.read(limit + 1)
    except OSError as e:
        raise UsageError(f"--schedule {path}: {e.strerror or e}") from None
    if not data and stat.S_ISFIFO(mode):
        raise UsageError(f"--schedule {path}: a pipe that gave nothing (no program wrote to it, or it wrote "
                         "nothing and closed it)")
    if len(data) > limit:
        raise UsageError(f"--schedule {path}: more than {limit:,} bytes: the fit sums at most {MAX_FIT_STEPS:,} "
                         "steps' LRs")
    if b"\x00" in data[:4096] or data[:4096].decode("utf-8", "replace").count("\ufffd") > 8:
        raise UsageError(f"--schedule {path}: a binary file, not text: give a file of one LR per line, or "
                         "key=value pairs")
    return data.decode("utf-8", "replace")


def peak_flops(value: float | str | None) -> float | None:
    """--peak-flops as FLOP/s: a number (at least MIN_PEAK_FLOPS: `4090` is a GPU's name cut
    short, not 4,090 FLOP/s), or a GPU named in facts.speed's table."""
    from .errors import UsageError
    from .facts import MIN_PEAK_FLOPS
    if isinstance(value, float) and value < MIN_PEAK_FLOPS:
        raise UsageError(f"--peak-flops {value:g}: a peak of under {MIN_PEAK_FLOPS:.0e} FLOP/s is no device's; give "
                         "FLOP/s, e.g. 165e12, or a GPU's name, e.g. 'RTX 4090'")
    if value is None or isinstance(value, float):
        return value
    from .facts.speed import PEAK_FLOPS, device_for
    key = device_for(value)
    if key is None:
        raise UsageError(f"--peak-flops: unknown device {value!r}; give a number such as 312e12")
    if key.lower() != value.strip().lower():  # matched by its words ('NVIDIA A100-SXM4-80GB'): say as which
        print(f"lossdoctor: --peak-flops {value!r} read as the {key} ({PEAK_FLOPS[key]:.3g} FLOP/s); give "
              "FLOP/s for another device", file=sys.stderr)
    return PEAK_FLOPS[key]


def seed(text: str) -> int:
    """A random seed torch takes: a whole number in [0, 2**63)."""
    try:
        x = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text}") from None
    if not 0 <= x < 2 ** 63:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**63) (torch.manual_seed's range): {text}")
    return x


def interval_level(text: str) -> float:
    """An interval's level: a fraction strictly between 0 and 1 (80% is 0.8)."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not 0 < x < 1:
        hint = f"{x / 100:g} for {x:g}%" if 1 < x < 100 else "0.8 for an 80% interval"
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 ({hint}): {text}")
    return x


def positive_float(text: str) -> float | str:
    try:
        x = float(text)
    except ValueError:
        return text  # a device name, resolved later
    if not 0 < x < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite positive number: {text}")
    return x


def positive_int(text: str) -> int:
    """A count such as 5000, 5_000, 5,000 or 5e3 (a whole number in scientific notation)."""
    clean = text.replace(",", "").replace("_", "")
    try:
        x = int(clean)
    except ValueError:
        try:
            f = float(clean)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text}") from None
        if not (math.isfinite(f) and f.is_integer()):
            raise argparse.ArgumentTypeError(f"not an integer: {text}") from None
        x = int(f)
    if x <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    if x > 2**53:  # past any step count, and past the integers a float (what it is computed with) keeps exact
        raise argparse.ArgumentTypeError(f"too large: {text}")
    return x


def plot_file(text: str) -> str:
    """--plot: a file name (its suffix, checked later, says the image format)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty: give a file name such as curves.png")
    return text


MIN_WIDTH = 40  # columns: below this the report's tables cannot show their columns
MAX_WIDTH = 1000  # columns: past this a line is padding, not layout (a typo's extra zeros)


FORMAT_HELP = ("output format (default: rich on a terminal, plain otherwise): rich (colour, also when piped), "
               "plain (the same layout, UTF-8 box lines, no colour or terminal codes), json (one document, "
               "everything), markdown (to paste into an issue: the report with each run's facts, config "
               "and not-applicable rules folded, the same with or without -v; the curves and events "
               "tables are -v's and the JSON's)")


def width(text: str) -> int:
    """--width: a console width the report can be laid out in."""
    x = positive_int(text)
    if x < MIN_WIDTH:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_WIDTH} columns: {text}")
    if x > MAX_WIDTH:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_WIDTH:,} columns: {text}")
    return x


STDIN = "/dev/stdin"


def input_path(text: str) -> str:
    """A log's path; `-` is the standard input (`train.py ... | lossdoctor analyze -`)."""
    if text == "-":
        if not os.path.exists(STDIN):
            raise argparse.ArgumentTypeError("- (stdin) is not readable as a file here: give the log's path")
        if stat.S_ISCHR(os.stat(STDIN).st_mode):  # a terminal, or < /dev/null: no log comes
            raise argparse.ArgumentTypeError("- (stdin) is a terminal or a device, not a log: pipe one in "
                                             "(python train.py | lossdoctor analyze -) or give its path")
        return STDIN
    return text
