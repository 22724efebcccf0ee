"""Rules as data: load YAML rules, apply them to a run's facts, test them on their cases.

    rules = load_rules(["my_rules/"])          # built-in + yours (same id overrides)
    diagnosis = diagnose(run, rules=rules)     # findings, not-applicable rules with reasons
    results = run_cases(rules)                 # each rule's own pass/fire/skip cases
"""

from __future__ import annotations

from .cases import CaseResult, run_cases
from .effects import EffectEstimate
from .engine import Diagnosis, Evidence, Finding, NotApplicable, VerifySpec, apply, check, diagnose
from .rules import CATEGORIES, SEVERITIES, Rule, RuleError, RuleSet
from .ruleset import builtin_dir, load_rules

__all__ = ["CATEGORIES", "SEVERITIES", "CaseResult", "Diagnosis", "EffectEstimate", "Evidence", "Finding",
           "NotApplicable", "Rule", "RuleError", "RuleSet", "VerifySpec", "apply", "builtin_dir", "check",
           "diagnose", "load_rules", "run_cases"]
