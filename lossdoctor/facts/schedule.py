"""A run's learning-rate schedule, per step (nanoGPT's get_lr, `lossdoctor.nanogpt.lr_at`,
over each segment's config), and facts about where the run is in it.

train.py sets `lr = get_lr(iter_num) if decay_lr else learning_rate` at the top of every
iteration, before the eval, so the LR of step N is the one its optimizer update used.
"""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import pairwise
from typing import Any

import numpy as np

from ..config import INFERRED, Config
from ..nanogpt import SCHEDULE_KEYS, get_lr, lr_at
from ..run import Run
from .base import STATUSES, Context, Fact, Status, config_fact, config_source, unknown, why_unknown


def schedule_params(config: Config) -> dict[str, Any] | None:
    """The get_lr arguments from a config the log showed, or None when one is unknown."""
    decay = config.trusted("decay_lr")
    lr = config.trusted("learning_rate")
    if decay is None or lr is None:
        return None
    if not decay:
        return {"learning_rate": lr, "warmup_iters": 0, "lr_decay_iters": 0,
                "min_lr": lr, "decay_lr": False}
    params = {k: config.trusted(k) for k in SCHEDULE_KEYS}
    return None if any(v is None for v in params.values()) else params


def last_logged_step(run: Run) -> int | None:
    """The highest step the lineage logged (eval or iter), else the checkpoint's iter_num;
    None where the file gives no steps (Measures.steps_known)."""
    if not run.measures.steps_known:
        return None
    evals, iters = run.curves()
    steps = [int(c.step.max()) for c in (evals, iters) if len(c)]
    if steps:
        return max(steps)
    if run.checkpoint is not None and run.checkpoint.iter_num is not None:
        return run.checkpoint.iter_num
    return None


def segment_ranges(run: Run, last_step: int) -> list[tuple[Config, int, int]]:
    """(config, first step, last step) of each lineage segment, covering 0..last_step.

    A resumed process may have been given other max_iters/lr_decay_iters, so each range
    uses its own segment's config when the reader recorded one.
    """
    starts: list[tuple[int, Config]] = []
    for pos, idx in enumerate(run.lineage()):
        seg = run.segments[idx]
        start = 0 if pos == 0 else seg.first_step
        if start is None:
            continue  # a segment with no step lines: its config never set an LR we see
        cfg = seg.config if seg.config is not None else run.config
        if starts and start <= starts[-1][0]:
            starts[-1] = (starts[-1][0], cfg)
        else:
            starts.append((start, cfg))
    if not starts:
        starts = [(0, run.config)]
    out = []
    for k, (start, cfg) in enumerate(starts):
        end = starts[k + 1][0] - 1 if k + 1 < len(starts) else last_step
        if start <= min(end, last_step):
            out.append((cfg, start, min(end, last_step)))
    return out


def lr_schedule(run: Run, last_step: int | None = None) -> np.ndarray | None:
    """LR at steps 0..last_step (default: the last logged step), or None when the
    schedule's config is unknown for any part of the lineage."""
    if last_step is None:
        last_step = last_logged_step(run)
    if last_step is None or last_step < 0:
        return None
    out = np.full(last_step + 1, np.nan)
    for cfg, lo, hi in segment_ranges(run, last_step):
        params = schedule_params(cfg)
        if params is None:
            return None
        out[lo:hi + 1] = lr_at(np.arange(lo, hi + 1), **params)
    return out


def lr_at_step(run: Run, step: int) -> float | None:
    """The LR of `step` alone, as lr_schedule(run, step)[step] gives it (None on the
    same terms), without the steps before it."""
    value = None
    for cfg, lo, hi in segment_ranges(run, step):
        params = schedule_params(cfg)
        if params is None:
            return None
        if lo <= step <= hi:
            value = float(lr_at(np.array([step]), **params)[0])
    return value


# registered facts ----------------------------------------------------------------------

def _last_step(ctx: Context) -> int | None:
    return ctx.memo("last_logged_step", lambda: last_logged_step(ctx.run))


