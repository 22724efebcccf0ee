"""The order of findings: a root cause first, its symptoms after it.

A rule declares (`explains:`) the rules whose findings it causes: a learning rate far
above range explains a loss no better than character frequencies, and loss spikes. When
both fire, the cause is listed first and the symptom follows it, and each says so.

Each finding has its own key, compared in this order:
1. severity, error first;
2. how the run ended first (a crash or a stop, category crash), then a fault, then advice:
   a finding that says training went wrong comes before one that says how to measure,
   resume or go on (ADVICE);
3. the size of the expected change of the val loss, largest first; one not estimated
   after every estimated one, and one that changes no loss (a measurement) last;
4. the rule id.
A cause ranks by the better of its own key and its symptoms' keys, so the root of an error
comes before a lone warning. A symptom with several causes follows the last of them, so
that every cause comes before what it explains; a loop of `explains` (A explains B
explains A) is cut where it would close.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .effects import LOSS_UNITS
from .rules import SEVERITIES, RuleSet

if TYPE_CHECKING:
    from .engine import Finding

# categories that advise on measuring, resuming or continuing, rather than name a fault
ADVICE = frozenset({"train_longer", "eval_noise", "measurement", "resume", "throughput", "precision",
                    "config"})

Key = tuple[int, int, float, str]


def own_key(f: Finding) -> Key:
    e = f.expected_effect
    # a change of the loss not estimated may be any size; one that changes no loss (a better
    # measurement) comes after it
    size = -2.0 if e.kind == "none" else abs(e.value) if e.value is not None and e.unit in LOSS_UNITS else -1.0
    kind = 0 if f.category == "crash" else 2 if f.category in ADVICE else 1
    return (-SEVERITIES.index(f.severity), kind, -size, f.rule)


def rank(findings: list[Finding], rules: RuleSet) -> tuple[Finding, ...]:
    """`findings`, causes first, each marked with what it explains and what explains it."""
    code = {f.rule: f.rule.split("-", 1)[0] for f in findings}
    fired = {code[f.rule]: f for f in findings}
    causes: dict[str, list[str]] = {c: [] for c in fired}  # symptom code -> fired cause codes
    for f in findings:
        rule = rules.get(f.rule)
        for symptom in rule.explains if rule is not None else ():
            if symptom in fired:
                causes[symptom].append(code[f.rule])
    parent = _parents(fired, causes)
    children: dict[str, list[str]] = {c: [] for c in fired}
    for child, p in parent.items():
        children[p].append(child)

    def best(c: str) -> Key:  # a cause ranks by the best key in its subtree
        return min([own_key(fired[c])] + [best(k) for k in children[c]])

    out: list[str] = []
    # each symptom waits for every cause of it that is not below it (a loop's cut edge)
    waits = {s: [c for c in cs if not _below(c, s, parent)] for s, cs in causes.items()}

    def emit(c: str) -> None:
        out.append(c)
        for k in sorted((s for s in fired if c in waits[s] and s not in out), key=best):
            if k not in out and all(p in out for p in waits[k]):  # an earlier one's subtree may hold it
                emit(k)

    for root in sorted((c for c in fired if c not in parent), key=best):
        emit(root)
    while left := sorted((c for c in fired if c not in out), key=best):  # what a loop the tree missed held back
        ready = [c for c in left if all(p in out for p in waits[c])]
        emit((ready or left)[0])  # a cause before its symptom where any order allows it
    explained_by = {s: tuple(fired[c].rule for c in cs) for s, cs in causes.items()}
    explains: dict[str, list[str]] = {c: [] for c in fired}
    for s, cs in causes.items():
        for c in cs:
            explains[c].append(fired[s].rule)
    return tuple(dataclasses.replace(fired[c], explains=tuple(explains[c]), explained_by=explained_by[c])
                 for c in out)


def _below(c: str, s: str, parent: dict[str, str]) -> bool:
    """Whether `c` lies below `s` in the tree (so that `c` explaining `s` closes a loop)."""
    up: str | None = parent.get(c)
    while up is not None:
        if up == s:
            return True
        up = parent.get(up)
    return False


def _parents(fired: dict[str, Finding], causes: dict[str, list[str]]) -> dict[str, str]:
    """Each symptom's cause in the tree: its best-ranked cause that does not close a loop.
    Symptoms are linked worst-ranked first, so in a loop the best-ranked stays a root."""
    parent: dict[str, str] = {}
    for s in sorted(fired, key=lambda c: own_key(fired[c]), reverse=True):
        for c in sorted(causes[s], key=lambda c: own_key(fired[c])):
            up: str | None = c
            while up is not None and up != s:
                up = parent.get(up)
            if up is None:  # c is not below s: no loop
                parent[s] = c
                break
    return parent
