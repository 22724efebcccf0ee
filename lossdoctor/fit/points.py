"""A run's loss points for fitting: its curves, their noise, and the points themselves.

The noise of one iteration's loss is the robust sd of successive differences / sqrt 2
(successive iterations differ by noise, not by progress); an eval averages eval_iters
batches of the same size, so its sd is that / sqrt(eval_iters). nanoGPT logs the last
micro-batch's loss (loss.item() * accum), so gradient accumulation does not shrink it.

The per-iteration losses are thinned before anything is fitted: they are averaged in
about TRAIN_BINS bins, each weighted by sigma_iter / sqrt(its size). A fit's cost grows
with the number of evals and bins, not with the number of logged iterations. A run with
more than MAX_EVALS evals (a long run evaluated often) has its evals averaged in groups of
neighbours down to about MAX_EVALS points too, each weighted by sigma_eval / sqrt(its
size): over a group's few percent of the run the curve is a straight line to well within
one eval's noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import nanogpt
from ..curves import MAX_LOSS
from ..errors import LossdoctorError
from ..facts.base import plural
from ..facts.curve import diff_sd
from ..run import Run
from . import lr, shape
from .results import Overfitting
from .shape import Segment

TRAIN_BINS = 40  # per-iteration losses are averaged in about this many bins
MAX_EVALS = 100  # evals of a stream, above which neighbours are averaged


class CannotExtrapolate(LossdoctorError):
    """The run does not allow a prediction; the message says why."""

    def __init__(self, why: str) -> None:
        super().__init__(f"cannot extrapolate: {why}")
        self.why = why




@dataclass(frozen=True)
class Curves:
    ev_step: np.ndarray
    ev_train: np.ndarray
    ev_val: np.ndarray
    it_step: np.ndarray
    it_loss: np.ndarray
    # non-finite losses the run went on past (a NaN batch, an inf fp16's scaler skipped):
    # left out of the fit, and a note says how many and where the first was
    left_out: str = ""

    @property
    def last(self) -> int:
        """The last observed step (eval or iteration)."""
        return int(max(self.ev_step.max(initial=0), self.it_step.max(initial=0)))


def curves(run: Run) -> Curves:
    ev, it = run.curves()
    if len(ev) == 0 and len(it) == 0:
        raise CannotExtrapolate("the run has no loss values")
    last_ok = max((int(s[np.isfinite(a)].max()) for a, s in ((ev.val, ev.step), (it.loss, it.step))
                   if np.isfinite(a).any()), default=-1)  # the run's last finite loss, of either stream
    for name, arr, s in (("eval", ev.val, ev.step), ("iteration", it.loss, it.step)):
        bad = ~np.isfinite(arr)
        if not bad.any() or np.isfinite(arr[-1]) or int(s[-1]) <= last_ok:  # the run went on past them
            continue
        if int(s[bad][0]) == 0 and bad.all():  # before any update and ever after: the model or its data
            raise CannotExtrapolate(f"non-finite {name} loss at step 0, before any update: not a divergence, "
                                    "the model or its data gives no finite loss (lossdoctor analyze says more)")
        raise CannotExtrapolate(f"non-finite {name} loss from step {final_stretch_from(s, ~bad):,} on "
                                "(the run diverged)")
    ev_ok, it_ok = np.isfinite(ev.val), np.isfinite(it.loss)
    train_bad = ev_ok & ~np.isfinite(ev.train) if run.measures.eval_train else np.zeros(len(ev), bool)
    left_out = _non_finite_note(ev.step[~ev_ok | train_bad], it.step[~it_ok])  # an eval's NaN train: its train alone
    for name, arr, s in (("eval", ev.val, ev.step), ("eval's train", ev.train, ev.step),
                         ("iteration", it.loss, it.step)):
        huge = np.isfinite(arr) & (np.abs(np.nan_to_num(arr)) > MAX_LOSS)  # an inf is a NaN's kind: left out above
        if huge.any():
            k = int(np.flatnonzero(huge)[0])
            raise CannotExtrapolate(f"an {name} loss of {float(arr[k]):.3g} at step {int(s[k]):,}: beyond any "
                                    "cross-entropy a model's training reaches (the run diverged, or the number "
                                    "is corrupt)")
    for name, s, lines in (("eval", ev.step, ev.line), ("iteration", it.step, it.line)):
        if len(s) > 1 and np.any(np.diff(s) <= 0):
            k = int(np.flatnonzero(np.diff(s) <= 0)[0]) + 1
            raise CannotExtrapolate(f"steps are not increasing: the {name} at line {int(lines[k]):,} is at step "
                                    f"{int(s[k]):,}, after one at step {int(s[k - 1]):,} (two runs' lines mixed in "
                                    "one file? give each run's log apart)")
    if len(ev) >= 3 and ev.val[-1] > ev.val[0] + 0.5 and ev.train[-1] > ev.train[0]:
        raise CannotExtrapolate("the loss is rising (the run diverged)")
    cur = Curves(ev.step[ev_ok].astype(int), ev.train[ev_ok], ev.val[ev_ok], it.step[it_ok].astype(int),
                 it.loss[it_ok], left_out)
    if cur.last == 0:
        raise CannotExtrapolate(f"every point{_in_last_run(run)} is at step 0: there is no curve yet")
    return cur


def final_stretch_from(steps: np.ndarray, finite: np.ndarray) -> int:
    """The step at which the non-finite values that end `steps` (in order) began: the one
    after the last finite value (a NaN the run went on past, earlier, is not it)."""
    good = np.flatnonzero(finite)
    return int(steps[good[-1] + 1] if len(good) and good[-1] + 1 < len(steps) else steps[0])


def _non_finite_note(evals: np.ndarray, iters: np.ndarray) -> str:
    """The note on non-finite losses the run recovered from ('' for none)."""
    n = len(evals) + len(iters)
    if not n:
        return ""
    first = int(min([*evals.tolist(), *iters.tolist()]))
    what = ", ".join(f"{len(x):,} {kind}{'s' if len(x) > 1 else ''}"
                     for x, kind in ((evals, "eval"), (iters, "iteration")) if len(x))
    return (f"{what} with a NaN/inf loss (the first at step {first:,}), which the run went on past to finite "
            "losses, left out of the fit")


def _in_last_run(run: Run) -> str:
    """' of the last of its N runs (...)' when the log restarts: the fit takes the last."""
    restarts = len(run.segments) - 1
    back = "once" if restarts == 1 else f"{restarts} times"
    return f" of the last of its {restarts + 1} runs (its steps go back {back})" if restarts > 0 else ""


class Points(NamedTuple):
    """A stream's points: (steps, y, sigma)."""

    steps: np.ndarray
    y: np.ndarray
    sigma: np.ndarray

    def on(self, eta: np.ndarray) -> Segment:
        return Segment(self.steps, self.y, self.sigma, eta)