def lr_final(ctx: Context) -> Fact:
    """LR at the last logged step (LR units, as learning_rate)."""
    last = _last_step(ctx)
    if last is None:
        return unknown("lr_final", "LR", "nanoGPT get_lr", "no steps in the log or checkpoint")
    lr = lr_at_step(ctx.run, last)
    ck = ctx.run.checkpoint
    # the checkpoint holds the LR set at the top of the iteration it was saved at
    ck_lr = (ck.param_group_lrs[0] if ck is not None and ck.param_group_lrs
             and ck.iter_num == last else None)
    if lr is None and ck_lr is not None:
        return Fact("lr_final", ck_lr, "LR", "read", "ckpt optimizer param_groups lr")
    logged = ctx.run.series.get("lr")  # a trainer that logs its LR with the loss (llm.c, the HF Trainer)
    if (logged is not None and len(logged.step) and 0 <= last - int(logged.step[-1]) <= 1  # its last update's
            and math.isfinite(float(logged.value[-1])) and (lr is None or not ctx.run.format.is_nanogpt)):
        # another trainer's own LR, where get_lr of its mapped config is only nanoGPT's version of it
        return Fact("lr_final", float(logged.value[-1]), "LR", "read",
                    f"log: the LR logged at step {int(logged.step[-1]):,}")
    if lr is None:
        return unknown("lr_final", "LR", "nanoGPT get_lr", _why_no_schedule(ctx))
    value = lr
    note = None
    if ck_lr is not None and not np.isclose(ck_lr, value, rtol=1e-6):
        note = f"the checkpoint's optimizer holds LR {ck_lr:.6g} at step {last}"
    return Fact("lr_final", value, "LR", _status(ctx.config(), *SCHEDULE_KEYS), f"nanoGPT get_lr at step {last}",
                note)


def _why_no_schedule(ctx: Context) -> str:
    """Why lr_schedule gave None: the first segment config missing a get_lr argument."""
    run = ctx.run
    lineage = set(run.lineage())
    configs = [s.config for s in run.segments if s.index in lineage and s.config]
    for cfg in [*configs, run.config]:
        if schedule_params(cfg) is None:
            constant = cfg.trusted("decay_lr") is False
            keys = ("decay_lr", "learning_rate") if constant else SCHEDULE_KEYS
            return why_unknown(cfg, *keys, ckpt=run.format.is_nanogpt)
    return "the schedule's config is unknown"


def lr_schedule_completed(ctx: Context) -> Fact:
    """Fraction of the cosine decay done at the last step: last_step / lr_decay_iters."""
    cfg = ctx.config()
    decay, decay_iters = cfg.trusted("decay_lr"), cfg.trusted("lr_decay_iters")
    src = "last step / " + config_source(cfg, "lr_decay_iters")
    last = _last_step(ctx)
    if decay is False:
        return Fact("lr_schedule_completed", None, "fraction", _status(cfg, "decay_lr"),
                    config_source(cfg, "decay_lr"), "constant LR")
    if decay is None or decay_iters is None:
        return unknown("lr_schedule_completed", "fraction", src,
                       why_unknown(cfg, "decay_lr", "lr_decay_iters", ckpt=ctx.run.format.is_nanogpt))
    if last is None:
        return unknown("lr_schedule_completed", "fraction", src, "no steps in the log")
    frac = 1.0 if decay_iters <= 0 else min(max(last / decay_iters, 0.0), 1.0)
    return Fact("lr_schedule_completed", frac, "fraction", _status(cfg, "decay_lr", "lr_decay_iters"), src)


def warmup_fraction(ctx: Context) -> Fact:
    """warmup_iters / max_iters: the share of the planned run spent warming up."""
    cfg = ctx.config()
    src = config_source(cfg, "warmup_iters", "max_iters")
    if cfg.trusted("decay_lr") is False:
        return Fact("warmup_fraction", 0.0, "fraction", _status(cfg, "decay_lr"),
                    config_source(cfg, "decay_lr"), "decay_lr=False: constant LR, no warmup")
    return _ratio(ctx, "warmup_fraction", "warmup_iters", "max_iters", src)


