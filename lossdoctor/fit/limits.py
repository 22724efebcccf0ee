"""How far a run can be extrapolated: curves outside what the law models, a law that
misses the run's own points, and targets before the fitted points or past the horizon or
the epochs of the data that the backtests measure."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..dialect import Dialect
from ..facts.model import resumed_fine_tune
from .points import CannotExtrapolate

if TYPE_CHECKING:
    from ..run import Run
    from .streams import Design, Stream

# the longest horizon, as a multiple of the run's last step, that benchmarks/extrapolation.py
# backtests (800 -> 4000 and 1000 -> 5000): past it the error is not measured, so no
# prediction is made
MAX_HORIZON = 5.0
MAX_FIT_STEPS = 1_000_000  # the fit's arrays hold one value per step: 8 MB each here
SCHEDULE_KEYS = ("warmup_iters", "min_lr")  # a run's own schedule: may differ between runs fitted jointly


# sigma, rms: how far the fitted law may miss the run's own train points. On every run the
# extrapolation is measured on it misses by at most 9.5 sigma (nanoGPT's constant-LR run cut
# at 1000 steps; benchmarks/extrapolation_family.py prints the largest), and 0.06 nats; on
# four real GPU runs of the corpus by 49-80 sigma and 0.07-0.14 nats, with their own val 0.3
# nats off at the last eval: three whose log hides a schedule unlike nanoGPT's defaults, and
# one 82 epochs into its data, whose dropout-on iteration losses sit 0.2 nats above its
# eval-mode train losses. A miss under MISFIT_NATS (rms) is
# no miss, however small the noise it is measured in (a log of smoothed or rounded losses)
MISFIT = 20.0
MISFIT_NATS = 0.05


class BeyondEpochs(CannotExtrapolate):
    """The target step repeats the training data more than the backtests measure."""

    def __init__(self, why: str, limit: float, farthest: int | None = None) -> None:
        super().__init__(why)
        self.limit = limit  # epochs
        self.farthest = farthest  # the farthest step the run supports (None: none past its end)


FINE_TUNE = "the law and its calibration follow a model trained from scratch, and a fine-tune's curve is not that"


SUMMARIES = {Dialect.WANDB_RUNS: "a table of one row per run", Dialect.WANDB_SUMMARY: "a W&B run's summary"}


def unmodelled(run: Run) -> str | None:
    """Why a run's curve is outside what the law models (None when it is inside): the law
    follows nanoGPT's LR schedule and is calibrated on val losses in nats."""
    if len(run.evals) == 0 and len(run.iters) == 0:
        if not run.format.has_log:  # a checkpoint alone: its best val at most, no curve
            return ("a checkpoint alone holds no loss curve: give the run's log instead of it, or the directory "
                    "that holds both (extrapolate takes one path)")
        return "the run has no loss values"
    losses = np.concatenate([run.evals.val, run.evals.train, run.iters.loss])
    if not run.format.is_nanogpt and not np.isfinite(losses).any():  # before whose run it is: no curve at all
        return "every loss the run logged is NaN or inf: there is no curve to extrapolate"
    if run.measures.val != "loss":
        return f"val is in {run.measures.val_unit}, and the extrapolation is calibrated on losses in nats"
    if (table := SUMMARIES.get(run.format)) and len(np.unique(np.concatenate([run.evals.step, run.iters.step]))) < 2:
        return (f"the file is {table}, with the run's losses at one step alone: there is no curve to extrapolate; "
                "give the run's log, or its history")
    if not run.format.is_nanogpt:
        return (f"the extrapolation is calibrated on nanoGPT's runs, and on another trainer's it is not shown to "
                f"hold (the one measured, llm.c's GPT-2 run read with llm.c's own schedule, was missed by 0.29 to "
                f"0.39 nats: docs/extrapolation.md); this {run.format} run's curve is not extrapolated, whatever "
                "its schedule")
    inits = [run.segments[i].init_from for i in run.lineage()] + [run.config.trusted("init_from")]
    if pretrained := next((i for i in inits if isinstance(i, str) and i.startswith("gpt2")), None):
        return (f"the run starts from OpenAI's GPT-2 weights (init_from={pretrained}): {FINE_TUNE}")
    if pretrained := resumed_fine_tune(run):
        return (f"the log resumes a run whose config file sets init_from='{pretrained}' (the log overrides it "
                f"with resume): that run most likely started from OpenAI's GPT-2 weights; {FINE_TUNE}")
    if (last := run.last_step) > MAX_FIT_STEPS:
        return (f"the run reaches step {last:,}; the fit sums its LR schedule step by step, up to "
                f"{MAX_FIT_STEPS:,} steps")
    return None


