"""The rule engine: every built-in rule's own cases, the schema's load errors, the safe
expression language, flags checked against nanoGPT, and rules applied to real runs."""

from __future__ import annotations

import io
import json
import re
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
    assert evaluate(short, {"b": 0}) is False  # ... and without a: the order does not matter
    either = compile_expr("a > 1 or b > 10", {"a", "b"})
    assert evaluate(either, {"b": 2000}) is True
    with pytest.raises(Missing):
        evaluate(either, {"b": 1})  # a could still make it true
    assert evaluate(compile_expr("x != None", {"x"}), {"x": None}) is False
    assert evaluate(compile_expr("max(round(s * 2.5 / 100) * 100, s + 100)", {"s"}), {"s": 2000}) == 5000
    with pytest.raises(ExprError, match="unknown name"):
        compile_expr("val_slop < 0", set(FACTS))


def test_a_value_computed_from_an_assumed_noise_says_so_in_the_message():
    t = compile_template("ended {rise:.4f} higher ({z:.1f} standard errors)", {"rise", "z"})
    values = {"rise": 1.6349, "z": 163.49}
    assert t.render(values) == "ended 1.6349 higher (163.5 standard errors)"
    assert t.render(values, assumed={"z"}) == "ended 1.6349 higher (assumed 163.5 standard errors)"
    found = _corpus_findings("hf-trainer/trainer-state-viz-multi-eval-sets.json")  # eval_se unknown: 0.01 assumed
    assert "(assumed 163.5 standard errors)" in found["LD501"].message
    # a let computed from an assumed fact is assumed too (LD601's tokens per parameter)
    from lossdoctor.diagnose import check
    from lossdoctor.facts import Fact, Facts
    rule = BUILTIN.get("LD601")
    values = {"params": 800_000, "tokens_seen": 200_000_000, "overfit_ratio": 0.01, "val_slope": -0.001,
              "val_slope_z": -0.5, "model_from": "scratch", "n_embd": 128}
    facts = Facts.of(Fact(k, v, "", "assumed" if k == "tokens_seen" else "read", "test") for k, v in values.items())
    assert "saw assumed 250 tokens per parameter" in check(rule, values, facts).message


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
    assert t.render({"tok": 1536000, "frac": 0.755, "lr": 1e-3}, units) == \
        "1,536,000 tokens seen, 76%, lr 0.001, unknown"
    named = compile_template("{tok} tokens, {tok} token each, {n}.", {"tok", "n"})
    assert named.render({"tok": 768, "n": 0.5}, units) == "768 tokens, 768 token each, 0.5 nats."
    assert named.render({"tok": None}, units) == "none tokens, none token each, unknown."  # a known null; n absent


def test_flags_are_checked_against_nanogpt_config_keys_and_types():
    with pytest.raises(TemplateError, match="init_from=resume"):
        compile_flags("--resume=True", set())
    with pytest.raises(TemplateError, match="not a nanoGPT config key"):
        compile_flags("--seed=1", set())
    with pytest.raises(TemplateError, match="needs a float"):
        compile_flags("--dropout=0", set())  # nanoGPT's configurator asserts the type
    with pytest.raises(TemplateError, match="--key=value"):
        compile_flags("--max_iters 5000", set())
    with pytest.raises(TemplateError, match="train.py takes float32, bfloat16, float16"):
        compile_flags("--dtype=float64", set())  # train.py's ptdtype lookup has these three
    with pytest.raises(TemplateError, match="given twice"):
        compile_flags("--max_iters=5 --max_iters=6", set())
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
    # a threshold written as text could never be compared: refused at load, naming its use
    (("when: \"max_iters < 100\"", "params: {low: '100'}\nwhen: \"max_iters < low\""), "params.low",
     "'100' is text, but `max_iters < low` needs a number"),
    (("message: \"max_iters is {max_iters}\"", "params: {n: x}\nmessage: \"{n:.2f}\""), "params.n",
     "formats a number"),
    (("when: \"max_iters < 100\"", "params: {n: x}\nlet: {m: \"-n\"}\nwhen: \"max_iters < 100\""), "params.n",
     "`-n` needs a number"),
    # a flag of params alone is known at load: one train.py would not take is refused there
    (("recommendation: {flags: \"--max_iters=5000 --lr_decay_iters=5000\"}",
      "params: {bs: big}\nrecommendation: {flags: \"--batch_size={bs}\"}"),
     "recommendation.flags", "--batch_size=big: nanoGPT needs an int"),
    # what can never work is refused at load, not ignored or shown oddly at run time
    (("message: \"max_iters is {max_iters}\"", "message: \"{max_iters:.2d}\""), "message",
     "no value can be written with this spec"),
    (("title: Demo", "title: ''"), "title", "empty"),
    (("{name: long, facts", "{name: off, facts"), "cases[1].name", "YAML reads on, off, yes and no as true or false"),
    (("expected_effect: {kind: none, source: \"demo\"}", "expected_effect: {kind: measured, value: \"'abc'\", "
      "source: x}"), "expected_effect.value", "gives str, not a finite number"),
    (("expected_effect: {kind: none, source: \"demo\"}", "params: {sc: 5}\nexpected_effect: {kind: extrapolation, "
      "to: \"max_iters * 2\", scenario: sc}"), "expected_effect.scenario",
     "'sc' is not one of rerun, resume, constant, before_resume nor a let's name"),
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