def lr_decay_vs_max_iters(ctx: Context) -> Fact:
    """lr_decay_iters / max_iters: below 1 the run ends with steps at min_lr, above 1 it
    stops before the LR has decayed."""
    cfg = ctx.config()
    src = config_source(cfg, "lr_decay_iters", "max_iters")
    if cfg.trusted("decay_lr") is False:
        return Fact("lr_decay_vs_max_iters", None, "fraction", _status(cfg, "decay_lr"),
                    config_source(cfg, "decay_lr"), "constant LR")
    return _ratio(ctx, "lr_decay_vs_max_iters", "lr_decay_iters", "max_iters", src)


def _ratio(ctx: Context, name: str, num_key: str, den_key: str, src: str) -> Fact:
    cfg = ctx.config()
    num, den = cfg.trusted(num_key), cfg.trusted(den_key)
    if num is None or den is None:
        return unknown(name, "fraction", src, why_unknown(cfg, num_key, den_key, ckpt=ctx.run.format.is_nanogpt))
    if den == 0:
        return unknown(name, "fraction", src, f"{den_key} is 0")
    return Fact(name, num / den, "fraction", _status(cfg, num_key, den_key), src, None)


def _status(cfg: Config, *keys: str) -> Status:
    """'inferred' where one of `keys` is a value inferred from a config file (readers/infer.py),
    else 'computed'."""
    return "inferred" if any(k in cfg.values and cfg.values[k].origin == INFERRED for k in keys) else "computed"


def resumed_checkpoint(run: Run) -> str | None:
    """Why a checkpoint read with no log does not show its whole schedule: its saved config
    is the resumed process's (init_from='resume'), not the one before the resume."""
    if run.segments or run.checkpoint is None or run.config.trusted("init_from") != "resume":
        return None
    return ("a checkpoint of a resumed run holds the config of its last process, not the schedule before its "
            "resume (give its log)")


def _lr_not_in_log(ctx: Context, name: str, unit: str, src: str) -> Fact | None:
    """The unknown Fact where the LR the run began with is not in its log (it begins with a
    resume, or its checkpoint resumed), else None."""
    if (head := ctx.run.resumed_start()) is not None:
        return unknown(name, unit, src, f"the log begins with a resume at step {head.first_step:,}: the LR before "
                                        "it is not in it")
    if (why := resumed_checkpoint(ctx.run)) is not None:
        return unknown(name, unit, src, why)
    return None


def _lineage_params(ctx: Context, name: str, unit: str, src: str) -> list[tuple[dict[str, Any], int]] | Fact:
    """Each lineage process's get_lr arguments with the step it starts at, or the unknown
    Fact saying why they are not known (a log that begins with a resume; a first process
    whose LR settings are not shown)."""
    run = ctx.run
    if (hidden := _lr_not_in_log(ctx, name, unit, src)) is not None:
        return hidden
    out = [(p, start) for cfg, start, _ in segment_ranges(run, _last_step(ctx) or 0)
           if (p := schedule_params(cfg)) is not None]
    if not out or out[0][1] != 0:
        return unknown(name, unit, src, "the log does not show all of its first process's LR settings (nanoGPT's "
                                        "learning_rate and decay_lr, and with a decay its warmup_iters, "
                                        "lr_decay_iters and min_lr)")
    return out


def log_begins_resumed(ctx: Context) -> Fact:
    """Whether the log's lineage begins with a process that resumed past step 0: the LR
    schedule before it (what the checkpoint's run did) is not in the log."""
    head = ctx.run.resumed_start()
    return Fact("log_begins_resumed", head is not None, "", "read", "log: the lineage's first process",
                None if head is None else f"resumed at step {head.first_step:,}")


def constant_from(ctx: Context) -> Fact:
    """The step from which the lineage went on at a constant LR (decay_lr=False) after a
    first process that decayed it: a continuation at its min_lr, whose run did decay. None
    where the lineage did not (a run constant from the start, or one that always decays)."""
    name, unit, src = "constant_from", "steps", "log: each process's LR settings"
    params = _lineage_params(ctx, name, unit, src)
    if isinstance(params, Fact):
        return params
    decayed = False
    for p, start in params:  # a constant process after any that decayed
        if p["decay_lr"]:
            decayed = True
        elif decayed:
            return Fact(name, start, unit, "read", src, "a continuation at a constant LR after a decay")
    return Fact(name, None, unit, "read", src)


