"""The experiments of `lossdoctor verify`: which recommendation, which arms, which metric,
which claim; and how an experiment is scaled to a time budget on this machine.

An Experiment's flags are nanoGPT `--key=value` overrides on top of a base config (by
default nanoGPT's README CPU config, lossdoctor/configs/shakespeare_char_cpu.yaml). The
step counts in them (max_iters, lr_decay_iters, ...) are the base config's; `scale`
shrinks the base and both arms by the same factor, so a 2x arm stays 2x.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Literal

from ..errors import LossdoctorError, UsageError
from ..trainer.config import TrainConfig, resolve
from .jobs import EVAL_REFERENCE_BATCHES, EVAL_REPEATS, FINAL_VAL_BATCHES
from .stats import Claim, Metric

__all__ = ["Experiment", "ExperimentKind", "Scaled", "default_experiments", "default_base_config",
           "scale", "minimum_budget", "arm_configs", "flags_between", "hardware_experiment",
           "STEP_KEYS", "EVAL_NOISE_METRIC", "EVAL_NOISE_DESIGN",
           "MIN_STEPS", "MIN_SEEDS", "PLANNED_SEEDS", "FINAL_VAL_BATCHES", "COMPILE_ALLOWANCE_S",
           "EVAL_REFERENCE_BATCHES", "EVAL_REPEATS", "WINDOW_STEPS", "MIN_WINDOWS", "MAX_WINDOWS", "WINDOW_SECONDS",
           "FORWARD_FRACTION", "BASE_CONFIG"]

# What a run of an experiment measures:
#   final loss            val loss of each arm's final model (arms may train different steps)
#   loss at equal steps   val loss after the same number of steps in both arms
#   loss at equal tokens  val loss after the same number of training tokens in both arms
#   throughput            training tokens/s over timing windows (eval and warm-up excluded)
#   eval noise            how far a logged val (eval_iters batches) is from a large-sample val
#   code                  settled from nanoGPT's train.py source; nothing can be run here
ExperimentKind = Literal["final loss", "loss at equal steps", "loss at equal tokens", "throughput",
                         "eval noise", "code"]

# shipped inside the package (lossdoctor/configs/), so an installed lossdoctor has it too
BASE_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                           "shakespeare_char_cpu.yaml")
MIN_STEPS = 100  # fewer training steps per arm are no meaningful experiment
MIN_SEEDS = 2  # seeds per arm below which no test is possible
# seeds per arm a scaled-down experiment is planned for: fewer steps and more seeds detect
# more, since the t quantile falls fast with the degrees of freedom (t[0.9975] is 14.1 at
# 2 df, 5.6 at 4); looks at the start and at this count
PLANNED_SEEDS = 5
WINDOW_STEPS = 20  # steps per timing window of a throughput experiment
MIN_WINDOWS = 3  # timing windows per arm, at least (identical differences count from 3)
MAX_WINDOWS = 16
WINDOW_SECONDS = 45.0  # timing per throughput experiment at most, seconds (a slow arm gets fewer windows)
FORWARD_FRACTION = 0.2  # default cost of one forward-only eval batch, in training steps (README CPU config: ~0.15)
COMPILE_ALLOWANCE_S = 60.0  # planned for torch.compile's one-off time (measured: ~40 s on 2 CPU cores)
STEP_KEYS = ("max_iters", "lr_decay_iters", "warmup_iters", "eval_interval")  # scaled together


EVAL_NOISE_METRIC = f"|logged val - {EVAL_REFERENCE_BATCHES}-batch val|"
EVAL_NOISE_DESIGN = (f"one model per seed; its val estimated {EVAL_REPEATS} times with eval_iters batches from "
                     f"separate generators, against a {EVAL_REFERENCE_BATCHES}-batch val; the metric is the mean "
                     "absolute difference (the model itself is the same in both arms)")


@dataclass(frozen=True)
class Experiment:
    """One recommendation as an A/B experiment."""

    id: str  # short and stable: 'train-longer', 'batch-24', ...
    recommendation: str  # in words: what the treatment changes, and what it claims
    baseline: tuple[str, ...]  # nanoGPT --key=value overrides on the base config
    treatment: tuple[str, ...]
    kind: ExperimentKind
    claim: Claim
    expects: Literal["effect", "no effect"] = "effect"  # 'no effect': the verdict 'no effect' agrees
    design: str = ""  # how it is measured, in a sentence
    derived: str = ""  # kind 'code': why it is settled from the source and what the source says
    # throughput: the gain the advice claims, as a fraction of the baseline (0.2: +20%); the
    # claim's size is this times the measured baseline, so that a far smaller gain refutes it
    claimed_gain: float | None = None


@dataclass(frozen=True)
class Scaled:
    """An experiment fitted to a time budget."""

    base: TrainConfig  # the scaled base config
    baseline: TrainConfig  # the arms: the scaled base with each arm's (scaled) flags
    treatment: TrainConfig
    seeds: int  # seeds per arm planned from the start
    steps_per_seed: int  # training steps of both arms together, per seed
    cost_per_seed_s: float  # planned seconds per seed, both arms
    windows: int  # timing windows per arm (throughput), else 0
    text: str  # exactly how it was scaled and what that may change ("" when unscaled)
    window_steps: int = WINDOW_STEPS  # steps per timing window (throughput)
    max_seeds: int = 0  # seeds per arm the budget could afford (the last look); 0: `seeds`
    looks: tuple[int, ...] = ()  # seeds per arm at each planned look; (): every count up to max_seeds


def default_base_config(device: str = "cpu") -> TrainConfig:
    """nanoGPT's README CPU config, on `device`."""
    return resolve(BASE_CONFIG, [f"--device={device}"])