def not_joinable(run: Run, others: Sequence[Run], references: Sequence[Run] = ()) -> str | None:
    """Why runs given to be fitted jointly with `run` (`calibrate`) cannot be: a curve the
    law does not model, a run whose points join already (the run, another given, one of the
    `references` that join the fit, or a part of one), or a config shown to differ in a key
    that shapes the curve (calibration.CONFIG) other than the schedule's, which each run's
    own LR schedule carries into the fit (SCHEDULE_KEYS); None when all can."""
    from .calibration import CONFIG
    for i, o in enumerate(others):
        if why := unmodelled(o) or unknown_schedule(o) or constant_resume(o):
            return f"{o.source}, given to fit jointly: {why}"
        if any(o.part_of(r) for r in references):  # (part_of holds for the run itself too)
            return (f"{o.source}, given to fit jointly, is one of the reference runs, or a part of one: they join "
                    "the fit already, and its points would count twice and narrow the interval (--no-reference "
                    "fits without them)")
        if twin := next((r for r in (run, *others[:i]) if o.same_losses(r)), None):
            same = (f"is the same run as {twin.source} (the same losses at the same steps)" if o.source != twin.source
                    else "is the run extrapolated" if twin is run else "is given twice")
            return f"{o.source}, given to fit jointly, {same}: its points would count twice and narrow the interval"
        if twin := next((r for r in others[:i] if o.part_of(r) or r.part_of(o)), None):
            return (f"{o.source}, given to fit jointly, shares its losses with {twin.source}, also given (one is a "
                    "part of the other): those points would count twice and narrow the interval")
        if o.part_of(run):
            return (f"{o.source}, given to fit jointly, is a part of the run extrapolated (its losses are the run's "
                    "own at the same steps): its points would count twice and narrow the interval")
        if run.part_of(o):
            return (f"{o.source}, given to fit jointly, holds the run extrapolated (the run's losses are its own at "
                    "the same steps, and it goes on past them): those points would count twice, and the target may "
                    "lie inside it (extrapolate it instead)")
        pairs = [(k, o.config.trusted(k), run.config.trusted(k)) for k in CONFIG if k not in SCHEDULE_KEYS]
        differ = [f"{k} {theirs!r} vs {mine!r}" for k, theirs, mine in pairs
                  if theirs is not None and mine is not None and theirs != mine]
        if differ:
            return (f"{o.source}, given to fit jointly, is not a run of the same config: {', '.join(differ[:3])}"
                    f"{' ...' if len(differ) > 3 else ''}")
    return None


def epochs_basis(run: Run, last: int, dataset_tokens: int | None = None) -> tuple[float | None, str | None]:
    """Epochs of the training data per step (the epochs fact over the steps it counts; None
    where the log does not show the tokens per step or the data's size, nor gives
    `dataset_tokens`, the user's), and how they rest on an assumed train split (nanoGPT's standard
    tiny-shakespeare one, where the log names the dataset but not its size), said with the
    refusals they set; None where the size is read or given."""
    from ..facts import FACTS, Context
    ctx = Context(run, FACTS, dataset_tokens=dataset_tokens)
    epochs, done = ctx.fact("epochs"), ctx.fact("steps_done")  # nanoGPT's 2,000-step run: 2,001 steps
    steps = done.value if done.known and done.value else last
    per_step = float(epochs.value) / steps if epochs.known and steps > 0 else None
    data = ctx.fact("dataset_tokens")
    if data.status != "assumed":
        return per_step, None
    return per_step, (f"the epochs assume a train split of {data.value:,} tokens ({data.source}): pass "
                      "--dataset-tokens if yours differs")


