"""Safe message templates and nanoGPT flags.

A template is text with `{name}` or `{name:spec}` fields (str.format syntax), where name is
a fact, a rule param or a rule `let`. Only plain names are allowed: no `{x.attr}`, no
`{x[0]}`, no `!r` conversions, no nested fields; the values are formatted by us with
`format(value, spec)`, so a template cannot reach into any object. The spec must be one of
str.format's standard specs ([[fill]align][sign][z][#][0][width][,|_][.precision][type])
with width and precision at most MAX_FORMAT_SIZE (`{x:>1000000000}` would build a
gigabyte), and a template is at most MAX_TEMPLATE_CHARS long (limits.py): rule files may
come from users. Rendering never raises.

In messages a fact's unit follows its value ("3.84 epochs", "1,536,000 tokens", "0.0160
nats"), except for a spec ending in `%`, units "", "LR" and "fraction" (write
`{best_val_frac:.0%}`), counts the text names itself ("at step {best_val_step}"), and a
value whose text goes on with its unit ("{tokens_seen} tokens" is not "tokens tokens").
Unknown values print as "unknown", a known null (nan_step of a run without NaN) as "none",
and an assumed value (a fact of status "assumed") is preceded by "assumed", an inferred one
by "inferred".
Without a spec, floats get 4 significant digits and
ints thousands separators.

Flags are `--key=value` words for nanoGPT's train.py. nanoGPT's configurator takes a key
only if train.py defines it, and a value only if `ast.literal_eval` of it (else the bare
string) has the type of train.py's default: `--dropout=0` is refused (an int where a float
is expected), `--dropout=0.0` is taken. Flag values are rendered to pass that check.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..nanogpt import DTYPES, KEY_TYPES, NANOGPT_DEFAULTS, NANOGPT_KEYS, accepts, configurator_value
from .limits import MAX_FORMAT_SIZE, MAX_TEMPLATE_CHARS, shorten

_FORMATTER = string.Formatter()
# str.format's standard format spec, with width and precision captured to be bounded
_SPEC_RE = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(?P<width>[0-9]*)[,_]?(?:\.(?P<precision>[0-9]+))?"
                      r"[bcdeEfFgGnosxX%]?", re.DOTALL)
# bare: an LR, a fraction, and counts the text names itself ("step {best_val_step}")
NO_UNIT = ("", "fraction", "LR", "%", "steps", "evals", "spikes", "batches", "sequences")


NUMBER_SPECS = "bcdeEfFgGnoxX%"  # the format types that take a number only


class TemplateError(ValueError):
    """A template or flag that is not allowed; raised when the rule loads."""


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[tuple[str, str | None, str], ...]  # (literal text, field name or None, spec)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for _, name, _ in self.parts if name)

    def render(self, values: Mapping[str, Any], units: Mapping[str, str] | None = None,
               assumed: Collection[str] = (), inferred: Collection[str] = ()) -> str:
        """Message text: each value formatted, with its unit (see the module doc); a value
        in `assumed` (a fact the run does not show, or a fact or let computed from one)
        says so, and one in `inferred` (what the run implies but does not show)."""
        units = units or {}
        out = []
        for i, (text, name, spec) in enumerate(self.parts):
            out.append(text)
            if name is not None:
                after = self.parts[i + 1][0] if i + 1 < len(self.parts) else ""
                unit = "" if _names_unit(after, units.get(name, "")) else units.get(name, "")
                shown = "none" if name in values and values[name] is None else None  # a known null, not unknown
                if name in assumed and not shown and name in values:
                    out.append("assumed ")
                elif name in inferred and not shown and name in values:
                    out.append("inferred ")
                out.append(shown or _shown(_show, values.get(name), spec, unit))
        return "".join(out)

    def render_raw(self, values: Mapping[str, Any]) -> str:
        """Flag text: values as Python literals, no units, no separators."""
        out = []
        for text, name, spec in self.parts:
            out.append(text)
            if name is not None:
                out.append(_shown(_literal, values.get(name), spec))
        return "".join(out)


def compile_template(source: str, known: Collection[str]) -> Template:
    """The template in `source`, each field checked: a plain name in `known`, no
    conversion, a bounded standard format spec. TemplateError says which field and why."""
    if not isinstance(source, str):
        raise TemplateError(f"expected text, got {type(source).__name__}")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"template of {len(source):,} characters: longer than the {MAX_TEMPLATE_CHARS:,} "
                            "allowed")
    try:
        parsed = list(_FORMATTER.parse(source))
    except ValueError as e:
        raise TemplateError(f"bad template {source!r}: {e}") from None
    parts: list[tuple[str, str | None, str]] = []
    for text, name, spec, conv in parsed:
        if name is None:
            parts.append((text, None, ""))
            continue
        if not name.isidentifier():
            raise TemplateError(f"field {{{name}}} is not a plain name (no attributes, indexes or "
                                "positional fields)")
        if conv is not None:
            raise TemplateError(f"field {{{name}!{conv}}}: conversions are not allowed")
        if spec and ("{" in spec or "}" in spec):
            raise TemplateError(f"field {{{name}}}: nested fields in the format spec are not allowed")
        if name not in known:
            raise TemplateError(f"unknown name {name!r} in {{{name}}}")
        _check_spec(name, spec or "")
        parts.append((text, name, spec or ""))
    return Template(source, tuple(parts))


def _check_spec(name: str, spec: str) -> None:
    """TemplateError unless `spec` is a standard format spec whose width and precision are
    at most MAX_FORMAT_SIZE: `{x:>1000000000}` or `{x:.1000000000f}` would build a
    gigabyte of text (or fail with MemoryError) at every finding."""
    m = _SPEC_RE.fullmatch(spec)
    if m is None:
        raise TemplateError(f"field {{{name}:{spec[:40]}}}: not a format spec ([[fill]align][sign][#][0][width]"
                            "[,][.precision][type])")
    for what in ("width", "precision"):
        digits = (m.group(what) or "0").lstrip("0") or "0"
        if len(digits) > 6 or int(digits) > MAX_FORMAT_SIZE:  # no int() of a huge digit string
            raise TemplateError(f"field {{{name}:{spec[:40]}}}: {what} over {MAX_FORMAT_SIZE} is not allowed")
    if spec and not any(_formats(v, spec) for v in (1, 0.5, True, "x")):  # `.4d`, `,s`: no value takes it
        raise TemplateError(f"field {{{name}:{spec[:40]}}}: no value can be written with this spec (a precision "
                            "with d, a thousands separator with s, ...): it would be ignored")


def _formats(value: object, spec: str) -> bool:
    try:
        format(value, spec)
    except (ValueError, TypeError):
        return False
    return True


def _shown(show: Callable[..., str], value: Any, *args: Any) -> str:
    """`show(value, *args)`, or a note when the value cannot be written out (an integer of
    more digits than str() converts): a message is rendered for every finding, and
    rendering must not raise."""
    try:
        return show(value, *args)
    except (ValueError, TypeError, ArithmeticError, MemoryError):
        return "(too large to show)"


def _show(value: Any, spec: str, unit: str) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return str(value)
    if not spec:
        if isinstance(value, int):
            text = f"{value:,}"
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = str(value)
    else:
        try:
            text = _no_negative_zero(format(value, spec))
        except (ValueError, TypeError):
            text = str(value)
    if unit in NO_UNIT or spec.endswith("%") or not isinstance(value, (int, float)):
        return text
    return f"{text} {unit}"


def _names_unit(after: str, unit: str) -> bool:
    """Whether the text after a field already names its unit: "{tokens_seen} tokens" is
    "1,536,000 tokens", not "1,536,000 tokens tokens" (a singular "token" counts too)."""
    words = after.split(maxsplit=1)
    if not unit or not words:
        return False
    word = words[0].strip(".,;:)").lower()
    return word in (unit.lower(), unit.lower().rstrip("s"))


def _no_negative_zero(text: str) -> str:
    """'-0.000' -> '0.000': a value that rounds to zero has no sign to show."""
    return text[1:] if text.startswith("-") and not text.strip("-0.,%e+") else text


def _literal(value: Any, spec: str) -> str:
    if value is None:
        return "unknown"
    if spec:
        try:
            return format(value, spec)
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float):
        return f"{value:.6g}"  # 0.30000000000000004 -> 0.3; "1" becomes "1.0" for float keys
    return str(value)


# -- flags --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Flags:
    words: tuple[tuple[str, Template], ...]  # (nanoGPT key, value template)

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(t.names for _, t in self.words)) if self.words else frozenset()

    @property
    def source(self) -> str:
        """The flags as the rule wrote them: '--max_iters={max_iters * 2}'."""
        return " ".join(f"--{key}={tmpl.source}" for key, tmpl in self.words)

    def render(self, values: Mapping[str, Any]) -> str:
        """'--max_iters=5000 --lr_decay_iters=5000'; ValueError if a value does not pass
        nanoGPT's type check."""
        out = []
        for key, tmpl in self.words:
            value = nanogpt_value(key, tmpl.render_raw(values))
            out.append(f"--{key}={value}")
        return " ".join(out)


