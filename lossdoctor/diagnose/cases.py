"""Each rule's own cases: fact values, and whether the rule must fire, pass or be skipped
(not applicable). `lossdoctor rules test DIR` and the test suite run them."""

from __future__ import annotations

from dataclasses import dataclass

from .engine import Finding, NotApplicable, check
from .rules import Rule, RuleSet


@dataclass(frozen=True)
class CaseResult:
    rule: str
    case: str
    expect: str  # fire | pass | skip
    got: str
    detail: str  # the message when it fired, the reason when skipped

    @property
    def ok(self) -> bool:
        return self.expect == self.got


def run_case(rule: Rule, index: int) -> CaseResult:
    case = rule.cases[index]
    res = check(rule, dict(case.facts))
    if isinstance(res, Finding):
        got, detail = "fire", res.message
    elif isinstance(res, NotApplicable):
        got, detail = "skip", res.reason
    else:
        got, detail = "pass", ""
    return CaseResult(rule.id, case.name, case.expect, got, detail)


def run_cases(rules: RuleSet) -> list[CaseResult]:
    return [run_case(r, i) for r in rules.rules for i in range(len(r.cases))]
