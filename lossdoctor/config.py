"""nanoGPT's training config as a run shows it: train.py's defaults, changed by a log's header.

nanoGPT's train.py starts from module-level defaults (lossdoctor.nanogpt), then `configurator.py` runs the
config file (and prints it verbatim after `Overriding config with X:`), then applies each
`--key=value` (printing `Overriding: key = value`). We replay that order without executing
anything: a config file is read with `ast`, literal values and constant arithmetic
(`5 * 8`) are kept, and any other expression is recorded as unknown with its source text.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .frozen import FrozenDict, frozen
from .nanogpt import KEY_TYPES, NANOGPT_DEFAULTS, NANOGPT_KEYS, configurator_value

# origins, from weakest to strongest
DEFAULT = "default"  # nanoGPT train.py default (karpathy/nanoGPT @ 3adf61e1)
CHECKPOINT = "checkpoint"  # ckpt.pt 'config' dict
FILE = "config file"  # body echoed after `Overriding config with X:`
OVERRIDE = "override"  # `Overriding: key = value` (a --key=value flag)
DUMP = "config dump"  # a fork's printout of the final values (e.g. `key: value` block)
INFERRED = "inferred"  # a nanoGPT config file that the log's out_dir and cadence point to (readers/infer.py)
CADENCE = "log cadence"  # eval_interval, log_interval: the spacing of the log's own lines (readers/infer.py)
META_PATH = "meta.pkl path"  # dataset: the data/DATASET/meta.pkl train.py printed it read (readers/infer.py)
DERIVED = "derived"  # computed from values another trainer's log prints (its raw says how)


@dataclass(frozen=True)
class ConfigValue:
    """One resolved config value and where it came from.

    `value` is None when `known` is False (an expression that was not evaluated);
    `raw` keeps the source text as it appeared in the log or file.
    """

    key: str
    value: Any
    origin: str
    known: bool = True
    raw: str | None = None
    line: int | None = None  # 1-based line in the log, when read from one
    # why a value the log shows is not taken as what ran (known False, a literal): flags the
    # log does not show may have replaced it; None for an expression not evaluated
    unknown_why: str | None = None


def not_taken(cv: ConfigValue, why: str) -> ConfigValue:
    """A value the log shows that is not taken as what ran, and why (flags the log does not
    show may have replaced it): unknown, its text kept."""
    return ConfigValue(cv.key, None, cv.origin, False, cv.raw, cv.line, why)


@dataclass(frozen=True)
class Config:
    """The resolved config: nanoGPT's keys plus any extra keys the log set.

    `seen` is True when the log showed how the run was configured (a config-file echo,
    `Overriding:` lines, a config dump, or a checkpoint's config). When it is False the
    values are train.py's defaults, which may not be what ran.
    """

    values: Mapping[str, ConfigValue]
    seen: bool = False
    defaults_ok: bool | None = None  # None: same as `seen`; False: the log contradicts a default
    defaults_why: str | None = None  # why train.py's defaults do not stand, where defaults_ok is False
    problems: tuple[str, ...] = ()  # values of the wrong type, kept as unknown (said in the notes)
    # a config file's value that a later --key=value replaced (the first such): what a process
    # run from the same config file without the flag had, e.g. the init_from of the run a
    # `--init_from=resume` continues
    replaced: Mapping[str, ConfigValue] = field(default_factory=dict)

    def __post_init__(self) -> None:  # read-only in depth, as every result is
        for name in ("values", "replaced"):
            object.__setattr__(self, name, frozen(getattr(self, name)))

    def __getitem__(self, key: str) -> ConfigValue:
        return self.values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of `key`, or `default` when it is unknown or missing."""
        cv = self.values.get(key)
        return cv.value if cv is not None and cv.known else default

    def trusted(self, key: str) -> Any:
        """The value of `key` when the run's config was seen, else None.

        A default value counts only when the log showed its config: a log with no header
        says nothing about what ran, and train.py's defaults (GPT-2 124M on OpenWebText)
        would be a guess.
        """
        cv = self.values.get(key)
        if cv is None or not cv.known:
            return None
        if cv.origin == DEFAULT and not self.defaults_trusted:
            return None
        return cv.value

    def machine_default(self, key: str) -> str | None:
        """Where `key` holds train.py's default and that default depends on the machine that
        ran it (dtype), what it is there ("bfloat16 on a bf16-capable CUDA machine, else
        float16"): the value is then unknown; else None."""
        from .nanogpt import MACHINE_DEPENDENT_DEFAULTS  # nanoGPT's, read where it lives
        cv = self.values.get(key)
        return MACHINE_DEPENDENT_DEFAULTS.get(key) if cv is not None and cv.origin == DEFAULT else None

    @property
    def defaults_trusted(self) -> bool:
        """Whether train.py's defaults can stand for keys the log did not set."""
        return self.seen if self.defaults_ok is None else self.defaults_ok

    def as_dict(self) -> dict[str, Any]:
        """key -> value (None where unknown)."""
        return {k: (v.value if v.known else None) for k, v in self.values.items()}


class ConfigBuilder:
    """Applies config layers in train.py's order; the last layer to set a key wins."""

    def __init__(self) -> None:
        self._values: dict[str, ConfigValue] = {
            k: ConfigValue(k, v, DEFAULT) for k, v in NANOGPT_DEFAULTS.items()
        }
        self.seen = False
        self.problems: list[str] = []
        self.replaced: dict[str, ConfigValue] = {}

    def set(self, cv: ConfigValue, shows: bool = True) -> None:
        """Apply one value; a value train.py's type cannot hold is kept as unknown. `shows`:
        the value shows how the run was configured (False for one read off the weights'
        shapes: train.py's defaults are then no more trusted than before)."""
        why = wrong_type(cv.key, cv.value) if cv.known else None
        if why is not None:
            self.problems.append(f"{cv.key} = {_short(cv.raw or repr(cv.value))} ({why}): treated as unknown")
            cv = ConfigValue(cv.key, None, cv.origin, False, cv.raw or _short(repr(cv.value)), cv.line)
        before = self._values.get(cv.key)
        if cv.origin == OVERRIDE and before is not None and before.origin == FILE and before.known:
            self.replaced.setdefault(cv.key, before)
        self._values[cv.key] = cv
        if shows and cv.origin not in (DEFAULT, CADENCE, META_PATH) and cv.key in NANOGPT_KEYS:  # they show none
            self.seen = True

    def drop(self, origin: str) -> None:
        """Take back every value of `origin` (what a command line's config file was taken to
        set, once the log echoes the file as it ran): train.py's default again, or none."""
        for key, cv in list(self._values.items()):
            if cv.origin == origin:
                if key in NANOGPT_DEFAULTS:
                    self._values[key] = ConfigValue(key, NANOGPT_DEFAULTS[key], DEFAULT)
                else:
                    del self._values[key]

    def build(self) -> Config:
        return Config(dict(self._values), self.seen, problems=tuple(dict.fromkeys(self.problems)),
                      replaced=FrozenDict(self.replaced))


NUMBER_LIMIT = 1e15  # past this no count, size or rate of a training run makes sense
OTHER_LIMIT = 1e30  # nor any number another trainer prints (peak FLOPS, tokens, FLOPs)
# the ranges train.py's numbers can take: (low, high, low included); a value outside is unknown
RANGES: dict[str, tuple[float, float, bool]] = {
    **{k: (0, NUMBER_LIMIT, False) for k in ("batch_size", "block_size", "n_layer", "n_head", "n_embd",
                                              "eval_iters", "eval_interval", "log_interval",
                                              "gradient_accumulation_steps")},
    **{k: (0, NUMBER_LIMIT, True) for k in ("max_iters", "lr_decay_iters", "warmup_iters", "learning_rate",
                                             "min_lr", "weight_decay", "grad_clip")},
    **{k: (0, 1, True) for k in ("dropout", "beta1", "beta2")},
}


def wrong_type(key: str, value: Any) -> str | None:
    """Why `value` cannot be train.py's `key` (None when it can): a number key needs a
    finite number (an int key an int) below NUMBER_LIMIT, a bool key a bool, a text key a
    str. A key train.py does not have only needs a number to be finite and below OTHER_LIMIT."""
    want = KEY_TYPES.get(key)
    if want is None:  # another trainer's key: any number it prints is below 1e30 (FLOPs of a run: ~1e25)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return "out of range" if number and not abs(value) < OTHER_LIMIT else None
    if want is bool:
        return None if isinstance(value, bool) else f"a {type(value).__name__}, train.py needs a bool"
    if want is str:
        return None if isinstance(value, str) else f"a {type(value).__name__}, train.py needs a str"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or want is int and isinstance(value, float):
        return f"a {type(value).__name__}, train.py needs a{'n' if want is int else ''} {want.__name__}"
    # an int is compared exactly: float() of a 400-digit int overflows
    if isinstance(value, float) and not math.isfinite(value) or abs(value) > NUMBER_LIMIT:
        return "out of range"
    low, high, closed = RANGES.get(key, (-NUMBER_LIMIT, NUMBER_LIMIT, True))
    if value < low or value == low and not closed or value > high:
        return f"out of range: {key} must be {'at least' if closed else 'above'} {low:g}" + (
            f" and at most {high:g}" if high < NUMBER_LIMIT else "")
    return None


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------------------------------
# reading values without executing anything

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def fold_constant(node: ast.AST) -> Any:
    """Value of a literal or of constant arithmetic on numbers (`5 * 8`, `1e-3 / 10`).

    Raises ValueError for anything else: names, calls, attributes, comprehensions.
    """
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = fold_constant(node.left), fold_constant(node.right)
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (left, right)):
            raise ValueError("arithmetic on non-numbers")
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = fold_constant(node.operand)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ValueError("sign on a non-number")
        return -v if isinstance(node.op, ast.USub) else v
    return ast.literal_eval(node)


