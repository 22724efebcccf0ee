"""Advice that the compared runs themselves test.

A finding on the better run whose flags set exactly the learning keys the two runs differ
in, to the worse run's values, is an experiment already done: the worse run ran that advice
and ended higher. The comparison says so, so that the report does not recommend, without a
word, the change it has just measured to hurt (a 1,000-step run told to decay its LR by
1,000 steps, beside the run that did and ended 0.07 nats higher).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..diagnose import Diagnosis
from ..diagnose.engine import same_value
from ..nanogpt import configurator_value
from ..run import Run
from .results import Comparison


def not_borne_out(c: Comparison, runs: Sequence[Run], diagnoses: Sequence[Diagnosis]) -> tuple[str, ...]:
    """Notes on the better run's findings whose advice the worse run already ran."""
    if c.gap is None or c.gap <= 0 or not diagnoses or runs[c.reference].format.trainer != "nanogpt":
        return ()
    worse = {d.key: d.other for d in c.diff if d.kind == "learning"}  # the worse run's values
    out = []
    for f in diagnoses[c.reference].findings:
        pairs = [w[2:].split("=", 1) for w in f.flags.split()]  # nanoGPT's --key=value
        if not pairs or {k for k, _ in pairs} != set(worse):  # other keys differ too: not the same experiment
            continue
        if all(worse[k] is not None and same_value(worse[k], configurator_value(v)) for k, v in pairs):
            they = "these settings" if len(pairs) > 1 else "this setting"
            out.append(f"{f.rule.split('-', 1)[0]} advises the better run {f.flags}: the worse run has {they} "
                       f"and ended {c.gap:+.4f} {c.unit} higher, so these two runs do not bear it out")
    return tuple(out)
