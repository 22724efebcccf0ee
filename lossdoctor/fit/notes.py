"""The notes of an extrapolation: where the calibration does not fit the run, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..facts.base import plural
from . import calibration as calibration_mod
from . import lr as lr_mod
from . import points, reference, repeat, shape

if TYPE_CHECKING:
    from ..run import Run
    from .calibration import Calibration
    from .lr import Schedule
    from .parts import Fits, Regime
    from .points import RunPoints
    from .results import Estimate, Extrapolation, LawErrors, Overfitting, Scenario


MIN_VAL_EVALS = 3  # evals a val fit needs


def too_few_evals(n: int, start: int) -> str:
    """Why val is not predicted: `n` evals from step `start` on."""
    return f"{plural(n, 'eval')} after step {start:,}: too few to predict val ({MIN_VAL_EVALS} needed)"


def why_no_val(x: Extrapolation, s: Scenario | None) -> str:
    """Why scenario `s` of `x` has no val: too few evals to fit val at all, else what its
    note says (overfitting, val stalled, a misfit), not another of its notes."""
    if x.model.val_parameters is None:
        return too_few_evals(x.fit.points.val, x.fit.points.start)
    return s.note if s is not None and s.note else f"no val predicted at {x.target_step:,} steps"


BELOW_ZERO = "the law gives a loss below zero under this schedule: not a prediction"
# `constant` where the run's min_lr is 0
AT_ZERO = ("the run's min_lr is 0: at a constant LR of 0 no step updates a weight, and the loss stays where the "
           "checkpoint it resumes left it; continue at a LR above 0 (--learning_rate=...) or rerun")
# a continuation's note where the log shows the run left no checkpoint (Run.shows_no_save)
NO_SAVE = ("the log shows no checkpoint save: --init_from=resume needs the run's ckpt.pt in its out_dir "
           "(train.py saves at an eval past step 0); without it, only rerun")


def observed_notes(run: Run, sched: Schedule, pts: RunPoints) -> list[str]:
    """What reading the run's points and schedule assumed or left out."""
    out = []
    if sched.assumed:
        out.append(f"the log does not show {', '.join(sched.assumed)}; the values in parentheses are used "
                   "(a default is nanoGPT's, an inferred one its config file's)")
    if pts.curves.left_out:
        out.append(pts.curves.left_out)
    if not pts.sig_iter:
        n = len(pts.curves.it_loss)
        few = (f"too few per-iteration losses to measure their noise ({n - n // 5} past the first fifth of "
               f"them, {points.MIN_ITERS} needed)" if n else "no per-iteration losses")
        out.append(f"{few}: eval noise assumed 0.01 nats")
    if spikes := points.spikes_left_out(pts.curves, pts.start, pts.sig_iter):
        many = spikes > 1
        out.append(f"{spikes:,} iteration loss{'es' if many else ''} far above {'their' if many else 'its'} "
                   f"neighbours (over {points.SPIKE_SIGMAS:g} sd and {points.SPIKE_NATS:g} nats above both) left "
                   "out of the fit as spikes")
    if why := unlogged_start(run):
        out.append(why)
    return out


def inside_note(asked: list[str], to: int, last: int) -> list[str]:
    """A target inside the run, where scenarios were named: the run as it ran answers."""
    if to > last or not asked:
        return []
    return [f"step {to:,} is inside the run (its last step: {last:,}): the run as it ran ('observed') is given in "
            f"place of {', '.join(asked)}"]


def unlogged_start(run: Run) -> str | None:
    """Where the log begins with a resumed process past step 0: the LR of the steps before it
    is that process's get_lr, right only if the earlier process ran the same schedule."""
    if (first := run.resumed_start()) is None:
        return None
    return (f"the log begins at step {first.first_step:,}, resumed from a checkpoint: the LR of the steps before "
            "it is taken from this process's config, which is right only if the process before it ran the same "
            "schedule (a resume at a constant LR, or with another lr_decay_iters, changed it); give the earlier "
            "log with it (`cat` the two) for its own")


