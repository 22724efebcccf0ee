"""Hostile rule files: users pass their own rule folders (`analyze --rules DIR`), so a rule
file is untrusted input. Whatever it holds (bad UTF-8 or YAML, `!!python` tags, alias bombs,
huge numbers, expressions that escape the language or explode, format specs that reach into
objects or pad to a gigabyte) must end as a RuleError for that file, or as "not applicable"
for that rule at evaluation, and never take the built-in rules or the other files down,
run code, hang or use gigabytes (limits.py)."""

from __future__ import annotations

import os

import pytest
import yaml

from conftest import DEMO_RULE as GOOD
from lossdoctor import yamlio
from lossdoctor.diagnose import load_rules
from lossdoctor.diagnose.engine import Finding, NotApplicable, apply, check
from lossdoctor.diagnose.expr import EvalError, ExprError, compile_expr, evaluate
from lossdoctor.diagnose.limits import MAX_FILE_BYTES, MAX_YAML_DEPTH
from lossdoctor.diagnose.rules import RuleError, load_rule_file
from lossdoctor.diagnose.template import TemplateError, compile_flags, compile_template
from lossdoctor.facts import FACTS

BUILTIN = load_rules()

WHEN = 'when: "max_iters < 100"'


def _with(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.fixture(params=["libyaml", "pure-python"])
def yaml_loader(request, monkeypatch):
    """Run the test with the C loader (when PyYAML has libyaml) and with the pure-Python one."""
    if request.param == "pure-python":
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    yamlio._loader.cache_clear()
    yield request.param
    yamlio._loader.cache_clear()


def _only_error(tmp_path, content: str | bytes, name: str = "bad.yaml") -> RuleError:
    """Load the built-in rules plus a folder holding one good file and `content`: every other
    rule must load, and the one error must name the hostile file."""
    d = tmp_path / "user"
    d.mkdir(exist_ok=True)
    (d / "good.yaml").write_text(GOOD.replace("XY001-demo", "XY002-fine"))
    path = d / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    rules = load_rules([str(d)])
    assert len(rules.errors) == 1, [str(e) for e in rules.errors]
    assert rules.get("XY002-fine") is not None
    assert {r.id for r in BUILTIN.rules} | {"XY002-fine"} == {r.id for r in rules.rules}
    err = rules.errors[0]
    assert err.path == str(path) and str(path) in str(err) and err.reason
    return err


# -- files that do not load are one RuleError each ------------------------------------------

EXPRESSIONS = {  # a `when` that must not load: (source, words of the reason)
    "2000-term sum": ("+".join(["1"] * 2000) + " > max_iters", "longer than"),
    "10,000 unary minus": ("-" * 10_000 + "1 < max_iters", "longer than"),
    "10,000-deep parentheses": ("(" * 10_000 + "max_iters" + ")" * 10_000 + " < 100", "longer than"),
    "deep within the length": ("1+" * 400 + "max_iters < 100", "nested more than"),
    "parser stack": ("-" * 980 + "max_iters < 100", "nested"),
    "half-megabyte string": ("'" + "a" * (1 << 19) + "' == ''", "longer than"),  # a whole MB: "too large" below
    "power tower": ("9**9**9 > max_iters", "** (a power) is not allowed"),
    "power of power": ("10**10**10 > max_iters", "** (a power) is not allowed"),
    "string power": ("'a'*10**9 == ''", "** (a power) is not allowed"),
    "huge shift": ("1<<10**9 > max_iters", "<< is not allowed"),
    "class escape": ("().__class__ == max_iters", "not allowed"),
    "import": ("__import__('os') == max_iters", "not allowed"),
    "lambda": ("(lambda: 1)() < max_iters", "not allowed"),
    "comprehension": ("[a for a in (1, 2)] == max_iters", "not allowed"),
    "f-string": ("f'{max_iters}' == ''", "an f-string is not allowed"),
    "walrus": ("(y := max_iters) < 100", ":= (an assignment) is not allowed"),
    "attribute": ("max_iters.real < 100", "an attribute is not allowed"),
    "subscript": ("'abc'[0] == max_iters", "indexing is not allowed"),
    "unknown function": ("getattr(max_iters, 'real') < 100", "not allowed"),
    "huge literal": ("9" * 400 + " < max_iters", "beyond ±1e300"),
    "null byte": ("max_iters < 100\\0", ""),
}


@pytest.mark.parametrize("source,why", EXPRESSIONS.values(), ids=list(EXPRESSIONS))
def test_a_hostile_expression_is_a_load_error_of_its_file_and_field(tmp_path, source, why):
    err = _only_error(tmp_path, _with(WHEN, f'when: "{source}"'))
    assert (err.rule, err.field) == ("XY001-demo", "when")
    assert why in err.reason and len(str(err)) < 2_000  # the error never quotes a megabyte back


TEMPLATES = {  # (field, the edit): format specs that reach into objects or pad to a gigabyte
    "class": ("message", ('message: "max_iters is {max_iters}"', 'message: "{max_iters.__class__}"'), "plain name"),
    "index": ("message", ('message: "max_iters is {max_iters}"', 'message: "{max_iters[0]}"'), "plain name"),
    "globals": ("message", ('message: "max_iters is {max_iters}"', 'message: "{max_iters.__init__.__globals__}"'),
                "plain name"),
    "width": ("message", ('message: "max_iters is {max_iters}"', 'message: "{max_iters:>1000000000}"'), "width"),
    "precision": ("recommendation.text", ('{flags: "--max_iters=5000 --lr_decay_iters=5000"}',
                                          '{text: "run {max_iters:.1000000000f} steps"}'), "precision"),
    "flag width": ("recommendation.flags", ("--max_iters=5000 ", "--max_iters={max_iters:>1000000000} "), "width"),
    "not a spec": ("message", ('message: "max_iters is {max_iters}"', 'message: "{max_iters:!!!}"'), "format spec"),
}


@pytest.mark.parametrize("fld,edit,why", TEMPLATES.values(), ids=list(TEMPLATES))
def test_a_hostile_template_is_a_load_error_naming_the_field(tmp_path, fld, edit, why):
    err = _only_error(tmp_path, _with(*edit))
    assert (err.rule, err.field) == ("XY001-demo", fld) and why in err.reason


def test_templates_refuse_attribute_index_and_huge_format_specs():
    for bad in ("{x.__class__}", "{x[0]}", "{x.__init__.__globals__}", "{x:>1000000000}", "{x:.1000000000f}",
                "{x:0000000000000000000000000000000001000}", "{x:" + "9" * 5000 + "}", "{x:.101}"):
        with pytest.raises(TemplateError):
            compile_template(bad, {"x"})
    with pytest.raises(TemplateError, match="longer than"):
        compile_template("{x}" * 10_000, {"x"})
    with pytest.raises(TemplateError, match="width"):
        compile_flags("--max_iters={x:>1000000000}", {"x"})
    ok = compile_template("{x:>100} {x:.100f} {x:+.4f} {x:.0%} {x:,} {x:_^20}", {"x"})
    assert len(ok.render({"x": 0.5})) < 500


def test_rendering_never_raises_on_a_value_too_large_to_write():
    huge = 10**5000  # more digits than str() converts: a message must still render
    t = compile_template("{x} and {x:,} and {x:.2f}", {"x"})
    assert "too large to show" in t.render({"x": huge})
    assert "too large to show" in t.render_raw({"x": huge})


# a YAML "billion laughs": 9 levels of 10 aliases each, 10**9 values once expanded
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)) + "why: *i\n"
YAML_FILES = {  # (content, words of the reason)
    "non-UTF-8": (GOOD.encode().replace(b"a demo", b"a \xff\xfe demo"), "not UTF-8 text (byte 0xff on line 10)"),
    "YAML integer of 5001 digits": (_with("why: a demo", "why: a demo\nparams: {big: 1" + "0" * 5000 + "}"),
                                    "not valid YAML"),
    "nested 40 deep": (_with("why: a demo", "why: " + "[" * 40 + "]" * 40), f"nested more than {MAX_YAML_DEPTH}"),
    "billion laughs": (LAUGHS, "more than 100,000 values"),
    "alias cycle": (_with("why: a demo", "why: &w [*w]"), "nested more than"),
    "python object": ("!!python/object/apply:os.system ['echo hi']\n", "refused for safety"),
    "too large": ("#" * (MAX_FILE_BYTES + 1), "larger than"),
    "binary tag": ("!!binary aGVsbG8=\n", "expected a rule"),
}


