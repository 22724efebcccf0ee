"""The LR area and the annealing area of a per-step schedule, at chosen steps only.

With eta_t the LR of step t over its peak (shape.eta) and drop_t = eta_(t-1) - eta_t where
the LR falls (0 where it rises; drop_0 = 0), the laws use

    S1(s) = sum_(t<s) eta_t
    m_t   = lam * m_(t-1) + drop_t,   S2(s) = sum_(t<s) m_t

Summed, S2(s) = sum_(k<s) drop_k * (1 - lam^(s-k)) / (1 - lam)
              = (sum_(k<s) drop_k - lam * m_(s-1)) / (1 - lam),
so S2 at a step needs only m one step before it: the discounted sum of the drops.

A rise of the LR (a resume with a new schedule, a cyclic schedule) undoes the annealing of
the drops below the level it rises to, at once. Rising from eta_a to eta_b cancels, of the
drops still counted, the parts that lie between eta_a and eta_b (the latest first: the LR
fell through those levels last); a cancelled part counts in S2 neither from the step after
the rise nor later. Where the LR falls back, the new drops count afresh. Counted as a
negative drop instead, a re-warm would undo as much over about 1/(1 - lam) steps (the
calibrated priors': 240 for val, 460 for train); the resume bumps measured at the first
eval after a resume are nearer the at-once form (docs/benchmarks.md, "Across configs"). The
rises are `Eta.rises`; what they undo at a step, `undone`.

Many lam at once: the drops are cut into blocks of about sqrt(len(eta)) steps; one matrix
product gives every block's discounted sum for every lam, a recursion over the blocks
carries m from block to block, and the steps asked for add the drops of their own block.
The cost is one multiply-add per step and lam, in BLAS products, plus a block per asked
step and lam, instead of a recursion per lam over every step.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

MIN_BLOCK, MAX_BLOCK = 64, 1024
GROUP = 32  # blocks carried at once
FORGOTTEN = 40.0  # a drop this many memories (1 / (1 - lam)) before a rise is gone from m: e^-40


class Rise(NamedTuple):
    """A rise of the LR at step `step`, cancelling `cut[j]` of the drop at step `at[j]`."""

    step: int
    at: np.ndarray  # (J,) steps of the drops it cancels parts of
    cut: np.ndarray  # (J,) how much of each


def rises(e: np.ndarray) -> list[Rise]:
    """The rises of a per-step eta and what each cancels: the drops still counted are kept
    as level ranges [lo, hi] (the LR fell from hi to lo), latest and lowest last; a rise to
    eta_b cancels every part below eta_b, from the latest back."""
    d = np.concatenate([[0.0], e[:-1] - e[1:]])
    up = np.flatnonzero(d < 0)
    out: list[Rise] = []
    stack: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (steps, lo, hi) chunks, lo falling
    start = 0
    for c in up.tolist():
        fell = start + np.flatnonzero(d[start:c] > 0)
        if len(fell):
            stack.append((fell, e[fell], e[fell - 1]))
        start, level = c + 1, float(e[c])
        at, cut = [], []
        while stack:
            k, lo, hi = stack[-1]
            keep = int(np.searchsorted(-lo, -level, side="right"))  # the ranges with lo >= level stay
            at.append(k[keep:])
            cut.append(np.minimum(hi[keep:], level) - lo[keep:])
            if keep == len(k):
                break
            straddles = hi[keep] > level  # a range across the level keeps its part above it
            n = keep + int(straddles)
            stack[-1] = (k[:n], np.concatenate([lo[:keep], [level] * int(straddles)]), hi[:n])
            if straddles or keep:
                break
            stack.pop()
        if at:
            out.append(Rise(c, np.concatenate(at[::-1]), np.concatenate(cut[::-1])))
    return [r for r in out if len(r.at)]


def undone(rs: list[Rise], lams: np.ndarray, steps: np.ndarray,
           held: list[np.ndarray] | None = None) -> np.ndarray:
    """(K, Q) what the rises before each step take off S2: a part `cut` of the drop at k,
    cancelled at step c, takes cut * (1 - lam^(s - k)) / (1 - lam) off S2(s) for s > c,
    all it would have added; summed per rise as (sum cut - lam^(s - c) * W) / (1 - lam),
    W = sum cut * lam^(c - k) (`held`: each rise's W, as `held_back` gives them).

    Over the rises before s this is (C - lam^(s - c_last) * V) / (1 - lam), with C the
    sum of their cuts and V = sum W * lam^(c_last - c) carried from rise to rise: one
    pass over the rises and one over the steps, however many rises a noisy LR has."""
    out = np.zeros((len(lams), len(steps)))
    if not rs:
        return out
    ws = held if held is not None else held_back(rs, lams)
    at = np.array([r.step for r in rs])  # rising, as `rises` gives them
    cuts = np.cumsum([r.cut.sum() for r in rs])  # C after each rise
    carried = np.empty((len(rs), len(lams)))  # V after each rise, (R, K)
    v = np.zeros(len(lams))
    for i, w in enumerate(ws):
        v = v * np.power(lams, float(at[i] - at[i - 1])) + w if i else w
        carried[i] = v
    last = np.searchsorted(at, np.asarray(steps), side="left") - 1  # the latest rise before each step
    after = last >= 0
    if after.any():
        j = last[after]
        lag = (np.asarray(steps)[after] - at[j]).astype(float)
        decay = np.power(lams[:, None], lag[None, :])  # (K, Q')
        out[:, after] = (cuts[j][None, :] - decay * carried[j].T) / (1.0 - lams)[:, None]
    return out


def held_back(rs: list[Rise], lams: np.ndarray) -> list[np.ndarray]:
    """Each rise's W = sum cut * lam^(c - k), (K,): what of the cancelled drops was still
    in m at the rise, for every lam."""
    out = []
    for r in rs:
        near = r.step - r.at < FORGOTTEN / max(1.0 - float(lams.max()), 1e-12)  # the rest has decayed from m
        out.append(np.power(lams[:, None], (r.step - r.at[near])[None, :].astype(float)) @ r.cut[near])
    return out


def block_size(n: int) -> int:
    """About sqrt(n) steps a block: the recursion over the blocks and each asked step's own
    block then cost alike."""
    return int(np.clip(2 ** round(math.log2(max(n, 1)) / 2), MIN_BLOCK, MAX_BLOCK))


class Eta:
    """One per-step eta (each step 0..len(e)-1), with what every lam shares: S1, and the
    drops in blocks. `like`: an Eta that this one may start as (a scenario that resumes
    the observed run): where they share a good part, the blocks they share are taken from
    it (`Annealing(like=...)`). `worth`: (len(e),) what each step's area counts in S1
    (repeat.py; None: all of it); the drops are eta's own."""

    def __init__(self, e: np.ndarray, like: Eta | None = None, worth: np.ndarray | None = None) -> None:
        self.e = np.asarray(e, float)
        self.worth = worth
        self.like, self.block, self.shared = None, block_size(len(self.e)), 0
        if like is not None:
            n = min(len(self.e), len(like.e))
            differ = np.flatnonzero(self.e[:n] != like.e[:n])
            common = int(differ[0]) if len(differ) else n
            if common >= len(self.e) // 4:
                self.like, self.block, self.shared = like, like.block, common // like.block
        self._s1: np.ndarray | None = None
        self._drops: np.ndarray | None = None
        self._fallen: np.ndarray | None = None
        self._rises: list[Rise] | None = None

    def s1(self, steps: np.ndarray) -> np.ndarray:
        """S1 at `steps` (each in 0..len(e))."""
        if self._s1 is None:
            area = self.e if self.worth is None else self.e * self.worth
            self._s1 = np.concatenate([[0.0], np.cumsum(area)])
        out: np.ndarray = self._s1[np.asarray(steps, int)]
        return out

    @property
    def moving(self) -> int:
        """The steps before the LR reaches 0 for good: len(e) where it never does."""
        nonzero = np.flatnonzero(self.e != 0)
        return int(nonzero[-1]) + 1 if len(nonzero) else 0

    def drops(self) -> np.ndarray:
        """(n_blocks, block) drop_t where the LR falls (0 where it rises: `rises`), padded
        with zeros to whole blocks."""
        if self._drops is None:
            n, b = len(self.e), self.block
            drops = np.zeros(-(-max(n, 1) // b) * b)
            drops[1:n] = np.maximum(self.e[:-1] - self.e[1:], 0.0)
            self._drops = drops.reshape(-1, b)
        return self._drops

    def fallen(self, i: np.ndarray) -> np.ndarray:
        """The sum of the drops at steps 0..i, for each i."""
        if self._fallen is None:
            self._fallen = np.cumsum(self.drops().ravel())
        out: np.ndarray = self._fallen[np.asarray(i, int)]
        return out

    @property
    def rises(self) -> list[Rise]:
        """Each rise of the LR, with the parts of the drops before it that it cancels."""
        if self._rises is None:
            self._rises = rises(self.e)
        return self._rises


class Annealing:
    """S2 of one Eta for a set of lam, at any steps (each in 0..len(e)).

    The block sums are made on first use and kept, so that asking for more steps costs
    only the asked steps' own blocks. `like`: the Annealing of `eta.like` for the same
    lam, whose shared blocks are taken over."""

    def __init__(self, eta: Eta, lams: np.ndarray, like: Annealing | None = None) -> None:
        self.eta = eta
        self.lams = np.asarray(lams, float)
        same = like is not None and like.eta is eta.like and np.array_equal(like.lams, self.lams)
        self._like = like if same else None
        self._prepared: tuple[np.ndarray, np.ndarray] | None = None
        self._held: list[np.ndarray] | None = None  # each rise's W (held_back), made on first use

    def _prepare(self) -> tuple[np.ndarray, np.ndarray]:
        """(lam^j for j in 0..block, m at the end of each block)."""
        if self._prepared is None:
            blocks, b = self.eta.drops(), self.eta.block
            powers = np.power(self.lams[None, :], np.arange(b + 1, dtype=float)[:, None])  # (b + 1, K)
            k = self.eta.shared if self._like is not None else 0
            busy = np.flatnonzero(blocks[k:].any(axis=1))  # a block of constant eta adds nothing
            discount = np.ascontiguousarray(powers[b - 1::-1])  # to the end of the block
            if len(busy) == len(blocks) - k:
                within = blocks[k:] @ discount
            else:
                within = np.zeros((len(blocks) - k, len(self.lams)))
                within[busy] = blocks[busy + k] @ discount
            carry = np.empty((len(blocks) + 1, len(self.lams)))
            carry[:k + 1] = self._like._prepare()[1][:k + 1] if self._like is not None else 0.0
            carry[k + 1:] = _carry(within, powers[b], carry[k])
            self._prepared = powers, carry
        return self._prepared

    def m(self, idx: np.ndarray) -> np.ndarray:
        """(K, len(idx)) m at steps `idx` (each in 0..len(e)-1)."""
        idx = np.asarray(idx, int)
        powers, carry = self._prepare()
        b = self.eta.block
        block, off = np.divmod(idx, b)
        back = np.arange(b)
        drops = self.eta.drops().ravel()
        window = idx[:, None] - back[None, :]  # (Q, block): this block's steps, latest first
        own = np.where(back[None, :] <= off[:, None], drops[np.maximum(window, 0)], 0.0)
        out: np.ndarray = (own @ powers[:b] + carry[block] * powers[off + 1]).T
        return out

    def at(self, steps: np.ndarray) -> np.ndarray:
        """(K, len(steps)) S2 at `steps`. A step at LR 0 updates no weight, so from the first
        of the steps at LR 0 that end the schedule, S2 stays where it was: the annealing's
        delayed gain is realised only by steps that move the weights."""
        steps = np.minimum(np.asarray(steps, int), self.eta.moving)
        out = np.zeros((len(self.lams), len(steps)))
        pos = steps > 0
        if pos.any():
            i = steps[pos] - 1
            total = self.eta.fallen(i)  # sum of the drops before each step
            out[:, pos] = (total[None, :] - self.lams[:, None] * self.m(i)) / (1.0 - self.lams)[:, None]
            if self.eta.rises:
                if self._held is None:
                    self._held = held_back(self.eta.rises, self.lams)
                out[:, pos] -= undone(self.eta.rises, self.lams, steps[pos], self._held)
        return out


def _carry(within: np.ndarray, decay: np.ndarray, start: np.ndarray) -> np.ndarray:
    """c_i = decay * c_(i-1) + within_i from c_(-1) = start, for every row i of `within`
    (n, K). A step of the recursion costs about the same for any K; for few lam the rows
    go GROUP at a time, each group as one matrix product per lam."""
    n, k = within.shape
    busy = np.flatnonzero(within.any(axis=1))
    end = int(busy[-1]) + 1 if len(busy) else 0  # after it, c only decays
    if end < n:
        head = _carry(within[:end], decay, start) if end else start[None, :]
        tail = (head[-1][None, :] if end else start[None, :]) * np.power(
            decay[None, :], np.arange(1, n - end + 1, dtype=float)[:, None])
        return np.concatenate([head[:end], tail])
    if k > GROUP:
        out = np.empty((n, k))
        c = start
        for i in range(n):
            c = c * decay + within[i]
            out[i] = c
        return out
    groups = -(-n // GROUP)
    w = np.zeros((groups * GROUP, k))
    w[:n] = within
    pw = np.power(decay[None, :], np.arange(GROUP + 1, dtype=float)[:, None])  # (GROUP + 1, K)
    lag = np.arange(GROUP)[:, None] - np.arange(GROUP)[None, :]  # (GROUP, GROUP): j - i
    tri = np.where(lag[None, :, :] >= 0, pw[np.maximum(lag, 0)].transpose(2, 0, 1), 0.0)  # (K, j, i)
    local = np.matmul(tri, w.reshape(groups, GROUP, k).transpose(2, 1, 0))  # (K, GROUP, groups)
    local = local.transpose(2, 1, 0)  # (groups, GROUP, K): the sums within each group
    entry = np.empty((groups, k))  # c just before each group
    c = start
    for g in range(groups):
        entry[g] = c
        c = local[g, -1] + pw[GROUP] * c
    grouped: np.ndarray = (local + pw[1:, :][None, :, :] * entry[:, None, :]).reshape(-1, k)[:n]
    return grouped