def _miss(stream: Stream, own: Design) -> tuple[np.ndarray, float, float]:
    """How the fit misses the run's `own` points: the residuals (nats), their rms in sigma
    and in nats."""
    from .streams import residuals
    r = residuals(stream, own)
    return r, float(np.sqrt(np.mean((r / own.sigma) ** 2))), float(np.sqrt(np.mean(r ** 2)))


def misfit(stream: Stream, own: Design, doubted: Sequence[str], run: Run | None = None) -> None:
    """Raise CannotExtrapolate where the train `stream`'s fit misses the run's `own` train
    points by more than MISFIT (rms, in sigma) and MISFIT_NATS (rms): the law does not
    describe this curve, inside the run or past it. `doubted`: the schedule keys the log
    does not show and that may not be what ran (Schedule.doubted), the likeliest reason;
    `run`: the run, whose loss spikes (LD203's), an unstable run's, are named before the
    other reasons."""
    _, scale, rms = _miss(stream, own)
    if scale > MISFIT and rms > MISFIT_NATS:
        spikes = loss_spikes(run) if run is not None else None
        unstable = (f"; its iteration losses spike ({spikes[0]} spike{'s' if spikes[0] > 1 else ''}, the first "
                    f"at step {spikes[1]:,}), as an unstable run's do: `lossdoctor analyze` says why" if spikes
                    else "")
        doubt = (f"; the log does not show {', '.join(doubted)}, and the values used for them may not be what "
                 "ran" if doubted else "")
        more = " too" if unstable or doubted else ""
        why = (f"{unstable}{doubt}; a run far past its data's epochs, or one whose dropout-on iteration losses sit "
               f"far above its eval-mode train losses, can do this{more}")
        raise CannotExtrapolate(f"the fitted law misses this run's own points by {scale:.0f} sigma ({rms:.3f} "
                                f"nats) rms, where the runs it is measured on stay under 10 sigma{why}")


def loss_spikes(run: Run) -> tuple[int, int] | None:
    """(how many loss spikes, the first's step) as LD203 finds them; None where there are
    none or they cannot be found."""
    from ..facts import FACTS, Context
    ctx = Context(run, FACTS)
    count, first = ctx.fact("spike_count"), ctx.fact("first_spike_step")
    if not count.known or not count.value or first.value is None:
        return None
    return int(count.value), int(first.value)


# nats rms: val's own bound. Fewer evals than train points, each noisier, so a bend the law
# does not follow costs more there: the fixture, benchmark and groundtruth runs that are
# extrapolated reach 0.12 (at under 11 sigma); one eval typed ten times its value, 5.7
VAL_MISFIT_NATS = 0.15


def val_misfit(stream: Stream, own: Design) -> tuple[str, str] | None:
    """Why val is not extrapolated where its fit misses the run's own evals by more than
    MISFIT (rms, in sigma) and VAL_MISFIT_NATS: the whole reason, and a short one naming
    the eval it misses most (one eval far off its neighbours: a pasted typo, a broken
    eval); None where it holds."""
    r, scale, rms = _miss(stream, own)
    if scale <= MISFIT or rms <= VAL_MISFIT_NATS:
        return None
    k = int(np.argmax(np.abs(r)))
    where = f"step {int(own.steps[k]):,} (val {float(own.y[k]):.4f}, {-float(r[k]):+.3f} nats off the law)"
    return (f"val is not extrapolated: the law misses this run's own val evals by {scale:.0f} sigma ({rms:.3f} nats) "
            f"rms, where the runs it is measured on stay under 10 sigma, most at {where}: an eval far off its "
            "neighbours?", f"val not extrapolated: its fit misses the run's own evals, most at {where}")


# the free law's annealing coefficient is fitted on how far the run's own LR fell: a target
# whose LR falls more than 1 / ANNEAL_SUPPORT times as far (a run at lr_decay_iters=600000
# extrapolated to a cosine that ends) is beyond it, and the calibrated law, whose annealing
# comes from runs that annealed, predicts alone; between that and as far as the run fell,
# the free law's weight fades linearly, so that the prediction does not jump where it
# stops (a 300-step cut of a 2000-step cosine, given its own schedule, had gone from 2.075
# at step 500 to 2.319 at 510). No run of the benchmarks is in between: each anneals fully,
# or is predicted under its own constant schedule
ANNEAL_SUPPORT = 0.25


