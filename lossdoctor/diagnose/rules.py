"""Rule files: the schema, loading and validation.

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
    expected_effect {kind: extrapolation, to: expr, scenario: rerun|resume|constant}
                  | {kind: measured, value: expr, unit, source}
                  | {kind: rule_of_thumb, value: expr, unit, source}
                  | {kind: none, source}        change in final val loss (nats) unless `unit`
    verify          {flags: "--key=value ...", metric: final_val|best_val|time_per_iter_ms,
                     expect: lower|higher|same, seeds: 3 (default)}
    why             the user documentation: what the rule means and why the thresholds
    references      list of sources                              (default: none)
    explains        rule ids or codes whose findings this one causes: when both fire,
                    this one ranks first and its symptoms follow it  (default: none)
    cases           list of {name, facts: {fact: value}, expect: fire|pass|skip}; at least
                    one `fire` and one `pass`

Expressions (expr.py) and templates (template.py) may use only known fact names, the
rule's params and earlier lets: an unknown name is a load error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import LossdoctorError
from .expr import Expr, ExprError, compile_expr
from .template import Flags, Template, TemplateError, compile_flags, compile_template

CATEGORIES = ("train_longer", "lr_too_high", "lr_too_low", "lr_schedule", "divergence", "overfitting",
              "underfitting", "regularization", "batch_size", "eval_noise", "data", "throughput",
              "precision", "measurement", "resume", "config", "crash")
SEVERITIES = ("info", "warning", "error")  # weakest first
EFFECT_KINDS = ("extrapolation", "measured", "rule_of_thumb", "none")
SCENARIOS = ("rerun", "resume", "constant")
METRICS = ("final_val", "best_val", "time_per_iter_ms")
EXPECTS = ("lower", "higher", "same")
CASE_EXPECTS = ("fire", "pass", "skip")
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
class Effect:
    kind: str  # EFFECT_KINDS
    source: str  # where the number comes from, for the user
    unit: str = "nats"
    value: Expr | None = None  # measured, rule_of_thumb
    to: Expr | None = None  # extrapolation: the target step
    scenario: str | None = None  # extrapolation


@dataclass(frozen=True)
class Verify:
    flags: Flags | None
    metric: str
    expect: str
    seeds: int = 3


@dataclass(frozen=True)
class Case:
    name: str
    facts: Mapping[str, Any]
    expect: str  # fire | pass | skip


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
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def code(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def facts_used(self) -> tuple[str, ...]:
        """The facts the rule reads, in a stable order."""
        own = set(self.params) | {n for n, _ in self.let}
        names: set[str] = set(self.when.names)
        for _, e in self.let:
            names |= e.names
        names |= self.message.names
        return tuple(sorted(names - own))


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    errors: tuple[RuleError, ...] = ()

    def get(self, key: str) -> Rule | None:
        """A rule by its id, its code (LD101) or its name (still-improving)."""
        for r in self.rules:
            if key in (r.id, r.code, r.id.split("-", 1)[1]):
                return r
        return None


def builtin_dir() -> str:
    """The shipped rules: lossdoctor/rules in a wheel, else the repository's rules/."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inside = os.path.join(here, "rules")
    return inside if os.path.isdir(inside) else os.path.join(os.path.dirname(here), "rules")


def load_rules(dirs: list[str] | None = None, *, builtin: bool = True,
               fact_names: Collection[str] | None = None) -> RuleSet:
    """The built-in rules, then each dir's; a later rule with the same id replaces an
    earlier one. A file that does not load is an entry in `errors`; the rest load."""
    if fact_names is None:
        from ..facts import FACTS
        fact_names = FACTS
    by_id: dict[str, Rule] = {}
    errors: list[RuleError] = []
    for d in ([builtin_dir()] if builtin else []) + list(dirs or []):
        if not os.path.isdir(d):
            from ..errors import UsageError
            raise UsageError(f"{d}: not a directory of rule files")
        for path in sorted(_yaml_files(d)):
            try:
                for rule in load_rule_file(path, fact_names):
                    by_id[rule.id] = rule
            except RuleError as e:
                errors.append(e)
    return RuleSet(tuple(sorted(by_id.values(), key=lambda r: r.id)), tuple(errors))


def _yaml_files(d: str) -> list[str]:
    out = []
    for root, _, files in os.walk(d):
        out += [os.path.join(root, f) for f in files if f.endswith((".yaml", ".yml"))]
    return out


_PARSED: dict[tuple[str, int, int, frozenset[str]], list[Rule]] = {}  # (path, mtime_ns, size, facts)


