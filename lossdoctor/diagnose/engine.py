"""Rules applied to a run's facts: findings, and the rules that did not apply.

A rule fires when its `when` is true. It is "not applicable" when a fact it needs is
unknown for this run (the reason is the fact's own note) or its arithmetic fails; it
never raises. Findings are ranked root cause first (ranking.py): by severity, a fault
before advice, the size of the expected effect on the val loss, and id, with each symptom
right after the finding that `explains` it.

A finding never recommends what the run already does: a flag whose value equals the run's
known value of that setting is left out, and the advice says which were (when none is
left, the finding still holds: what it found is in the message). A finding whose rule is
in another fired rule's `overrides` keeps its message but gives no advice of its own: the
other finding makes that advice wrong (resuming a run whose loss is NaN).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..facts import Facts
from ..frozen import frozen
from ..nanogpt import SHAPE_KEYS, configurator_value
from ..run import Run
from .dialects import with_total_batch
from .effects import EffectEstimate, Extrapolations, expected_effect
from .expr import EvalError, Failed, Missing, evaluate
from .ranking import rank
from .rules import Rule, RuleSet
from .template import Flags, TemplateError

if TYPE_CHECKING:
    from ..fit.extrapolate import Extrapolator


@dataclass(frozen=True)
class Evidence:
    """A fact a rule read, as it was when the rule fired."""

    value: Any  # the fact's value (a string for a non-finite float)
    unit: str
    status: str  # read | computed | inferred | assumed | unknown; 'given' in a rule's own test case
    source: str


@dataclass(frozen=True)
class VerifySpec:
    """The experiment that tests a finding: the flags to change, the metric, the expected
    direction and the number of seeds."""

    flags: str  # "" when the experiment reruns the run as it is
    metric: str
    expect: str
    seeds: int


@dataclass(frozen=True)
class Finding:
    rule: str  # id
    title: str
    category: str
    severity: str
    message: str
    flags: str  # exact flags in the run's trainer's syntax (nanoGPT's by default; "" when none)
    advice: str | None
    expected_effect: EffectEstimate
    evidence: Mapping[str, Evidence]  # fact name -> what the rule read
    verify: VerifySpec
    explains: tuple[str, ...] = ()  # ids of the other findings this one causes
    explained_by: tuple[str, ...] = ()  # ids of the findings that cause this one
    withheld_by: tuple[str, ...] = ()  # ids of the findings that make its advice wrong (`overrides`)

    def __post_init__(self) -> None:  # read-only in depth
        object.__setattr__(self, "evidence", frozen(self.evidence))


@dataclass(frozen=True)
class NotApplicable:
    rule: str
    reason: str


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...]
    not_applicable: tuple[NotApplicable, ...]
    passed: tuple[str, ...]  # rules that applied and did not fire
    rule_errors: tuple[str, ...] = ()  # rule files that did not load


def diagnose(run: Run, facts: Facts | None = None, rules: RuleSet | None = None,
             extrapolator: Extrapolator | None = None) -> Diagnosis:
    """Apply `rules` (default: the built-in ones) to `run`. Expected effects that come from
    extrapolating the run ask `extrapolator` (one is made when None), so that the run is
    fitted once however many rules and other reports ask."""
    from ..facts import compute_facts
    from .ruleset import load_rules
    facts = facts if facts is not None else compute_facts(run)
    rules = rules if rules is not None else load_rules()
    values = {name: f.value for name, f in facts.items() if f.known}  # unknown: absent
    effects = Extrapolations(run, extrapolator)
    out = apply(rules, values, facts, effects, trainer=run.format.trainer, val_unit=run.measures.val_unit)
    findings = tuple(_in_dialect(replace(f, flags=with_total_batch(f.flags, run.format.trainer, values)),
                                 run.format.trainer, run.measures.val_name, run.measures.constants, str(run.format))
                     for f in out.findings)
    return Diagnosis(findings, out.not_applicable, out.passed, tuple(str(e) for e in rules.errors))


def _in_dialect(finding: Finding, trainer: str, val_name: str | None = None,
                constants: tuple[tuple[str, str], ...] | None = None, fmt: str = "") -> Finding:
    """The finding with its flags in the syntax of the run's trainer (dialects.py)."""
    from .dialects import translate
    flags, note = translate(finding.flags, trainer, val_name, dict(constants) if constants is not None else None,
                            fmt)
    if note is None:
        return replace(finding, flags=flags)
    return replace(finding, flags=flags, advice=f"{finding.advice} {note}" if finding.advice else note)


