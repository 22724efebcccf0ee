"""Why one run's final val is worse than another's: an accounting that adds up.

The gap G = L_worse - L_better (final logged val, nats) is split along one path from the
worse run to the better one; each step is a named cause with its method and interval
(attribute.py, one function per cause):

  eval noise      each final val is one noisy eval: observed minus the smoothed curve
                  (a straight line through the run's last evals, read at its last step),
                  for both runs
  overfitting     a run whose val turned up ends above its best: smoothed final - best
  fit at the end  where the worse run's smoothed end lies off its own fitted law beyond the
                  eval noise: that difference (the next two start from the law)
  training length the worse run's own curve extrapolated to the better run's tokens seen
                  (lossdoctor extrapolate, `rerun`): what more tokens alone would give
  LR schedule     the same extrapolation with the better run's schedule shape (warmup,
                  decay, min_lr ratio); the law normalizes by the peak LR, so a peak LR
                  difference is not estimated here and is listed with the config rest
  resume re-warm  a worse run as long as the better one that resumed with a longer cosine:
                  its process before the resume extrapolated as it resumed, minus as a
                  fresh run of that length (rewarm.py)
  config          what remains at equal tokens and schedule, put on the config keys that
                  still differ (model size, context length, dropout, ...): two runs cannot
                  separate them; the L(N, D) form of Hoffmann et al. 2022 is quoted for the
                  model-size direction, not fitted
  device/precision numerics: nanoGPT computes the same math on any device; no share
                  (0, within eval noise), said so when device or dtype differ
  micro-batch split: the same tokens per step in other micro-batches (batch size and
                  gradient accumulation): the same update; no share, said so
  unexplained     what is left when no config key differs (seeds, unlogged changes)

The worse run is extrapolated through one `fit.Extrapolator` (fitted once, each question
memoized): the caller's, or one made here. The runs side by side are sides.py's; what the
worse run needs to reach the better one's best is reach.py's.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..facts import Facts
from ..run import Dialect, Run
from .attribute import attribute, first_peak
from .data import comparable, data_differs, data_unknown, vocab_diff
from .notes import (
    continuation,
    continuation_notes,
    held,
    held_notes,
    mfu_notes,
    rewarm_notes,
    size_notes,
    state_notes,
    went_on,
)
from .overlap import overlap, overlap_notes, table_row
from .reach import schedule_only
from .results import (
    DERIVED,
    UNKNOWN_ORIGIN,
    Cause,
    Comparison,
    Cost,
    Derived,
    KeyDiff,
    Overlap,
    OverlapPoint,
    Pair,
    Reachable,
    TableRow,
    ToReach,
    Unreachable,
    WentOn,
)
from .rewarm import REWARM
from .sides import config_diff, derived, derived_status, final, hide_resumed, initial_only, iter_final

if TYPE_CHECKING:
    from ..fit.extrapolate import Extrapolator

__all__ = ["DERIVED", "LEVEL", "UNKNOWN_ORIGIN", "UNTRAINED", "Cause", "Comparison", "Cost", "Derived", "KeyDiff",
           "Overlap", "OverlapPoint", "Pair", "Reachable", "TableRow", "ToReach", "Unreachable", "WentOn",
           "compare"]


LEVEL = 5e-5  # nats: final losses closer than this print alike (0.0000): the runs end level
UNTRAINED = "logged val only at step 0, before any training"  # a run whose final val is its initial loss


def _its(why: str) -> str:
    """Why a run left out of the ranking differs, its own value first: 'its vocab_size 65 vs
    the others' 50257'."""
    m = re.fullmatch(r"(vocab_size|dataset) (.+) vs (.+)", why)
    return f"its {m.group(1)} {m.group(2)} vs the others' {m.group(3)}" if m else why


def _checked(runs: Sequence[Run], facts: Sequence[Facts], extrapolators: Sequence[Extrapolator] | None) -> None:
    """compare's arguments as it takes them, or the UsageError that says what is wrong: a
    mismatch would compare one run's losses under another's facts, and say so as fact."""
    from ..errors import UsageError
    from ..facts import Facts as FactsType
    for name, given in (("runs", runs), ("facts", facts), ("extrapolators", extrapolators)):
        if (given is not None or name != "extrapolators") and (
                isinstance(given, (str, bytes)) or not isinstance(given, Sequence)):
            raise UsageError(f"compare: {name} is a list, not {type(given).__name__}")
    if any(not isinstance(r, Run) for r in runs):
        raise UsageError("compare: runs are Runs (lossdoctor.load), not paths or other objects")
    if len(facts) != len(runs) or extrapolators is not None and len(extrapolators) != len(runs):
        raise UsageError(f"compare: {len(runs)} runs, {len(facts)} facts and "
                         f"{'no' if extrapolators is None else len(extrapolators)} extrapolators: one of each per run")
    for i, (run, f) in enumerate(zip(runs, facts, strict=True)):
        if not isinstance(f, FactsType) or not _facts_of(run, f):
            raise UsageError(f"compare: facts[{i}] are not the facts of runs[{i}] ({run.source}): give "
                             "compute_facts(runs[i]) for each run, in the same order")
    for i, (run, x) in enumerate(zip(runs, extrapolators or (), strict=False)):  # (one that answers as it does)
        if not callable(getattr(x, "extrapolate", None)) or getattr(x, "run", run) is not run:
            raise UsageError(f"compare: extrapolators[{i}] does not fit runs[{i}] ({run.source}): give "
                             "Extrapolator(runs[i]) for each run, in the same order")


def _facts_of(run: Run, f: Facts) -> bool:
    """Whether facts `f` may be `run`'s: its final val, where both show one, is one the run logged."""
    if "final_val" not in f or not isinstance(v := f.value("final_val"), float):
        return True
    ev, _ = run.curves()
    return not len(ev) or bool(np.isclose(ev.val, v, rtol=0, atol=1e-12).any()) or not np.isfinite(v)