def load_rule_file(path: str, fact_names: Collection[str]) -> list[Rule]:
    """The rules of one file; parsed once per version of the file (Rules are frozen)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise RuleError(path, None, None, f"cannot read: {e.strerror}") from None
    key = (os.path.abspath(path), st.st_mtime_ns, st.st_size, frozenset(fact_names))
    if key not in _PARSED:
        _PARSED[key] = _parse_rule_file(path, fact_names)
    return list(_PARSED[key])


def _parse_rule_file(path: str, fact_names: Collection[str]) -> list[Rule]:
    import yaml

    from ..yamlio import safe_load
    try:
        with open(path, encoding="utf-8") as f:
            doc = safe_load(f)
    except OSError as e:
        raise RuleError(path, None, None, f"cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise RuleError(path, None, None, f"not valid YAML{at}: {getattr(e, 'problem', e)}") from None
    if isinstance(doc, dict) and set(doc) == {"rules"}:
        doc = doc["rules"]
    items = doc if isinstance(doc, list) else [doc]
    if not items or not all(isinstance(i, dict) for i in items):
        raise RuleError(path, None, None, "expected a rule (a mapping) or `rules:` with a list of them")
    return [parse_rule(i, path, fact_names) for i in items]


def parse_rule(raw: dict[str, Any], path: str, fact_names: Collection[str]) -> Rule:
    rid = raw.get("id") if isinstance(raw.get("id"), str) else None

    def err(fld: str | None, reason: str) -> RuleError:
        return RuleError(path, rid, fld, reason)

    unknown = sorted(set(raw) - set(SCHEMA))
    if unknown:
        raise err(unknown[0], f"unknown field (fields: {', '.join(SCHEMA)})")
    v: dict[str, Any] = {}
    for key, (kind, default) in SCHEMA.items():
        if key not in raw or raw[key] is None:
            if default is REQUIRED:
                raise err(key, "missing")
            v[key] = default
        elif not isinstance(raw[key], kind):
            want = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise err(key, f"expected {want}, got {type(raw[key]).__name__}")
        else:
            v[key] = raw[key]
    if not ID_RE.match(v["id"]):
        raise err("id", f"{v['id']!r} is not a code plus a kebab-case name, like LD101-still-improving")
    if v["category"] not in CATEGORIES:
        raise err("category", f"{v['category']!r} is not one of {', '.join(CATEGORIES)}")
    if v["severity"] not in SEVERITIES:
        raise err("severity", f"{v['severity']!r} is not one of {', '.join(SEVERITIES)}")

    params = v["params"]
    for name, value in params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise err("params", f"{name!r} is not a name")
        if name in fact_names:
            raise err("params", f"{name!r} is a fact's name")
        if not isinstance(value, (int, float, str, bool)):
            raise err(f"params.{name}", "expected a number, text or true/false")
    known = set(fact_names) | set(params)
    lets = []
    for name, text in v["let"].items():
        if not isinstance(name, str) or not name.isidentifier() or name in known:
            raise err("let", f"{name!r} is not a new name")
        lets.append((name, _expr(text, known, err, f"let.{name}")))
        known.add(name)
    when = _expr(v["when"], known, err, "when")
    message = _template(v["message"], known, err, "message")

    rec = v["recommendation"]
    extra = sorted(set(rec) - {"flags", "text"})
    if extra:
        raise err(f"recommendation.{extra[0]}", "unknown field (fields: flags, text)")
    if not rec.get("flags") and not rec.get("text"):
        raise err("recommendation", "needs flags, text or both")
    flags = _flags(rec["flags"], known, err, "recommendation.flags") if rec.get("flags") else None
    advice = _template(rec["text"], known, err, "recommendation.text") if rec.get("text") else None

    effect = _effect(v["expected_effect"], known, err)
    verify = _verify(v["verify"], known, err)
    refs = v["references"]
    if not all(isinstance(r, str) for r in refs):
        raise err("references", "expected a list of text")
    cases = _cases(v["cases"], fact_names, err)
    return Rule(v["id"], v["title"], v["category"], v["severity"], MappingProxyType(dict(params)),
                tuple(lets), when, message, flags, advice, effect, verify, v["why"].strip(),
                tuple(refs), cases, path, _explains(v["explains"], v["id"], err),
                MappingProxyType(dict(raw)))


def _explains(raw: list[Any], rid: str, err: ErrFn) -> tuple[str, ...]:
    """The codes of `explains:`; each item is a rule id (LD602-no-better-than-unigram) or code."""
    out = []
    for item in raw:
        code = item.split("-", 1)[0] if isinstance(item, str) else ""
        if not (isinstance(item, str) and (ID_RE.match(item) or CODE_RE.match(item))):
            raise err("explains", f"{item!r} is not a rule id or code, like LD602")
        if code == rid.split("-", 1)[0]:
            raise err("explains", "a rule cannot explain itself")
        out.append(code)
    return tuple(out)


def _expr(text: Any, known: Collection[str], err: ErrFn, fld: str) -> Expr:
    try:
        return compile_expr(text, known)
    except ExprError as e:
        raise err(fld, str(e)) from None


def _template(text: Any, known: Collection[str], err: ErrFn, fld: str) -> Template:
    try:
        return compile_template(text, known)
    except TemplateError as e:
        raise err(fld, str(e)) from None


def _flags(text: Any, known: Collection[str], err: ErrFn, fld: str) -> Flags:
    try:
        return compile_flags(text, known)
    except TemplateError as e:
        raise err(fld, str(e)) from None


def _effect(raw: dict[str, Any], known: Collection[str], err: ErrFn) -> Effect:
    kind = raw.get("kind")
    if kind not in EFFECT_KINDS:
        raise err("expected_effect.kind", f"{kind!r} is not one of {', '.join(EFFECT_KINDS)}")
    allowed = {"extrapolation": {"kind", "to", "scenario"},
               "measured": {"kind", "value", "unit", "source"},
               "rule_of_thumb": {"kind", "value", "unit", "source"},
               "none": {"kind", "source"}}[kind]
    extra = sorted(set(raw) - allowed)
    if extra:
        raise err(f"expected_effect.{extra[0]}", f"not a field of kind {kind} ({', '.join(sorted(allowed))})")
    if kind == "extrapolation":
        if raw.get("scenario", "rerun") not in SCENARIOS:
            raise err("expected_effect.scenario", f"{raw.get('scenario')!r} is not one of {', '.join(SCENARIOS)}")
        if "to" not in raw:
            raise err("expected_effect.to", "missing")
        return Effect(kind, "extrapolation of this run's curve (lossdoctor extrapolate)",
                      to=_expr(raw["to"], known, err, "expected_effect.to"),
                      scenario=raw.get("scenario", "rerun"))
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise err("expected_effect.source", "missing: say where the number comes from")
    if kind == "none":
        return Effect(kind, source.strip(), unit="")
    if "value" not in raw:
        raise err("expected_effect.value", "missing")
    unit = raw.get("unit", "nats")
    if not isinstance(unit, str):
        raise err("expected_effect.unit", "expected text")
    return Effect(kind, source.strip(), unit, value=_expr(raw["value"], known, err, "expected_effect.value"))


def _verify(raw: dict[str, Any], known: Collection[str], err: ErrFn) -> Verify:
    extra = sorted(set(raw) - {"flags", "metric", "expect", "seeds"})
    if extra:
        raise err(f"verify.{extra[0]}", "unknown field (fields: flags, metric, expect, seeds)")
    if raw.get("metric") not in METRICS:
        raise err("verify.metric", f"{raw.get('metric')!r} is not one of {', '.join(METRICS)}")
    if raw.get("expect") not in EXPECTS:
        raise err("verify.expect", f"{raw.get('expect')!r} is not one of {', '.join(EXPECTS)}")
    seeds = raw.get("seeds", 3)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= 20:
        raise err("verify.seeds", "expected a whole number from 1 to 20")
    flags = _flags(raw["flags"], known, err, "verify.flags") if raw.get("flags") else None
    return Verify(flags, raw["metric"], raw["expect"], seeds)


def _cases(raw: list[Any], fact_names: Collection[str], err: ErrFn) -> tuple[Case, ...]:
    out = []
    for i, c in enumerate(raw):
        fld = f"cases[{i}]"
        if not isinstance(c, dict) or set(c) - {"name", "facts", "expect"}:
            raise err(fld, "expected {name, facts, expect}")
        if c.get("expect") not in CASE_EXPECTS:
            raise err(f"{fld}.expect", f"{c.get('expect')!r} is not one of {', '.join(CASE_EXPECTS)}")
        facts = c.get("facts") or {}
        if not isinstance(facts, dict):
            raise err(f"{fld}.facts", "expected a mapping of fact names to values")
        bad = sorted(k for k in facts if k not in fact_names)
        if bad:
            raise err(f"{fld}.facts", f"{bad[0]!r} is not a fact")
        out.append(Case(str(c.get("name") or f"case {i + 1}"), MappingProxyType(dict(facts)), c["expect"]))
    kinds = {c.expect for c in out}
    for need in ("fire", "pass"):
        if need not in kinds:
            raise err("cases", f"needs at least one case with expect: {need}")
    return tuple(out)