class RunPoints(NamedTuple):
    """What the fits take from one run: its curves, noise, and points from `start` on."""

    curves: Curves
    last: int
    sig_iter: float | None  # one iteration's loss sd; None with too few iterations
    sig_eval: float  # one eval's sd
    start: int
    train: Points  # iteration bins and the evals' train losses
    val: Points  # the val evals

    @property
    def shown_from(self) -> int:
        """The first step a point is taken from, as a reason says it: `start`, or the log's
        first step where it begins later (a log that begins with a resume)."""
        firsts = [int(a.min()) for a in (self.curves.ev_step, self.curves.it_step) if len(a)]
        return max(self.start, min(firsts)) if firsts else self.start

    @property
    def val_last(self) -> int:
        """The step of the last val eval fitted (the last step where there is none): val's
        horizon counts from there, as its backtests' did (their evals end at the last step)."""
        return int(self.val.steps.max()) if len(self.val.steps) else self.last


def collect(run: Run, cur: Curves, warmup: int, start_fraction: float) -> RunPoints:
    """The points to fit: from `start_fraction` of the run on, and past the warmup (or
    half the run).

    Raises:
        CannotExtrapolate: too few points, or a constant loss.
    """
    last = cur.last
    sig_iter = iter_sigma(cur)
    sig_eval = sig_iter / math.sqrt(_eval_iters(run)) if sig_iter else 0.01
    start = max(1, int(start_fraction * last), min(warmup, last // 2))
    tr = train_points(cur, start, sig_iter, sig_eval, _dropout(run))
    va = val_points(cur, start, sig_eval)
    va_steps, va_y = va.steps, va.y
    if len(va_steps) < 3 and len(tr.steps) < 10:
        firsts = [int(a.min()) for a in (cur.ev_step, cur.it_step) if len(a)]
        shown = max(start, min(firsts)) if firsts else start  # a log that begins later: from its first step
        raise CannotExtrapolate(f"too few points after step {shown:,}{_in_last_run(run)}: "
                                f"{plural(len(va_steps), 'eval')}, {plural(len(tr.steps), 'binned iteration')}")
    if len(tr.steps) and float(np.ptp(tr.y)) < 1e-6 and (not len(va_y) or float(np.ptp(va_y)) < 1e-6):
        raise CannotExtrapolate("the loss is constant")
    if len(tr.steps) < 3:
        raise CannotExtrapolate(f"too few train points after step {start} ({len(tr.steps)})")
    return RunPoints(cur, last, sig_iter, sig_eval, start, tr, va)


def _dropout(run: Run) -> float | None:
    """The run's dropout where its config shows it, else None."""
    p = run.config.trusted("dropout")
    return float(p) if isinstance(p, (int, float)) and not isinstance(p, bool) else None


def _eval_iters(run: Run) -> int:
    """The batches one eval averages: the run's eval_iters, else train.py's default."""
    return int(run.config.get("eval_iters") or nanogpt.EVAL_ITERS_DEFAULT)


MIN_ITERS = 20  # iteration losses past the first fifth that measure their noise


def iter_sigma(cur: Curves) -> float | None:
    """sd of one iteration's loss (nats), or None with fewer than MIN_ITERS iterations past
    the first fifth."""
    y = cur.it_loss[len(cur.it_loss) // 5:]
    if len(y) < MIN_ITERS:
        return None
    return diff_sd(y)  # the same estimate as the iter_loss_sd fact


def val_points(cur: Curves, start: int, sig_eval: float) -> Points:
    """The val evals from `start` on (step 0 left out), thinned to about MAX_EVALS."""
    m = (cur.ev_step >= start) & (cur.ev_step > 0)
    return thin(cur.ev_step[m], cur.ev_val[m], sig_eval, MAX_EVALS)


def thin(steps: np.ndarray, y: np.ndarray, sigma: float, most: int) -> Points:
    """Points of equal noise `sigma`, as they are when there are at most `most`; else
    averaged in groups of k neighbours (mean step, mean loss, sigma / sqrt(k)), the last
    group taking the remainder."""
    n = len(steps)
    if n <= most:
        return Points(steps.astype(int), y, np.full(n, sigma))
    k = math.ceil(n / most)
    groups = np.arange(n) // k  # (n,) group of each point
    size = np.bincount(groups).astype(float)
    mean_step = np.bincount(groups, weights=steps.astype(float)) / size
    return Points(np.round(mean_step).astype(int), np.bincount(groups, weights=y) / size, sigma / np.sqrt(size))


def train_points(cur: Curves, start: int, sig_iter: float | None, sig_eval: float,
                 dropout: float | None = None) -> Points:
    """Per-iteration train losses in bins (mean step, mean loss, sigma / sqrt(n)), plus the
    evals' train losses. With dropout on, the iterations are shifted onto the evals
    (dropout_gap), so that the stream is one measure: the eval-mode train loss."""
    m = cur.it_step >= start
    st, lo = cur.it_step[m], cur.it_loss[m] - dropout_gap(cur, start, dropout)
    if sig_iter and len(st) >= 20:
        size = max(1, len(st) // TRAIN_BINS)
        n = len(st) // size
        bin_steps = np.round(st[:n * size].reshape(n, size).mean(axis=1)).astype(int)
        kept = ~spiking(lo, sig_iter)[:n * size].reshape(n, size)  # (bins, iterations)
        count = kept.sum(axis=1)
        some = count > 0  # a bin of spikes alone is no point
        bin_y = (np.where(kept, lo[:n * size].reshape(n, size), 0.0).sum(axis=1)[some] / count[some])
        bin_steps, bin_sig = bin_steps[some], sig_iter / np.sqrt(count[some])
    else:
        bin_steps, bin_y, bin_sig = np.zeros(0, int), np.zeros(0), np.zeros(0)
    e = (cur.ev_step >= start) & (cur.ev_step > 0) & np.isfinite(cur.ev_train)  # NaN: not measured, or lost
    ev = thin(cur.ev_step[e], cur.ev_train[e], sig_eval, MAX_EVALS)
    steps = np.concatenate([bin_steps, ev.steps])
    order = np.argsort(steps, kind="stable")
    return Points(steps[order].astype(int), np.concatenate([bin_y, ev.y])[order],
                  np.concatenate([bin_sig, ev.sigma])[order])


# an iteration this far above both its neighbours is a spike, left out of the fit: one loss
# of 60 among losses of 1.9 had moved its bin by 2 nats and the law refused the run. Above
# both: a falling trend, however fast, has one neighbour above it
SPIKE_SIGMAS = 10.0  # iteration sds
SPIKE_NATS = 0.5  # and at least this (LD203's outlier margin)


def spiking(loss: np.ndarray, sig_iter: float) -> np.ndarray:
    """(I,) bool: the iterations far above both their neighbours (the first and last have
    one neighbour, and are never left out)."""
    out = np.zeros(len(loss), bool)
    if len(loss) >= 3:
        above = loss[1:-1] - np.maximum(loss[:-2], loss[2:])
        out[1:-1] = above > max(SPIKE_SIGMAS * sig_iter, SPIKE_NATS)
    return out


def spikes_left_out(cur: Curves, start: int, sig_iter: float | None) -> int:
    """How many iterations the fit leaves out as spikes (train_points)."""
    if not sig_iter:
        return 0
    return int(spiking(cur.it_loss[cur.it_step >= start], sig_iter).sum())


GAP_WINDOW = 5  # logged iterations each side of an eval whose mean is compared with its train loss
GAP_Z = 3.0  # with dropout unknown, a gap this many standard errors from 0 is shifted


def dropout_gap(cur: Curves, start: int, dropout: float | None) -> float:
    """How far the iteration losses sit above the evals' train losses (nats): with dropout
    on, an iteration's loss is in train mode and an eval's in eval mode, without it.
    The median over the evals past `start` of (mean of the iterations within GAP_WINDOW
    logged iterations of the eval: 5 steps at log_interval 1, 50 at 10) - (its train loss);
    0 where dropout is 0, where the evals give no train loss, and, dropout unknown, where
    the gap is within GAP_Z standard errors of 0."""
    if dropout == 0.0 or len(cur.it_step) < 2:
        return 0.0
    reach = GAP_WINDOW * max(1, int(np.median(np.diff(cur.it_step))))  # steps
    gaps = []
    for step, train in zip(cur.ev_step, cur.ev_train, strict=True):
        near = np.abs(cur.it_step - step) <= reach
        if step >= start and step > 0 and np.isfinite(train) and near.sum() >= GAP_WINDOW:
            gaps.append(float(cur.it_loss[near].mean()) - float(train))
    if len(gaps) < 3:
        return 0.0
    gap = float(np.median(gaps))
    se = 1.25 * float(np.std(gaps, ddof=1)) / math.sqrt(len(gaps))  # the median's, about
    return gap if dropout is not None or abs(gap) > GAP_Z * se else 0.0


class Joined(NamedTuple):
    """Another run of the same config (another horizon), its points under its own schedule."""

    source: str
    last: int
    train: Segment
    val: Segment


def joined(other: Run, start: int, start_fraction: float) -> Joined:
    """`other`'s train and val points from `start` (or its own start fraction) on."""
    cur = curves(other)
    last = cur.last
    sched = lr.read(other, last)
    e = shape.eta(sched.observed, sched.warmup)
    sig_iter = iter_sigma(cur) or 0.05
    sig_eval = sig_iter / math.sqrt(_eval_iters(other))
    first = max(start, int(start_fraction * last))
    return Joined(other.source, last, train_points(cur, first, sig_iter, sig_eval, _dropout(other)).on(e),
                  val_points(cur, first, sig_eval).on(e))


RISE_Z = 2 * math.sqrt(2)  # LD501-val-past-minimum's min_z


def overfitting(cur: Curves, sig_eval: float) -> Overfitting | None:
    """Where val has risen above its minimum while train kept falling, by LD501's test: the
    rise over 2·√2 eval sd (a difference of two evals; the minimum of many noisy evals sits
    low by chance), train fallen since the best eval by over 2 eval sd. A plateau with one
    low eval is not a turn."""
    if len(cur.ev_val) < 3:
        return None
    i = int(np.argmin(cur.ev_val))
    rising = cur.ev_val[-1] - cur.ev_val[i] > RISE_Z * sig_eval
    train_falling = cur.ev_train[-1] < cur.ev_train[i] - 2 * sig_eval
    if i < len(cur.ev_val) - 1 and rising and train_falling:
        return Overfitting(int(cur.ev_step[i]), float(cur.ev_val[i]))
    return None


STALL_EVALS = 4  # at least: the tail over which val is checked against train (a third of the evals)


def val_stalled(cur: Curves, sig_eval: float) -> str | None:
    """Why val has stopped following train, or None: over the last third of the evals (4 at
    least), train's least-squares slope falls by over 3 standard errors while val's falls
    by less than 2 (or rises) and at under a quarter of train's rate. Data that repeat do
    this before val turns up (LD501's overfitting); where the log does not show the data's
    size, the extrapolation cannot count it. One noisy last eval is not a stall: the slopes
    read every eval of the tail. Both standard errors are the train evals' (`sig_eval`),
    the smaller: a val slope is called falling sooner, so the stall is called later."""
    k = max(STALL_EVALS, len(cur.ev_val) // 3)
    if len(cur.ev_val) < k or sig_eval <= 0:
        return None
    x = cur.ev_step[-k:].astype(float)
    x = x - x.mean()
    if not np.any(x):
        return None
    se = sig_eval / math.sqrt(float(np.sum(x * x)))  # a slope's standard error, per step
    sv, st = (float(np.sum(x * y[-k:]) / np.sum(x * x)) for y in (cur.ev_val, cur.ev_train))
    if st < -3 * se and sv > -2 * se and sv > 0.25 * st:
        per = 1000  # nats per 1,000 steps, as LD101 says slopes
        return (f"val has stopped following train: over its last {k} evals (steps {int(cur.ev_step[-k]):,} to "
                f"{int(cur.ev_step[-1]):,}) val's slope is {sv * per:+.4f} nats per 1,000 steps "
                f"({sv / se:+.1f} standard errors) while train's is {st * per:+.4f} ({st / se:+.1f})")
    return None
