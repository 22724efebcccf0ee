"""The rule engine: every built-in rule's own cases, the schema's load errors, the safe
expression language, flags checked against nanoGPT, and rules applied to real runs."""

from __future__ import annotations

import io
import json
import textwrap
from contextlib import redirect_stderr, redirect_stdout

import pytest

from conftest import DEMO_RULE as GOOD
from conftest import FIXTURES, ROOT
from lossdoctor.diagnose import CATEGORIES, diagnose, load_rules, run_cases
from lossdoctor.diagnose.cases import run_case
from lossdoctor.diagnose.expr import ExprError, Missing, compile_expr, evaluate
from lossdoctor.diagnose.rules import RuleError, load_rule_file
from lossdoctor.diagnose.template import TemplateError, compile_flags, compile_template
from lossdoctor.facts import FACTS

BUILTIN = load_rules()


def _case_ids():
    return [(r.id, i) for r in BUILTIN.rules for i in range(len(r.cases))]


@pytest.mark.parametrize("rule_id,index", _case_ids(), ids=lambda x: str(x))
def test_builtin_rule_case(rule_id, index):
    rule = BUILTIN.get(rule_id)
    res = run_case(rule, index)
    assert res.ok, f"{rule_id} case {res.case!r}: expected {res.expect}, got {res.got} ({res.detail})"


def test_builtin_library_loads_whole_and_covers_every_category():
    assert BUILTIN.errors == ()
    assert len(BUILTIN.rules) >= 30
    assert {r.category for r in BUILTIN.rules} == set(CATEGORIES)
    for r in BUILTIN.rules:  # the loader refuses a rule without both kinds of case
        kinds = {c.expect for c in r.cases}
        assert {"fire", "pass"} <= kinds, r.id
        assert r.why and r.message.source.strip()


def test_docs_rules_md_is_generated_from_the_rule_files():
    from lossdoctor.report.rules_doc import rules_markdown
    assert (ROOT / "docs" / "rules.md").read_text() == rules_markdown(list(BUILTIN.rules)), \
        "regenerate: lossdoctor rules doc > docs/rules.md"


# -- the expression language ---------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "x.__class__", "x[0]", "__import__('os')", "open('f')", "(lambda: 1)()", "[a for a in x]",
    "x ** 99999999", "getattr(x, 'y')", "exec('1')", "eval('1')", "max(x, key=abs)", "{1: 2}",
    "x := 1", "f'{x}'",
])
def test_expressions_outside_the_whitelist_are_rejected(text):
    with pytest.raises(ExprError):
        compile_expr(text, {"x", "a"})


def test_expression_semantics():
    e = compile_expr("a > 2 and b / a < 1 or c in ('cpu', 'mps')", {"a", "b", "c"})
    assert e.names == {"a", "b", "c"}
    assert evaluate(e, {"a": 3, "b": 2, "c": "cuda"}) is True
    assert evaluate(e, {"a": 1, "b": 2, "c": "cpu"}) is True
    with pytest.raises(Missing):  # a is unknown and decides the result
        evaluate(e, {"b": 2, "c": "cuda"})
    short = compile_expr("a > 2 and b > 1", {"a", "b"})
    assert evaluate(short, {"a": 1}) is False  # `and` decided without b
    assert evaluate(compile_expr("x != None", {"x"}), {"x": None}) is False
    assert evaluate(compile_expr("max(round(s * 2.5 / 100) * 100, s + 100)", {"s"}), {"s": 2000}) == 5000
    with pytest.raises(ExprError, match="unknown name"):
        compile_expr("val_slop < 0", set(FACTS))


def test_templates_allow_plain_names_only_and_show_units():
    with pytest.raises(TemplateError):
        compile_template("{x.__class__}", {"x"})
    with pytest.raises(TemplateError):
        compile_template("{x[0]}", {"x"})
    with pytest.raises(TemplateError):
        compile_template("{x!r}", {"x"})
    with pytest.raises(TemplateError):
        compile_template("{y}", {"x"})
    t = compile_template("{tok} seen, {frac:.0%}, lr {lr:g}, {n}", {"tok", "frac", "lr", "n"})
    units = {"tok": "tokens", "frac": "fraction", "lr": "LR", "n": "nats"}
    assert t.render({"tok": 1536000, "frac": 0.755, "lr": 1e-3, "n": None}, units) == \
        "1,536,000 tokens seen, 76%, lr 0.001, unknown"