@pytest.mark.parametrize("content,why", YAML_FILES.values(), ids=list(YAML_FILES))
def test_a_file_that_is_not_plain_bounded_yaml_is_a_load_error(tmp_path, yaml_loader, content, why):
    err = _only_error(tmp_path, content)
    assert err.field is None and why in err.reason, err.reason


def _nested(depth: int) -> str:
    return _with("why: a demo", "why: " + "[" * depth + "]" * depth)


# libyaml stops at its own depth limit at once; PyYAML's pure-Python composer recurses until
# RecursionError, and its scanner is quadratic in a run of `[` up to a 1024-character window:
# 10,000 deep costs it about 2 s, bounded, so the fast test uses a depth past its recursion limit
@pytest.mark.parametrize("yaml_loader,depth", [("libyaml", 10_000), ("pure-python", 600)], indirect=["yaml_loader"])
def test_deeply_nested_yaml_is_a_load_error(tmp_path, yaml_loader, depth):
    err = _only_error(tmp_path, _nested(depth))
    assert err.field is None and "nest" in err.reason, err.reason


CONSTANTS = {  # (edit, field, words of the reason): values a rule file gives, out of bounds
    "param of 400 digits": (("why: a demo", "why: a demo\nparams: {big: 1" + "0" * 400 + "}"), "params.big",
                            "beyond ±1e300"),
    "param text of 20,000 characters": (("why: a demo", "why: a demo\nparams: {big: '" + "a" * 20_000 + "'}"),
                                        "params.big", "longer than"),
    "case fact that is a list": (("facts: {max_iters: 10}", "facts: {max_iters: [10]}"), "cases[0].facts.max_iters",
                                 "got list"),
    "case fact of 400 digits": (("facts: {max_iters: 10}", "facts: {max_iters: 1" + "0" * 400 + "}"),
                                "cases[0].facts.max_iters", "beyond"),
    "non-text keys": (("why: a demo", "why: a demo\n1: x\n2.5: y"), "1", "unknown field"),
    "unexpected type": (("expected_effect: {kind: none, source: \"demo\"}", "expected_effect: [1, 2]"),
                        "expected_effect", "expected dict"),
}