def default_experiments(base: TrainConfig | None = None) -> tuple[Experiment, ...]:
    """The default recommendations, with flags against `base` (default: the README CPU config).

    Raises:
        UsageError: a `base` that is no TrainConfig.
    """
    if base is not None and not isinstance(base, TrainConfig):
        raise UsageError(f"default_experiments: base is a TrainConfig or None, not {base!r}")
    cfg = base if base is not None else default_base_config()
    n, bs, ev = int(cfg["max_iters"]), int(cfg["batch_size"]), int(cfg["eval_iters"])
    loss = Metric.loss()
    return (
        Experiment("train-longer", f"train longer: max_iters {n} -> {2 * n} (lr_decay_iters with it) "
                   "lowers the final val loss", (), (f"--max_iters={2 * n}", f"--lr_decay_iters={2 * n}"),
                   "final loss", Claim.improves(loss, recommendation="train longer"),
                   design="val loss of each arm's final model (1x vs 2x steps, each with its full LR schedule)"),
        Experiment("batch-24", f"batch_size {bs} -> {2 * bs} lowers the val loss at equal steps",
                   (), (f"--batch_size={2 * bs}",), "loss at equal steps",
                   Claim.improves(loss, recommendation=f"--batch_size={2 * bs}"),
                   design="val loss after the same number of steps (the treatment has seen twice the tokens); "
                          "the val at equal tokens (the treatment at half its steps) is quoted too"),
        Experiment("compile", "--compile=True trains faster (tokens/s), after a one-off compile time; "
                   "the usual advice claims +20-30%", ("--compile=False",), ("--compile=True",), "throughput",
                   Claim.improves(Metric.throughput(), recommendation="--compile=True"),
                   design="tokens/s over interleaved timing windows, eval and warm-up steps excluded; the "
                          "compile time and the break-even step count separately; the claimed size is the "
                          "lower end of the advice, +20% of the baseline's tokens/s",
                   claimed_gain=0.20),
        Experiment("bf16", "--dtype=bfloat16 (autocast) trains faster (tokens/s)",
                   ("--dtype=float32",), ("--dtype=bfloat16",), "throughput",
                   Claim.improves(Metric.throughput(), recommendation="--dtype=bfloat16"),
                   design="tokens/s over interleaved timing windows with bf16 autocast on this device"),
        Experiment("bf16-loss", "--dtype=bfloat16 (autocast) leaves the val loss unchanged",
                   ("--dtype=float32",), ("--dtype=bfloat16",), "loss at equal steps",
                   Claim.improves(loss, recommendation="--dtype=bfloat16"), expects="no effect",
                   design="val loss after the same steps, float32 vs bf16 autocast (eval in the arm's dtype)"),
        Experiment("nanogpt-cpu-dtype", "under nanoGPT on CPU, --dtype=float16/bfloat16 changes neither "
                   "throughput nor loss", ("--dtype=float32",), ("--dtype=bfloat16",), "code",
                   Claim.improves(loss, recommendation="--dtype=bfloat16 (nanoGPT, CPU)"), expects="no effect",
                   derived="derived from nanoGPT's train.py, not measured: it runs the forward passes in "
                           "`nullcontext() if device_type == 'cpu' else torch.amp.autocast(...)`, so dtype is "
                           "ignored on CPU; the built-in trainer applies autocast on CPU as well and has no "
                           "setting that ignores dtype, so there is no run here that could measure it"),
        Experiment("eval-iters", f"eval_iters {ev} -> {10 * ev} makes the logged val less noisy, "
                   "without changing the model", (f"--eval_iters={ev}",), (f"--eval_iters={10 * ev}",),
                   "eval noise",
                   Claim.improves(Metric.loss(EVAL_NOISE_METRIC), recommendation=f"--eval_iters={10 * ev}"),
                   design=EVAL_NOISE_DESIGN),
    )


DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")  # the devices the trainer takes


def hardware_experiment(a: str, b: str, base: TrainConfig | None = None) -> Experiment:
    """The same config trained on device a and on device b: the val at equal steps should not
    differ beyond seed noise (nanoGPT computes the same model on any device), which settles
    whether a gap between runs on two machines is the hardware or the configuration.

    One device twice is an A/A check: the arms compute the same and must agree.

    Raises:
        UsageError: a device that is not cpu, cuda, cuda:N or mps; a `base` that is no TrainConfig.
    """
    from ..errors import UsageError
    bad = [d for d in (a, b) if not isinstance(d, str) or not DEVICE.match(d)]
    if bad:
        raise UsageError(f"hardware_experiment: {bad[0]!r} is not a device (cpu, cuda, cuda:N, mps)")
    if base is not None and not isinstance(base, TrainConfig):
        raise UsageError(f"hardware_experiment: base is a TrainConfig or None, not {base!r}")
    dtype = "float32" if base is None else str(base["dtype"])
    return Experiment(f"hardware-{a}-{b}", f"the same config on {a} and on {b} reaches the same val loss at equal "
                      "steps: a gap between runs on the two is configuration, not hardware",
                      (f"--device={a}", f"--dtype={dtype}"), (f"--device={b}", f"--dtype={dtype}"),
                      "loss at equal steps", Claim.improves(Metric.loss(), recommendation=f"--device={b}"),
                      expects="no effect",
                      design=f"val loss after the same steps, the same seeds and batches on both devices, {dtype}")


def flags_between(a: TrainConfig, b: TrainConfig) -> str:
    """The `--key=value` flags that turn config a into config b (out_dir left out)."""
    return " ".join(f"--{k}={b[k]}" for k in b.values if k != "out_dir" and a.values.get(k) != b[k])


def _scaled_flags(flags: tuple[str, ...], factor: float) -> list[str]:
    out = []
    for flag in flags:
        key, _, value = flag[2:].partition("=")
        if key in STEP_KEYS and factor != 1.0:
            flag = f"--{key}={max(1, round(int(value) * factor))}"
        out.append(flag)
    return out


def arm_configs(experiment: Experiment, base: TrainConfig, factor: float = 1.0) -> tuple[TrainConfig, TrainConfig]:
    """(baseline, treatment) configs: `base` (already scaled by factor) with each arm's flags,
    their step counts scaled by the same factor."""
    return (resolve(base=base, args=_scaled_flags(experiment.baseline, factor)),
            resolve(base=base, args=_scaled_flags(experiment.treatment, factor)))


@dataclass(frozen=True)
class _Speed:
    """Times measured on this machine, in seconds."""

    step_s: float  # one training step of the base config
    eval_batch_s: float | None  # one forward-only val batch; None: FORWARD_FRACTION of a step
    arm_step_s: tuple[float, float] | None  # one step of (baseline, treatment); None: from step_s

    def arm(self, i: int, cfg: TrainConfig, base: TrainConfig) -> float:
        """Seconds of one step of arm i (0 baseline, 1 treatment) at cfg: measured (scaling
        changes no step's shape), or the base step's time in proportion to the tokens per step."""
        if self.arm_step_s is not None:
            return self.arm_step_s[i]
        return self.step_s * _tokens(cfg) / _tokens(base)

    @property
    def eval_s(self) -> float:
        return FORWARD_FRACTION * self.step_s if self.eval_batch_s is None else self.eval_batch_s


def _tokens(c: TrainConfig) -> int:
    return int(c["batch_size"]) * int(c["block_size"]) * int(c["gradient_accumulation_steps"])


def _seed_cost(experiment: Experiment, b: TrainConfig, t: TrainConfig, base: TrainConfig, speed: _Speed) -> float:
    """Seconds one seed of both arms takes at these configs (arm i's flags on `base`)."""
    if experiment.kind in ("throughput", "code"):
        return 0.0
    if experiment.kind == "eval noise":
        batches = EVAL_REPEATS * (int(b["eval_iters"]) + int(t["eval_iters"])) + EVAL_REFERENCE_BATCHES
        return int(b["max_iters"]) * speed.arm(0, b, base) + batches * speed.eval_s
    train = int(b["max_iters"]) * speed.arm(0, b, base) + int(t["max_iters"]) * speed.arm(1, t, base)
    evals = 2 * FINAL_VAL_BATCHES
    if experiment.kind == "loss at equal steps" and _tokens(t) != _tokens(b):
        evals += FINAL_VAL_BATCHES  # the equal-tokens eval
    return train + evals * speed.eval_s


