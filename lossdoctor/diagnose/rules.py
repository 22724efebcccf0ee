"""Rule files: the schema, loading and validation of one file.

One YAML file holds one rule (a mapping) or a small group (`rules: [...]`). Every field is
checked when the file loads; an error names the file, the rule and the field, and the
other files still load. Fields (required unless a default is shown):

    id              stable code + kebab-case name, e.g. LD101-still-improving
    title           one line
    category        one of CATEGORIES
    severity        info | warning | error                      (default: warning)
    params          name -> constant, the rule's thresholds      (default: none)
    let             name -> expression, computed in order        (default: none)
    when            expression over facts, params and lets: the rule fires when true
    message         template quoting the values (template.py)
    recommendation  {flags: "--key=value ...", text: template}; at least one of the two
    expected_effect {kind: extrapolation, to: expr, scenario: rerun|resume|constant|before_resume}
                  | {kind: measured, value: expr, unit, source}
                  | {kind: rule_of_thumb, value: expr, unit, source}
                  | {kind: none, source}        change in final val loss (nats; one computed
                                                from the run's val is in its unit, bpb for
                                                nanochat) unless `unit`
                  | {kind: unknown, source}     a change the run cannot show: "not estimated"
    verify          {flags: "--key=value ...", metric: final_val|best_val|time_per_iter_ms,
                     expect: lower|higher|same, seeds: 3 (default)}
    why             the user documentation: what the rule means and why the thresholds
    references      list of sources                              (default: none)
    explains        rule ids or codes whose findings this one causes: when both fire,
                    this one ranks first and its symptoms follow it  (default: none)
    overrides       rule ids or codes whose advice this one's finding makes wrong: when
                    both fire, theirs keep their message but give no flags or advice,
                    and say which finding to follow instead  (default: none)
    cases           list of {name, facts: {fact: value}, expect: fire|pass|skip}; at least
                    one `fire` and one `pass`

Expressions (expr.py) and templates (template.py) may use only known fact names, the
rule's params and earlier lets: an unknown name is a load error. A user's rule file is
untrusted: whatever it holds (bad YAML or UTF-8, `!!python` tags, alias bombs, huge
numbers, hostile expressions) ends as a RuleError for that file, within the bounds of
limits.py, and never stops the other files. The sections expected_effect, verify and cases
are parsed in sections.py.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import LossdoctorError
from ..frozen import FrozenDict
from .expr import EvalError, Expr, compile_expr, evaluate, number_names
from .limits import Unreadable, constant_problem, read_yaml, shorten
from .sections import Case, Effect, Verify, compiled, parse_cases, parse_effect, parse_verify
from .template import NUMBER_SPECS, Flags, Template, TemplateError, compile_flags, compile_template

CATEGORIES = ("train_longer", "lr_too_high", "lr_too_low", "lr_schedule", "divergence", "overfitting",
              "underfitting", "regularization", "batch_size", "eval_noise", "data", "throughput",
              "precision", "measurement", "resume", "config", "crash")
SEVERITIES = ("info", "warning", "error")  # weakest first
ID_RE = re.compile(r"^[A-Z]{2,4}[0-9]{3,4}-[a-z0-9]+(-[a-z0-9]+)*$")
CODE_RE = re.compile(r"^[A-Z]{2,4}[0-9]{3,4}$")

REQUIRED = object()
SCHEMA: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "id": (str, REQUIRED),
    "title": (str, REQUIRED),
    "category": (str, REQUIRED),
    "severity": (str, "warning"),
    "params": (dict, {}),
    "let": (dict, {}),
    "when": ((str, bool), REQUIRED),
    "message": (str, REQUIRED),
    "recommendation": (dict, REQUIRED),
    "expected_effect": (dict, REQUIRED),
    "verify": (dict, REQUIRED),
    "why": (str, REQUIRED),
    "references": (list, []),
    "explains": (list, []),
    "overrides": (list, []),
    "cases": (list, REQUIRED),
}


class RuleError(LossdoctorError):
    """A rule file that does not load: names the file, the rule and the field."""

    def __init__(self, path: str, rule: str | None, fld: str | None, reason: str) -> None:
        where = path + (f": rule {rule}" if rule else "") + (f": field {fld}" if fld else "")
        super().__init__(f"{where}: {reason}")
        self.path, self.rule, self.field, self.reason = path, rule, fld, reason


# makes the RuleError of one rule: (field or None, reason) -> error naming file, rule, field
ErrFn = Callable[[str | None, str], RuleError]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    category: str
    severity: str
    params: Mapping[str, Any]
    let: tuple[tuple[str, Expr], ...]
    when: Expr
    message: Template
    flags: Flags | None
    advice: Template | None
    effect: Effect
    verify: Verify
    why: str
    references: tuple[str, ...]
    cases: tuple[Case, ...]
    path: str
    explains: tuple[str, ...] = ()  # codes of the rules whose findings this one causes
    overrides: tuple[str, ...] = ()  # codes of the rules whose advice this one's finding makes wrong
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def code(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def facts_used(self) -> tuple[str, ...]:
        """The facts the rule reads (in `when`, its lets, message, advice, flags, effect and
        verify flags), in a stable order."""
        own = set(self.params) | {n for n, _ in self.let}
        names: set[str] = set(self.when.names)
        for _, e in self.let:
            names |= e.names
        names |= self.message.names | (self.advice.names if self.advice else frozenset())
        for f in (self.flags, self.verify.flags):
            names |= f.names if f else frozenset()
        for x in (self.effect.value, self.effect.to):
            names |= x.names if x is not None else frozenset()
        return tuple(sorted(names - own))


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    errors: tuple[RuleError, ...] = ()

    def get(self, key: str) -> Rule | None:
        """A rule by its id, its code (LD101) or its name (still-improving); None where
        none has it, or where the name is several rules' (matching() says whose)."""
        found = self.matching(key)
        return found[0] if len(found) == 1 else None

    def matching(self, key: str) -> tuple[Rule, ...]:
        """The rules whose id, code or name is `key`, in any case (ld101 is LD101): an id or
        code is one rule's, a name may be several's."""
        k = key.casefold()
        exact = tuple(r for r in self.rules if k in (r.id.casefold(), r.code.casefold()))
        return exact or tuple(r for r in self.rules if r.id.split("-", 1)[1].casefold() == k)