def test_a_rule_whose_flags_cannot_be_written_for_a_run_still_fires_saying_why(tmp_path):
    """`when` holds, but the flags' value is no int train.py takes (5000 / 30): the finding
    stands, without flags, so that --fail-on still sees it."""
    from lossdoctor.diagnose.engine import Finding, check
    text = GOOD.replace("--max_iters=5000 --lr_decay_iters=5000", "--warmup_iters={w}")
    (tmp_path / "r.yaml").write_text(text.replace('when: "max_iters', 'let: {w: "max_iters / 30"}\nwhen: "max_iters'))
    rule = load_rule_file(str(tmp_path / "r.yaml"), FACTS)[0]
    got = check(rule, {"max_iters": 10})
    assert isinstance(got, Finding) and got.flags == ""
    assert got.advice.startswith("(no flags: cannot write them: --warmup_iters=0.333333")
    assert "needs an int" in got.advice


def test_a_rule_whose_code_another_rule_has_is_refused_naming_both(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("XY001-demo", "XY001-other"))
    (tmp_path / "c.yaml").write_text(GOOD.replace("XY001-demo", "LD101-my-variant"))
    rules = load_rules([str(tmp_path)])
    assert rules.get("XY001-demo") is not None and rules.get("XY001-other") is None
    assert rules.get("LD101-still-improving") is not None and rules.get("LD101-my-variant") is None
    errors = sorted(str(e) for e in rules.errors)
    assert len(errors) == 2 and "field id: code XY001 is already XY001-demo's" in errors[0]
    assert "LD101-my-variant: field id: code LD101 is already LD101-still-improving's" in errors[1]


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
    code, out, _ = run_cli("rules", "show", "LD101", "--width", "80")
    assert "let      longer = max(" in out and "explains" not in out
    # the why's YAML line breaks are joined: each paragraph wraps only at the panel's edge
    body = [line.strip("│ ") for line in out.splitlines()]
    assert "A run whose val loss is still going down when it stops has not converged:" in body
    code, out, _ = run_cli("rules", "show", "LD1501", "--width", "80")
    assert re.search(r"explains\s+LD101", out) and re.search(r"overrides\s+LD101", out)
    # a long title is a row that wraps, not cut in the panel's border
    code, out, _ = run_cli("rules", "show", "LD701", "--width", "80")
    words = " ".join(out.replace("│", " ").split())
    assert "title lr_decay_iters is beyond max_iters, so the LR had not finished decaying" in words
    assert out.splitlines()[0].startswith("╭─ LD701-lr-decay-beyond-run ─")
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
    (tmp_path / "taken").mkdir()  # a code a built-in rule has: it passes alone, and analyze --rules refuses it
    (tmp_path / "taken" / "mine.yaml").write_text(GOOD.replace("XY001-demo", "LD101-my-variant"))
    code, out, _ = run_cli("rules", "test", str(tmp_path / "taken"))
    assert code == 2 and "code LD101 is already LD101-still-improving's" in out and "1 rule did not load" in out
    (tmp_path / "empty").mkdir()
    code, out, err = run_cli("rules", "test", str(tmp_path / "empty"))
    assert code == 2 and out == "" and err == f"lossdoctor: error: {tmp_path / 'empty'}: no rule files (*.yaml) in it\n"


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
                          "gap_growth": 0.3, "gap_growth_z": 9.0, "val_slope": 0.1, "val_slope_z": 4.0,
                          "best_val_frac": 0.5})
    assert f.flags == "" and "no flags: needs dropout" in f.advice


def check_rule(rule, values):
    from lossdoctor.diagnose import check
    return check(rule, values)


# -- advice that fits the run: its trainer, its config, the other findings ---------------------

def _corpus_findings(rel: str) -> dict[str, object]:
    import lossdoctor
    from conftest import shared_path
    run = lossdoctor.load(str(shared_path("corpus/logs/" + rel)))
    return {f.rule.split("-", 1)[0]: f for f in diagnose(run, rules=BUILTIN).findings}


@pytest.mark.parametrize("rel", ["llmc/hector-assert-fail.log", "nanochat/rtx4070-resume-wandb-nokey-stderr-first.log",
                                 "build-nanogpt/agndm-2n8g-import-fail.err.log"])
def test_a_crash_outside_nanogpt_gets_no_nanogpt_flag_in_its_advice(rel):
    crashed = _corpus_findings(rel)["LD1703"]
    assert crashed.flags == "" and "init_from" not in crashed.advice and "--" not in crashed.advice