def anneal_support(observed: np.ndarray, target: np.ndarray, warmup: int) -> float:
    """How much of the free law's weight a target eta keeps: 1 where its fall (1 - its lowest
    eta after the warmup) is within the run's own, 0 past 1 / ANNEAL_SUPPORT times it,
    linear in the ratio of the two falls between."""
    def fall(e: np.ndarray) -> float:
        after = e[warmup:]
        return 1.0 - float(after.min()) if len(after) else 0.0
    want = fall(target)
    ratio = fall(observed) / want if want > 0 else 1.0
    return float(np.clip((ratio - ANNEAL_SUPPORT) / (1.0 - ANNEAL_SUPPORT), 0.0, 1.0))


def in_warmup(last: int, warmup: int) -> None:
    """Raise CannotExtrapolate for a log that ends inside its warmup: the law counts warmup
    steps at the peak LR, so none of its points is of the schedule it models. A log that
    ends at the step that ends it (the first at the peak LR) has that one point, and is
    predicted with the interval so few points give."""
    if 0 < last < warmup:
        raise CannotExtrapolate(f"the log ends at step {last:,}, inside its warmup ({warmup:,} steps): the law "
                                "counts warmup steps at the peak LR, and none of the run's points is past them")


def before_fit(to: int, start: int, warmup: int = 0) -> None:
    """Raise CannotExtrapolate for a target before the first step the law is fitted on, or
    inside the warmup (a run just past it is fitted from half its steps, some in the warmup:
    the law counts them at the peak LR, and does not model the loss there)."""
    if to < start:
        raise CannotExtrapolate(f"step {to:,} is before the points the law is fitted on (from step {start:,}): "
                                "the log's own evals are the measurement there")
    if to < warmup:
        raise CannotExtrapolate(f"step {to:,} is inside the run's warmup ({warmup:,} steps): the law counts warmup "
                                "steps at the peak LR and does not model the loss there; the log's own evals are the "
                                "measurement there")


def _epochs(x: float, limit: float) -> str:
    """Epochs to one decimal, or "just over" the limit where that would read as the limit."""
    return f"{x:.1f}" if float(f"{x:.1f}") > limit else f"just over {limit:g}"


def unknown_schedule(run: Run) -> str | None:
    """Why `run`'s LR schedule is unknown where the law needs it (None when it is not): its
    log shows no learning_rate, or (for a decaying LR, or one not shown to be constant) no
    lr_decay_iters, and train.py's defaults for them (6e-4, 600,000, a GPT-2 run's) would be
    a guess that sets the whole prediction. A value inferred from a config file
    (readers/infer.py) or read from a checkpoint counts as shown."""
    config = run.config
    missing = [k for k in ("learning_rate", "lr_decay_iters") if config.trusted(k) is None
               and (k == "learning_rate" or config.trusted("decay_lr") is not False)]
    if not missing:
        return None
    which = "the log"
    if (first := run.appended()) is not None:  # an earlier run's config is no use
        which = f"the run in the file from line {first.first_line:,} (its own lines show no config)"
    return (f"{which} does not show {' or '.join(missing)}, and the law follows the LR schedule: train.py's "
            "defaults would be a guess; give the run's directory with its ckpt.pt (its config is in it), or the "
            "log with its config header")


def constant_resume(run: Run) -> str | None:
    """Why a log that begins with a resume at a constant LR (decay_lr=False) past step 0 is
    not extrapolated alone: the steps before it were almost surely not at that LR (a run
    continued at its min_lr), and the law would count them at it; None otherwise."""
    if (first := run.resumed_start()) is None:
        return None
    config = first.config if first.config is not None else run.config
    if config.trusted("decay_lr") is not False:
        return None
    return (f"the log begins at step {first.first_step:,} with a resume at a constant LR (decay_lr=False), and the "
            "LR of the steps before it is not in it: give the earlier log with it (`cat` the two), or the run's "
            "first log alone")


# the least share of its run a log that begins with a resume must hold where the law's level
# is fitted with its shape (the ensemble, L0 fitted: below calibration.ALONE_FROM steps, and
# no reference runs). benchmarks/resumed_tails.py: the grid's tails from half to four fifths
# of the run erred as their whole logs did; from nine tenths on, train by up to 0.21 nats
# (0.30, and three of twelve fits with no progress at all, with the ensemble alone below
# calibration.BLEND_FROM, before calibration.SHORT_SHARE). Through L0 = 0
# (2000 steps on) a twentieth of the run held as the whole log did, train within 0.06.
TAIL_SHARE = 0.2


