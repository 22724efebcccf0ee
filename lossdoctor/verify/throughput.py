"""Throughput experiments of `lossdoctor verify`: training tokens/s of two arms, measured
in interleaved timing windows on this machine.

Both arms are set up on the same seed; each runs WARMUP_STEPS warm-up steps (where
torch.compile and allocator warm-up happen: left out of the windows), then the arms take
turns, one window of Scaled.window_steps steps each, alternating which goes first so that a
drift of the machine's speed falls on both. A window's tokens/s is its tokens over the
sum of its steps' own times (Step.seconds: no eval, nothing between steps). Window i of
both arms is a pair. The one-off cost of the treatment's warm-up (the compile time) is
its warm-up time less WARMUP_STEPS of its steady step time; the break-even step count is
that cost over the time per step saved.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..trainer import WARMUP_STEPS, Trainer
from ..trainer.config import TrainConfig, resolve
from .design import Experiment, Scaled, flags_between
from .results import ExperimentResult
from .stats import Verification, verify

if TYPE_CHECKING:
    from ..trainer.data import Data

__all__ = ["measure_windows", "throughput_verification", "throughput_result", "cpu_bf16_features",
           "BF16_CPU_FLAGS", "TreatmentFailed"]

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


class TreatmentFailed(Exception):
    """The treatment arm raised while it was set up or warmed up (e.g. torch.compile)."""


def cpu_bf16_features(path: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """The CPU flags among BF16_CPU_FLAGS that this machine has (none when unreadable)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return ()
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return tuple(f for f in BF16_CPU_FLAGS if f in flags)


def _arm_trainer(cfg: TrainConfig, seed: int, out_dir: str, data: Data) -> Trainer:
    return Trainer.setup(resolve(base=cfg, overrides={"seed": seed, "out_dir": out_dir}), data)


def _window(trainer: Trainer, steps: int, tick: Callable[[], None]) -> tuple[float, float]:
    """(tokens/s, seconds per step) of `steps` steps."""
    seconds = 0.0
    tokens = 0
    for _ in range(steps):
        s = trainer.step()
        if not math.isfinite(s.loss):
            raise RuntimeError(f"non-finite training loss at iter {s.iter_num}")
        seconds += s.seconds
        tokens += s.tokens
        tick()
    return tokens / seconds, seconds / steps


def measure_windows(scaled: Scaled, seed: int, data: Data, out_dir: str,
                    tick: Callable[[], None]) -> dict[str, Any]:
    """Warm both arms up, then time scaled.windows interleaved windows per arm.

    Returns {'baseline': [tokens/s per window], 'treatment': [...], 'step_s': {arm: median
    seconds per step}, 'warmup_s': {arm: seconds of the warm-up steps}}. tick() is called
    after each step. Raises TreatmentFailed when the treatment cannot be set up or warmed up.
    """
    base = _arm_trainer(scaled.baseline, seed, f"{out_dir}/baseline", data)
    warm_b = sum(base.step().seconds for _ in range(WARMUP_STEPS))
    for _ in range(WARMUP_STEPS):
        tick()
    try:
        treat = _arm_trainer(scaled.treatment, seed, f"{out_dir}/treatment", data)
        warm_t = 0.0
        for _ in range(WARMUP_STEPS):
            warm_t += treat.step().seconds
            tick()
    except Exception as e:  # torch.compile and autocast fail in many ways
        lines = [line for line in str(e).splitlines() if line.strip()]
        raise TreatmentFailed(f"{type(e).__name__}: {lines[0] if lines else ''}".rstrip(": ")) from None
    arms = {"baseline": base, "treatment": treat}
    rates: dict[str, list[float]] = {"baseline": [], "treatment": []}
    per_step: dict[str, list[float]] = {"baseline": [], "treatment": []}
    for w in range(scaled.windows):
        order = ("baseline", "treatment") if w % 2 == 0 else ("treatment", "baseline")
        for arm in order:
            rate, step_s = _window(arms[arm], scaled.window_steps, tick)
            rates[arm].append(rate)
            per_step[arm].append(step_s)
    return {"baseline": rates["baseline"], "treatment": rates["treatment"],
            "step_s": {arm: statistics.median(v) for arm, v in per_step.items()},
            "warmup_s": {"baseline": warm_b, "treatment": warm_t}}