def apply(rules: RuleSet, values: Mapping[str, Any], facts: Facts | None = None,
          effects: Extrapolations | None = None, trainer: str = "nanogpt", val_unit: str = "nats") -> Diagnosis:
    findings: list[Finding] = []
    skipped, passed = [], []
    for rule in rules.rules:
        res = check(rule, values, facts, effects, trainer, val_unit)
        if isinstance(res, Finding):
            findings.append(res)
        elif isinstance(res, NotApplicable):
            skipped.append(res)
        else:
            passed.append(rule.id)
    return Diagnosis(rank(_overridden(findings, rules), rules), tuple(skipped), tuple(passed))


def _overridden(findings: list[Finding], rules: RuleSet) -> list[Finding]:
    """`findings`, those whose rule another fired rule `overrides` without flags or advice
    of their own: a note names the finding that makes them wrong."""
    overrides = {f.rule: r.overrides if (r := rules.get(f.rule)) is not None else () for f in findings}
    out = []
    for f in findings:
        code = f.rule.split("-", 1)[0]
        by = [g for g in findings if code in overrides[g.rule]]
        if by:
            names = ", ".join(f'{g.rule} ("{g.title}")' for g in by)
            f = replace(f, flags="", advice=f"(withheld: {names} makes it wrong)",
                        withheld_by=tuple(g.rule for g in by),
                        verify=replace(f.verify, flags=""))  # verify trains no advice that is withheld
        out.append(f)
    return out


def check(rule: Rule, values: Mapping[str, Any], facts: Facts | None = None,
          effects: Extrapolations | None = None, trainer: str = "nanogpt",
          val_unit: str = "nats") -> Finding | NotApplicable | None:
    """The rule on these fact values: a Finding, NotApplicable (with why), or None (passed).
    `trainer` (the run's, Format.trainer) names the settings its notes speak of; `val_unit`
    (Measures.val_unit) is the unit of a change of its final val."""
    scope: dict[str, Any] = {**values, **rule.params}
    why_not: dict[str, str] = {}  # let name -> why it has no value
    failed: dict[str, Failed] = {}  # lets that raised: reading one fails again, in `when` and later lets
    for name, e in rule.let:
        try:
            scope[name] = evaluate(e, {**scope, **failed})
        except Missing as m:  # unknown; `when` says whether it matters
            why_not[name] = why_not.get(m.name) or _why_missing(m.name, facts)
        except EvalError as err:  # a let that read a failed one keeps its reason
            why_not[name] = str(err) if str(err).startswith("cannot compute ") else f"cannot compute {name}: {err}"
            failed[name] = Failed(why_not[name])
    try:
        fired = evaluate(rule.when, {**scope, **failed})
    except Missing as m:
        return NotApplicable(rule.id, why_not.get(m.name) or _why_missing(m.name, facts))
    except EvalError as e:
        return NotApplicable(rule.id, f"cannot evaluate: {e}")
    if not isinstance(fired, bool):  # `when: "steps_done"` would fire on any number but 0
        return NotApplicable(rule.id, f"cannot evaluate: when gave {type(fired).__name__} {fired!r}, not true or false")
    if not fired:
        return None
    units = {n: f.unit for n, f in facts.items()} if facts is not None else {}
    flags, advice_note = "", None
    if rule.flags:
        absent = sorted(rule.flags.names - scope.keys())
        if absent:  # the finding holds; its flags need a value this run does not have
            advice_note = f"(no flags: {why_not.get(absent[0]) or _why_missing(absent[0], facts)})"
        else:
            try:
                flags = rule.flags.render(scope)
            except TemplateError as e:  # the finding holds (its `when` fired); its flags cannot be written
                flags, advice_note = "", f"(no flags: cannot write them: {e})"
            if flags:
                flags, advice_note = _not_already(flags, values, facts, trainer)
                flags, unused = _schedule_unused(flags, values)
                flags, fresh = _fresh_run(flags, values, trainer)
                advice_note = " ".join(n for n in (advice_note, unused, fresh) if n) or None
    evidence = {}
    for name in rule.facts_used:
        f = facts[name] if facts is not None and name in facts else None
        evidence[name] = Evidence(_clean(scope.get(name)), f.unit if f else "",
                                  f.status if f else "given", f.source if f else "test case")
    verify_flags = _schedule_unused(_try_flags(rule.verify.flags, scope), values)[0]
    verify = VerifySpec(verify_flags, rule.verify.metric, rule.verify.expect, rule.verify.seeds)
    advice = rule.advice.render(scope, units) if rule.advice else None
    if advice_note:
        advice = f"{advice} {advice_note}" if advice else advice_note
    assumed = {n for n, f in facts.items() if f.status == "assumed"} if facts is not None else set()
    inferred = {n for n, f in facts.items() if f.status == "inferred"} if facts is not None else set()
    for name, expr in rule.let:  # a let computed from an assumed (inferred) value is assumed (inferred) too,
        if isinstance(scope.get(name), str):  # but not a let of words: it says what it says
            continue
        if expr.names & assumed:
            assumed.add(name)
        elif expr.names & inferred:
            inferred.add(name)
    message = rule.message.render(scope, units, assumed, inferred)
    effect = expected_effect(rule, scope, effects, lambda name: why_not.get(name) or _why_missing(name, facts),
                             val_unit)
    return Finding(rule.id, rule.title, rule.category, rule.severity, message, flags, advice, effect, evidence, verify)