@pytest.mark.parametrize("edit,fld,why", CONSTANTS.values(), ids=list(CONSTANTS))
def test_constants_out_of_bounds_are_load_errors(tmp_path, edit, fld, why):
    err = _only_error(tmp_path, _with(*edit))
    assert why in err.reason and (fld is None or err.field == fld), str(err)


def test_python_tags_are_refused_for_safety_and_run_nothing(tmp_path, yaml_loader):
    marker = tmp_path / "marker"
    payloads = [f"!!python/object/apply:os.system ['touch {marker}']",
                f"!!python/object/apply:builtins.open ['{marker}', 'w']",
                f"!!python/object/new:builtins.open ['{marker}', 'w']",
                "!!python/name:os.system", "!!python/module:os"]
    for i, payload in enumerate(payloads):
        for j, content in enumerate([payload + "\n", _with("why: a demo", f"why: {payload}")]):
            err = _only_error(tmp_path, content, name=f"evil{i}-{j}.yaml")
            assert "refused for safety" in err.reason and "!!python/" in err.reason
            (tmp_path / "user" / f"evil{i}-{j}.yaml").unlink()
        with pytest.raises(yaml.YAMLError, match="refused for safety"):
            yamlio.safe_load(payload)
    assert not marker.exists()
    assert yamlio.safe_load("a: [1, 2.5, x]") == {"a": [1, 2.5, "x"]}
    assert yamlio.PYTHON_TAG not in yaml.SafeLoader.yaml_multi_constructors  # yaml's own loader untouched


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_device_named_yaml_is_refused_without_reading(tmp_path):
    d = tmp_path / "user"
    d.mkdir()
    os.mkfifo(d / "pipe.yaml")  # reading it would block forever
    rules = load_rules([str(d)])
    assert len(rules.errors) == 1 and "not a regular file" in str(rules.errors[0])
    assert len(rules.rules) == len(BUILTIN.rules)


