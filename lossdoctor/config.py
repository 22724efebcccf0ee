"""nanoGPT's training config as a run shows it: train.py's defaults, changed by a log's header.

nanoGPT's train.py starts from module-level defaults (lossdoctor.nanogpt), then `configurator.py` runs the
config file (and prints it verbatim after `Overriding config with X:`), then applies each
`--key=value` (printing `Overriding: key = value`). We replay that order without executing
anything: a config file is read with `ast`, literal values and constant arithmetic
(`5 * 8`) are kept, and any other expression is recorded as unknown with its source text.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .nanogpt import NANOGPT_DEFAULTS, NANOGPT_KEYS, configurator_value

# origins, from weakest to strongest
DEFAULT = "default"  # nanoGPT train.py default (karpathy/nanoGPT @ 3adf61e1)
CHECKPOINT = "checkpoint"  # ckpt.pt 'config' dict
FILE = "config file"  # body echoed after `Overriding config with X:`
OVERRIDE = "override"  # `Overriding: key = value` (a --key=value flag)
DUMP = "config dump"  # a fork's printout of the final values (e.g. `key: value` block)


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

    def set(self, cv: ConfigValue) -> None:
        self._values[cv.key] = cv
        if cv.origin != DEFAULT and cv.key in NANOGPT_KEYS:
            self.seen = True

    def build(self) -> Config:
        return Config(dict(self._values), self.seen)


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
    except (SyntaxError, ValueError):
        # fall back to line by line, so one broken line does not hide the rest
        out: list[ConfigValue] = []
        for i, line in enumerate(source.splitlines()):
            ln = None if first_line is None else first_line + i
            out.extend(parse_assignments(line, ln) if line.strip() and _parses(line) else [])
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


def _parses(line: str) -> bool:
    try:
        ast.parse(line)
    except (SyntaxError, ValueError):
        return False
    return True