def _spent(f: Facts) -> tuple[float, float]:
    """What a run spent to reach its final loss: its tokens seen, then its steps (inf unknown)."""
    tokens, steps = f.value("tokens_seen"), f.value("steps_done")
    return (float(tokens) if tokens else math.inf, float(steps) if steps else math.inf)


def _on_the_way(run: Run) -> float:
    """The mean of a run's logged val after step 0 (inf without one): lower got there sooner."""
    ev, _ = run.curves()
    later = ev.val[ev.step > 0]
    return float(later.mean()) if len(later) and bool(np.isfinite(later).all()) else math.inf


def compare(runs: Sequence[Run], facts: Sequence[Facts],
            extrapolators: Sequence[Extrapolator] | None = None) -> Comparison:
    """Compare runs; with more than two, the best (lowest final val) is the reference and
    the worst is explained against it, each run getting a row in `table`.

    extrapolators: one per run (`extrapolators[i]` extrapolates `runs[i]`), so that a run
    fitted for other reports is not fitted again; None makes one for the run that is
    extrapolated (the worse one).

    Raises:
        UsageError: runs that are no Runs, facts that are no Facts of them, in their order
            (compute_facts(runs[i])), or extrapolators that are not one per run, in order.
    """
    _checked(runs, facts, extrapolators)
    units = sorted({r.measures.val_unit for r, f in zip(runs, facts, strict=True)  # of the vals compared
                    if final(f, "val") is not None})
    if len(units) > 1:
        return _no_gap(runs, "val", f"not directly comparable: val in {' vs '.join(units)}; bits per byte and "
                                    "nats per token compare only through the tokenizer's bytes per token, "
                                    "which the logs do not give", comparable=False)
    # a run whose last loss is NaN/inf diverged: its losses before that are no final loss
    diverged = {i: f"{runs[i].source} diverged (its loss is NaN/inf from step {_non_finite_from(runs[i]):,} on)"
                for i, f in enumerate(facts) if f.value("nan_persists") is True and f.value("nan_at_start") is False
                and final(f, "val") is None}  # a finite val before the last NaN update is still its final val
    with_val = sum(final(f, "val") is not None for i, f in enumerate(facts) if i not in diverged)
    metric = "val" if with_val == len(facts) - len(diverged) or with_val >= 2 else "train"  # val wherever two have one
    finals = [None if i in diverged else final(f, metric) if final(f, metric) is not None
              else iter_final(r) if metric == "train" else None
              for i, (r, f) in enumerate(zip(runs, facts, strict=True))]
    iters = _iteration_finals(runs, facts, diverged) if metric == "train" else None
    finals = iters if iters is not None else finals
    finals, kinds, mixed = _one_kind(runs, facts, finals, metric, iters is not None)
    known = {i: v for i, v in enumerate(finals) if v is not None}
    if len(known) < 2:
        none = [_no_final(runs[i], facts[i], metric) for i in range(len(runs))
                if i not in known and i not in diverged and i not in mixed]
        why = "; ".join([*diverged.values(), *([kinds] if kinds else []), *(w for w in none if w)])
        finite = [i for i in range(len(runs)) if i not in diverged]  # the reference, where one is left
        return _no_gap(runs, metric, f"fewer than two runs have a final loss to compare{f': {why}' if why else ''}",
                       reference=finite[0] if finite and diverged else 0)
    left_out = [runs[i].source for i in range(len(runs)) if i not in known and i not in diverged and i not in mixed]
    per_byte = metric == "val" and units == ["bpb"]  # bits per byte: the same whatever the tokenizer
    known, apart = _comparable_group(runs, facts, known, per_byte)
    low = min(known.values())
    # runs that end level: the one that spent fewer tokens (else steps) to get there, else the
    # one lower on the way, is the reference
    ref = min((i for i in known if known[i] - low < LEVEL), key=lambda i: (*_spent(facts[i]), _on_the_way(runs[i]), i))
    worse = max((i for i in known if i != ref), key=known.__getitem__)  # a tie: another run, not ref itself
    table = tuple(table_row(r, f, v, known[ref], metric, i == ref, i in apart)
                  for i, (r, f, v) in enumerate(zip(runs, facts, finals, strict=True))) if len(runs) > 2 else ()
    c = _explain(runs, facts, extrapolators, worse, ref, known[worse] - known[ref], metric, table, per_byte,
                 iters is not None)
    if c.derived is not None:
        c = dataclasses.replace(c, derived_status=derived_status(facts[worse], facts[ref]))
    if left_out:
        c = dataclasses.replace(c, notes=c.notes + (f"left out of the gap, with no finite final {metric} (or one "
                                                    f"logged at step 0 alone, before its training): "
                                                    f"{', '.join(left_out)}",))
    for why in diverged.values():
        c = dataclasses.replace(c, notes=c.notes + (f"left out of the ranking and the gap: {why}: its losses "
                                                    "before that are no final loss",))
    if kinds:
        c = dataclasses.replace(c, notes=c.notes + (f"left out of the ranking and the gap: {kinds}",))
    for i, why in apart.items():
        c = dataclasses.replace(c, notes=c.notes + (f"left out of the ranking and the gap: {runs[i].source}, whose "
                                                    f"losses do not compare with the others' ({_its(why)})",))
    unit = units[0] if metric == "val" else "nats"  # train losses are nats in every trainer read
    return c if unit == "nats" else dataclasses.replace(c, unit=unit)