def test_resuming_is_said_in_each_trainers_terms(tmp_path):
    from lossdoctor.diagnose.dialects import translate
    for rule in ("LD1703", "LD1704"):
        assert "init_from" not in BUILTIN.get(rule).advice.source  # the flags carry it, translated
    assert translate("--init_from=resume", "nanogpt") == ("--init_from=resume", None)
    assert translate("--init_from=resume", "llmc") == ("-y 1", None)
    flags, note = translate("--init_from=resume", "nanochat")
    assert flags == "" and "--resume-from-step=N" in note
    flags, note = translate("--init_from=resume", "build-nanogpt")
    assert flags == "" and "cannot resume" in note
    flags, note = translate("--always_save_checkpoint=False --dropout=0.2", "hf")
    assert flags == "--load_best_model_at_end True --metric_for_best_model eval_loss"
    assert note == ("(--load_best_model_at_end needs --eval_strategy and --save_strategy the same (and --save_steps "
                    "a multiple of --eval_steps); hf has no flag for nanoGPT's dropout)")
    assert translate("--always_save_checkpoint=True", "hf")[0] == "--load_best_model_at_end False"
    flags, note = translate("--eval_interval=4", "hf")
    assert flags == "--eval_strategy steps --eval_steps 4" and note is None  # --eval_steps alone does nothing
    several = translate("--always_save_checkpoint=False", "hf", "eval_g0_loss")[0]  # several eval sets: the one read
    assert several == "--load_best_model_at_end True --metric_for_best_model eval_g0_loss"
    flags, note = translate("--init_from=resume", "hf")
    assert flags == "" and "resume_from_checkpoint=True" in note

    import lossdoctor
    from conftest import shared_path
    # the llm.c run stopped by its time limit, with a save at step 500 written in
    lines = shared_path("corpus/logs/llmc/hector-a100-stdout-hellaswag-cr-timelimit.log").read_text().split("\n")
    at = next(i for i, x in enumerate(lines) if x.startswith("step  500/"))
    text = "\n".join(lines[:at + 1] + ["Writing checkpoint at step 500"] + lines[at + 1:])
    path = tmp_path / "llmc.log"
    path.write_text(text)
    found = {f.rule.split("-", 1)[0]: f for f in diagnose(lossdoctor.load(str(path)), rules=BUILTIN).findings}
    assert found["LD1704"].flags == "-y 1" and "init_from" not in found["LD1704"].advice


def test_a_flag_the_run_already_has_is_left_out_and_the_advice_says_so():
    from lossdoctor.diagnose import check
    rule = BUILTIN.get("LD501")
    case = {"val_rise_z": 215.0, "train_falling_after_best": True, "best_val": 1.4681, "best_val_step": 2000,
            "val_rise": 0.2216, "final_step": 5000, "final_train": 0.6305, "final_val": 1.6897}
    assert check(rule, case).flags == "--always_save_checkpoint=False --dropout=0.2"  # config unknown
    both = check(rule, {**case, "always_save_checkpoint": False, "dropout": 0.2})
    assert both.flags == "" and both.advice.endswith("(the run already has always_save_checkpoint=False, dropout=0.2)")
    one = check(rule, {**case, "always_save_checkpoint": False, "dropout": 0.1})
    assert one.flags == "--dropout=0.2" and one.advice.endswith("(the run already has always_save_checkpoint=False)")
    assert check(rule, {**case, "always_save_checkpoint": 0, "dropout": 0.2000001}).flags == \
        "--always_save_checkpoint=False"  # 0 is no bool; a value equal to 6 significant digits is the same
    found = _corpus_findings("nanogpt/propathee-gpu-wandb-stderr-interleaved.log")
    overfit = found["LD501"]
    assert overfit.flags == "" and "already has always_save_checkpoint=False, dropout=0.2" in overfit.advice
    assert found["LD503"].flags == "" and "already has always_save_checkpoint=False" in found["LD503"].advice
    assert "--always_save_checkpoint" not in found["LD503"].advice


def test_a_nan_loss_withholds_the_advice_to_resume():
    from lossdoctor.diagnose import apply
    stop = {"failure_kind": "time limit", "failure_line": 168, "failure_text": "DUE TO TIME LIMIT"}
    found = {f.rule.split("-")[0]: f for f in apply(BUILTIN, {**stop, "nan_step": None}).findings}
    assert found["LD1704"].flags == "--init_from=resume"
    diverged = {**stop, "nan_step": 40, "nan_at_start": False, "nan_persists": True, "learning_rate": 6e-4}
    found = {f.rule.split("-")[0]: f for f in apply(BUILTIN, diverged).findings}
    assert found["LD801"].flags == "--learning_rate=6e-05 --grad_clip=1.0"
    assert found["LD1704"].flags == "" and found["LD1704"].advice.startswith("(withheld: LD801-nan-loss")
    found = _corpus_findings("llmc/hector-a100-stdout-nan-from-step0.log")
    assert found["LD1501"].flags == "" and "LD804-nan-from-the-start" in found["LD1501"].advice
    assert "LD1706" in found and found["LD1704"].flags == ""  # stopped at step 100, before its first save (5000)
    assert found["LD804"].expected_effect.kind == "unknown" and found["LD804"].expected_effect.value is None


def test_a_loss_nan_before_any_update_is_no_divergence_and_gets_no_lr_advice():
    # llm.c: val NaN at step 0 and every step's loss NaN from step 1 (its first update's
    # forward pass, at an LR of 8.57e-07): lowering the LR cannot be the fix
    found = _corpus_findings("llmc/hector-a100-stdout-nan-from-step0.log")
    assert "LD804" in found and "LD801" not in found
    assert "--learning_rate" not in found["LD804"].flags and "not at the LR" in found["LD804"].advice