def scenario_note(name: str, free: tuple[float, float], below_zero: bool, overfit: Overfitting | None,
                  to: int) -> str | None:
    """Why a scenario's values are what they are, or are not there: a loss below zero under
    its schedule, a val past its minimum (beyond the run, or inside it past the best step),
    or an annealing past the run's own that cuts the free law's weight (`free`: the
    ensemble's, and the scenario's), to nothing where it goes far past."""
    if below_zero:
        return BELOW_ZERO
    if overfit is not None and name != "observed":
        return (f"val is past its minimum ({overfit.best_val:.4f} at step {overfit.best_step}) while train keeps "
                "falling: more steps are not expected to lower it")
    if overfit is not None and to > overfit.best_step:
        return (f"val rose past its minimum ({overfit.best_val:.4f} at step {overfit.best_step}), which the fitted "
                "law does not model: the log's own evals are the measurement here")
    if free[1] == 0 < free[0]:
        return ("its LR falls far below where the run's ever did: the calibrated law predicts alone, as the run's "
                "own fit cannot tell what that annealing gives")
    if round(free[1], 2) < round(free[0], 2):  # a cut too small to print is none to say
        return (f"its LR falls below where the run's ever did: the free law, whose annealing is fitted on the run's "
                f"own fall, weighs {free[1]:.2f} instead of {free[0]:.2f}, and none at 4x the run's fall")
    return None


# inside the run the law is fitted to the run's own schedule: under another it is not measured, and
# on nanoGPT's own runs of the README CPU config it missed (docs/extrapolation.md)
CUSTOM_INSIDE = ("inside the run the law is fitted to the schedule the run ran, and under another it is not "
                 "measured: on nanoGPT's own runs of the README CPU config it missed the val of a longer cosine "
                 "at step 1,000 by 0.04 and gave its train the wrong sign (`lossdoctor verify` trains both)")
# the README CPU config's backtests measure no schedule but the run's kind (calibration.DEFAULT)
CUSTOM_ERROR = ("the README CPU config's backtests measure no schedule like this one: its interval carries the model "
                "error of the calibration grid's configs, and its value may be off more than rerun's (a constant LR "
                "from nanoGPT's 1,000-step cosine run is predicted 0.02-0.04 below nanoGPT's constant-LR run, which "
                "ended above the cosine runs: do not rank the two on these values; `lossdoctor verify` trains both)")
PER_STEP = "its LRs are the per-step schedule given: no nanoGPT flag sets them, so the flags give its length alone"


def warmup_caveat(sched: object, runs: int) -> str | None:
    """A custom schedule whose warmup is not the run's: the law counts the run's warmup
    steps at the peak LR, as it was fitted (as Tissue et al. 2024 count warmup), and a
    longer warmup's further steps at their own LR, so a longer warmup is predicted from the
    LR area it loses; what warmup does for stability, or a shorter one in its first steps,
    is not in it."""
    from .scenarios import CustomSchedule
    if (not isinstance(sched, CustomSchedule) or sched.warmup_iters is None or sched.warmup_iters == runs
            or sched.decay_lr is False):  # (train.py runs no warmup without decay_lr)
        return None
    how = (f"and this schedule's other {sched.warmup_iters - runs:,} at their own LR, so this carries the LR area "
           "a longer warmup gives up, not what it does for stability" if sched.warmup_iters > runs else
           "and this schedule's alike, so this does not carry what a shorter warmup gains in those steps, or "
           "what warmup does for stability")
    steps = "step" if sched.warmup_iters == 1 else "steps"
    return (f"its warmup is {sched.warmup_iters:,} {steps}, the run's {runs:,}: the law counts the run's warmup steps "
            f"at the peak LR, as it was fitted, {how} (`lossdoctor verify` can train both)")


def share(fraction: float) -> str:
    """A model error as a share of the loss: "1.2%", or "under 0.1%" for one that rounds to
    0.0% but is not 0 (one step past a run: a horizon ratio of 1.001)."""
    return "under 0.1%" if 0 < fraction < 0.0005 else f"{fraction:.1%}"


def refuted(errors: LawErrors) -> str:
    """Why the run's own backtest rules the calibrated law alone out (streams.refuted)."""
    return (f"on this run's own backtest (train stream, fit 70%) it errs {errors.calibrated:.1f} sigma against the "
            f"free law's {errors.free:.1f}")


