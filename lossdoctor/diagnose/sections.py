"""The sections of a rule that are structures of their own: `expected_effect`, `verify`
and `cases` (the schema is in rules.py's doc), and the compiling of a rule's expressions,
templates and flags with their errors made the rule's load errors. Split from rules.py to
keep each module short; rules.py's parse_rule calls these.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..frozen import FrozenDict
from .expr import Expr, ExprError, compile_expr
from .limits import constant_problem, shorten
from .template import Flags, TemplateError, compile_flags

EFFECT_KINDS = ("extrapolation", "measured", "rule_of_thumb", "none", "unknown")
# lossdoctor extrapolate's scenarios, and `before_resume`: a fresh run to the resume's end
# against the resume the run made, both from its process before the resume (fit/resumed.py)
SCENARIOS = ("rerun", "resume", "constant", "before_resume")
METRICS = ("final_val", "best_val", "time_per_iter_ms")
EXPECTS = ("lower", "higher", "same")
CASE_EXPECTS = ("fire", "pass", "skip")

T = TypeVar("T")
# makes the error of one rule: (field or None, reason) -> an error naming the file, rule and field
ErrFn = Callable[[str | None, str], Exception]


@dataclass(frozen=True)
class Effect:
    kind: str  # EFFECT_KINDS
    source: str  # where the number comes from, for the user
    unit: str = "nats"
    value: Expr | None = None  # measured, rule_of_thumb
    to: Expr | None = None  # extrapolation: the target step
    scenario: str | None = None  # extrapolation: a scenario, or the name of a let that gives one


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


def compiled(make: Callable[[Any, Collection[str]], T], text: Any, known: Collection[str], err: ErrFn,
              fld: str) -> T:
    """`make(text, known)`: an expression, a template or flags; its error as the RuleError of `fld`."""
    try:
        return make(text, known)
    except (ExprError, TemplateError) as e:
        raise err(fld, str(e)) from None


def _number(text: str, known: Collection[str]) -> Expr:
    """An expression that must give a finite number (an expected effect's size or target step)."""
    return compile_expr(text, known, number=True)


def parse_effect(raw: dict[str, Any], known: Collection[str], err: ErrFn, lets: Collection[str] = ()) -> Effect:
    """`expected_effect`: the fields its kind takes, each checked; a value or target step
    must evaluate to a finite number, so that the engine can use it as one; a scenario is
    rerun, resume or constant, or the name of one of `lets` that gives one (a param is one
    value for every run)."""
    kind = raw.get("kind")
    if kind not in EFFECT_KINDS:
        raise err("expected_effect.kind", f"{shorten(repr(kind))} is not one of {', '.join(EFFECT_KINDS)}")
    allowed = {"extrapolation": {"kind", "to", "scenario"},
               "measured": {"kind", "value", "unit", "source"},
               "rule_of_thumb": {"kind", "value", "unit", "source"},
               "none": {"kind", "source"}, "unknown": {"kind", "source"}}[kind]
    extra = sorted(set(raw) - allowed, key=str)
    if extra:
        raise err(f"expected_effect.{extra[0]}", f"not a field of kind {kind} ({', '.join(sorted(allowed))})")
    if kind == "extrapolation":
        scenario = raw.get("scenario", "rerun")  # a scenario, or the name of a let that gives one
        if not isinstance(scenario, str) or (scenario not in SCENARIOS and scenario not in lets):
            raise err("expected_effect.scenario",
                      f"{shorten(repr(scenario))} is not one of {', '.join(SCENARIOS)} nor a let's name")
        if "to" not in raw:
            raise err("expected_effect.to", "missing")
        return Effect(kind, "extrapolation of this run's curve (lossdoctor extrapolate)",
                      to=compiled(_number, raw["to"], known, err, "expected_effect.to"),
                      scenario=raw.get("scenario", "rerun"))
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise err("expected_effect.source", "missing: say where the number comes from")
    if kind in ("none", "unknown"):
        return Effect(kind, source.strip(), unit="")
    if "value" not in raw:
        raise err("expected_effect.value", "missing")
    unit = raw.get("unit", "nats")
    if not isinstance(unit, str):
        raise err("expected_effect.unit", "expected text")
    value = compiled(_number, raw["value"], known, err, "expected_effect.value")
    return Effect(kind, source.strip(), unit, value=value)


def parse_verify(raw: dict[str, Any], known: Collection[str], err: ErrFn) -> Verify:
    """`verify`: the experiment that tests a finding (flags, metric, direction, seeds)."""
    extra = sorted(set(raw) - {"flags", "metric", "expect", "seeds"}, key=str)
    if extra:
        raise err(f"verify.{extra[0]}", "unknown field (fields: flags, metric, expect, seeds)")
    if raw.get("metric") not in METRICS:
        raise err("verify.metric", f"{shorten(repr(raw.get('metric')))} is not one of {', '.join(METRICS)}")
    if raw.get("expect") not in EXPECTS:
        raise err("verify.expect", f"{shorten(repr(raw.get('expect')))} is not one of {', '.join(EXPECTS)}")
    seeds = raw.get("seeds", 3)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= 20:
        raise err("verify.seeds", "expected a whole number from 1 to 20")
    flags = compiled(compile_flags, raw["flags"], known, err, "verify.flags") if raw.get("flags") else None
    return Verify(flags, raw["metric"], raw["expect"], seeds)


def parse_cases(raw: list[Any], fact_names: Collection[str], err: ErrFn) -> tuple[Case, ...]:
    """`cases`: each a known fact's values (plain constants within limits.py's bounds, as a
    real fact's are) and the outcome; at least one must fire and one pass."""
    out = []
    for i, c in enumerate(raw):
        fld = f"cases[{i}]"
        if not isinstance(c, dict) or set(c) - {"name", "facts", "expect"}:
            raise err(fld, "expected {name, facts, expect}")
        if c.get("expect") not in CASE_EXPECTS:
            raise err(f"{fld}.expect", f"{shorten(repr(c.get('expect')))} is not one of {', '.join(CASE_EXPECTS)}")
        facts = c.get("facts") or {}
        if not isinstance(facts, dict):
            raise err(f"{fld}.facts", "expected a mapping of fact names to values")
        bad = sorted((k for k in facts if k not in fact_names), key=str)
        if bad:
            raise err(f"{fld}.facts", f"{shorten(repr(bad[0]))} is not a fact")
        for k, x in facts.items():
            if constant_problem(x):
                raise err(f"{fld}.facts.{k}", str(constant_problem(x)))
        name = c.get("name")
        if isinstance(name, bool) or (name is not None and not isinstance(name, (str, int, float))):
            hint = (" (YAML reads on, off, yes and no as true or false: quote the name)"
                    if isinstance(name, bool) else "")
            raise err(f"{fld}.name", f"{shorten(repr(name))} is not a name{hint}")
        out.append(Case(str(name) if name not in (None, "") else f"case {i + 1}", FrozenDict(facts),
                        c["expect"]))
    kinds = {c.expect for c in out}
    for need in ("fire", "pass"):
        if need not in kinds:
            raise err("cases", f"needs at least one case with expect: {need}")
    return tuple(out)