def test_a_run_stopped_before_its_first_checkpoint_is_not_told_to_resume():
    # llm.c saves every 5000 steps (-n); the Slurm time limit came at step 750, before any save
    found = _corpus_findings("llmc/hector-a100-stdout-hellaswag-cr-timelimit.log")
    assert "(time limit, log line 824)" in found["LD1706"].message
    for code in ("LD1501", "LD1704"):
        assert found[code].flags == "" and "LD1706-stopped-before-a-checkpoint" in found[code].advice
    # the full run printed `Writing checkpoint at step 5000` (and later): it has one
    import lossdoctor
    from conftest import shared_path
    from lossdoctor.facts import compute_facts
    full = compute_facts(lossdoctor.load(str(shared_path("corpus/logs/llmc/hector-a100-stdout-full-run.log"))))
    assert full.value("has_checkpoint") is True and full["has_checkpoint"].note == (
        "last save: llmc's 'at step 15,000', after 15,000 updates, numbered apart from its losses' steps")
    assert not full["last_save_step"].known  # as the note says: llm.c's save step is not its losses' step


def test_the_nan_loss_effect_is_what_its_source_says():
    from lossdoctor.diagnose import check
    rule = BUILTIN.get("LD801")
    assert "at least 1 nat" not in rule.effect.source
    nan = {"nan_at_start": False, "nan_persists": True, "learning_rate": 1e-3}
    below = check(rule, {**nan, "nan_step": 425, "init_loss_expected": 4.1744, "best_val": 3.3687})
    assert below.expected_effect.value == pytest.approx(-0.8057)  # the distance below ln(vocab_size)
    never = check(rule, {**nan, "nan_step": 40, "init_loss_expected": 4.17, "best_val": 4.3})
    assert never.expected_effect.value == -1.0  # 1 nat when it never got below


def test_still_improving_and_model_too_small_never_fire_together():
    from lossdoctor.diagnose import check
    base = {"tokens_seen": 216238325760, "params": 123654145, "n_embd": 768, "overfit_ratio": 0.004,
            "final_val": 2.8775, "init_from": "scratch", "n_tail_evals": 99, "best_val": 2.8775,
            "best_val_frac": 1.0, "steps_done": 439941}
    for z in (-10.2, -2.01, -2.0, -1.99, 0.0, 3.0):
        values = {**base, "val_slope_z": z, "val_slope": z * 2.7e-5}
        fired = [code for code in ("LD101", "LD601") if check(BUILTIN.get(code), values) is not None]
        assert len(fired) == 1, (z, fired)
    found = _corpus_findings("nanogpt/innerfirexy-gpt2-ddp8-resume.log")
    assert "LD601" not in found and "slope -0.000273 nats/1k steps" in found["LD101"].message


def test_a_run_that_did_not_start_fresh_gets_no_fresh_model_advice():
    found = _corpus_findings("nanogpt/innerfirexy-gpt2-ddp4-init-gpt2-stopped.log")  # init_from='gpt2'
    assert "LD1102" not in found and "LD601" not in found
    assert "per 1k steps" not in BUILTIN.get("LD601").message.source  # the slope's unit is nats/1k steps


def test_a_run_stopped_with_ctrl_c_is_told_so_and_that_explains_its_still_falling_val():
    from conftest import parse_text
    wiggle = (0.003, -0.002, 0.001, -0.003, 0.002)  # eval noise, so that its size is known
    lines = [f"step {s}: train loss {3.0 - 0.0004 * s + wiggle[s // 100 % 5]:.4f}, "
             f"val loss {3.05 - 0.0004 * s - wiggle[s // 100 % 5]:.4f}" for s in range(0, 2600, 100)]
    lines += ["Traceback (most recent call last):", '  File "train.py", line 300, in <module>', "KeyboardInterrupt"]
    run = parse_text("\n".join(lines) + "\n")
    found = {f.rule.split("-", 1)[0]: f for f in diagnose(run).findings}
    assert "LD1705" in found and "Ctrl-C" in found["LD1705"].message
    assert "LD1703" not in found and "LD1704" not in found  # a stop by its user is no crash
    assert found["LD101"].explained_by == ("LD1705-stopped-by-its-user",)


def test_known_tells_an_unknown_fact_without_making_the_rule_not_applicable():
    assert evaluate(compile_expr("known(a)", {"a"}), {"a": 1.0}) is True
    assert evaluate(compile_expr("not known(a) and b > 0", {"a", "b"}), {"b": 1.0}) is True
    with pytest.raises(Missing):
        evaluate(compile_expr("a > 0", {"a"}), {})
    with pytest.raises(ExprError, match="known\\(\\) takes one name"):
        compile_expr("known(a + 1)", {"a"})


def test_a_constant_lr_run_is_not_given_schedule_flags_train_py_ignores():
    from lossdoctor.diagnose import check
    rule = BUILTIN.get("LD101")
    case = {"val_slope_z": -11.0, "best_val_frac": 1.0, "val_slope": -0.05, "n_tail_evals": 6, "best_val": 1.7325,
            "steps_done": 5001}
    assert check(rule, case).flags == "--max_iters=12500 --lr_decay_iters=12500"
    const = check(rule, {**case, "decay_lr": False})
    assert const.flags == "--max_iters=12500"
    assert "not --lr_decay_iters=12500: the run has decay_lr=False" in const.advice
    assert "at the same LR" in const.advice and "back up the cosine" not in const.advice
    for known in ({}, {"decay_lr": True}):  # unknown or a decaying LR: a resume re-warms it
        assert "back up the cosine" in check(rule, {**case, **known}).advice
    assert check(rule, {**case, "decay_lr": True}).flags == "--max_iters=12500 --lr_decay_iters=12500"
    assert const.verify.flags == "--max_iters=12500"  # verify trains what the finding says