def fit_notes(run: Run, cal: Calibration, to: int, last: int, fits: Fits, sched: Schedule, val_ratio: float,
              regime: Regime | None = None) -> list[str]:
    """What a reader of the prediction at `to` must know: a target inside the run, a config
    off the calibrated one (and the model error it carries, at val's horizon: from its last
    eval, `val_ratio`; `regime`: "blend" or "ruled out", RunFits._blend_regime), reference runs not
    joined, a curve far from the calibrated shape."""
    notes = []
    horizon = val_ratio if fits.val is not None else to / max(last, 1)  # val's, where val is predicted
    if to <= last:
        notes.append(f"step {to:,} is inside the observed range: the fitted law's value there, a smoothed one"
                     + _logged_near(run, to) + "; its interval carries the law's miss at the run's points near "
                     "it, which fades past the run, where what joins the prediction (the reference runs of its "
                     "config, the calibrated law alone, or a blend: docs/extrapolation.md) can narrow it further")
    config = lr_mod.lineage_config(run, sched)  # a continuation at its min_lr: the first process's LR settings
    differ = calibration_mod.differences(config)
    unshown = [w.split()[0] for w in calibration_mod.mismatch(config) if w.endswith(" not shown")]
    changed = config is not run.config and not differ and not unshown and calibration_mod.mismatch(run.config)
    carried = cal.model_error(horizon, fits.alone, train=fits.val is None, short=regime == "blend",
                              ruled_out=regime == "ruled out")
    error = (f"the interval carries the model error measured on other configs ({share(carried)} of the loss at "
             "this horizon; docs/benchmarks.md)")
    if differ and to > last:
        notes.append("the shape prior is calibrated on nanoGPT's README CPU config; this run differs in "
                     f"{', '.join(differ[:4])}{' ...' if len(differ) > 4 else ''}: {error}")
    elif changed and to > last:
        notes.append("the run's config is nanoGPT's README CPU config, on which the shape prior is calibrated, but "
                     "its last process changed its LR settings (a continuation at another LR): the runs the "
                     f"calibration was measured on did not, so {error}")
    elif unshown and to > last:
        joined = f"; the reference runs ({reference.SOURCE}) are not joined" if fits.why_not else ""
        notes.append("the shape prior is calibrated on nanoGPT's README CPU config; the log does not show "
                     f"{', '.join(unshown[:4])}{' ...' if len(unshown) > 4 else ''}, so this run may differ: "
                     f"{error}{joined}")
    elif cal is calibration_mod.CONSTANT_LR and to > last:
        notes.append("the run's config is nanoGPT's README CPU config at a constant LR (decay_lr=False), on which "
                     "the shape prior is calibrated; the runs the calibration was measured on decayed their LR, "
                     f"so {error}")
    if fits.alone and to > last and cal.alone_from is not None and last >= cal.alone_from:
        notes.append(f"the run is {last:,} steps long and its log does not show it is the README CPU config: from "
                     f"{cal.alone_from:,} steps on the calibrated-shape law is used alone, through L0 = 0, as "
                     "measured best on runs of other configs (docs/extrapolation.md)")
    elif fits.ruled_out is not None and to > last:
        notes.append("the calibrated-shape law alone, through L0 = 0, would be used here, but "
                     f"{fits.ruled_out}: the ensemble of both laws is used instead")
    elif fits.alone and to > last and cal.alone_unreferenced:
        notes.append("without the reference runs the calibrated-shape law, calibrated on this config's runs, is "
                     "used alone, through L0 = 0, as measured best on this config's backtests without them "
                     "(docs/extrapolation.md)")
    if fits.reference is None and (bends := _bends(fits, cal)):  # with the reference runs the shape is theirs
        notes.append(bends)
    if to > last and last < cal.measured_from:
        notes.append(_short(cal, horizon, last))
    return notes


def _short(cal: Calibration, horizon: float, last: int) -> str:
    """A run shorter than its calibration's model error was measured on: whose it carries."""
    said = f"the run is {last:,} steps, shorter than the {cal.measured_from:,} its calibration's backtests start from"
    errors = cal.errors_for(last)
    if errors is cal:
        return f"{said}: how far the law misses there is not measured, and the interval may be too narrow"
    return (f"{said}: the interval carries the model error measured on other configs (the calibration grid, from "
            f"{errors.measured_from:,} steps on; {share(errors.model_error(horizon))} of the loss at this "
            "horizon; docs/benchmarks.md)" + (f", itself not measured below {errors.measured_from:,} steps"
                                              if last < errors.measured_from else ""))


