"""Loss spikes in the per-iteration losses, as llm-foundry's KillLossSpike finds them."""

from __future__ import annotations

import numpy as np

from .base import Context, Fact, plural, unknown
from .curve import iter_points, not_step_losses, runs_of

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