def test_known_of_a_let_that_failed_is_false(tmp_path):
    from lossdoctor.diagnose import Finding, check
    from lossdoctor.facts import FACTS
    text = GOOD.replace('when: "max_iters < 100"', 'when: "not known(r) and max_iters < 100"')
    (tmp_path / "r.yaml").write_text(text.replace("why: a demo", 'why: a demo\nlet:\n  r: "max_iters / 0"'))
    [rule] = load_rule_file(str(tmp_path / "r.yaml"), FACTS)
    assert isinstance(check(rule, {"max_iters": 10}), Finding)  # r failed: not known, so the rule fires


def test_a_setting_the_log_does_not_show_is_named_in_the_runs_trainer_terms():
    from lossdoctor.diagnose import check
    from lossdoctor.facts.base import unknown
    rule = BUILTIN.get("LD501")
    case = {"val_rise_z": 215.0, "train_falling_after_best": True, "best_val": 1.4681, "best_val_step": 2000,
            "val_rise": 0.2216, "final_step": 5000, "final_train": 0.6305, "final_val": 1.6897}
    facts = {k: unknown(k, "", "config", "not in the log") for k in ("always_save_checkpoint", "dropout")}
    nanogpt = check(rule, case, facts)
    assert "(the log does not show always_save_checkpoint, dropout: the run may have these already)" in nanogpt.advice
    hf = check(rule, case, facts, trainer="hf")  # the Trainer keeps its best model with its own flag
    assert "(the log does not show --load_best_model_at_end, dropout: the run may have these already)" in hf.advice
    assert "in nanoGPT, always_save_checkpoint=False" in hf.advice  # the rule's nanoGPT example says whose it is


def test_a_flag_for_a_setting_the_log_does_not_show_says_the_run_may_have_it():
    import lossdoctor
    from conftest import shared_path
    an = lossdoctor.analyze([str(shared_path("corpus/logs/nanogpt/innerfirexy-cepred-fork-cut-midline.log"))])
    f = next(f for f in an.diagnoses[0].findings if f.rule.startswith("LD501"))
    assert "--dropout=0.2" in f.flags and "the log does not show dropout: the run may have it already" in f.advice


def test_overfitting_withholds_resuming_but_not_a_crash_s_fix(tmp_path):
    import lossdoctor
    text = (FIXTURES / "diagnosis" / "py_small_overfit" / "train.log").read_text()
    (tmp_path / "train.log").write_text(text + "Traceback (most recent call last):\n  File \"train.py\", line 300, "
                                        "in <module>\nRuntimeError: CUDA error: an illegal memory access\n")
    found = {f.rule.split("-", 1)[0]: f for f in lossdoctor.analyze([str(tmp_path)]).diagnoses[0].findings}
    assert "LD501" in found and "LD1703" in found
    assert found["LD1703"].advice.startswith("Fix what the error names")


def test_an_estimate_that_does_not_apply_is_not_computed_rather_than_zero():
    from lossdoctor.diagnose import check
    rule = BUILTIN.get("LD201")
    ended_at_best = check(rule, {"learning_rate": 0.05, "final_val": 2.74, "best_val": 2.74})
    assert ended_at_best.expected_effect.value is None
    assert ended_at_best.expected_effect.note == "this run shows nothing to base it on"
    lost = check(rule, {"learning_rate": 0.05, "final_val": 2.9, "best_val": 2.7})
    assert lost.expected_effect.value == pytest.approx(-0.2)


def test_a_finding_whose_advice_is_withheld_stays_out_of_the_verdict(tmp_path):
    import lossdoctor
    from lossdoctor.report.verdict import top_findings
    text = (FIXTURES / "diagnosis" / "py_small_overfit" / "train.log").read_text()
    (tmp_path / "train.log").write_text(text + "^CTraceback (most recent call last):\nKeyboardInterrupt\n")
    d = lossdoctor.analyze([str(tmp_path)]).diagnoses[0]
    stopped = next(f for f in d.findings if f.rule.startswith("LD1705"))
    assert stopped.withheld_by == ("LD501-val-past-minimum",) and stopped.flags == ""
    assert stopped not in top_findings(d, 5)


def test_an_extrapolation_target_that_does_not_apply_is_not_computed(tmp_path):
    from lossdoctor.diagnose import check
    from lossdoctor.facts import FACTS
    text = GOOD.replace('expected_effect: {kind: none, source: "demo"}',
                        'expected_effect: {kind: extrapolation, to: "None if max_iters < 50 else 500", '
                        'scenario: rerun}')
    (tmp_path / "r.yaml").write_text(text)
    [rule] = load_rule_file(str(tmp_path / "r.yaml"), FACTS)
    effect = check(rule, {"max_iters": 10}).expected_effect
    assert effect.value is None and effect.note == "this run shows nothing to base it on"