def short_tail(run: Run, last: int) -> str | None:
    """Why a log that begins with a resume and holds under TAIL_SHARE of its run is not
    extrapolated where the law's level is fitted with it; None otherwise."""
    if (first := run.resumed_start()) is None or first.first_step is None:
        return None
    held = (last - first.first_step) / max(last, 1)
    if held >= TAIL_SHARE:
        return None
    return (f"the log holds steps {first.first_step:,}-{last:,} of the run alone ({held:.0%} of it, from a resume): "
            f"too little of its curve to fit the law's level apart from its progress (from under {TAIL_SHARE:.0%} "
            "of a run, the backtests missed train by up to 0.2 nats); give the earlier log "
            "with it (`cat` the two)")


def check(to: int, last: int, per_step: float | None, epochs_limit: float, assumed: str | None = None) -> None:
    """Raise CannotExtrapolate past MAX_HORIZON times the run's `last` step, and
    BeyondEpochs past `epochs_limit` epochs of the data (Calibration.epochs_limit; past it
    no backtest measures the error), naming the farthest step the run supports; `assumed`
    (epochs_basis) follows where the data's size is assumed."""
    tail = f"; {assumed}" if assumed else ""
    if per_step is not None and to > last and last * per_step >= epochs_limit:
        raise BeyondEpochs(f"the run is already {last * per_step:.1f} epochs of the training data at its last "
                           f"step ({last:,}), past the {epochs_limit:g} the backtests measure for this run "
                           f"(docs/extrapolation.md, \"How far\"): no later step is predicted{tail}", epochs_limit)
    if to > MAX_HORIZON * max(last, 1):
        farthest, by_epochs = int(MAX_HORIZON * max(last, 1)), ""  # or fewer, where the measured epochs end first
        if per_step is not None and per_step > 0 and last * per_step < epochs_limit < farthest * per_step:
            farthest, by_epochs = int(epochs_limit / per_step), f" ({epochs_limit:g} epochs of its data){tail}"
        raise CannotExtrapolate(f"step {to:,} is beyond what this run supports ({MAX_HORIZON:g}x its last step, "
                                f"{last:,}, the longest horizon the backtests measure; docs/benchmarks.md); the "
                                f"farthest this run supports is step {farthest:,}{by_epochs}")
    if per_step is not None and to > last and to * per_step > epochs_limit:
        farthest = min(int(epochs_limit / per_step), int(MAX_HORIZON * last))
        raise BeyondEpochs(f"step {to:,} is {_epochs(to * per_step, epochs_limit)} epochs of the training data, "
                           f"beyond the {epochs_limit:g} the backtests measure for this run (docs/extrapolation.md, "
                           f"\"How far\"); the farthest this run supports is step {farthest:,}{tail}", epochs_limit,
                           farthest)


def interval_level(level: object) -> float:
    """The interval's level as given, where it is a number between 0 and 1."""
    from ..errors import UsageError
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < as_float(level) < 1:
        raise UsageError(f"level: a number between 0 and 1 (0.8 for 80%), not {shown(level)}")
    return as_float(level)


def target_step(to: object) -> int:
    """The target step as an int: a positive whole number (600 or 600.0), not a bool, 0, 600.5 or NaN."""
    step = as_float(to) if isinstance(to, numbers.Real) and not isinstance(to, bool) else math.nan  # numpy's too
    if not math.isfinite(step) or step != int(step) or step < 1:
        from ..errors import UsageError
        raise UsageError(f"the target step must be a positive whole number of steps, not {shown(to)}")
    # an integer exactly: 10**30 through a float is 1,000,000,000,000,000,019,884,624,838,656
    return int(to) if isinstance(to, numbers.Integral) else int(step)


def as_float(value: object) -> float:
    """A number as a float (NaN for what is none); an integer too large for one (10**400)
    is inf, not an OverflowError."""
    if not isinstance(value, numbers.Real):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]  # an int or Fraction too large


def shown(value: object) -> str:
    """A value as an error message quotes it: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"
