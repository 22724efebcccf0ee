"""Where a run's iteration time changed for good: one split of its steady iterations into
two levels (facts/speed.py's time_per_iter_ms says it in its note)."""

from __future__ import annotations

import math

import numpy as np

SHIFT = 1.5  # a lasting change of the iteration time by this factor or more is a new speed
SHIFT_LEAST = 20  # iterations on each side of it, and a tenth of them


def speed_shift(step: np.ndarray, ms: np.ndarray, starts: np.ndarray | None = None
                ) -> tuple[int, float, float, int] | None:
    """Where the iteration time changed for good (another job on the machine, a resume on
    other hardware): the one split of the steady iterations, in file order, that best fits
    a level on each side (least absolute deviation from each side's median), where the two
    medians differ by SHIFT or more, the two sides' middle halves do not overlap (a machine
    whose speed drifts to and fro is no new speed), the iterations just before and just
    after it differ as much (a speed that ramps from one level to the other changed at no
    step), and each side holds SHIFT_LEAST iterations and a tenth of them. (step at the
    change, median before, median after, iterations after) or None; past SHIFT_BLOCKS
    blocks of iterations the step is the first of its block. `starts`: each iteration's
    process's first step; a change at a process's first steady iteration is at the
    process's start (a resume on other hardware), its warm-up iterations being left out."""
    n = len(ms)
    least = max(SHIFT_LEAST, n // 10)
    if n < 2 * least:
        return None
    size = max(1, n // SHIFT_BLOCKS)  # a long log's split is searched among blocks of this many
    blocks = np.median(ms[:n // size * size].reshape(-1, size), axis=1)  # (n // size,) block medians
    lo_block, hi_block = math.ceil(least / size), (n - least) // size
    k = size * _best_split(blocks, lo_block, hi_block) if hi_block > lo_block else least
    if 1 < size <= 16:  # to the iteration, where that costs little
        k = _best_split(ms, max(least, k - size), min(n - least, k + size), grid=1)
    if starts is not None:  # a new process within a block of the split: the change is there
        new = np.flatnonzero(starts[1:] != starts[:-1]) + 1  # (processes - 1,) its first steady iteration
        near = new[(np.abs(new - k) <= size) & (new >= least) & (new <= n - least)]
        k = int(near[np.argmin(np.abs(near - k))]) if len(near) else k
    before, after = float(np.median(ms[:k])), float(np.median(ms[k:]))
    (lo_a, hi_a), (lo_b, hi_b) = np.percentile(ms[:k], [25, 75]), np.percentile(ms[k:], [25, 75])
    if max(before, after) < SHIFT * min(before, after) or (lo_b <= hi_a and lo_a <= hi_b):
        return None
    near_a, near_b = float(np.median(ms[max(0, k - least):k])), float(np.median(ms[k:k + least]))
    if max(near_a, near_b) < SHIFT * min(near_a, near_b):  # on each side of the step itself
        return None
    if starts is not None and starts[k] != starts[k - 1]:  # a new process, its warm-up iterations left out
        return int(starts[k]), before, after, n - k
    return int(step[k]), before, after, n - k


SHIFT_BLOCKS = 2000  # the search's points at most: a log of 600,000 iterations is split in 0.05 s


def _best_split(y: np.ndarray, lo: int, hi: int, grid: int = 64) -> int:
    """The split of `y` in lo..hi whose two sides lie least (absolute deviation) from their
    own medians: on a grid of `grid` splits first, then every split within a grid step of
    the best (grid=1: every split in lo..hi)."""
    def cost(k: int) -> float:
        return float(np.abs(y[:k] - np.median(y[:k])).sum() + np.abs(y[k:] - np.median(y[k:])).sum())
    if grid == 1:
        return min(range(lo, hi + 1), key=cost)
    grid_ = np.unique(np.linspace(lo, hi, min(grid, hi - lo + 1)).astype(int))
    k = int(min(grid_, key=cost))
    step = int(grid_[1] - grid_[0]) if len(grid_) > 1 else 1
    return int(min(range(max(lo, k - step), min(hi, k + step) + 1), key=cost))