def test_a_resumed_run_is_told_a_fresh_run_where_a_resume_would_ignore_the_flags():
    from lossdoctor.diagnose import check
    # a resume keeps the checkpoint's shape and has passed its warmup: those flags need a fresh run
    warm = BUILTIN.get("LD703")
    case = {"warmup_iters": 100, "max_iters": 300, "steps_done": 301, "decay_lr": True, "warmup_fraction": 1 / 3,
            "final_val": 2.8}
    assert check(warm, case).flags == "--warmup_iters=6"
    resumed = check(warm, {**case, "init_from": "resume", "model_from": "scratch"})
    assert resumed.flags == "--init_from=scratch --warmup_iters=6"
    assert "only the warmup steps it has not passed" in resumed.advice and "new output folder" in resumed.advice
    # a longer schedule: the effect is a fresh rerun's, and so are the flags; a fine-tune
    # starts again from the weights its lineage started from, not from random ones
    longer = BUILTIN.get("LD101")
    falling = {"val_slope": -0.07, "val_slope_z": -4.1, "n_tail_evals": 6, "best_val": 1.78, "best_val_frac": 1.0,
               "steps_done": 5000, "final_step": 5000, "best_val_step": 5000, "decay_lr": True}
    assert check(longer, {**falling, "init_from": "scratch"}).flags == "--max_iters=12500 --lr_decay_iters=12500"
    assert check(longer, {**falling, "init_from": "resume", "model_from": "scratch"}).flags == \
        "--init_from=scratch --max_iters=12500 --lr_decay_iters=12500"
    assert check(longer, {**falling, "init_from": "resume", "model_from": "gpt2"}).flags == \
        "--init_from=gpt2 --max_iters=12500 --lr_decay_iters=12500"
    unknown = check(longer, {**falling, "init_from": "resume"})  # how the lineage began is not in the log
    assert unknown.flags == "--init_from=scratch --max_iters=12500 --lr_decay_iters=12500"
    assert "--init_from=scratch assumed: the run does not show how its model was first made; a fine-tune of " \
        "GPT-2's weights takes --init_from=gpt2 (or its size) instead" in unknown.advice
    begins = check(warm, {**case, "init_from": "resume", "model_from": "resume"})  # a log that begins with a resume
    assert begins.flags == "--init_from=scratch --warmup_iters=6" and "scratch assumed" in begins.advice
    # a fine-tune's shape is GPT-2's in a fresh run too: shape flags do nothing there
    wider = check(BUILTIN.get("LD601"), {"tokens_seen": 1536000, "params": 9000, "n_embd": 16, "val_slope_z": -0.5,
                                         "val_slope": -0.01, "overfit_ratio": 0.01, "final_val": 2.4,
                                         "model_from": "scratch", "init_from": "resume"})
    assert wider.flags == "--init_from=scratch --n_embd=32"
    from lossdoctor.diagnose.engine import _fresh_run
    flags, why = _fresh_run("--n_embd=1536", {"init_from": "resume", "model_from": "gpt2"})
    assert flags == "--n_embd=1536" and "fine-tunes gpt2" in why and "n_embd do nothing there" in why
    # a rule's own fresh run (LD706's --init_from=scratch) is told where to save it
    flags, why = _fresh_run("--init_from=scratch", {"init_from": "resume", "model_from": "scratch"})
    assert flags == "--init_from=scratch" and why is not None and "new output folder" in why
    assert _fresh_run("--init_from=resume --decay_lr=False", {"init_from": "resume"}) == (
        "--init_from=resume --decay_lr=False", None)
    # at a constant LR a resume goes on along the same curve: no fresh run asked for
    assert check(longer, {**falling, "init_from": "resume", "model_from": "scratch", "decay_lr": False}).flags == \
        "--max_iters=12500"
    # flags a resume applies (the LR from the resumed step on, a schedule's decay, the evals)
    # stay the resumed command's
    assert check(BUILTIN.get("LD1001"), {"eval_iters": 20, "eval_se": 0.02, "init_from": "resume",
                                         "model_from": "scratch"}).flags == "--eval_iters=200"
    constant = check(BUILTIN.get("LD705"), {"decay_lr": False, "steps_done": 5000, "learning_rate": 1e-4,
                                            "max_iters": 5000, "final_val": 1.8, "init_from": "resume",
                                            "model_from": "scratch", "constant_from": None})
    assert constant.flags == "--decay_lr=True --lr_decay_iters=5000 --min_lr=1e-05"
    # a trainer whose resume is no flag keeps its flags as they were
    nanochat = check(longer, {**falling, "init_from": "resume", "model_from": "scratch"}, trainer="nanochat")
    assert nanochat.flags == "--max_iters=12500 --lr_decay_iters=12500"