def _no_final(run: Run, f: Facts, metric: str) -> str | None:
    """Why a run has no final `metric` to compare, where its facts say: an eval only at
    step 0, before its training, and no val or too few iteration losses after it."""
    if not initial_only(f):
        return None
    after = ", and too few iteration losses to stand for its end" if metric == "train" and \
        iter_final(run) is None else ""
    return f"{run.source} logged val only at step 0, before its {f.value('steps_done'):,} steps of training{after}"


def _iteration_finals(runs: Sequence[Run], facts: Sequence[Facts], diverged: dict[int, str]
                      ) -> list[float | None] | None:
    """Each run's mean of its last logged iteration losses (iter_final), where on train loss
    a run has no eval past step 0 and every other has them: an eval's train loss beside an
    iteration mean would put their difference (the eval's batches, and dropout, off in an
    eval) into the gap; None where every run has an eval's, or one has no iterations."""
    live = [i for i in range(len(runs)) if i not in diverged]
    if all(final(facts[i], "train") is not None for i in live):
        return None
    out = [None if i in diverged else iter_final(r) for i, r in enumerate(runs)]
    return out if all(out[i] is not None for i in live) else None


def _one_kind(runs: Sequence[Run], facts: Sequence[Facts], finals: list[float | None], metric: str,
              on_iters: bool) -> tuple[list[float | None], str | None, list[int]]:
    """On train loss, where some runs' finals are an eval's train loss and others' their last
    iterations' mean (_iteration_finals could not put every run on iterations: one has
    none), the iteration means are left out, and why: an eval is in eval mode over
    eval_iters batches, an iteration one batch in train mode (dropout on), no loss of the
    same kind; and the runs left out. Unchanged, with no reason, elsewhere."""
    if metric != "train" or on_iters:
        return finals, None, []
    evaled = [i for i, f in enumerate(facts) if finals[i] is not None and final(f, "train") is not None]
    mixed = [i for i, f in enumerate(facts) if finals[i] is not None and final(f, "train") is None]
    if not evaled or not mixed:
        return finals, None, []
    names = ", ".join(runs[i].source for i in mixed)
    return ([None if i in mixed else v for i, v in enumerate(finals)],
            f"{names}, whose train loss past step 0 is its last iterations' alone (train mode, a batch each), "
            f"where {'the other runs have' if len(evaled) > 1 else 'the other run has'} an eval's (eval mode, "
            "eval_iters batches): not one kind of loss", mixed)


