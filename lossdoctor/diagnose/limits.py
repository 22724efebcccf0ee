"""Bounds on what a rule file may ask of lossdoctor.

Users pass their own rule folders (`lossdoctor analyze --rules DIR`), so a rule file is
untrusted input: it may be broken by accident or written to hurt. Whatever it holds, it
must end as a load error naming the file (or a "not applicable" rule at evaluation), and
never as a traceback, a hang, gigabytes of memory, or code run. The limits are far above
anything a real rule needs (the shipped files are under 4 KB, their expressions under
100 characters and 10 levels deep) and far below what would hurt.

Here: the limits themselves, reading a rule file's YAML within them (`read_yaml`), and the
check of a constant a file gives (a param, a case's fact). expr.py bounds expressions,
template.py message templates, with the same numbers.
"""

from __future__ import annotations

from typing import Any

MAX_FILE_BYTES = 1 << 20  # one rule file
MAX_YAML_DEPTH = 32  # nesting of YAML lists and mappings
MAX_YAML_NODES = 100_000  # values in one file, an alias counted each time it is used
MAX_EXPR_CHARS = 1_000  # one expression's source
MAX_EXPR_DEPTH = 50  # depth of one expression's syntax tree
MAX_TEMPLATE_CHARS = 5_000  # one message, advice or flags template
MAX_FORMAT_SIZE = 100  # width and precision in a template field's format spec
MAX_TEXT = 10_000  # characters of a string an expression builds, a param or a case fact
MAX_INT = 10**300  # magnitude of an integer an expression builds, a param or a case fact
MAX_ROUND_DIGITS = 300  # round(x, n): |n|; round(1, -10**9) would build 10**(10**9)


class Unreadable(ValueError):
    """A rule file that cannot be read as data within the limits; the message says why."""


def read_yaml(path: str) -> Any:
    """The YAML document in `path`, read as plain data within the limits above.

    Raises Unreadable: the file cannot be read, is too large, is not UTF-8, is not valid
    YAML, uses a `!!python/...` tag (refused: such tags can run code), or is nested too
    deeply or holds too many values (an alias bomb)."""
    import yaml

    from ..yamlio import safe_load
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise Unreadable(f"cannot read: {e.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise Unreadable(f"larger than {MAX_FILE_BYTES:,} bytes: not a rule file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise Unreadable(f"not UTF-8 text (byte 0x{data[e.start]:02x} on line {line})") from None
    try:
        doc = safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise Unreadable(f"not valid YAML{at}: {shorten(str(getattr(e, 'problem', None) or e))}") from None
    except ValueError as e:  # an integer of more digits than int() converts (sys.get_int_max_str_digits)
        raise Unreadable(f"not valid YAML: {shorten(str(e))}") from None
    except (RecursionError, MemoryError):  # the pure-Python parser on deep nesting
        raise Unreadable(f"not valid YAML: nested more than {MAX_YAML_DEPTH} deep or too large") from None
    check_shape(doc)
    return doc


def check_shape(doc: Any) -> None:
    """Unreadable if `doc` nests lists and mappings more than MAX_YAML_DEPTH deep or holds
    more than MAX_YAML_NODES values. Aliases are followed, so a YAML "billion laughs" (a
    list of aliases to a list of aliases ...) or an alias cycle stops here, before anything
    walks it recursively. Iterative: the depth of the document is no risk to this check."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_YAML_NODES:
            raise Unreadable(f"more than {MAX_YAML_NODES:,} values (aliases counted at each use)")
        if isinstance(node, (dict, list, tuple, set)):
            if depth > MAX_YAML_DEPTH:
                raise Unreadable(f"lists and mappings nested more than {MAX_YAML_DEPTH} deep")
            items = [x for kv in node.items() for x in kv] if isinstance(node, dict) else list(node)
            stack += [(x, depth + 1) for x in items]


def constant_problem(value: Any) -> str | None:
    """Why a constant a rule file gives (a param, a case's fact value) is refused, or None:
    it must be a number, text, true/false or null, an integer within MAX_INT and text
    within MAX_TEXT characters, so that no rule starts from a value too large to compute on
    or to print."""
    if value is None or isinstance(value, (bool, float)):
        return None
    if isinstance(value, int):
        return None if -MAX_INT <= value <= MAX_INT else "an integer beyond ±1e300"
    if isinstance(value, str):
        return None if len(value) <= MAX_TEXT else f"text longer than {MAX_TEXT:,} characters"
    return f"expected a number, text, true/false or null, got {type(value).__name__}"


def shorten(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters: an error must not quote a megabyte back."""
    return text if len(text) <= limit else text[:limit] + "..."
