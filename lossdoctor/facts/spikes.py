"""Loss spikes in the per-iteration losses, as llm-foundry's KillLossSpike finds them, and
a sustained rise of the logged train loss above the lowest level it reached."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..curves import MAX_LOSS
from .base import Context, Fact, plural, unknown
from .curve import diff_sd, iter_points, not_step_losses, runs_of

# llm-foundry callbacks/kill_loss_spike_callback.py (KillLossSpike defaults)
SPIKE_MULTIPLIER = 2.0  # a loss >= 2x the mean of the window before it is an outlier
SPIKE_PATIENCE = 4  # more than 4 outliers in a row make a spike
SPIKE_MIN_WINDOW = 100  # logged iterations
SPIKE_WINDOW_FRACTION = 0.05  # of all logged iterations
# and at least this far above that mean (nats): near zero loss, as when a model has
# memorized its text, doubling is a rise of hundredths of a nat, not a spike
SPIKE_MIN_NATS = 0.5


def _spikes(ctx: Context) -> tuple[np.ndarray, int] | str:
    """Start steps of the loss spikes and the window, or why they cannot be found.

    llm-foundry's KillLossSpike: a loss >= 2x the mean of the `window` losses before it is an
    outlier; more than 4 outliers in a row make a spike. Here the losses are the logged
    iterations (every log_interval-th step), the window max(100, 5% of them), and an outlier
    must also be SPIKE_MIN_NATS above the mean."""
    def find() -> tuple[np.ndarray, int] | str:
        if why := not_step_losses(ctx):
            return why
        step, loss = iter_points(ctx)
        n = len(loss)
        window = max(SPIKE_MIN_WINDOW, round(SPIKE_WINDOW_FRACTION * n))
        if n < window + SPIKE_PATIENCE + 1:
            return (f"{plural(n, 'finite logged iteration')}, "
                    f"{window + SPIKE_PATIENCE + 1} needed")
        # a corrupt 1e30 would swallow every later window's sum (1e30 + 2 - 1e30 = 0) and make
        # each later loss an outlier: past any cross-entropy a run reaches it counts as MAX_LOSS
        csum = np.concatenate(([0.0], np.cumsum(np.minimum(loss, MAX_LOSS))))
        before = (csum[window:n] - csum[:n - window]) / window  # mean of loss[i-window:i]
        outlier = (loss[window:] >= SPIKE_MULTIPLIER * before) & (loss[window:] - before >= SPIKE_MIN_NATS)
        starts, ends = runs_of(outlier)
        long = (ends - starts) > SPIKE_PATIENCE
        return step[window + starts[long]], window
    return ctx.memo("curve_spikes", find)


SPIKE_SOURCE = ("llm-foundry KillLossSpike: iter loss >= 2x mean of the previous window "
                f"(and >= {SPIKE_MIN_NATS} nats above it), >4 in a row")


def spike_count(ctx: Context) -> Fact:
    name, unit = "spike_count", "spikes"
    found = _spikes(ctx)
    if isinstance(found, str):
        return unknown(name, unit, SPIKE_SOURCE, found)
    starts, window = found
    return Fact(name, len(starts), unit, "computed", SPIKE_SOURCE,
                f"window {window} logged iterations")


def first_spike_step(ctx: Context) -> Fact:
    """Step of the first outlier of the first spike (llm-foundry fires 4 outliers later)."""
    name, unit = "first_spike_step", "steps"
    found = _spikes(ctx)
    if isinstance(found, str):
        return unknown(name, unit, SPIKE_SOURCE, found)
    starts, _ = found
    if not len(starts):
        return Fact(name, None, unit, "computed", SPIKE_SOURCE, "no spike")
    return Fact(name, int(starts[0]), unit, "computed", SPIKE_SOURCE)


# a sustained rise: where the logged train loss ends against the lowest level it reached
RISE_WINDOW_FRACTION = 0.05  # of the logged iterations, as llm-foundry's window
RISE_MIN_WINDOW = 5  # logged iterations: a median of fewer is one noisy point
MEDIAN_SE = 1.2533  # a median's standard error over a mean's, for normal noise (sqrt(pi/2))
RISE_SOURCE = ("medians of windows of the logged iteration losses (5% of them, at least 5): the last two "
               "against the lowest")


@dataclass(frozen=True)
class Rise:
    rise: float  # nats: the lower of the last two window medians, above the lowest window's
    se: float  # nats: one window median's standard error
    windows: int  # windows compared
    gained: float  # nats: the first window's median down to the lowest
    low: float  # nats: the lowest window median
    low_step: int  # first step of that window


def _rise(ctx: Context) -> Rise | str:
    """The rise of the logged train loss from its lowest level to the end, or why it is not
    measured. Windows of w logged iterations, end-aligned, do not overlap; their medians are
    blind to a few stray batches. The rise counts only what both of the last two windows
    keep (it stayed up), and is measured on finite losses: a NaN is LD801's."""
    def find() -> Rise | str:
        if (why := not_step_losses(ctx)) and ctx.run.measures.train != "window":
            return why
        step, loss = iter_points(ctx)
        n = len(loss)
        w = max(RISE_MIN_WINDOW, round(RISE_WINDOW_FRACTION * n))
        k = n // w
        if k < 4:
            return f"{plural(n, 'finite logged iteration')}, {4 * w} needed"
        first = n - k * w  # windows end at the last point
        med = np.median(loss[first:].reshape(k, w), axis=1)  # (k,)
        low = int(np.argmin(med))
        se = MEDIAN_SE * diff_sd(loss) / math.sqrt(w)
        return Rise(float(min(med[-1], med[-2]) - med[low]), se, k, float(med[0] - med[low]), float(med[low]),
                    int(step[first + low * w]))
    return ctx.memo("curve_rise", find)


