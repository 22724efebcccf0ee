"""The rest of the gap, once the path's causes are taken: put on the learning keys that
still differ (`config_rest`, named from their groups), or left unexplained, saying why.
Schedule keys whose share the path could not estimate are named in it (`missed_keys`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..nanogpt import RETRAIN_KEYS
from ..run import Run
from .length import SCHEDULE_SHAPE, Step, known
from .results import CHANGED_ORIGIN, RESUMED_ORIGIN, Cause, KeyDiff, keys_text
from .sides import Side

GROUPS = (("model size", ("n_layer", "n_head", "n_embd", "bias")), ("context length", ("block_size",)),
          ("batch size", ("batch_size", "gradient_accumulation_steps")),
          ("regularization", ("dropout", "weight_decay")),
          ("peak LR and optimizer", ("learning_rate", "beta1", "beta2", "grad_clip")))


def path_matched(steps: Sequence[Step]) -> tuple[bool, bool]:
    """Whether the path moved the worse run to the better run's length, and to its schedule
    (a length read off the better run's own curve does both)."""
    observed = any(s.observed for s in steps)
    causes = {s.cause.cause for s in steps}
    return observed or "training length" in causes, observed or "LR schedule" in causes


def config_rest(a: Side, b: Side, diff: tuple[KeyDiff, ...], rest: float, w: float,
                at: str = "at equal tokens and schedule", steps: list[Step] | None = None) -> Cause | None:
    """The rest (`at` the point the path reached), put on the learning keys that still
    differ, with the schedule keys whose share the path's `steps` did not estimate; None
    when none does."""
    learning = rest_keys(diff)
    if not learning:
        return None
    missed = missed_keys(diff, steps or [])
    left = (f"; it also holds the share of {', '.join(missed)}, which could not be estimated (the notes say why)"
            if missed else "")
    keys = keys_text(learning)
    na, nb = a.facts.value("params"), b.facts.value("params")
    size = ""
    if na and nb and na != nb:
        factor = (na / nb) ** 0.34  # the term goes as N^-0.34: the better run's over the worse's
        size = (f"; by the L(N, D) form of Hoffmann et al. 2022 (exponent 0.34 on N, quoted, not fitted) "
                f"{_params(nb)} instead of {_params(na)} parameters multiplies the model-size term "
                f"of the loss by {factor:.2f}")
    hidden = hidden_keys(diff)
    unseen = (f"; {len(hidden)} learning keys one log does not show ({', '.join(hidden)}) may hold part of it"
              if hidden else "")
    name = rest_name({d.key for d in learning})
    if missed:  # the label says what the share holds besides: the length or schedule not estimated
        name = name.replace(" and ", ", ") + (" and training length" if "max_iters" in missed else " and LR schedule")
    half = rest_spread(w, steps or [])
    how = (" (`lossdoctor verify` with both runs trains them, one key at a time over seeds)"
           if retrainable(a.run) and retrainable(b.run) else "")
    return Cause(name, rest, (rest - half, rest + half),
                 f"the rest {at}, on the keys that differ ({keys}){unseen}{left}; two runs "
                 f"cannot split it between them: runs that change one key at a time can{how}{size}")


def retrainable(run: Run) -> bool:
    """Whether `lossdoctor verify` can train this run again: a nanoGPT log (or the built-in
    trainer's) that shows the keys a retraining cannot guess, from its first step (not a
    checkpoint alone whose config resumed: how its model was first made is not in it)."""
    resumed_checkpoint = not run.format.has_log and run.config.trusted("init_from") == "resume"
    return (run.format.is_nanogpt and all(run.config.trusted(k) is not None for k in RETRAIN_KEYS)
            and run.resumed_start() is None and not resumed_checkpoint)


def rest_spread(w: float, steps: list[Step]) -> float:
    """The rest's 80% half-width: the eval noise `w` and the spread of the estimated shares
    before it (the rest is what they leave: what they gain, it loses)."""
    return math.hypot(w, *((s.cause.interval[1] - s.cause.interval[0]) / 2 for s in steps
                           if not s.observed and not s.cause.by_construction))


def seeds_said(ra: Run, rb: Run) -> str:
    """'; their seeds do (42 against 6242)' where both runs show a seed and they differ, else
    '': a seed is no learning key, and the spread it makes is the rest's first suspect."""
    sa, sb = ra.config.trusted("seed"), rb.config.trusted("seed")
    return f"; their seeds do ({sa} against {sb})" if sa is not None and sb is not None and sa != sb else ""


def unexplained(diff: tuple[KeyDiff, ...], rest: float, w: float, unseen: bool = False,
                steps: list[Step] | None = None, why: str = "the notes say why", size: str | None = None,
                seeds: str = "") -> Cause:
    """The rest when no known learning key differs; else 0, with the eval noise as its
    interval. Keys that a run does not show get nothing: the rest stays unexplained, and
    says why: a log shows no config (`unseen`) or not the keys that may differ, or schedule
    keys differ whose share the path's `steps` did not estimate (`why` not). `size`: the
    parameter counts differ and the shape keys are not shown by both (notes.size_unseen):
    the rest is not put on the keys that are, which would name a batch key for a 4x model."""
    if size is not None and (shown := rest_keys(diff)):
        return Cause("unexplained", rest, (rest - w, rest + w),
                     f"{size}: the rest is not put on the keys both logs show ({keys_text(shown)}), which model size "
                     "may outweigh; their headers or checkpoints would let it be split")
    if rest_keys(diff):
        hidden = hidden_keys(diff)
        return Cause("unexplained", 0.0, (-w, w), "all of the gap is assigned" + (
            f" to the keys both logs show ({len(hidden)} more that one does not show may differ too)" if hidden
            else "") + "; the interval is the eval noise")
    hidden = hidden_keys(diff)
    resumed = _origin(diff, hidden, RESUMED_ORIGIN)
    if resumed is not None and not unseen:
        return Cause("unexplained", rest, (rest - w, rest + w),
                     f"{resumed}: its {', '.join(hidden)} are its continuation's, not its whole run's, so nothing "
                     "is put on them")
    changed = _origin(diff, hidden, CHANGED_ORIGIN)
    if changed is not None and not unseen:
        return Cause("unexplained", rest, (rest - w, rest + w),
                     f"{changed}: its schedule is two schedules, not one a key could name, so nothing is put on "
                     f"{', '.join(hidden)}")
    if hidden or unseen:
        what = f"does not show {len(hidden)} learning keys that may differ" if hidden else "shows no config"
        return Cause("unexplained", rest, (rest - w, rest + w),
                     f"a log {what}, so nothing is put on config; its header or ckpt.pt would let the rest be "
                     "split")
    missed = missed_keys(diff, steps or [])
    if missed:  # named in the label too: the verdict shows no method
        return Cause(f"unexplained ({', '.join(missed)} differ{'s' if len(missed) == 1 else ''})", rest,
                     (rest - w, rest + w),
                     f"the runs differ in {', '.join(missed)} (training length and schedule keys), whose share "
                     f"could not be estimated ({why}); no other learning key differs")
    other = " other" if steps else ""
    return Cause("unexplained", rest, (rest - w, rest + w),
                 f"no{other} learning config key differs{seeds}: seed, data order, or a change the logs do not "
                 "show")


def rest_name(keys: set[str]) -> str:
    """'model size, context length, batch size and regularization' from the differing keys."""
    names = [n for n, ks in GROUPS if keys & set(ks)]
    if "model size" in names and not keys & (set(dict(GROUPS)["model size"]) - {"n_head"}):  # heads keep the size
        names[names.index("model size")] = "attention heads"
    if "peak LR and optimizer" in names and not keys & {"beta1", "beta2", "grad_clip"}:  # no optimizer key differs
        names[names.index("peak LR and optimizer")] = "peak LR"
    if keys - {k for _, ks in GROUPS for k in ks}:
        names.append("other config")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def missed_keys(diff: tuple[KeyDiff, ...], steps: list[Step]) -> list[str]:
    """The training length and schedule keys that differ and whose share the path's steps
    did not estimate."""
    length, schedule = path_matched(steps)
    iters = next(((d.other, d.reference) for d in diff if d.key == "max_iters"), None)
    rerun = any(s.cause.cause == "training length" and "inside the run" not in s.cause.method for s in steps)
    # a decay to each run's own end is the same shape: the length's rerun (max_iters = lr_decay_iters) moves
    # it too; a length read inside the worse run keeps that run's own decay
    with_length = {"max_iters"} | ({"lr_decay_iters"} if rerun and any(
        d.key == "lr_decay_iters" and (d.other, d.reference) == iters for d in diff) else set())
    return [d.key for d in known(diff) if d.kind == "learning" and d.key in SCHEDULE_SHAPE
            and not (schedule or d.key in with_length and length) and not (d.key == "min_lr" and _lr_scaled(diff))]


def _lr_scaled(diff: tuple[KeyDiff, ...]) -> bool:
    """Whether min_lr moved with the peak LR, in the same ratio: the schedule's shape is the
    same, and the peak LR's share holds both."""
    got = {d.key: (d.other, d.reference) for d in known(diff)}
    nums = [x for x in (*got.get("learning_rate", (None, None)), *got.get("min_lr", (None, None)))
            if isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0]
    if len(nums) != 4:
        return False
    a, b, ma, mb = nums
    return math.isclose(ma / a, mb / b, rel_tol=1e-6)


def _origin(diff: tuple[KeyDiff, ...], hidden: list[str], prefix: str) -> str | None:
    """The first hidden key's origin that starts with `prefix`, said of its run ("the
    worse run's log begins at step ..."), or None."""
    return next((o.replace("unknown: the log", f"the {who} run's log") for d in diff if d.key in hidden
                 for who, o in (("worse", d.origin_other), ("better", d.origin_reference))
                 if o.startswith(prefix)), None)


def hidden_keys(diff: tuple[KeyDiff, ...]) -> list[str]:
    """The differing learning keys one run does not show."""
    return [d.key for d in diff if d.kind == "learning" and d not in known(diff)]


def rest_keys(diff: tuple[KeyDiff, ...]) -> list[KeyDiff]:
    """The learning keys both runs show that differ, other than the schedule shape and the
    run's length."""
    return [d for d in known(diff) if d.kind == "learning" and d.key not in SCHEDULE_SHAPE]


def _params(n: float) -> str:
    """A parameter count as the notes give it: '10.65M', or whole below 100k ('1,312')."""
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n:,.0f}"
