"""Root cause first: rules that `explain` others, and the order of findings."""

from __future__ import annotations

import pytest

from conftest import FIXTURES, shared_path
from lossdoctor.diagnose import EffectEstimate, Finding, VerifySpec, load_rules
from lossdoctor.diagnose.ranking import rank
from lossdoctor.diagnose.rules import RuleError, parse_rule

BUILTIN = load_rules()


def _finding(rule: str, category: str, severity: str = "warning", effect: float | None = None) -> Finding:
    e = EffectEstimate("measured", effect, "nats", "test")
    return Finding(rule, rule, category, severity, "", "", None, e, {}, VerifySpec("", "final_val", "lower", 3))


def test_a_cause_comes_before_its_symptom_even_when_the_symptom_is_more_severe() -> None:
    findings = [_finding("LD602-no-better-than-unigram", "underfitting", "error", -1.0),
                _finding("LD101-still-improving", "train_longer", "warning", -0.5),
                _finding("LD201-lr-above-range", "lr_too_high", "warning", None)]
    out = rank(findings, BUILTIN)
    assert [f.rule.split("-")[0] for f in out] == ["LD201", "LD602", "LD101"]
    assert out[0].explains == ("LD602-no-better-than-unigram",)
    assert out[1].explained_by == ("LD201-lr-above-range",)


def test_a_symptom_of_two_causes_comes_after_both() -> None:
    """Loss spikes (LD203) are explained by an LR above range (LD201) and by no gradient
    clipping (LD803): they come after both, where they had followed the better-ranked cause
    alone, with the other cause after them."""
    out = rank([_finding("LD203-loss-spikes", "divergence", effect=None),
                _finding("LD201-lr-above-range", "lr_too_high", effect=-0.2),
                _finding("LD803-no-grad-clip", "divergence", effect=-0.3)], BUILTIN)
    order = [f.rule.split("-")[0] for f in out]
    assert order.index("LD203") > max(order.index("LD201"), order.index("LD803")) and len(order) == 3
    assert set(out[order.index("LD203")].explained_by) == {"LD201-lr-above-range", "LD803-no-grad-clip"}


def test_advice_never_ranks_above_a_fault_of_the_same_severity() -> None:
    out = rank([_finding("LD101-still-improving", "train_longer", effect=-0.3),
                _finding("LD901-tiny-batch", "batch_size", effect=None)], load_rules())
    assert [f.category for f in out] == ["batch_size", "train_longer"]


def test_a_stop_ranks_before_a_fault() -> None:
    out = rank([_finding("LD701-lr-decay-beyond-run", "lr_schedule", effect=-0.5),
                _finding("LD1704-stopped-by-scheduler", "crash")], BUILTIN)
    assert out[0].category == "crash"


def test_a_loop_of_explains_is_cut_and_every_finding_is_listed_once(tmp_path) -> None:
    from lossdoctor.diagnose.rules import RuleSet
    raw = {"title": "t", "category": "config", "when": True, "message": "m",
           "recommendation": {"text": "t"}, "expected_effect": {"kind": "none", "source": "s"},
           "verify": {"metric": "final_val", "expect": "same"}, "why": "w",
           "cases": [{"facts": {}, "expect": "fire"}, {"facts": {}, "expect": "pass"}]}
    a = parse_rule({**raw, "id": "XY001-a", "explains": ["XY002"]}, "a.yaml", [])
    b = parse_rule({**raw, "id": "XY002-b", "explains": ["XY001-a"]}, "b.yaml", [])
    out = rank([_finding("XY002-b", "config"), _finding("XY001-a", "config")], RuleSet((a, b)))
    assert sorted(f.rule for f in out) == ["XY001-a", "XY002-b"]
    assert [f.rule for f in out] == ["XY001-a", "XY002-b"]  # by id; the closing edge is cut


@pytest.mark.parametrize("field, value, reason", [
    ("explains", ["LD60"], "not a rule id or code"), ("explains", ["XY001"], "cannot explain itself"),
    ("explains", [3], "not a rule id or code"), ("overrides", ["LD60"], "not a rule id or code"),
    ("overrides", ["XY001-a"], "cannot override itself")])
def test_explains_and_overrides_are_checked_when_the_rule_loads(field, value, reason) -> None:
    raw = {"id": "XY001-a", "title": "t", "category": "config", "when": True, "message": "m",
           "recommendation": {"text": "t"}, "expected_effect": {"kind": "none", "source": "s"},
           "verify": {"metric": "final_val", "expect": "same"}, "why": "w", field: value,
           "cases": [{"facts": {}, "expect": "fire"}, {"facts": {}, "expect": "pass"}]}
    with pytest.raises(RuleError, match=reason) as info:
        parse_rule(raw, "x.yaml", [])
    assert info.value.field == field


def test_the_report_shows_the_causal_link() -> None:
    import io

    from rich.console import Console

    from lossdoctor.diagnose.engine import Diagnosis
    from lossdoctor.report.findings import render_diagnosis
    out = rank([_finding("LD602-no-better-than-unigram", "underfitting", "error"),
                _finding("LD201-lr-above-range", "lr_too_high")], BUILTIN)
    buf = io.StringIO()
    Console(file=buf, width=80).print(render_diagnosis(Diagnosis(out, (), ())))
    text = buf.getvalue()
    assert "explains LD602" in text and "explained by LD201" in text


def test_the_124m_overfit_log_gets_overfitting_first() -> None:
    import lossdoctor
    from lossdoctor.diagnose import diagnose
    log = shared_path("corpus/logs/nanogpt/druidowm-wandb-output-shakespeare-124M-overfit-8xH100.log")
    run = lossdoctor.load(str(log))
    findings = diagnose(run).findings
    assert findings[0].rule == "LD501-val-past-minimum"
    assert "LD203-loss-spikes" not in [f.rule for f in findings]  # a memorized loss near 0 has no spikes


def test_heavy_weight_decay_ranks_before_the_still_improving_it_explains() -> None:
    import lossdoctor
    from lossdoctor.diagnose import diagnose
    findings = diagnose(lossdoctor.load(str(FIXTURES / "diagnosis" / "heavy_wd"))).findings
    assert [f.rule.split("-")[0] for f in findings[:2]] == ["LD401", "LD101"]