def _non_finite_from(run: Run) -> int:
    """The first step of the NaN/inf stretch a diverged run ends in, its evals and
    iterations taken together."""
    from ..fit.points import final_stretch_from
    ev, it = run.curves()
    steps = np.concatenate([ev.step, it.step])
    order = np.argsort(steps, kind="stable")
    return final_stretch_from(steps[order], np.isfinite(np.concatenate([ev.val, it.loss]))[order])


def _comparable_group(runs: Sequence[Run], facts: Sequence[Facts], known: dict[int, float], per_byte: bool
                      ) -> tuple[dict[int, float], dict[int, str]]:
    """The runs with a final loss whose losses compare with each other's (the same tokenizer
    and dataset), the largest such group (the first run's of equal ones), and the others
    with why; all of them where no two compare (the gap report then says why not). A run
    joins a group only where it compares with every run in it: a run whose vocabulary is
    unknown may compare with a GPT-2 run and with a character-level run, which do not
    compare with each other."""
    def why_not(i: int, j: int) -> str | None:
        ok, why = comparable(runs[i], runs[j], facts[i], facts[j], per_byte)  # run i's value first
        return None if ok else why

    groups: list[list[int]] = []
    for i in known:
        home = next((g for g in groups if all(why_not(i, j) is None for j in g)), None)
        if home is None:
            groups.append([i])
        else:
            home.append(i)
    group = max(groups, key=len)
    for i in known:  # a run an earlier group took that compares with all of this one's too
        if i not in group and all(why_not(i, j) is None for j in group):
            group.append(i)
    if len(group) < 2 or len(group) == len(known):
        return known, {}
    apart = {i: next(w for j in group if (w := why_not(i, j)) is not None) for i in known if i not in group}
    return {i: known[i] for i in group}, apart