REWARM = 1.25  # a resume whose schedule sets the LR this much above the run's own re-warms it


def _rewarm(ctx: Context) -> tuple[int, float, float] | None | Fact:
    """(step, LR the run was at, LR the resume set) of the first resume whose schedule put
    the LR REWARM above where the process before it had it (a new lr_decay_iters puts it
    back up the cosine); None where none did; the unknown Fact where the schedules are not
    all shown."""
    def find() -> tuple[int, float, float] | None | Fact:
        params = _lineage_params(ctx, "lr_rewarm_step", "steps", REWARM_SRC)
        if isinstance(params, Fact):
            return params
        for (before, _), (after, start) in pairwise(params):
            was, now = get_lr(start, before), get_lr(start, after)
            if now > REWARM * was:
                return start, was, now
        return None
    return ctx.memo("lr_rewarm", find)


REWARM_SRC = "log: each process's LR settings, at the step the next one resumed from"


def lr_rewarm_step(ctx: Context) -> Fact:
    """The step at which a resume put the LR back up (its new schedule's LR there over the
    run's own by REWARM or more), None where no resume did."""
    return _rewarm_fact(ctx, "lr_rewarm_step", "steps", "read", 0)


def lr_rewarm_from(ctx: Context) -> Fact:
    """The LR the run's own schedule had at lr_rewarm_step, before the resume raised it."""
    return _rewarm_fact(ctx, "lr_rewarm_from", "LR", "computed", 1)


def lr_rewarm_to(ctx: Context) -> Fact:
    """The LR the resume's schedule set at lr_rewarm_step."""
    return _rewarm_fact(ctx, "lr_rewarm_to", "LR", "computed", 2)


def _rewarm_fact(ctx: Context, name: str, unit: str, status: Status, at: int) -> Fact:
    """Item `at` of _rewarm's (step, LR before, LR after) as fact `name`: None where no
    resume re-warmed the LR, unknown where the schedules are not all shown."""
    found = _rewarm(ctx)
    if isinstance(found, Fact):
        return replace(found, name=name, unit=unit)
    return Fact(name, None if found is None else found[at], unit, status, REWARM_SRC)


def lr_peak(ctx: Context) -> Fact:
    """The largest learning_rate any process of the lineage ran with: the run's peak LR,
    where a continuation went on at a lower one (its learning_rate fact is the last's); for
    a log that shows no learning_rate but logs the LR of its steps (a Trainer's), the
    largest of those."""
    name, unit, src = "lr_peak", "LR", "log: each process's learning_rate"
    run = ctx.run
    if (hidden := _lr_not_in_log(ctx, name, unit, src)) is not None:
        return hidden
    shown = [config_fact(ctx, name, "learning_rate", unit, cfg) for cfg, _, _ in
             segment_ranges(run, _last_step(ctx) or 0)]
    if shown and shown[0].known:  # as sure as the least sure of them (a config file's value: inferred)
        top = max((f for f in shown if f.known), key=lambda f: float(f.value))
        weakest = max((f for f in shown if f.known), key=lambda f: STATUSES.index(f.status))
        return Fact(name, float(top.value), unit, weakest.status, src if weakest.status == "read" and not weakest.note
                    else weakest.source, weakest.note)
    logged = run.series.get("lr")  # the LR of each logged step
    finite = logged.value[np.isfinite(logged.value)] if logged is not None else np.empty(0)
    if len(finite) >= 2 and finite[-1] > finite[-2] and finite[-1] >= finite.max():  # still rising at the end
        return unknown(name, unit, "log: the largest LR it logged", f"the logged LR is still rising at its last step "
                       f"({float(finite[-1]):.4g}): the log ends inside the warmup, before the peak")
    if len(finite) >= 2:  # one value (a summary's) is where the LR ended, not where it peaked
        return Fact(name, float(finite.max()), unit, "inferred", "log: the largest LR it logged",
                    "inferred: the largest LR of the logged steps; the peak may fall between them")
    return unknown(name, unit, src, "the log shows no learning_rate and logs the LR of fewer than two steps")