def test_every_hostile_file_at_once_leaves_the_rest_loaded(tmp_path):
    d = tmp_path / "user"
    d.mkdir()
    bad = [_with(WHEN, f'when: "{s}"') for s, _ in EXPRESSIONS.values()]
    bad += [_with(*edit) for _, edit, _ in TEMPLATES.values()]
    bad += [c for c, _ in YAML_FILES.values()] + [_with(*edit) for edit, _, _ in CONSTANTS.values()]
    bad.append(_nested(10_000))
    for i, content in enumerate(bad):
        (d / f"bad{i:02d}.yaml").write_bytes(content if isinstance(content, bytes) else content.encode())
    (d / "good.yaml").write_text(GOOD)
    rules = load_rules([str(d)])
    assert sorted(os.path.basename(e.path) for e in rules.errors) == [f"bad{i:02d}.yaml" for i in range(len(bad))]
    assert len(rules.rules) == len(BUILTIN.rules) + 1 and rules.get("XY001-demo") is not None


# -- expressions that load but explode are bounded when evaluated ---------------------------

@pytest.mark.parametrize("text,values", [
    ("'a' * 1000000000", {}),
    ("'a' * n", {"n": 10**9}),
    ("n * 'ab'", {"n": 10**9}),
    ("'%01000000000d' % 1", {}),  # printf formatting pads to any width
    ("s % n", {"s": "%0999999999d", "n": 1}),
    ("round(1, -1000000000)", {}),  # would compute 10**(10**9)
    ("round(n, 1000000000)", {"n": 1}),
    ("ceil(1e308)", {}),
    ("n * n * n", {"n": 10**200}),
    ("s + s", {"s": "a" * 6_000}),
    ("exp(1000)", {}),
    ("sqrt(-1)", {}),
    ("n / 0", {"n": 1}),
    ("min()", {}),
    ("abs('a')", {}),
])
def test_explosive_expressions_are_evalerrors(text, values):
    with pytest.raises(EvalError):
        evaluate(compile_expr(text, {"n", "s"}), values)


def test_allowed_expressions_still_work_within_the_bounds():
    assert evaluate(compile_expr("round(n, -2) + round(2.567, 2)", {"n"}), {"n": 1234}) == 1202.57
    assert evaluate(compile_expr("'ab' * 3 + s", {"s"}), {"s": "!"}) == "ababab!"
    assert evaluate(compile_expr("n * n", {"n"}), {"n": 10**150}) == 10**300
    assert evaluate(compile_expr("n % 7", {"n"}), {"n": 100}) == 2


def test_a_chain_of_lets_cannot_build_a_huge_number(tmp_path):
    lets = "".join(f"  a{i + 1}: \"a{i} * a{i}\"\n" for i in range(40))
    rule = _with("why: a demo", "why: a demo\nlet:\n  a0: \"max_iters + 99999999999\"\n" + lets)
    rule = rule.replace(WHEN, 'when: "a40 > 0 or max_iters < 100"')  # a failed let is no unknown `or` skips
    (tmp_path / "lets.yaml").write_text(rule)
    [r] = load_rule_file(str(tmp_path / "lets.yaml"), FACTS)
    res = check(r, {"max_iters": 10})
    assert isinstance(res, NotApplicable) and "beyond ±1e300" in res.reason


HOSTILE_AT_RUN = {  # rules that load, and whose evaluation must end as "not applicable"
    "XY010-repeat": "'a' * 1000000000 == '' or max_iters < 100",
    "XY011-printf": "'%01000000000d' % 1 == '' or max_iters < 100",
    "XY012-round": "round(max_iters, -1000000000) > 0 or max_iters < 100",
    "XY013-ceil": "ceil(1e308 * max_iters) > 0",
    "XY014-div": "max_iters / 0 > 1",
}


def test_a_rule_that_fails_at_evaluation_is_not_applicable_and_the_others_run(tmp_path):
    for rid, when in HOSTILE_AT_RUN.items():
        (tmp_path / f"{rid}.yaml").write_text(GOOD.replace("XY001-demo", rid).replace(WHEN, f'when: "{when}"'))
    (tmp_path / "good.yaml").write_text(GOOD)
    rules = load_rules([str(tmp_path)])
    assert rules.errors == ()
    d = apply(rules, {"max_iters": 10})
    skipped = {n.rule: n.reason for n in d.not_applicable}
    for rid in HOSTILE_AT_RUN:
        assert "cannot evaluate" in skipped[rid], skipped.get(rid)
    assert [f.rule for f in d.findings if f.rule.startswith("XY")] == ["XY001-demo"]