def test_flags_are_checked_against_nanogpt_config_keys_and_types():
    with pytest.raises(TemplateError, match="init_from=resume"):
        compile_flags("--resume=True", set())
    with pytest.raises(TemplateError, match="not a nanoGPT config key"):
        compile_flags("--seed=1", set())
    with pytest.raises(TemplateError, match="needs a float"):
        compile_flags("--dropout=0", set())  # nanoGPT's configurator asserts the type
    with pytest.raises(TemplateError, match="--key=value"):
        compile_flags("--max_iters 5000", set())
    f = compile_flags("--max_iters={n} --lr_decay_iters={n} --learning_rate={lr} --dropout={d}", {"n", "lr", "d"})
    assert f.render({"n": 5000.0, "lr": 1, "d": 0.2}) == \
        "--max_iters=5000 --lr_decay_iters=5000 --learning_rate=1.0 --dropout=0.2"
    with pytest.raises(TemplateError):
        f.render({"n": 2500.5, "lr": 1e-3, "d": 0.2})


# -- rule files ----------------------------------------------------------------------------



@pytest.mark.parametrize("edit,field,reason", [
    (("when: \"max_iters < 100\"", "when: \"max_iters.bit_length() < 100\""), "when", "not allowed"),
    (("when: \"max_iters < 100\"", "when: \"maxiters < 100\""), "when", "unknown name 'maxiters'"),
    (("category: config", "category: speed"), "category", "not one of"),
    (("severity: info", "severity: fatal"), "severity", "not one of"),
    (("--max_iters=5000 --lr_decay_iters=5000", "--resume=True"), "recommendation.flags", "init_from=resume"),
    (("message: \"max_iters is {max_iters}\"", "message: \"{max_iters.real}\""), "message", "plain name"),
    (("  - {name: long, facts: {max_iters: 1000}, expect: pass}\n", ""), "cases", "expect: pass"),
    (("  - {name: short, facts: {max_iters: 10}, expect: fire}", "  - {name: s, facts: {max_itrs: 1}, expect: fire}"),
     "cases[0].facts", "not a fact"),
    (("why: a demo\n", ""), "why", "missing"),
    (("id: XY001-demo", "id: demo"), "id", "kebab-case"),
    (("why: a demo", "why: a demo\nwhy_not: x"), "why_not", "unknown field"),
])
def test_load_errors_name_the_file_the_rule_and_the_field(tmp_path, edit, field, reason):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace(*edit))
    with pytest.raises(RuleError) as e:
        load_rule_file(str(path), FACTS)
    msg = str(e.value)
    assert str(path) in msg and f"field {field}" in msg and reason in msg
    if "id: demo" not in path.read_text():
        assert "rule XY001-demo" in msg