def minimum_budget(experiment: Experiment, base_cfg: TrainConfig, seconds_per_step: float,
                   eval_batch_s: float | None = None, arm_step_s: tuple[float, float] | None = None) -> float:
    """Seconds the smallest meaningful version of the experiment needs: MIN_STEPS steps (the
    shortest arm) x both arms x MIN_SEEDS seeds; throughput: MIN_WINDOWS windows per arm.
    Times as in `scale`."""
    speed = _Speed(seconds_per_step, eval_batch_s, arm_step_s)
    if experiment.kind == "code":
        return 0.0
    if experiment.kind == "throughput":
        both = _window_arms(experiment, base_cfg, speed)
        return (5 + MIN_WINDOWS * _window_steps(both)) * both
    factor = MIN_STEPS / _shortest(experiment, base_cfg)
    base = _scale_base(base_cfg, factor)
    b, t = arm_configs(experiment, base, factor)
    return MIN_SEEDS * _seed_cost(experiment, b, t, base_cfg, speed)


def _shortest(experiment: Experiment, base: TrainConfig) -> int:
    b, t = arm_configs(experiment, base)
    return min(int(b["max_iters"]), int(t["max_iters"]))


def _scale_base(base: TrainConfig, factor: float) -> TrainConfig:
    if factor == 1.0:
        return base
    return resolve(base=base, overrides={k: max(1, round(int(base[k]) * factor)) for k in STEP_KEYS})


def scale(experiment: Experiment, base_cfg: TrainConfig, budget_s: float, seconds_per_step: float,
          seeds: int = 3, eval_batch_s: float | None = None,
          arm_step_s: tuple[float, float] | None = None) -> Scaled:
    """Fit the experiment into budget_s seconds on this machine: all arms x `seeds` seeds.

    seconds_per_step: measured time of one training step of base_cfg here; eval_batch_s: of
    one forward-only val batch (default FORWARD_FRACTION of a step); arm_step_s: measured
    time of one step of each arm's config (default: seconds_per_step in proportion to the
    tokens per step; give it when an arm changes the speed, e.g. bf16 on a CPU). Steps
    (max_iters, lr_decay_iters, warmup_iters, eval_interval) shrink by one factor in the base
    and both arms; seeds drop to MIN_SEEDS before the arms fall under MIN_STEPS steps.
    Throughput experiments fit their timing windows instead.

    Raises LossdoctorError when even MIN_STEPS steps x both arms x MIN_SEEDS seeds do not fit,
    naming the budget that would.
    """
    if seconds_per_step <= 0 or not math.isfinite(seconds_per_step):
        raise LossdoctorError(f"seconds per step must be a positive time, not {seconds_per_step!r}")
    speed = _Speed(seconds_per_step, eval_batch_s, arm_step_s)
    need = minimum_budget(experiment, base_cfg, seconds_per_step, eval_batch_s, arm_step_s)
    if budget_s < need:
        raise LossdoctorError(f"experiment {experiment.id}: a budget of {budget_s:.0f}s is too small; the "
                              f"smallest meaningful run ({_minimum_words(experiment)}) needs {math.ceil(need)}s "
                              f"here at {seconds_per_step * 1000:.0f} ms per step; give --budget {suggested(need)}")
    if experiment.kind == "throughput":
        return _scale_windows(experiment, base_cfg, budget_s, speed)
    b, t = arm_configs(experiment, base_cfg)
    per_seed = _seed_cost(experiment, b, t, base_cfg, speed)
    if experiment.kind == "code" or seeds * per_seed <= budget_s:
        return Scaled(base_cfg, b, t, seeds, _trained_steps(experiment, b, t), per_seed, 0, "")
    shortest = _shortest(experiment, base_cfg)
    n_seeds, factor = max(seeds, PLANNED_SEEDS), 1.0
    while True:
        factor = _fit_factor(experiment, base_cfg, budget_s / n_seeds, speed)
        if factor * shortest >= MIN_STEPS or n_seeds <= MIN_SEEDS:
            break
        n_seeds -= 1
    factor = max(math.floor(factor * shortest), MIN_STEPS) / shortest  # a whole number of steps
    base = _scale_base(base_cfg, factor)
    b, t = arm_configs(experiment, base, factor)
    per_seed = _seed_cost(experiment, b, t, base_cfg, speed)
    start = min(seeds, n_seeds)
    looks = (start, n_seeds) if n_seeds > start else (start,)
    text = _scaled_text(experiment, base_cfg, base, n_seeds, seeds)
    return Scaled(base, b, t, start, _trained_steps(experiment, b, t), per_seed, 0, text, max_seeds=n_seeds,
                  looks=looks)


