"""docs/cli.md and docs/api.md, written from the parser and the docstrings:

    python -m lossdoctor.report.reference cli > docs/cli.md
    python -m lossdoctor.report.reference api > docs/api.md

A test checks that both files are current.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys

WIDTH = 88  # columns of the help text, the same on every machine


def cli_markdown() -> str:
    from ..cli import _parser
    from ..cli_train import TRAIN_HELP, keys_help
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)  # argparse wraps to the terminal; a file wants one width
    try:
        return _cli_markdown(_parser(), TRAIN_HELP + keys_help())
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def _cli_markdown(parser: argparse.ArgumentParser, train_help: str) -> str:
    out = ["# Command-line reference", "",
           "Generated from the parser by `python -m lossdoctor.report.reference cli > docs/cli.md`; "
           "do not edit by hand.", "", "## lossdoctor", "", "```", parser.format_help().rstrip(), "```", ""]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    seen = set()
    for name, p in sub.choices.items():
        if id(p) in seen:  # an alias (compare) shares analyze's parser
            continue
        seen.add(id(p))
        text = train_help if name == "train" else p.format_help()
        out += [f"## lossdoctor {name}", "", "```", text.rstrip(), "```", ""]
        for action in p._actions:  # a command's own sub-commands (rules list, show, doc, test)
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sp in action.choices.items():
                    out += [f"### lossdoctor {name} {sub_name}", "", "```", sp.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def api_markdown() -> str:
    import lossdoctor
    out = ["# Python API", "",
           "Generated from the docstrings by `python -m lossdoctor.report.reference api > docs/api.md`; "
           "do not edit by hand. Everything below is importable from `lossdoctor` itself "
           "(`import lossdoctor; lossdoctor.load(...)`); results are immutable: frozen dataclasses, with "
           "NamedTuples for small records (a path of predicted losses, a fit's shape parameters, a "
           "baseline fit; an estimate and its interval, `Estimate`, is a frozen dataclass), and "
           "read-only mappings (`lossdoctor.frozen.FrozenDict`). They pickle and deep-copy (to send a "
           "Run to another process), and hash as their fields do (a Run, holding arrays, by identity; a "
           "config holding a list, such as a fork's milestones, does not hash).",
           "",
           inspect.cleandoc(lossdoctor.__doc__ or ""), ""]
    for name in lossdoctor.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(lossdoctor, name)
        kind = "class" if inspect.isclass(obj) else "function"
        try:
            sig = str(inspect.signature(obj)) if kind == "function" else ""
        except (TypeError, ValueError):
            sig = ""
        doc = inspect.cleandoc(obj.__doc__ or "(no docstring)")
        out += [f"## `{name}{sig}`" if kind == "function" else f"## class `{name}`", "",
                f"From `{obj.__module__}`.", "", doc, ""]
        out += _fields(obj)
    return "\n".join(out)


def _fields(cls: object) -> list[str]:
    """A dataclass's fields as a list, `name: type`, each with the comment its line carries
    in the source; nothing for anything else."""
    import dataclasses
    if not (inspect.isclass(cls) and dataclasses.is_dataclass(cls)):
        return []
    try:
        source = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        source = []
    out = ["Fields:", ""]
    for f in dataclasses.fields(cls):
        line = next((ln for ln in source if re.match(rf"\s+{f.name}\s*:", ln)), "")
        comment = line.split("  # ", 1)[1].strip() if "  # " in line else ""
        out.append(f"- `{f.name}: {f.type}`" + (f": {comment}" if comment else ""))
    return out + [""]


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which not in ("cli", "api"):
        print("usage: python -m lossdoctor.report.reference cli|api", file=sys.stderr)
        sys.exit(2)
    sys.stdout.write(cli_markdown() if which == "cli" else api_markdown())