def test_a_broken_file_does_not_stop_the_others_and_user_rules_override_builtins(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text("id: [unclosed\n")
    override = BUILTIN.get("LD1001").raw
    (tmp_path / "override.yaml").write_text(
        __import__("yaml").safe_dump({**override, "severity": "error", "title": "Mine"}))
    rules = load_rules([str(tmp_path)])
    assert len(rules.errors) == 1 and "broken.yaml" in str(rules.errors[0]) and "not valid YAML" in str(rules.errors[0])
    assert rules.get("XY001-demo") is not None
    mine = rules.get("LD1001-few-eval-iters")
    assert (mine.severity, mine.title) == ("error", "Mine")
    assert len(rules.rules) == len(BUILTIN.rules) + 1


# -- on real runs --------------------------------------------------------------------------

def test_findings_on_a_real_cpu_run_quote_its_values():
    import lossdoctor
    run = lossdoctor.load(str(FIXTURES / "nanogpt" / "cpu_small"))
    d = diagnose(run, rules=BUILTIN)
    by = {f.rule: f for f in d.findings}
    f = by["LD1001-few-eval-iters"]
    assert "eval_iters is 20" in f.message and f.flags == "--eval_iters=200"
    assert f.evidence["eval_iters"].value == 20
    longer = by["LD101-still-improving"]
    assert longer.flags == "--max_iters=800 --lr_decay_iters=800"  # 2.5 x 301 steps, to the hundred
    e = longer.expected_effect
    assert e.kind == "extrapolation" and e.value < 0 and e.lo < e.value < e.hi
    sev = [f.severity for f in d.findings]
    assert sev == sorted(sev, key=["error", "warning", "info"].index)  # ranked by severity


def test_rules_whose_facts_are_missing_are_not_applicable_with_the_reason():
    from conftest import parse_text
    run = parse_text("iter 0: loss 4.2000, time 10.00ms, mfu -100.00%\n"
                     "iter 1: loss 4.1000, time 10.00ms, mfu -100.00%\n")
    d = diagnose(run, rules=BUILTIN)
    reasons = {n.rule: n.reason for n in d.not_applicable}
    assert "LD501-val-past-minimum" in reasons and "no eval" in reasons["LD501-val-past-minimum"]
    assert "LD201-lr-above-range" in reasons and "config" in reasons["LD201-lr-above-range"]


# -- CLI -----------------------------------------------------------------------------------

def run_cli(*argv: str) -> tuple[int, str, str]:
    from lossdoctor.cli import main
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_analyze_json_findings_and_fail_on(monkeypatch):
    monkeypatch.chdir(ROOT)
    log = "fixtures/nanogpt/cpu_small/train.log"
    code, out, _ = run_cli("analyze", log, "--format", "json")
    findings = json.loads(out)["runs"][0]["findings"]
    assert code == 0 and findings
    for f in findings:
        assert {"rule", "category", "severity", "message", "flags", "expected_effect", "evidence"} <= set(f)
        assert f["category"] in CATEGORIES
    assert run_cli("analyze", log, "--format", "json", "--fail-on", "warning")[0] == 1
    assert run_cli("analyze", log, "--format", "json", "--fail-on", "error")[0] == 0


def test_rules_subcommands(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, _ = run_cli("rules", "list", "--width", "200")
    assert code == 0 and "LD101" in out and "(still-improving)" in out
    code, out, _ = run_cli("rules", "show", "LD1301", "--width", "120")
    assert code == 0 and "nullcontext" in out
    assert run_cli("rules", "show", "LD9999")[0] == 2
    (tmp_path / "good.yaml").write_text(GOOD)
    code, out, _ = run_cli("rules", "test", str(tmp_path))
    assert code == 0 and "2 passed, 0 failed" in out
    (tmp_path / "good.yaml").write_text(GOOD.replace("facts: {max_iters: 1000}, expect: pass",
                                                     "facts: {max_iters: 10}, expect: pass"))
    (tmp_path / "extra.yaml").write_text(GOOD.replace("XY001-demo", "XY002-demo"))
    code, out, _ = run_cli("rules", "test", str(tmp_path))
    assert code == 1 and "FAIL XY001-demo: long: expected pass, got fire" in out
    (tmp_path / "broken.yaml").write_text(textwrap.dedent("id: XY003-x\ntitle: t\n"))
    code, out, _ = run_cli("rules", "test", str(tmp_path))
    assert code == 2 and "broken.yaml: rule XY003-x: field category: missing" in out
    assert run_cli("rules", "test", str(tmp_path / "nowhere"))[0] == 2


def test_builtin_cases_through_run_cases():
    results = run_cases(BUILTIN)
    assert len(results) >= 2 * len(BUILTIN.rules) and all(r.ok for r in results)


# -- the labelled runs of benchmarks/diagnosis.py, kept as fixtures ----------------------------

DIAGNOSIS = FIXTURES / "diagnosis"


def _labels() -> dict[str, dict[str, str]]:
    import yaml
    return yaml.safe_load((DIAGNOSIS / "labels.yaml").read_text())


LABELS = _labels()
STRONG = sorted(n for n, x in LABELS.items() if x["strength"] == "strong")
HEALTHY = sorted(n for n, x in LABELS.items() if x["category"] == "healthy")


@pytest.mark.parametrize("name", STRONG)
def test_a_strongly_planted_cause_is_among_the_first_three_findings(name):
    import lossdoctor
    d = diagnose(lossdoctor.load(str(DIAGNOSIS / name)), rules=BUILTIN)
    assert LABELS[name]["category"] in [f.category for f in d.findings[:3]], [f.rule for f in d.findings]


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_runs_get_no_fault_warning(name):
    import lossdoctor
    from lossdoctor.diagnose.ranking import ADVICE
    d = diagnose(lossdoctor.load(str(DIAGNOSIS / name)), rules=BUILTIN)
    assert not [f.rule for f in d.findings if f.category not in ADVICE and f.severity != "info"]


def test_the_labels_cover_every_fixture_run():
    runs = {p.name for p in DIAGNOSIS.iterdir() if (p / "train.log").exists()}
    assert runs == set(LABELS) and len(runs) >= 40 and len(HEALTHY) >= 12


def test_a_finding_whose_flags_need_an_unknown_value_still_fires_and_says_why():
    rule = BUILTIN.get("LD502-generalization-gap")
    f = check_rule(rule, {"overfit_ratio": 1.7, "final_val": 1.7, "final_train": 0.62, "epochs": 80.0,
                          "gap_growth": 0.3, "gap_growth_z": 9.0, "val_slope": 0.1, "val_slope_z": 4.0})
    assert f.flags == "" and "no flags: needs dropout" in f.advice


def check_rule(rule, values):
    from lossdoctor.diagnose import check
    return check(rule, values)