# flags that say what to do next (resume, how long, how often), not a setting a run may already have
ACTIONS = frozenset({"init_from", "max_iters", "lr_decay_iters", "eval_interval", "log_interval", "out_dir"})


def _not_already(flags: str, values: Mapping[str, Any], facts: Facts | None = None,
                 trainer: str = "nanogpt") -> tuple[str, str | None]:
    """`flags` without those whose value the run already has (its known fact of the same
    name: the config setting, or the model's shape), and a note naming those, or None; a
    value inferred from a config file (readers/infer.py) is said to be, and a key the log
    does not show (its fact unknown) is named, by `trainer`'s flag for it where it has one
    (dialects.setting): the flag may set what already ran."""
    from .dialects import setting
    keep, already, unseen = [], [], []
    for word in flags.split():
        key, text = word[2:].split("=", 1)
        again = key == "init_from" and text == "resume"  # a resume is asked for again each time
        if key in values and same_value(values[key], configurator_value(text)) and not again:
            inferred = facts is not None and key in facts and facts[key].status == "inferred"
            already.append(f"{key}={text}{' (inferred)' if inferred else ''}")
        else:
            keep.append(word)
            if facts is not None and key in facts and not facts[key].known and key not in ACTIONS:
                unseen.append(setting(key, trainer))  # a setting the log does not show: it may be what ran
    notes = ([f"the run already has {', '.join(already)}"] if already else []) + (
        [f"the log does not show {', '.join(unseen)}: the run may have {'these' if len(unseen) > 1 else 'it'} "
         "already"] if unseen else [])
    return " ".join(keep), f"({'; '.join(notes)})" if notes else None


SCHEDULE_FLAGS = ("lr_decay_iters", "warmup_iters", "min_lr")  # read by train.py's get_lr only


def _schedule_unused(flags: str, values: Mapping[str, Any]) -> tuple[str, str | None]:
    """`flags` without the schedule's keys where the run has decay_lr=False and the flags
    do not turn it on (train.py then trains at learning_rate and never calls get_lr), and
    a note naming those, or None."""
    words = flags.split()
    if values.get("decay_lr") is not False or "--decay_lr=True" in words:
        return flags, None
    dropped = [w for w in words if w[2:].split("=", 1)[0] in SCHEDULE_FLAGS]
    if not dropped:
        return flags, None
    keep = [w for w in words if w not in dropped]
    return " ".join(keep), (f"(not {', '.join(dropped)}: the run has decay_lr=False, a constant LR, and train.py "
                            "ignores the schedule's keys; add --decay_lr=True for a decaying one)")