def _explain(runs: Sequence[Run], facts: Sequence[Facts], extrapolators: Sequence[Extrapolator] | None,
             a: int, b: int, gap: float, metric: str, table: tuple[TableRow, ...], per_byte: bool = False,
             on_iters: bool = False) -> Comparison:
    """The worse run `a` against the better run `b` (`per_byte`: on val in bits per byte;
    `on_iters`: on train loss, every run's mean of its last iteration losses, _iteration_finals)."""
    ra, rb, fa, fb = runs[a], runs[b], facts[a], facts[b]
    ok, why = comparable(ra, rb, fa, fb, per_byte)
    diff = config_diff(ra, rb, fa, fb) + (vocab_diff(fa, fb) if per_byte else ())
    ov = overlap(ra, rb, fa, fb, metric, on_iters)
    notes = []
    if on_iters:
        notes.append("a run has no eval past step 0: the runs are compared on train loss, each run's mean of its "
                     "last logged iteration losses (or the last of an HF run's few window means)")
    elif metric == "train":
        notes.append("a run has no finite final val: the runs are compared on their evals' train loss")
    one_run = all(d.kind != "learning" or d.key in RESUMABLE for d in diff)  # a resume changed no more
    notes += continuation_notes(ra, rb) + (held_notes(ra, rb) if one_run else [])
    notes += overlap_notes(ov, ra, rb, metric, on_iters) + mfu_notes(fa, fb)
    side = derived(fa, fb, (iter_final(ra), iter_final(rb)) if on_iters else None)
    if not ok:
        said = (f"not directly comparable: {why}; loss values are not comparable across tokenizers or datasets, "
                "so the gap is not attributed")
        return Comparison(b, a, metric, gap, False, diff, side, ov, (), None, (*notes, said), None, table,
                          unattributed=said)
    untrained = [who for who, r, f in (("the worse run", ra, fa), ("the better run", rb, fb))
                 if r.format != Dialect.WANDB_RUNS and f.value("final_step") == 0  # a table's row has no steps
                 and f.value("steps_done") is not None and f.value("steps_done") <= 1]
    if untrained:
        who = "both runs" if len(untrained) == 2 else untrained[0]
        why = (f"{who} {UNTRAINED} (a crash at the first step?): a final val there is the initial loss, so the "
               "gap is not put on config or length")
        return Comparison(b, a, metric, gap, True, diff, side, ov, (), None, tuple(notes), None, table,
                          unattributed=why)
    if a == b or abs(gap) < 1e-12 and not diff:
        return Comparison(b, a, metric, 0.0, True, diff, side, ov, (), None, tuple(notes), None, table,
                          unattributed=f"no gap: the runs end at the same {metric} and no config key differs")
    notes += state_notes(fa, "worse", schedule=True) + state_notes(fb, "better", schedule=False)
    rewarm_at = len(notes)  # its notes go here, once the attribution says whether it took the worse run's
    notes += size_notes(fa, fb)
    if (blind := data_unknown(ra, rb, fa, fb)) is not None:
        notes.append(blind)
    elif schedule_only(hide_resumed(diff, ra, rb), first_peak(ra)) and (differs := data_differs(ra, rb)) is not None:
        notes.append(f"the logs show other data ({differs}): the better run is not taken as what the worse "
                     "run's config reaches trained as long")
    fit = extrapolators[a] if extrapolators is not None else _extrapolator(ra)
    at = attribute(ra, rb, fa, fb, hide_resumed(diff, ra, rb), metric, gap, fit, on_iters)
    notes[rewarm_at:rewarm_at] = rewarm_notes(fa, fb, shared=any(c.cause == REWARM for c in at.causes))
    later = continuation(ra, rb)
    holds = held(ra, rb) is not None
    return Comparison(b, a, metric, gap, True, diff, side, ov, at.causes, at.unexplained,
                      tuple(notes) + at.notes, at.to_reach, table, within_noise=at.within_noise,
                      stop_at_best=at.stop_at_best, continues=(later is not None and later[0] is rb or holds)
                      and one_run, held=holds and one_run,
                      went_on=went_on(ra, rb, fa) if gap > 0 and at.stop_at_best is None else None)


# what a resume of one run may change and leave it one run's two stretches: its length and schedule
RESUMABLE = ("max_iters", "lr_decay_iters", "warmup_iters", "min_lr", "decay_lr", "init_from")


def _extrapolator(run: Run) -> Extrapolator:
    from ..fit.extrapolate import Extrapolator
    return Extrapolator(run)


def _no_gap(runs: Sequence[Run], metric: str, why: str, comparable: bool = True, reference: int = 0) -> Comparison:
    b = reference
    a = next((i for i in range(len(runs)) if i != b), b)
    diff = config_diff(runs[a], runs[b]) if len(runs) > 1 else ()
    return Comparison(b, a, metric, None, comparable, diff, None, None, (), None, (why,), unattributed=why)
