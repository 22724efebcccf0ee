"""Model size for `lossdoctor verify RUN...`: a run's config can be far too big to train
here within the budget (nanoGPT's GPU Shakespeare config: 10.7M parameters, 16k tokens per
step, ~10 s per step on a 2-core CPU). `shrink` halves the accumulation, the batch, the
context, the depth and the width in turns until the experiments fit with their seeds and
WANT_STEPS steps, and says exactly what it changed; the verdict then holds for the smaller
model, which the report says.

A step's time is estimated from its FLOPs (nanoGPT's estimate_mfu count: 6N + 12 L T C per
token, PaLM appendix B) at the FLOP rate measured here on a small config, so that no big
config has to be timed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..errors import LossdoctorError
from ..trainer.config import TrainConfig, resolve
from .design import Experiment, Scaled

if TYPE_CHECKING:
    from ..trainer.data import Data

__all__ = ["Shrunk", "flops_per_step", "shrink", "rescale", "fit_model", "SHAPE_FLOOR"]

# the smallest values shrink goes to: below these the model is no longer the run's kind of model
SHAPE_FLOOR = {"gradient_accumulation_steps": 1, "batch_size": 8, "block_size": 64, "n_layer": 2, "n_embd": 64}
WANT_STEPS = 200  # steps (shortest arm) a loss experiment keeps before the model is kept whole
TIME_ITSELF = 4.0  # a base up to this many times the README CPU config's FLOPs is timed itself
ORDER = ("gradient_accumulation_steps", "batch_size", "block_size", "n_layer", "n_embd")  # halved in turns


@dataclass(frozen=True)
class Shrunk:
    """A config made small enough, and what changed."""

    config: TrainConfig
    changes: tuple[tuple[str, int, int], ...]  # (key, from, to)

    @classmethod
    def between(cls, base: TrainConfig, small: TrainConfig) -> Shrunk:
        """The Shrunk that turned base into small (the ORDER keys that differ)."""
        return cls(small, tuple((k, int(base[k]), int(small[k])) for k in ORDER if base[k] != small[k]))

    @property
    def factors(self) -> dict[str, float]:
        """key -> new / old, for scaling a treatment's own value of the same key."""
        return {k: b / a for k, a, b in self.changes}

    @property
    def text(self) -> str:
        if not self.changes:
            return ""
        parts = ", ".join(f"{k} {a} -> {b}" for k, a, b in self.changes)
        return (f"model scaled down to fit the budget ({parts}): the verdict is for this smaller model; "
                "effects that depend on size (width, dropout, learning rate) may differ at full size")


def flops_per_step(cfg: TrainConfig, vocab_size: int = 65) -> float:
    """Training FLOPs of one optimizer step: 6N + 12 L T C per token (forward and backward),
    times the tokens per step. N: the non-embedding-position parameters."""
    n_layer, c, t = int(cfg["n_layer"]), int(cfg["n_embd"]), int(cfg["block_size"])
    params = 12 * n_layer * c * c + vocab_size * c  # blocks (attention 4C^2, MLP 8C^2) + tied embedding
    tokens = int(cfg["batch_size"]) * t * int(cfg["gradient_accumulation_steps"])
    return (6 * params + 12 * n_layer * t * c) * tokens


def shrink(cfg: TrainConfig, fits: Callable[[TrainConfig], bool]) -> Shrunk:
    """Halve batch_size, block_size, n_layer and n_embd in turns (never below SHAPE_FLOOR;
    n_embd stays a multiple of n_head) until fits(config) is True or nothing can shrink."""
    current, turn, stuck = cfg, 0, 0
    while stuck < len(ORDER) and not fits(current):
        smaller = _halved(current, ORDER[turn % len(ORDER)])
        turn += 1
        if smaller is None:
            stuck += 1
        else:
            current, stuck = smaller, 0
    return Shrunk.between(cfg, current)


def _halved(cfg: TrainConfig, key: str) -> TrainConfig | None:
    value = int(cfg[key])
    new = value // 2
    if key == "n_embd":
        heads = int(cfg["n_head"])
        new = new // heads * heads
    if new < SHAPE_FLOOR[key] or new == value:
        return None
    return resolve(base=cfg, overrides={key: new})


def rescale(experiment: Experiment, shrunk: Shrunk) -> Experiment:
    """The experiment with its own values of the shrunk keys scaled by the same factors
    (a treatment --n_embd=512 on a base 384 -> 192 becomes 256)."""
    factors = shrunk.factors
    heads = int(shrunk.config["n_head"])

    def one(flag: str) -> str:
        key, _, value = flag[2:].partition("=")
        if key not in factors:
            return flag
        new = max(1, round(int(value) * factors[key]))
        if key == "n_embd":
            new = max(heads, new // heads * heads)
        return f"--{key}={new}"

    return replace(experiment, baseline=tuple(one(f) for f in experiment.baseline),
                   treatment=tuple(one(f) for f in experiment.treatment))


def _enough(s: Scaled, seeds: int) -> bool:
    """Whether a scaled loss experiment keeps the seeds asked (up to 3) and WANT_STEPS steps:
    a smaller model is a better experiment than a big one at its bare minimum."""
    if s.windows:
        return True
    shortest = min(int(s.baseline["max_iters"]), int(s.treatment["max_iters"]))
    return s.seeds >= min(seeds, 3) and shortest >= WANT_STEPS


def fit_model(experiments: Sequence[Experiment], base: TrainConfig, budget_s: float, seeds: int,
              data: Data) -> tuple[Shrunk, tuple[Experiment, ...]]:
    """The base config shrunk (when it must be) so that the experiments fit budget_s with
    their seeds (up to 3) and WANT_STEPS steps, at the step times estimated from FLOPs, and
    the experiments rescaled with it. The FLOP rate is measured here on the README CPU config (about a second), or on
    the base itself when it is at most TIME_ITSELF times that big."""
    from .budget import Times, plan_budget, speed_key
    from .design import arm_configs, default_base_config
    from .jobs import measure_speed
    vocab = data.vocab_size or 65
    ref = resolve(base=default_base_config(str(base["device"])), overrides={"dtype": base["dtype"]})
    if flops_per_step(base, vocab) <= TIME_ITSELF * flops_per_step(ref, vocab):
        ref = base  # small enough to time itself: its own rate, no estimate
    step_s, eval_s = measure_speed(ref, data, 3)
    rate = flops_per_step(ref, vocab) / step_s  # FLOP/s of a training step here

    def fits(cfg: TrainConfig) -> bool:
        exps = [rescale(e, Shrunk.between(base, cfg)) for e in experiments]
        arms = {speed_key(c): flops_per_step(c, vocab) / rate for e in exps if e.kind != "code"
                for c in arm_configs(e, cfg)}
        step = flops_per_step(cfg, vocab) / rate
        times = Times(step, eval_s * step / step_s, {speed_key(cfg): step, **arms})
        try:
            plan = plan_budget(exps, cfg, budget_s, seeds, times)
        except LossdoctorError:
            return False
        return all(_enough(s, seeds) for s in plan.scaled.values())

    shrunk = shrink(base, fits)
    return shrunk, tuple(rescale(e, shrunk) for e in experiments)