def throughput_verification(experiment: Experiment, m: dict[str, Any]) -> tuple[Verification, str]:
    """The verification of windows measured by measure_windows, and the sentence of what
    else was measured (compile time, break-even steps, the per-step times)."""
    claim = experiment.claim
    if experiment.claimed_gain is not None:
        claim = dataclasses.replace(claim, size=experiment.claimed_gain * statistics.fmean(m["baseline"]))
    v = verify(m["baseline"], m["treatment"], claim, paired=True)
    step_b, step_t = float(m["step_s"]["baseline"]), float(m["step_s"]["treatment"])
    one_off = float(m["warmup_s"]["treatment"]) - WARMUP_STEPS * step_t
    extra = (f"median step {step_b * 1000:.1f} ms (baseline) vs {step_t * 1000:.1f} ms (treatment); "
             f"warm-up ({WARMUP_STEPS} steps) {m['warmup_s']['baseline']:.2f} s vs {m['warmup_s']['treatment']:.2f} s")
    if experiment.id == "compile":
        if step_t < step_b:
            even = math.ceil(max(one_off, 0.0) / (step_b - step_t))
            extra += f"; compile time {one_off:.1f} s, paid back after {even:,} steps"
        else:
            extra += f"; compile time {one_off:.1f} s, never paid back (the compiled step is not faster)"
        extra += " (torch.compile's on-disk cache makes a repeat compile on one machine far cheaper than the first)"
    return v, extra


def equal_wall_time(base: TrainConfig, step_b: float, step_t: float, one_off: float) -> str:
    """For a run of the base config's max_iters steps: its time here, the steps the treatment
    takes in that time (after its one-off cost), and the val of both where the shipped
    reference curve of this config (fit/reference.py) knows it."""
    n = int(base["max_iters"])
    seconds = n * step_b
    k = max(0, int((seconds - one_off) / step_t))
    text = (f"at equal wall time for a {n:,}-step run ({seconds:.0f} s of training steps here) the treatment "
            f"takes {k:,} steps ({(k - n) / n:+.1%})")
    val = _reference_val(base, n, k)
    if val is None:
        return text + "; no reference curve of this config to turn steps into val"
    return (text + f"; on the shipped reference curve of this config that is val {val[1]:.4f} vs {val[0]:.4f} "
                   f"({val[1] - val[0]:+.4f} nats), each run with its own schedule to its length")


def _reference_val(base: TrainConfig, n: int, k: int) -> tuple[float, float] | None:
    """(val of an n-step run, of a k-step run) predicted from the reference run of n steps
    (scenario rerun), or None when the config is not the reference's or no run has n steps."""
    from ..fit import CannotExtrapolate, Extrapolator, calibration, reference
    if any(base.values.get(key) != v for key, v in calibration.CONFIG.items()) or k < 1:
        return None
    ref = next((r for r in reference.runs() if r.config.trusted("max_iters") == n), None)
    if ref is None:
        return None
    x = Extrapolator(ref, reference=False)
    try:
        a, b = (x.extrapolate(steps, scenarios=("rerun",)).scenarios[0].val for steps in (n, k))
    except CannotExtrapolate:
        return None
    return None if a is None or b is None else (a.mean, b.mean)


def throughput_result(experiment: Experiment, scaled: Scaled, m: dict[str, Any], seed: int,
                      device: str) -> ExperimentResult:
    """The ExperimentResult of measure_windows' numbers, or of {'failed': reason}."""
    flags = flags_between(scaled.baseline, scaled.treatment)
    if "failed" in m:
        return ExperimentResult(experiment.id, experiment.recommendation, flags,
                                Verification.not_verifiable(experiment.claim, str(m["failed"])),
                                experiment.design, scaled.text, (seed,), experiment.expects)
    v, extra = throughput_verification(experiment, m)
    if "step_s" in m:
        one_off = float(m["warmup_s"]["treatment"]) - WARMUP_STEPS * float(m["step_s"]["treatment"])
        extra += "; " + equal_wall_time(scaled.base, float(m["step_s"]["baseline"]), float(m["step_s"]["treatment"]),
                                        max(one_off, 0.0))
    how = (f"{experiment.design}; {len(m['baseline'])} windows of {scaled.window_steps} steps per arm, "
           f"seed {seed}; {extra}")
    if scaled.treatment["dtype"] == "bfloat16" or scaled.baseline["dtype"] == "bfloat16":
        how += f"; {_bf16_device_words(device)}"
    return ExperimentResult(experiment.id, experiment.recommendation, flags, v, how, scaled.text, (seed,),
                            experiment.expects)


def _bf16_device_words(device: str) -> str:
    if device != "cpu":
        import torch
        return f"device {torch.cuda.get_device_name() if device.startswith('cuda') else device}"
    found = cpu_bf16_features()
    if found:
        return f"CPU bf16 features detected: {', '.join(found)}"
    return ("CPU bf16 features detected: none (no amx_bf16, no avx512_bf16): bf16 matmuls have no "
            "native support on this CPU")
