"""Advice that the compared runs themselves test.

A finding on the better run whose flags set exactly the learning keys the two runs differ
in, to the worse run's values, is an experiment already done: the worse run ran that advice
and ended higher. The comparison says so, so that the report does not recommend, without a
word, the change it has just measured to hurt (a 1,000-step run told to decay its LR by
1,000 steps, beside the run that did and ended 0.07 nats higher). So with memory: a run
told to halve its micro-batch after running out of memory, beside a run of the same model
and context that had that micro-batch and ran out of memory too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

from ..diagnose import Diagnosis
from ..diagnose.engine import same_value
from ..facts import Facts
from ..nanogpt import configurator_value
from ..run import Run
from .notes import note_name
from .results import Comparison

OOM = "LD1702-out-of-memory"
SAME_SHAPE = ("n_layer", "n_embd", "block_size")  # what sets the memory besides the micro-batch


def not_borne_out(c: Comparison, runs: Sequence[Run], diagnoses: Sequence[Diagnosis]) -> Comparison:
    """`c` with notes on the better run's findings whose advice the worse run already ran,
    and their rule ids (Comparison.not_borne_out)."""
    if c.gap is None or c.gap <= 0 or not diagnoses or runs[c.reference].format.trainer != "nanogpt":
        return c
    worse = {d.key: d.other for d in c.diff if d.kind == "learning"}  # the worse run's values
    out, rules = [], []
    for f in diagnoses[c.reference].findings:
        pairs = [w[2:].split("=", 1) for w in f.flags.split()]  # nanoGPT's --key=value
        if not pairs or {k for k, _ in pairs} != set(worse):  # other keys differ too: not the same experiment
            continue
        if all(worse[k] is not None and same_value(worse[k], configurator_value(v)) for k, v in pairs):
            they = "these settings" if len(pairs) > 1 else "this setting"
            out.append(f"{f.rule.split('-', 1)[0]} advises {f.flags} for the better run: the worse run has {they} "
                       f"and ended {c.gap:+.4f} {c.unit} higher, so these two runs do not bear it out")
            rules.append(f.rule)
    return replace(c, notes=c.notes + tuple(out), not_borne_out=c.not_borne_out + tuple(rules))


LENGTH_KEYS = frozenset({"max_iters", "lr_decay_iters", "init_from"})  # how long a run goes, and from where


def gone_on(c: Comparison, runs: Sequence[Run], diagnoses: Sequence[Diagnosis]) -> Comparison:
    """`c` with the worse run's findings whose flags set only its length or where its LR
    decay ends (LD101's --max_iters, LD701's --lr_decay_iters), where the better run is the
    worse run resumed (Comparison.continues): the run did go on, past where the worse log
    stops, so their advice is no change to make to it (Comparison.gone_on), and a note says
    where the other log took it."""
    if not c.continues or not diagnoses:
        return c
    rules = [f.rule for f in diagnoses[c.other].findings
             if f.flags and {w[2:].split("=", 1)[0] for w in f.flags.split()} <= LENGTH_KEYS]
    if not rules:
        return c
    worse, better = (note_name(runs[i]) for i in (c.other, c.reference))
    end, decay = runs[c.reference].last_step, runs[c.reference].config.trusted("lr_decay_iters")
    to = f" (lr_decay_iters {decay:,})" if isinstance(decay, int) and not isinstance(decay, bool) else ""
    ids = " and ".join(r.split("-", 1)[0] for r in rules)
    note = (f"{ids} on {worse} advise{'s' if len(rules) == 1 else ''} it a longer run or an LR decay that "
            f"ends at its max_iters: {better} is that run gone on, to step {end:,}{to}, so there is no change "
            "to make to it")
    return replace(c, notes=c.notes + (note,), gone_on=tuple(rules))


def oom_not_borne_out(runs: Sequence[Run], facts: Sequence[Facts], diagnoses: Sequence[Diagnosis]
                      ) -> tuple[str, ...]:
    """Notes on each out-of-memory run told to halve its micro-batch where another run of
    the same model and context, at that micro-batch or below, ran out of memory too."""
    out = []
    for i, d in enumerate(diagnoses):
        advised = facts[i].value("batch_size")
        if not any(f.rule == OOM for f in d.findings) or not isinstance(advised, int) or advised < 2:
            continue
        half = advised // 2
        for j, other in enumerate(facts):
            b = other.value("batch_size")
            devices = [runs[k].config.trusted("device_name") for k in (i, j)]
            if (j == i or other.value("failure_kind") != "out of memory" or not isinstance(b, int) or b > half
                    or any(other.value(k) is None or other.value(k) != facts[i].value(k) for k in SAME_SHAPE)
                    or None not in devices and devices[0] != devices[1]):  # another GPU's memory says nothing
                continue
            name_i, name_j = (os.path.basename(runs[k].source) for k in (i, j))
            on = f"on the same {devices[0]}" if None not in devices else "(on the same GPU, if it was)"
            out.append(f"LD1702 advises a micro-batch of {half} for {name_i} (half its {advised}): {name_j}, of the "
                       f"same model and context {on}, had {b} and ran out of memory too (its log line "
                       f"{other.value('failure_line')}), so these runs do not bear the halving out: a smaller "
                       "model or context, or more memory, is the next thing to try")
            break
    return tuple(out)