def _trained_steps(experiment: Experiment, b: TrainConfig, t: TrainConfig) -> int:
    """Training steps of one seed: both arms, or the one model of an eval-noise seed."""
    if experiment.kind == "eval noise":
        return int(b["max_iters"])
    return int(b["max_iters"]) + int(t["max_iters"])


def _fit_factor(experiment: Experiment, base_cfg: TrainConfig, seconds: float, speed: _Speed) -> float:
    """The largest step factor whose one seed of both arms fits `seconds` (bisection on the cost)."""
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        base = _scale_base(base_cfg, max(mid, 1e-9))
        b, t = arm_configs(experiment, base, max(mid, 1e-9))
        if _seed_cost(experiment, b, t, base_cfg, speed) <= seconds:
            lo = mid
        else:
            hi = mid
    return lo


def _window_arms(experiment: Experiment, base_cfg: TrainConfig, speed: _Speed) -> float:
    """Seconds of one step of each arm, together."""
    b, t = arm_configs(experiment, base_cfg)
    return speed.arm(0, b, base_cfg) + speed.arm(1, t, base_cfg)


def _window_steps(both: float) -> int:
    """Steps per timing window: WINDOW_STEPS, fewer (at least 5) when a window would last
    more than about two seconds per arm."""
    return int(max(5, min(WINDOW_STEPS, math.ceil(4.0 / both))))


def _scale_windows(experiment: Experiment, base_cfg: TrainConfig, budget_s: float, speed: _Speed) -> Scaled:
    b, t = arm_configs(experiment, base_cfg)
    both = _window_arms(experiment, base_cfg, speed)
    k = _window_steps(both)
    most = min(MAX_WINDOWS, int(WINDOW_SECONDS // (k * both)))
    windows = int(max(MIN_WINDOWS, min(most, (budget_s - 5 * both) // (k * both))))
    steps = 2 * (5 + windows * k)
    text = (f"{windows} timing windows of {k} steps per arm, after 5 warm-up steps each; the "
            "throughput of the first steps of a full run, which is what a long run keeps")
    return Scaled(base_cfg, b, t, windows, steps, (5 + windows * k) * both, windows, text, k)


def _minimum_words(experiment: Experiment) -> str:
    if experiment.kind == "throughput":
        return f"{MIN_WINDOWS} timing windows x 2 arms"
    return f"{MIN_STEPS} steps (shortest arm) x 2 arms x {MIN_SEEDS} seeds"


def _scaled_text(experiment: Experiment, old: TrainConfig, new: TrainConfig, n_seeds: int, asked: int) -> str:
    n0, n1 = int(old["max_iters"]), int(new["max_iters"])
    parts = [f"max_iters {n0} -> {n1}"]
    for key in STEP_KEYS[1:]:
        if old[key] != new[key]:
            parts.append(f"{key} {old[key]} -> {new[key]}")
    what = f"the effect at {n1} steps, not at {n0}"
    if experiment.kind == "final loss":
        what += "; a longer-training effect is larger early in training, where the loss still falls fast"
    elif experiment.id.startswith("batch"):
        what += "; longer runs usually shrink a batch-size effect"
    elif experiment.kind == "eval noise":
        what += "; eval noise depends little on how far the model trained"
    elif any(f.startswith("--dtype=") for f in experiment.treatment):
        what += "; a precision effect on the loss can grow with training length"
    else:
        what += "; an effect on the loss can grow or shrink with training length"
    seeds = (f"; seeds {asked} -> {n_seeds}" if n_seeds < asked else
             f"; {asked} seeds, up to {n_seeds} while the verdict is open" if n_seeds > asked else "")
    return f"{', '.join(parts)} (same factor in both arms){seeds}: {what}"


MARGIN = 1.3  # a suggested budget over the measured need: two timings of one machine differed by a quarter


def suggested(need_s: float) -> str:
    """A --budget for `need_s` seconds with MARGIN over it, in whole seconds below two
    minutes and whole minutes from there: the step time is measured again at the next
    start, on a machine that may be busier."""
    s = need_s * MARGIN
    return f"{math.ceil(s / 10) * 10}s" if s < 120 else f"{math.ceil(s / 60)}m"
