"""Loss spikes in the per-iteration losses, as llm-foundry's KillLossSpike finds them, and
a sustained rise of the logged train loss above the lowest level it reached."""

from __future__ import annotations

import math

import numpy as np

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
        csum = np.concatenate(([0.0], np.cumsum(loss)))
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
RISE_MIN_WINDOW = 5  # logged iterations: a mean of fewer is one noisy point
RISE_SOURCE = "window means of the logged iteration losses (5% of them, at least 5): the last against the lowest"


def _rise(ctx: Context) -> tuple[float, float, float, int, float] | str:
    """(rise, its standard error, the first window's fall to the low, the low window's first
    step, the low) of the logged train loss, or why it is not measured. Window means of w logged
    iterations: the lowest, the last and the first; the se is that of a difference of two
    window means, from the iteration noise (iter_loss_sd)."""
    def find() -> tuple[float, float, float, int, float] | str:
        if (why := not_step_losses(ctx)) and ctx.run.measures.train != "window":
            return why
        step, loss = iter_points(ctx)
        n = len(loss)
        w = max(RISE_MIN_WINDOW, round(RISE_WINDOW_FRACTION * n))
        if n < 4 * w:
            return f"{plural(n, 'finite logged iteration')}, {4 * w} needed"
        csum = np.concatenate(([0.0], np.cumsum(loss)))
        means = (csum[w:] - csum[:-w]) / w  # means[i]: loss[i:i+w]
        low = int(np.argmin(means))
        sd = diff_sd(loss)
        return (float(means[-1] - means[low]), sd * math.sqrt(2 / w), float(means[0] - means[low]), int(step[low]),
                float(means[low]))
    return ctx.memo("curve_rise", find)


def train_rise(ctx: Context) -> Fact:
    """How far the logged train loss ends above the lowest level it reached (window means)."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_rise", "nats", RISE_SOURCE, found)
    return Fact("train_rise", found[0], "nats", "computed", RISE_SOURCE)


def train_rise_z(ctx: Context) -> Fact:
    """train_rise in standard errors of a difference of two window means."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_rise_z", "", RISE_SOURCE, found)
    rise, se = found[:2]
    return Fact("train_rise_z", rise / se, "", "computed", RISE_SOURCE, f"se {se:.4f} nats")


def train_rise_frac(ctx: Context) -> Fact:
    """train_rise as a fraction of what the run had gained: the first window's mean down to
    the lowest (1: back where it started)."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_rise_frac", "", RISE_SOURCE, found)
    rise, gained = found[0], found[2]
    if gained <= 0:
        return unknown("train_rise_frac", "", RISE_SOURCE, "the train loss never fell below its first window")
    return Fact("train_rise_frac", rise / gained, "", "computed", RISE_SOURCE)


def train_low_step(ctx: Context) -> Fact:
    """First step of the window where the logged train loss was lowest."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_low_step", "steps", RISE_SOURCE, found)
    return Fact("train_low_step", found[3], "steps", "computed", RISE_SOURCE)


def train_low(ctx: Context) -> Fact:
    """The lowest window mean of the logged train loss."""
    found = _rise(ctx)
    if isinstance(found, str):
        return unknown("train_low", "nats", RISE_SOURCE, found)
    return Fact("train_low", found[4], "nats", "computed", RISE_SOURCE)