FRESH_TRAINERS = ("nanogpt", "llmc")  # whose resume is a flag, so a fresh run is its other value


def _fresh_run(flags: str, values: Mapping[str, Any], trainer: str = "nanogpt") -> tuple[str, str | None]:
    """`flags` as a fresh run's where the run's last process resumed (init_from='resume')
    and the flags change what a resume would not apply (train.py takes the model's shape
    from the checkpoint; a resume changes only the warmup steps it has not passed) or the
    run's length with its schedule (max_iters and lr_decay_iters: the length a fresh rerun
    is predicted at): --init_from set to how the lineage's first process made its model
    (model_from), and a note saying why; unchanged, with no note, otherwise. Flags that a
    resume applies (the LR from its step on, the evals) stay the resumed command's."""
    words = flags.split()
    keys = [w[2:].split("=", 1)[0] for w in words]
    if values.get("init_from") != "resume" or not words or trainer not in FRESH_TRAINERS:
        return flags, None
    if "init_from" in keys:  # the rule's own fresh run (LD706's): where it saves is the one thing to add
        fresh = any(w.startswith("--init_from=") and w != "--init_from=resume" for w in words)
        return flags, ("(a fresh run, in a new output folder, --out_dir of your choosing: the log's last process "
                       "resumed, and a fresh run's first save would overwrite the checkpoint it resumed from)"
                       if fresh else None)
    shape = [k for k in keys if k in SHAPE_KEYS]
    why = [f"a resume keeps the checkpoint's {', '.join(shape)}" if shape else "",
           "a resume changes only the warmup steps it has not passed" if "warmup_iters" in keys else "",
           "the new length is a fresh run's" if {"max_iters", "lr_decay_iters"} <= set(keys) else ""]
    if not any(why):
        return flags, None
    start = values.get("model_from")
    said = "; ".join(w for w in why if w)
    pretrained = isinstance(start, str) and start.startswith("gpt2")
    if pretrained and shape:  # from_pretrained takes GPT-2's shape whatever the flags say
        return flags, (f"(the run fine-tunes {start}, whose shape a fresh run takes from the pretrained model: "
                       f"{', '.join(shape)} do nothing there)")
    assumed = ""
    if start in (None, "resume") and trainer == "nanogpt":  # its first process not in the log: scratch, said
        start = "scratch"
        assumed = ("--init_from=scratch assumed: the run does not show how its model was first made; a fine-tune "
                   "of GPT-2's weights takes --init_from=gpt2 (or its size) instead; ")
    elif not (start == "scratch" or (trainer == "nanogpt" and pretrained)):
        return flags, (f"(as a fresh run, started as the run first was, before the resume the log begins with: the "
                       f"run's last process resumed, and {said})")
    return " ".join([f"--init_from={start}", *words]), (
        f"({assumed}a fresh run, in a new output folder, --out_dir of your choosing: the log's last process "
        f"resumed, and {said}; its first save would overwrite the checkpoint it resumed from)")


def same_value(have: Any, want: Any) -> bool:
    """Whether a setting's value `have` is the flag value `want`: a bool only equals a bool,
    numbers are compared to the 6 significant digits flags are written with."""
    if isinstance(have, bool) or isinstance(want, bool):
        return isinstance(have, bool) and isinstance(want, bool) and have == want
    if isinstance(have, numbers.Real) and isinstance(want, numbers.Real):
        return math.isclose(float(have), float(want), rel_tol=1e-6)
    return isinstance(have, str) and isinstance(want, str) and have == want


def _why_missing(name: str, facts: Facts | None) -> str:
    if facts is not None and name in facts:
        f = facts[name]
        return f"needs {name}: {f.note or 'unknown for this run'}"
    return f"needs {name}: not given"


def _try_flags(flags: Flags | None, scope: Mapping[str, Any]) -> str:
    if flags is None or flags.names - scope.keys():
        return ""
    try:
        return str(flags.render(scope))
    except TemplateError:
        return ""


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v