def test_an_effect_that_is_no_finite_number_is_a_note_not_an_exception(tmp_path):
    none = 'expected_effect: {kind: none, source: "demo"}'
    effect = "{kind: measured, value: \"exp(max_iters * 1000)\", source: s}"
    (tmp_path / "e.yaml").write_text(_with(none, f"expected_effect: {effect}"))
    [r] = load_rule_file(str(tmp_path / "e.yaml"), FACTS)
    res = check(r, {"max_iters": 10})
    assert isinstance(res, Finding) and res.expected_effect.value is None and res.expected_effect.note


@pytest.mark.parametrize("effect", [
    "{kind: extrapolation, to: \"1e999\"}",  # int(inf) would raise OverflowError out of the engine
    "{kind: extrapolation, to: \"'a' * 3\"}",
    "{kind: rule_of_thumb, value: \"0 * 1e999\", source: s}",  # nan
])
def test_an_effect_of_constants_that_is_no_finite_number_does_not_load(tmp_path, effect):
    none = 'expected_effect: {kind: none, source: "demo"}'
    (tmp_path / "e.yaml").write_text(_with(none, f"expected_effect: {effect}"))
    with pytest.raises(RuleError, match=r"field expected_effect\.(to|value): .*not a finite number"):
        load_rule_file(str(tmp_path / "e.yaml"), FACTS)


def test_flags_whose_value_is_too_large_for_nanogpt_leave_the_finding_without_flags(tmp_path):
    rule = _with("--max_iters=5000 --lr_decay_iters=5000", "--learning_rate={max_iters}{max_iters}{max_iters}")
    (tmp_path / "f.yaml").write_text(rule.replace(WHEN, 'when: "max_iters > 0"'))
    [r] = load_rule_file(str(tmp_path / "f.yaml"), FACTS)
    res = check(r, {"max_iters": 10**250})  # within the bounds; written three times over, float() would overflow
    assert isinstance(res, Finding) and res.flags == "" and "(no flags: cannot write them" in res.advice


def test_builtin_rules_pass_the_bounds():
    assert BUILTIN.errors == () and len(BUILTIN.rules) >= 30
    with pytest.raises(ExprError, match="longer than"):
        compile_expr("1+" * 2000 + "1", set())


def test_an_is_comparison_says_what_to_write_instead():
    from lossdoctor.diagnose.expr import ExprError, compile_expr
    with pytest.raises(ExprError, match=r"the operator `is` is not allowed \(a value the run does not show: "
                                         r"not known\(name\)"):
        compile_expr("steps_done is None", {"steps_done"})


def test_a_key_written_twice_is_a_load_error_at_its_second_line(tmp_path, yaml_loader):
    err = _only_error(tmp_path, GOOD + 'when: "max_iters < 5"\n')
    assert "the key 'when' is written twice" in err.reason


def test_two_files_of_one_rule_id_are_an_error_naming_both(tmp_path):
    d = tmp_path / "user"
    d.mkdir()
    (d / "a.yaml").write_text(GOOD)
    (d / "b.yaml").write_text(GOOD.replace("max_iters < 100", "max_iters < 50"))
    rules = load_rules([str(d)])
    assert [(e.path, e.field) for e in rules.errors] == [(str(d / "b.yaml"), "id")]
    assert str(d / "a.yaml") in rules.errors[0].reason
    # a built-in rule's id, given in a file of one's own, replaces it: no error
    own = tmp_path / "own"
    own.mkdir()
    with open(BUILTIN.get("LD101").path, encoding="utf-8") as f:
        ld101 = f.read()
    (own / "mine.yaml").write_text(ld101.replace("min_z: 2.0", "min_z: 3.0"))
    replaced = load_rules([str(own)])
    assert not replaced.errors and replaced.get("LD101").params["min_z"] == 3.0