def _bends(fits: Fits, cal: Calibration) -> str | None:
    """A stream whose posterior mean shape lies over 3 prior sd from the calibrated prior,
    with both shapes quoted (the shape printed with the model is the heaviest sample's)."""
    streams = [("train", fits.train.post, cal.train_prior)]
    if fits.val:
        streams.append(("val", fits.val.post, cal.val_prior))
    far, name, post, prior = max((shape.distance(p, q), n, p, q) for n, p, q in streams)
    if far <= 3:
        return None
    a, lam, r = shape.from_theta(post.weights @ post.thetas)
    pa, plam, pr = shape.from_theta(np.array(prior.mean))
    leans = "the calibrated law is used alone" if fits.alone else "the prediction leans on the run's own fit"
    return (f"the run's {name} curve bends unlike the calibrated shape: its mean shape, alpha {a:.3f}, lam {lam:.4f}, "
            f"r {r:.3g}, lies {far:.1f} prior sd from the prior's (alpha {pa:.3f}, lam {plam:.4f}, r {pr:.3g}; "
            f"calibrated on {prior.source}; the prior is tight and its parameters move together, so shapes that "
            f"read alike can lie far apart in it): {leans}, and the model error is the calibration's; read the "
            "interval with care")


def _logged_near(run: Run, to: int) -> str:
    """'; the log's eval at step S: val V, train T' for the eval nearest `to`, or ''; where
    that is not `to` itself, how far it lies (an eval at step 0 is no check of step 100)."""
    ev = run.curves()[0]
    if not len(ev):
        return ""
    i = int(np.argmin(np.abs(ev.step - to)))
    step = int(ev.step[i])
    away = "" if step == to else f" (the nearest, {abs(step - to):,} steps {'before' if step < to else 'after'})"
    return f"; the log's eval at step {step:,}{away}: val {ev.val[i]:.4f}, train {ev.train[i]:.4f}"


def unshown_epochs(run: Run) -> str:
    """Which of the epochs fact's inputs the log does not show."""
    from ..facts import FACTS, Context
    ctx = Context(run, FACTS)
    unshown = [what for name, what in (("tokens_per_iter", "the tokens per step"),
                                       ("dataset_tokens", "the data's size")) if not ctx.fact(name).known]
    return " or ".join(unshown) or "the epochs of the data"


def epochs_notes(run: Run, to: int, last: int, per_step: float | None, cal: Calibration) -> list[str]:
    """How the target's epochs of the data enter val (repeat.py), and a target past the
    epochs the ensemble was measured at, up to those the calibrated law alone and the
    README CPU config were (calibration.ENSEMBLE_EPOCHS, ALONE_EPOCHS)."""
    if to <= last:
        return []
    if per_step is None:
        return [f"the log does not show {unshown_epochs(run)}: val is predicted as if no data repeats (where "
                "it does, val will be higher)"] if cal.repeat_r_star is not None else []
    epochs, parts = to * per_step, []
    if cal.repeat_r_star is not None and epochs > 1:
        parts.append(f"val counts them at their diminishing worth (Muennighoff et al. 2023, R* = "
                     f"{cal.repeat_r_star:g}), as {repeat.effective_epochs(epochs, cal.repeat_r_star):.1f} epochs "
                     "of new data; train counts every step")
    if epochs > calibration_mod.ENSEMBLE_EPOCHS:
        parts.append(f"past {calibration_mod.ENSEMBLE_EPOCHS:g} epochs: at {calibration_mod.ALONE_EPOCHS:g} the "
                     "backtests found the predictions 0.000 to 0.033 too optimistic, inside their intervals "
                     "(docs/benchmarks.md, \"Repetition runs\")")
    return [f"step {to:,} is {epochs:.1f} epochs of the training data: " + "; ".join(parts)] if parts else []


def reference_dropped(worst: float, last: int) -> str:
    """Why the reference runs were left out of a run of their config: its points lie `worst`
    nats off the joint fit, which a run shorter than the tolerance was measured from may do
    by its early steps alone."""
    from . import reference
    why = (f"a run of {last:,} steps, shorter than the {reference.MEASURED_FROM:,} the tolerance was measured "
           "from (its early steps lie off a fit of longer runs), or other data or code"
           if last < reference.MEASURED_FROM else "other data or code?")
    return (f"the run's points lie {worst:.3f} nats off the reference runs of its config ({reference.SOURCE}; "
            f"tolerance {reference.TOLERANCE}): {why}; fitted without them")


def without_them(name: str, joined: str, alone: Estimate, with_them: Estimate) -> str:
    """Scenario `name`'s val from the run's own points against that with `joined` runs."""
    a, v = alone, with_them
    return (f"{name} without {joined}: val {a.mean:.4f} [{a.lo:.4f}, {a.hi:.4f}]; with them "
            f"{v.mean:.4f} [{v.lo:.4f}, {v.hi:.4f}]: the interval is {(v.hi - v.lo) / (a.hi - a.lo):.2f}x as wide")