def compile_flags(source: str, known: Collection[str]) -> Flags:
    """`--key=value` words; each key must be one of train.py's config keys."""
    if not isinstance(source, str):
        raise TemplateError(f"expected text, got {type(source).__name__}")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"flags of {len(source):,} characters: longer than the {MAX_TEMPLATE_CHARS:,} allowed")
    words: list[tuple[str, Template]] = []
    for word in source.split():
        if not word.startswith("--") or "=" not in word:
            raise TemplateError(f"{word!r} is not a --key=value flag (nanoGPT's configurator takes "
                                "only that form)")
        key, value = word[2:].split("=", 1)
        if key not in NANOGPT_KEYS:
            hint = " (resuming is --init_from=resume)" if key == "resume" else ""
            raise TemplateError(f"--{key} is not a nanoGPT config key{hint}")
        if any(k == key for k, _ in words):
            raise TemplateError(f"--{key} is given twice: the configurator would keep the last")
        tmpl = compile_template(value, known)
        if not tmpl.names:
            nanogpt_value(key, value, strict=True)  # a literal: exactly as the user will type it
        words.append((key, tmpl))
    if not words:
        raise TemplateError("no flags")
    return Flags(tuple(words))


def nanogpt_value(key: str, text: str, strict: bool = False) -> str:
    """`text` as a value nanoGPT accepts for `key`; unless strict, a computed int becomes
    a float where a float is expected, an integral float an int where an int is;
    TemplateError otherwise."""
    want = KEY_TYPES[key]
    value = configurator_value(text)
    if key == "dtype" and value not in DTYPES:  # train.py's ptdtype has these three alone
        raise TemplateError(f"--dtype={shorten(text, 60)}: train.py takes {', '.join(DTYPES)}")
    if accepts(key, value):
        return text
    if not strict and want is float and type(value) is int and abs(value) < 2**1023:  # float() would overflow
        return repr(float(value))
    if not strict and want is int and isinstance(value, float) and value.is_integer():
        return str(int(value))
    kind = {"int": "an int", "float": "a float", "bool": "a bool", "str": "a str"}.get(want.__name__, want.__name__)
    shown = "inf or nan" if isinstance(value, str) and text.strip().lower() in ("inf", "-inf", "nan") else (
        type(value).__name__)
    raise TemplateError(f"--{key}={shorten(text, 60)}: nanoGPT needs {kind} "
                        f"(like its default {NANOGPT_DEFAULTS[key]!r}), not {shown}")