@pytest.mark.parametrize(("edits", "field", "why"), [
    ({"a.yaml": "explains: [XX999]\n"}, "explains", "no rule XX999 is loaded"),
    ({"a.yaml": "overrides: [XX999]\n"}, "overrides", "no rule XX999 is loaded"),
    # an id whose code is another rule's: a misspelt or renamed id, not matched by its code alone
    ({"a.yaml": "explains: [XY002-wrong-name]\n"}, "explains", "no rule XY002-wrong-name is loaded (XY002 is "
     "XY002-other)"),
    ({"a.yaml": "explains: [XY002]\n", "b.yaml": "explains: [XY001]\n"}, "explains", "explain each other in a loop"),
])
def test_explains_and_overrides_name_loaded_rules_without_a_loop(tmp_path, edits, field, why):
    d = tmp_path / "user"
    d.mkdir()
    (d / "a.yaml").write_text(GOOD + edits.get("a.yaml", ""))
    (d / "b.yaml").write_text(GOOD.replace("XY001-demo", "XY002-other") + edits.get("b.yaml", ""))
    rules = load_rules([str(d)])
    looped = "loop" in why  # each rule of a loop is in error, and `rules test` runs neither's cases
    assert len(rules.errors) == (2 if looped else 1)
    assert all(e.field == field and why in e.reason for e in rules.errors)
    assert rules.get("XY001-demo") is None  # the rule in error is not used
    if looped:
        assert rules.get("XY002-other") is None and {e.rule for e in rules.errors} == {"XY001-demo", "XY002-other"}
        # a third rule that names one of the loop's names a rule that is not loaded
        (d / "c.yaml").write_text(GOOD.replace("XY001-demo", "XY003-third") + "explains: [XY001]\n")
        rules = load_rules([str(d)])
        third = [e for e in rules.errors if e.rule == "XY003-third"]
        assert rules.get("XY003-third") is None and third and "no rule XY001 is loaded" in third[0].reason


def test_analyze_stops_at_a_rule_that_does_not_load(tmp_path):
    from conftest import FIXTURES, run_cli
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    d = tmp_path / "user"
    d.mkdir()
    (d / "typo.yaml").write_text(GOOD.replace("max_iters < 100", "max_iter < 100"))
    code, out, err = run_cli("analyze", log, "--rules", str(d), "--fail-on", "error", "--format", "json")
    assert code == 2 and out == "" and "unknown name 'max_iter'" in err and str(d / "typo.yaml") in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run_cli("analyze", log, "--rules", str(empty))
    assert code == 2 and "no rule files (*.yaml) in it" in err


def test_a_rules_list_keeps_its_rules_that_load(tmp_path):
    d = tmp_path / "user"
    d.mkdir()
    good = GOOD.replace("XY001-demo", "XY002-fine")
    bad = GOOD.replace("max_iters < 100", "max_iter < 100")
    indent = lambda text: "  - " + text.replace("\n", "\n    ").rstrip() + "\n"  # noqa: E731
    (d / "both.yaml").write_text("rules:\n" + indent(bad) + indent(good))
    rules = load_rules([str(d)])
    assert rules.get("XY002-fine") is not None and rules.get("XY001-demo") is None
    assert len(rules.errors) == 1 and rules.errors[0].rule == "XY001-demo"


def test_keys_are_compared_as_yaml_reads_them(yaml_loader):
    assert yamlio.safe_load("1: a\n'1': b\n") == {1: "a", "1": "b"}  # an int and a text: two keys
    with pytest.raises(yaml.YAMLError, match="written twice"):
        yamlio.safe_load("yes: a\ntrue: b\n")  # both are true


def test_a_rules_folder_given_twice_loads_each_file_once(tmp_path):
    d = tmp_path / "user"
    d.mkdir()
    (d / "a.yaml").write_text(GOOD)
    rules = load_rules([str(d), str(d)])
    assert not rules.errors and rules.get("XY001-demo") is not None


def test_a_trainer_yaml_config_refuses_a_key_written_twice(tmp_path):
    from lossdoctor.errors import UsageError
    from lossdoctor.trainer.config import read_config_file
    p = tmp_path / "c.yaml"
    p.write_text("max_iters: 2000\nn_layer: 2\nmax_iters: 5\n")
    with pytest.raises(UsageError, match="written twice"):
        read_config_file(str(p))


def test_a_when_that_is_no_test_and_a_true_compared_by_size_are_not_applicable():
    from lossdoctor.diagnose.engine import check
    from lossdoctor.diagnose.rules import parse_rule
    numeric = parse_rule(yaml.safe_load(_with(WHEN, 'when: "max_iters"')), "r.yaml", FACTS)
    out = check(numeric, {"max_iters": 10})
    assert isinstance(out, NotApplicable) and "not true or false" in out.reason
    flag = parse_rule(yaml.safe_load(GOOD.replace("max_iters < 100", "max_iters < limit") + "params: {limit: yes}\n"),
                      "r.yaml", FACTS)
    out = check(flag, {"max_iters": 10})
    assert isinstance(out, NotApplicable) and "a true/false value is no number" in out.reason