def test_train_longer_stops_at_the_epochs_ld503_allows():
    from lossdoctor.diagnose import check
    rule = BUILTIN.get("LD101")
    case = {"val_slope": -0.0634, "val_slope_z": -12.0, "n_tail_evals": 3, "best_val": 1.8115, "best_val_frac": 1.0,
            "steps_done": 3000, "final_step": 3000, "best_val_step": 3000}
    assert check(rule, case).flags == "--max_iters=7500 --lr_decay_iters=7500"  # epochs unknown: 2.5x
    assert "short of 2.5x" not in check(rule, case).advice
    capped = check(rule, {**case, "epochs": 12.2})  # 16 epochs at 3934 steps
    assert capped.flags == "--max_iters=3900 --lr_decay_iters=3900" and "LD503 allows" in capped.advice
    assert check(rule, {**case, "epochs": 1.5}).flags == "--max_iters=7500 --lr_decay_iters=7500"
    assert check(rule, {**case, "epochs": 15.9}).flags == "--max_iters=3100 --lr_decay_iters=3100"


def test_train_longer_on_a_constant_lr_continuation_is_predicted_as_that_continuation(tmp_path):
    import lossdoctor
    long = FIXTURES / "long"
    lineage = tmp_path / "lineage.log"  # a cosine from 1e-3 to step 2000, then on at 1e-4, decay_lr=False
    lineage.write_text((long / "batch8-2000" / "train.log").read_text()
                       + (long / "batch8-constant-5000" / "train.log").read_text())
    found = {f.rule.split("-")[0]: f for f in diagnose(lossdoctor.load(str(lineage)), rules=BUILTIN).findings}
    longer = found["LD101"]
    assert longer.flags == "--max_iters=12500" and "resuming it" in longer.advice
    # its flags resume at the continuation's LR: the effect is that scenario's, not a fresh cosine rerun's
    assert "constant to step 12,500" in longer.expected_effect.source
    x = lossdoctor.extrapolate(lossdoctor.load(str(lineage)), 12500, scenarios=("constant",))
    assert abs(longer.expected_effect.value - (x.scenarios[0].val.mean - 1.8753)) < 1e-3


def test_the_example_rule_of_the_authoring_guide_loads_and_passes_its_cases(tmp_path):
    """docs/rule-authoring.md's rule file, copied as it is, is a rule that loads."""
    from lossdoctor.diagnose.cases import run_case
    text = (ROOT / "docs" / "rule-authoring.md").read_text()
    body = text.split("## A rule file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.yaml").write_text(body)
    rules = load_rules([str(tmp_path)])  # with the built-in rules its explains/overrides may name
    assert not rules.errors
    rule = next(r for r in rules.rules if r.path.startswith(str(tmp_path)))
    assert all(run_case(rule, i).ok for i in range(len(rule.cases)))


def test_a_nan_after_the_last_save_says_the_checkpoint_can_be_resumed(tmp_path):
    """nanoGPT saves at an eval: a run saved at step 250 whose loss turned NaN at 260, with
    no eval after it, left a checkpoint the NaN never reached; one whose NaN came before a
    later save did not."""
    import lossdoctor
    lines = (FIXTURES / "long" / "lr5e-4-2000" / "train.log").read_text().splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("iter 259:"))
    nan = [f"iter {i}: loss nan, time 33.00ms, mfu 0.04%" for i in range(260, 300)]
    (tmp_path / "clean.log").write_text("\n".join(lines[: end + 1] + nan) + "\n")
    a = lossdoctor.analyze([str(tmp_path / "clean.log")])
    f = next(f for f in a.diagnoses[0].findings if f.rule.startswith("LD801"))
    assert "saved before the first NaN" in f.advice and "cannot be resumed" not in f.advice
    assert a.facts[0]["last_save_step"].value == 250
    after = nan + ["step 300: train loss nan, val loss nan", "saving checkpoint to out"] + [
        f"iter {i}: loss nan, time 33.00ms, mfu 0.04%" for i in range(300, 310)]
    (tmp_path / "poisoned.log").write_text("\n".join(lines[: end + 1] + after) + "\n")
    [d] = lossdoctor.analyze([str(tmp_path / "poisoned.log")]).diagnoses
    f = next(f for f in d.findings if f.rule.startswith("LD801"))
    assert "Restart: a NaN checkpoint cannot be resumed" in f.advice


def test_llmc_saves_are_numbered_apart_from_its_losses_so_no_save_is_called_clean():
    """llm.c writes the checkpoint at step N before the update it prints as step N + 1: its
    saves are not compared with its first NaN step."""
    import lossdoctor
    facts = lossdoctor.compute_facts(lossdoctor.load(str(FIXTURES / "formats" / "llmc_stdout.log")))
    assert facts["last_save_step"].value is None and "apart" in (facts["last_save_step"].note or "")


def test_the_mfu_note_names_the_device_the_log_implies_where_it_shows_none(tmp_path):
    import lossdoctor
    lines = ["using fused AdamW: True"] + [f"iter {i}: loss {4 - i / 1000:.4f}, time 33.00ms, mfu 35.00%"
                                           for i in range(300)]
    (tmp_path / "train.log").write_text("\n".join(lines) + "\n")
    [d] = lossdoctor.analyze([str(tmp_path / "train.log")]).diagnoses
    f = next(f for f in d.findings if f.rule.startswith("LD1401"))
    assert "(here inferred cuda)" in f.message or "(here cuda)" in f.message