# (path, mtime_ns, size, facts) -> (rules, errors)
_PARSED: dict[tuple[str, int, int, frozenset[str]], tuple[list[Rule], list[RuleError]]] = {}


def load_rule_file(path: str, fact_names: Collection[str]) -> list[Rule]:
    """The rules of one file; RuleError for the file, or for its first rule that does not load."""
    rules, errors = load_rule_file_all(path, fact_names)
    if errors:
        raise errors[0]
    return rules


def load_rule_file_all(path: str, fact_names: Collection[str]) -> tuple[list[Rule], list[RuleError]]:
    """The rules of one file that load, and the errors of those that do not (a `rules:` list
    with one bad rule keeps the others); parsed once per version of the file (Rules are
    frozen). RuleError where the file itself cannot be read."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise RuleError(path, None, None, f"cannot read: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read, a device never end it
        raise RuleError(path, None, None, "not a regular file")
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size, frozenset(fact_names))
    if key not in _PARSED:
        _PARSED[key] = _parse_rule_file(path, fact_names)
    rules, errors = _PARSED[key]
    return list(rules), list(errors)


def _parse_rule_file(path: str, fact_names: Collection[str]) -> tuple[list[Rule], list[RuleError]]:
    """The rules of the file at `path` that load, and each other rule's error; RuleError for
    the file."""
    try:
        doc = read_yaml(path)  # bounded: size, UTF-8, python tags, depth, aliases (limits.py)
    except Unreadable as e:
        raise RuleError(path, None, None, str(e)) from None
    if isinstance(doc, dict) and set(doc) == {"rules"}:
        doc = doc["rules"]
    items = doc if isinstance(doc, list) else [doc]
    if not items or not all(isinstance(i, dict) for i in items):
        raise RuleError(path, None, None, "expected a rule (a mapping) or `rules:` with a list of them")
    rules, errors = [], []
    for item in items:
        try:
            rules.append(_parse_guarded(item, path, fact_names))
        except RuleError as e:
            errors.append(e)
    return rules, errors


def _parse_guarded(raw: dict[str, Any], path: str, fact_names: Collection[str]) -> Rule:
    """parse_rule, with a failure its checks did not foresee (a value of a type no check
    expected, a resource running out) made this rule's RuleError: one hostile or odd rule
    file must not take the others down."""
    try:
        return parse_rule(raw, path, fact_names)
    except RuleError:
        raise
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError, MemoryError) as e:
        rid = shorten(raw["id"], 80) if isinstance(raw.get("id"), str) else None
        raise RuleError(path, rid, None, f"does not load: {type(e).__name__}: {shorten(str(e))}") from None


def parse_rule(raw: dict[str, Any], path: str, fact_names: Collection[str]) -> Rule:
    rid = shorten(raw["id"], 80) if isinstance(raw.get("id"), str) else None

    def err(fld: str | None, reason: str) -> RuleError:
        return RuleError(path, rid, fld, reason)

    unknown = sorted(set(raw) - set(SCHEMA), key=str)
    if unknown:
        raise err(shorten(str(unknown[0])), f"unknown field (fields: {', '.join(SCHEMA)})")
    v: dict[str, Any] = {}
    for key, (kind, default) in SCHEMA.items():
        if key not in raw or raw[key] is None:
            if default is REQUIRED:
                raise err(key, "missing")
            v[key] = default
        elif not isinstance(raw[key], kind):
            want = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise err(key, f"expected {want}, got {type(raw[key]).__name__}")
        elif default is REQUIRED and isinstance(raw[key], str) and not raw[key].strip():
            raise err(key, "empty")
        else:
            v[key] = raw[key]
    if not ID_RE.match(v["id"]):
        raise err("id", f"{shorten(repr(v['id']))} is not a code plus a kebab-case name, like LD101-still-improving")
    if v["category"] not in CATEGORIES:
        raise err("category", f"{shorten(repr(v['category']))} is not one of {', '.join(CATEGORIES)}")
    if v["severity"] not in SEVERITIES:
        raise err("severity", f"{shorten(repr(v['severity']))} is not one of {', '.join(SEVERITIES)}")

    params = v["params"]
    for name, value in params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise err("params", f"{shorten(repr(name))} is not a name")
        if name in fact_names:
            raise err("params", f"{shorten(repr(name))} is a fact's name")
        if not isinstance(value, (int, float, str, bool)) or constant_problem(value):
            raise err(f"params.{name}", constant_problem(value) or "expected a number, text or true/false")
    known = set(fact_names) | set(params)
    lets = []
    for name, text in v["let"].items():
        if not isinstance(name, str) or not name.isidentifier() or name in known:
            raise err("let", f"{shorten(repr(name))} is not a new name")
        lets.append((name, compiled(compile_expr, text, known, err, f"let.{name}")))
        known.add(name)
    when = compiled(compile_expr, v["when"], known, err, "when")
    message = compiled(compile_template, v["message"], known, err, "message")

    rec = v["recommendation"]
    extra = sorted(set(rec) - {"flags", "text"}, key=str)
    if extra:
        raise err(f"recommendation.{extra[0]}", "unknown field (fields: flags, text)")
    if not rec.get("flags") and not rec.get("text"):
        raise err("recommendation", "needs flags, text or both")
    flags = compiled(compile_flags, rec["flags"], known, err, "recommendation.flags") if rec.get("flags") else None
    advice = compiled(compile_template, rec["text"], known, err, "recommendation.text") if rec.get("text") else None

    effect = parse_effect(v["expected_effect"], known, err, {n for n, _ in lets})
    verify = parse_verify(v["verify"], known, err)
    refs = v["references"]
    if not all(isinstance(r, str) for r in refs):
        raise err("references", "expected a list of text")
    cases = parse_cases(v["cases"], fact_names, err)
    exprs = [e for _, e in lets] + [when] + [x for x in (effect.value, effect.to) if x is not None]
    templates = [message, *(t for t in (advice,) if t)] + [
        t for f in (flags, verify.flags) if f for _, t in f.words]
    _text_params(params, exprs, templates, err)
    for f, where in ((flags, "recommendation.flags"), (verify.flags, "verify.flags")):
        _constant_flags(params, f, err, where)
    _constant_effect(params, effect, err)
    return Rule(v["id"], v["title"], v["category"], v["severity"], FrozenDict(params),
                tuple(lets), when, message, flags, advice, effect, verify, v["why"].strip(),
                tuple(refs), cases, path, _codes(v["explains"], v["id"], err, "explains"),
                _codes(v["overrides"], v["id"], err, "overrides"), FrozenDict(raw))


def _text_params(params: Mapping[str, Any], exprs: list[Expr], templates: list[Template], err: ErrFn) -> None:
    """A param holding text (a threshold written `high`, or quoted) where the rule needs a
    number: a load error naming it and its use, rather than a rule that can never evaluate."""
    text = {name for name, value in params.items() if isinstance(value, str)}
    for e in exprs:
        for name, use in number_names(e).items():
            if name in text:
                raise err(f"params.{name}", f"{shorten(repr(params[name]))} is text, but `{shorten(use)}` "
                          "needs a number")
    for t in templates:
        for _, field_name, spec in t.parts:
            if field_name in text and spec and spec[-1] in NUMBER_SPECS:
                raise err(f"params.{field_name}", f"{shorten(repr(params[field_name]))} is text, but "
                          f"{{{field_name}:{spec}}} formats a number")


def _constant_flags(params: Mapping[str, Any], flags: Flags | None, err: ErrFn, where: str) -> None:
    """A flag whose value comes from params alone is known at load: one train.py would not
    take (`--batch_size={bs}` with bs: "big") is a load error, not a finding without flags."""
    for key, tmpl in flags.words if flags is not None else ():
        if tmpl.names and tmpl.names <= params.keys():
            try:
                Flags(((key, tmpl),)).render(params)
            except (TemplateError, ValueError, TypeError) as e:
                raise err(where, f"{shorten(str(e))}: its value is the rule's params alone") from None


def _constant_effect(params: Mapping[str, Any], effect: Effect, err: ErrFn) -> None:
    """What of the expected effect is known at load: a value or target step of constants
    and params alone must give a finite number."""
    for x, where in ((effect.value, "value"), (effect.to, "to")):
        if x is not None and x.names <= params.keys():
            try:
                evaluate(x, params)
            except EvalError as e:
                raise err(f"expected_effect.{where}", str(e)) from None


def _codes(raw: list[Any], rid: str, err: ErrFn, fld: str) -> tuple[str, ...]:
    """The codes of `explains:` or `overrides:`; each item is a rule id
    (LD602-no-better-than-unigram) or code (LD602), not the rule's own."""
    out = []
    for item in raw:
        code = item.split("-", 1)[0] if isinstance(item, str) else ""
        if not (isinstance(item, str) and (ID_RE.match(item) or CODE_RE.match(item))):
            raise err(fld, f"{shorten(repr(item))} is not a rule id or code, like LD602")
        if code == rid.split("-", 1)[0]:
            raise err(fld, f"a rule cannot {fld.rstrip('s')} itself")
        out.append(code)
    return tuple(out)
