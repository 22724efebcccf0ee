"""`lossdoctor rules`: list, show, test and document the diagnosis rules."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    from .cli_args import MIN_WIDTH
    from .cli_args import width as _width
    r = sub.add_parser("rules", help="list, show and test the diagnosis rules",
                       description="The rules that turn facts into findings (docs/rules.md).")
    rsub = r.add_subparsers(dest="rules_command", metavar="ACTION")
    rl = rsub.add_parser("list", help="list the rules")
    rs = rsub.add_parser("show", help="one rule in full")
    rs.add_argument("rule", metavar="ID", help="its id, code (LD101) or name (still-improving)")
    rt = rsub.add_parser("test", help="load the rule files in DIR and run their cases")
    rt.add_argument("dir", metavar="DIR", help="a folder of rule files (*.yaml); exit 0 when every case passes, "
                                              "1 when one fails, 2 when a file does not load")
    rd = rsub.add_parser("doc", help="print docs/rules.md (Markdown) from the rule files")
    for q in (rl, rs, rd):
        q.add_argument("--rules", action="append", metavar="DIR", help="add the rules in DIR")
    for q in (rl, rs):
        q.add_argument("--width", type=_width, default=None, metavar="N",
                       help=f"console width, at least {MIN_WIDTH} (default: terminal)")
    r.set_defaults(func=cmd_rules)


def cmd_rules(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK
    from .cli import _console as console
    from .cli_exits import EXIT_ERROR
    from .diagnose import load_rules
    from .errors import UsageError
    action = args.rules_command
    if action is None:
        raise UsageError("rules: give an action: list, show ID, test DIR or doc")
    if action == "test":
        return rules_test(args)
    rules = load_rules(args.rules)
    from .cli_exits import error
    for err in rules.errors:
        error(f"lossdoctor: rule not loaded: {err}")
    status = EXIT_ERROR if rules.errors else EXIT_OK  # what loaded is shown; a rule left out is an input error
    if action == "doc":
        from .report.rules_doc import rules_markdown
        sys.stdout.write(rules_markdown(list(rules.rules)))
        return status
    from .report.findings import render_rule, render_rule_list
    if action == "list":
        console(args).print(render_rule_list(list(rules.rules)))
        return status
    found = rules.matching(args.rule)
    if len(found) > 1:
        raise UsageError(f"rules show: {args.rule!r} is the name of {', '.join(r.id for r in found)}: give an id "
                         "or a code")
    if not found:
        raise UsageError(f"rules show: no rule {args.rule!r} (see lossdoctor rules list)")
    rule = found[0]
    console(args).print(render_rule(rule))
    return status


def rules_test(args: argparse.Namespace) -> int:
    """Load DIR's rule files, alone and beside the built-in rules as `analyze --rules` loads
    them (a code a built-in rule has is refused there), and run the cases of the rules that
    load: 0 all pass, 1 a case fails, 2 a rule does not load."""
    import os
    from dataclasses import replace

    from .cli import EXIT_FINDINGS, EXIT_OK
    from .cli_exits import EXIT_ERROR
    from .diagnose import load_rules, run_cases
    from .errors import UsageError
    from .facts.base import plural
    if not os.path.isdir(args.dir):
        raise UsageError(f"{args.dir}: not a directory")
    rules = load_rules([args.dir], builtin=False, references=False)  # its rules may name built-in ones
    if not rules.rules and not rules.errors:
        raise UsageError(f"{args.dir}: no rule files (*.yaml) in it")
    errors = {(e.path, e.rule): e for e in (*rules.errors, *load_rules([args.dir]).errors)}  # each rule once
    from .cli_exits import wrapped
    for err in errors.values():
        print(wrapped(f"FAIL load  {err}", sys.stdout, " " * 5))
    rules = replace(rules, rules=tuple(r for r in rules.rules if (r.path, r.id) not in errors))
    results = run_cases(rules)
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        print(wrapped(f"{mark} {r.rule}: {r.case}: expected {r.expect}, got {r.got}"
                      + ("" if r.ok or not r.detail else f" ({r.detail})"), sys.stdout, " " * 5))
    failed = sum(not r.ok for r in results)
    counts = f"{plural(len(rules.rules), 'rule')}, {plural(len(results), 'case')}"
    print(f"{counts}: {len(results) - failed} passed, {failed} failed"
          + (f"; {plural(len(errors), 'rule')} did not load" if errors else ""))
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if failed else EXIT_OK