def test_a_resume_that_put_the_lr_back_up_is_named_and_explains_ld701(tmp_path):
    import lossdoctor
    from conftest import FIXTURES
    grid = FIXTURES / "calibration"
    first = (grid / "d4w128-shakespeare-s1-400" / "train.log").read_text()
    bump = (grid / "d4w128-shakespeare-s1-bump-440" / "train.log").read_text()  # resumed with lr_decay_iters 1000
    (tmp_path / "both.log").write_text(first + bump)
    found = {f.rule[:5]: f for f in lossdoctor.analyze([str(tmp_path / "both.log")]).diagnoses[0].findings}
    assert found["LD706"].message.startswith("The resume at step 400 ran a new schedule that set the LR to 0.000423")
    assert "lr_decay_iters 1,000 and max_iters 440" in found["LD706"].message
    assert "LD706-lr-rewarmed-on-resume" in (found["LD701"].explained_by or ())
    alone = lossdoctor.analyze([str(grid / "d4w128-shakespeare-s1-400" / "train.log")]).diagnoses[0]
    assert "LD706-lr-rewarmed-on-resume" in alone.passed
    tail = lossdoctor.analyze([str(grid / "d4w128-shakespeare-s1-bump-440" / "train.log")]).diagnoses[0]
    assert any(n.rule == "LD706-lr-rewarmed-on-resume" for n in tail.not_applicable)  # the LR before it: not shown


def test_an_llmc_batch_comes_with_the_total_batch_it_makes(tmp_path):
    # llm.c's -b is its micro-batch and -d its total batch: a run of B=1, T=64 with -d 192
    # (three micro-steps) told `-b 12` alone would stop at llm.c's divisibility assertion
    from lossdoctor.diagnose.dialects import translate, with_total_batch
    values = {"block_size": 64, "world_size": 1, "gradient_accumulation_steps": 3}
    flags = with_total_batch("--batch_size=12", "llmc", values)
    assert flags == "--batch_size=12 --total_batch_size=2304" and translate(flags, "llmc") == ("-b 12 -d 2304", None)
    assert with_total_batch("--batch_size=12", "nanogpt", values) == "--batch_size=12"  # nanoGPT: accumulation kept
    assert with_total_batch("--batch_size=12", "llmc", {"block_size": 64}) == "--batch_size=12"  # unknown: as was
    from conftest import shared_path
    text = shared_path("corpus/logs/llmc/hector-a100-stdout-hellaswag-cr-timelimit.log").read_text()
    for old, new in (("| micro batch size B    | 32 ", "| micro batch size B    | 1 "),
                     ("| sequence length T     | 1024 ", "| sequence length T     | 64 "),
                     ("| total batch size      | 524288 ", "| total batch size      | 192 "),
                     ("batch_size B=32 * seq_len T=1024 * num_processes=1 and total_batch_size=524288",
                      "batch_size B=1 * seq_len T=64 * num_processes=1 and total_batch_size=192"),
                     ("=> setting grad_accum_steps=16", "=> setting grad_accum_steps=3")):
        assert old in text
        text = text.replace(old, new)
    (tmp_path / "tiny.log").write_text(text)
    import lossdoctor
    found = {f.rule.split("-")[0]: f for f in lossdoctor.analyze([str(tmp_path / "tiny.log")]).diagnoses[0].findings}
    assert found["LD901"].flags == "-b 12 -d 2304"


def test_a_let_of_words_computed_from_an_assumed_fact_is_not_marked_assumed():
    # LD503's `counted` is '' where the data's size is known, assumed or not; marked as an
    # assumed value it had printed "81.6 epochsassumed  (its data: ..."
    import lossdoctor
    from conftest import FIXTURES
    from lossdoctor.diagnose import check
    facts = lossdoctor.compute_facts(lossdoctor.load(FIXTURES / "lossdoctor_train" / "readme_cpu_2000"))
    assert facts["dataset_tokens"].status == "assumed"
    values = {n: f.value for n, f in facts.items() if f.known}
    found = check(BUILTIN.get("LD503"), {**values, "epochs": 30.0}, facts)
    assert "30.0 epochs (its data: assumed 1,003,854 tokens; tokens seen:" in found.message
    # an epoch count the trainer logs itself, with neither size known, says so
    counted = check(BUILTIN.get("LD503"), {"epochs": 30.0})
    assert counted.message.startswith("The run went over its training data for 30.0 epochs, as its trainer counts "
                                      "them (its data: unknown; tokens seen: unknown)")


def test_a_users_rule_that_names_no_loaded_rule_gives_its_place_back_to_the_built_in_one(tmp_path):
    # an override of LD102 with `explains: [LD9999]` had taken out LD102, then LD201, LD501
    # and LD503, which name it, each error blamed on a built-in file
    text = (ROOT / "rules" / "LD102-best-val-early.yaml").read_text()
    (tmp_path / "x.yaml").write_text(text + "explains: [LD9999]\n")
    rules = load_rules([str(tmp_path)])
    assert len(rules.rules) == len(BUILTIN.rules)
    assert [(e.path.rsplit("/", 1)[-1], e.field) for e in rules.errors] == [("x.yaml", "explains")]
    assert "(the built-in rule of its id is used)" in str(rules.errors[0])
    assert rules.get("LD102").path == BUILTIN.get("LD102").path


def test_rules_test_lines_wrap_at_the_console_width_a_person_reads(monkeypatch, capsys):
    from lossdoctor.cli import main
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["rules", "test", str(ROOT / "rules")]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80 and "\n     " in out  # continued, indented
