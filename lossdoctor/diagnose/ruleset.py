"""A set of rules from directories: the built-in rules, then the user's, with what must
hold across files (one rule per id and per code, and `explains`/`overrides` that name
loaded rules and make no loop). One file's own schema and checks are in rules.py."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

from .rules import Rule, RuleError, RuleSet, load_rule_file_all


def builtin_dir() -> str:
    """The shipped rules: lossdoctor/rules in a wheel, else the repository's rules/."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inside = os.path.join(here, "rules")
    return inside if os.path.isdir(inside) else os.path.join(os.path.dirname(here), "rules")


def load_rules(dirs: list[str] | None = None, *, builtin: bool = True,
               fact_names: Collection[str] | None = None, references: bool = True) -> RuleSet:
    """The built-in rules, then each dir's; a later rule with the same id replaces an
    earlier one (a built-in rule, by a rule of its id in a dir); two of the dirs' files
    with one id are an error. A file that does not load is an entry in `errors`; the rest
    load. A rule whose code another rule of another id already has is not loaded (findings
    are kept and ranked by code): an error names both. With `references`, a rule whose
    explains/overrides name no loaded rule, or explain each other in a loop, is not loaded
    either."""
    if fact_names is None:
        from ..facts import FACTS
        fact_names = FACTS
    by_id: dict[str, Rule] = {}
    replaced: dict[str, Rule] = {}  # a built-in rule a user's rule of its id replaced
    errors: list[RuleError] = []
    builtin_dirs = [builtin_dir()] if builtin else []
    read: set[str] = set()  # the files loaded, by real path
    from ..errors import UsageError
    for d in builtin_dirs + list(dirs or []):
        if not os.path.isdir(d):
            raise UsageError(f"{d}: not a directory of rule files")
        files = sorted(_yaml_files(d))
        if not files and d not in builtin_dirs:
            raise UsageError(f"{d}: no rule files (*.yaml) in it")
        for path in files:
            if (real := os.path.realpath(path)) in read:  # a folder given twice, or inside another given
                continue
            read.add(real)
            try:
                loaded, failed = load_rule_file_all(path, fact_names)
            except RuleError as e:
                errors.append(e)
                continue
            errors += failed
            for rule in loaded:
                if (error := _clash(rule, by_id, builtin_dirs)) is not None:
                    errors.append(error)
                    continue
                if rule.id in by_id:
                    replaced.setdefault(rule.id, by_id[rule.id])
                by_id[rule.id] = rule
    if references:  # (off where the built-in rules, which they may name, are not loaded)
        errors += _dangling(by_id, replaced)
    return RuleSet(tuple(sorted(by_id.values(), key=lambda r: r.id)), tuple(errors))


def _clash(rule: Rule, by_id: Mapping[str, Rule], builtin_dirs: list[str]) -> RuleError | None:
    """Why `rule` cannot join the rules loaded so far: its code is another rule's, or its id
    is a rule's of the user's own files (replacing a built-in rule by its id is the way to
    change one; two files of one id would leave one of them silently unused)."""
    taken = next((r for r in by_id.values() if r.code == rule.code and r.id != rule.id), None)
    if taken is not None:
        return RuleError(rule.path, rule.id, "id", f"code {rule.code} is already {taken.id}'s ({taken.path}); "
                         f"give it another code, or {taken.id}'s id to replace that rule")
    same = by_id.get(rule.id)
    if same is not None and not any(_inside(same.path, d) for d in builtin_dirs):
        return RuleError(rule.path, rule.id, "id", f"{same.path} has a rule of this id too: one of them would "
                         "not be used")
    return None


def _inside(path: str, d: str) -> bool:
    return os.path.abspath(path).startswith(os.path.abspath(d) + os.sep)


def _dangling(by_id: dict[str, Rule], replaced: Mapping[str, Rule] | None = None) -> list[RuleError]:
    """Rules whose `explains` or `overrides` name a rule that is not loaded, or whose
    `explains` lead back to themselves (each finding would stand only as the other's
    symptom): each such rule is taken out, with its error; a user's rule that replaced a
    built-in one gives its place back to it (`replaced`), so that the rules naming it stay."""
    errors = _unnamed(by_id, replaced or {})
    by_code = {r.code: r for r in by_id.values()}
    for rule in list(by_id.values()):
        if rule.id in by_id and (loop := _explains_loop(rule.code, by_code)):
            for code in dict.fromkeys(loop):  # each rule of the loop is taken out, with its error
                member = by_code[code]
                if by_id.pop(member.id, None) is not None:
                    errors.append(RuleError(member.path, member.id, "explains", "the rules explain each other in a "
                                            f"loop ({' -> '.join(loop)}): each finding would stand only as the "
                                            "other's symptom"))
    return errors + _unnamed(by_id, replaced or {})  # a rule that named one of the loop's


def _unnamed(by_id: dict[str, Rule], replaced: Mapping[str, Rule]) -> list[RuleError]:
    """Take out, with its error, each rule whose `explains` or `overrides` name a rule that
    is not loaded (by its code, or by an id whose code is another rule's), until none does
    (taking one out may leave another naming it). A user's rule taken out is replaced by the
    built-in rule of its id where there was one (then checked in turn)."""
    errors: list[RuleError] = []
    back = dict(replaced)
    while True:
        by_code = {r.code: r for r in by_id.values()}
        gone = [(rule, field, why) for rule in by_id.values() for field in ("explains", "overrides")
                if (why := _missing(rule, field, by_code))][:1]
        if not gone:
            return errors
        rule, field, why = gone[0]
        errors.append(RuleError(rule.path, rule.id, field, why + (" (the built-in rule of its id is used)"
                                                                 if rule.id in back else "")))
        if (builtin := back.pop(rule.id, None)) is not None:
            by_id[rule.id] = builtin
        else:
            del by_id[rule.id]


def _missing(rule: Rule, field: str, by_code: Mapping[str, Rule]) -> str | None:
    """Why `rule`'s `field` names no loaded rule: a code none has, or an id whose code is
    another rule's (a misspelt or renamed id); None where each names one."""
    unknown = sorted(set(getattr(rule, field)) - by_code.keys())
    if unknown:
        return f"no rule {', '.join(unknown)} is loaded"
    for item in rule.raw.get(field) or ():
        code = str(item).split("-", 1)[0]
        if "-" in str(item) and by_code[code].id != item:
            return f"no rule {item} is loaded ({code} is {by_code[code].id})"
    return None


def _explains_loop(start: str, by_code: Mapping[str, Rule]) -> list[str] | None:
    """The codes of a path of `explains` from `start` back to it, or None."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        code, path = stack.pop()
        for nxt in by_code[code].explains if code in by_code else ():
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def _yaml_files(d: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(d):
        dirs[:] = [x for x in dirs if not x.startswith(".")]  # an editor's or VCS's own files
        out += [os.path.join(root, f) for f in files
                if f.lower().endswith((".yaml", ".yml")) and not f.startswith(".")]
    return out