def train_rise(ctx: Context) -> Fact:
    """How far the logged train loss stays above the lowest level it reached: the lower of
    the last two window medians, less the lowest window median."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_rise", "nats", RISE_SOURCE, found)
    return Fact("train_rise", found.rise, "nats", "computed", RISE_SOURCE)


def train_rise_z(ctx: Context) -> Fact:
    """train_rise in standard errors of a difference of two window medians, after taking off
    what picking the lowest of k windows gains by chance (about sqrt(2 ln k) of one
    median's standard error): flat noise does not read as a rise."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_rise_z", "", RISE_SOURCE, found)
    chance = math.sqrt(2 * math.log(found.windows)) * found.se
    return Fact("train_rise_z", (found.rise - chance) / (found.se * math.sqrt(2)), "", "computed", RISE_SOURCE,
                f"train_rise less the {chance:.4f} nats the lowest of {found.windows} windows falls by chance (so "
                f"below 0 where the rise is less); se {found.se:.4f} nats of a window median")


def train_rise_frac(ctx: Context) -> Fact:
    """train_rise as a fraction of what the run had gained, the first window's median down
    to the lowest (1 or more: back at or above where it started). A gain within the noise
    counts as the noise (twice the se of a difference), so a run that never fell and then
    climbed reads as far above 1, not as unknown."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_rise_frac", "", RISE_SOURCE, found)
    gained = max(found.gained, 2 * math.sqrt(2) * found.se)
    return Fact("train_rise_frac", found.rise / gained, "", "computed", RISE_SOURCE)


def train_low_step(ctx: Context) -> Fact:
    """First step of the window where the logged train loss was lowest."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_low_step", "steps", RISE_SOURCE, found)
    return Fact("train_low_step", found.low_step, "steps", "computed", RISE_SOURCE)


def train_low(ctx: Context) -> Fact:
    """The lowest window median of the logged train loss."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_low", "nats", RISE_SOURCE, found)
    return Fact("train_low", found.low, "nats", "computed", RISE_SOURCE)