def parse_override_value(text: str) -> Any:
    """A value as configurator.py prints it: `str()` of a literal, or a bare string."""
    return configurator_value(text.strip())


def parse_assignments(source: str, first_line: int | None = None) -> list[ConfigValue]:
    """Top-level `name = value` assignments of a config file, read with `ast` only.

    Lines that do not parse as Python are skipped one by one; a value that is not a
    literal is returned with known=False and its source text in `raw`.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # fall back to line by line, so one broken line does not hide the rest
        out: list[ConfigValue] = []
        for i, line in enumerate(source.splitlines()):
            ln = None if first_line is None else first_line + i
            if not line.strip():
                continue
            if _parses(line):
                out.extend(parse_assignments(line, ln))
            elif m := _TOO_DEEP.match(line):  # an expression too big to parse: its value is unknown
                out.append(ConfigValue(m.group(1), None, FILE, False, m.group(2)[:40] + "...", ln))
        return out
    out = []
    segment = _source_segments(source)
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        raw = segment(node.value)
        lineno = None if first_line is None else first_line + node.lineno - 1
        try:
            out.append(ConfigValue(target.id, fold_constant(node.value), FILE, True, raw, lineno))
        except (ValueError, TypeError, SyntaxError, ZeroDivisionError, MemoryError, RecursionError):
            out.append(ConfigValue(target.id, None, FILE, False, raw, lineno))
    return out


def _source_segments(source: str) -> Callable[[ast.expr], str]:
    """node -> its source text, like ast.get_source_segment, with the line offsets found
    once (get_source_segment splits the whole source at every call)."""
    if "\r" in source:
        return lambda node: ast.get_source_segment(source, node) or ""
    data = source.encode("utf-8")  # ast's column offsets count UTF-8 bytes
    starts = [0]
    for i, byte in enumerate(data):
        if byte == 0x0A:
            starts.append(i + 1)

    def segment(node: ast.expr) -> str:
        if node.end_lineno is None or node.end_col_offset is None:
            return ""
        lo = starts[node.lineno - 1] + node.col_offset
        hi = starts[node.end_lineno - 1] + node.end_col_offset
        return data[lo:hi].decode("utf-8")
    return segment


_TOO_DEEP = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(.{1000,})$")  # `key = <1000+ characters>`
MAX_LINE = 1000  # a config line longer than this is not parsed (its nesting could exhaust ast)


def _parses(line: str) -> bool:
    if len(line) > MAX_LINE:
        return False
    try:
        ast.parse(line)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True
