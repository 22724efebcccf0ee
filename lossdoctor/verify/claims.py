"""What `lossdoctor verify` tests and what it concludes: the claim a recommendation makes
(Metric, Claim) and the result of its experiment (Verification, with ArmStats, Effect,
Interval, TTest, Margin, NoiseFloor). Frozen records only; the statistics that fill them and
the verdict rules are in stats.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["ALPHA", "METRIC_KINDS", "VERDICTS", "ArmStats", "Claim", "Direction", "Effect", "Interval", "Margin",
           "Metric", "MetricKind", "NoiseFloor", "Samples", "TTest", "TestKind", "Verdict", "Verification"]

Direction = Literal["lower", "higher"]
MetricKind = Literal["loss", "throughput", "time", "other"]
Verdict = Literal["confirmed", "refuted", "no effect", "inconclusive", "not verifiable here"]
TestKind = Literal["paired t", "Welch t"]
Samples = Sequence[float] | npt.NDArray[np.floating[Any]]

VERDICTS: tuple[Verdict, ...] = ("confirmed", "refuted", "no effect", "inconclusive", "not verifiable here")
METRIC_KINDS: tuple[MetricKind, ...] = ("loss", "throughput", "time", "other")
ALPHA = 0.01  # significance level of a verdict's one-sided tests (stats.py)


@dataclass(frozen=True)
class Metric:
    """What each run of an experiment yields: its name, unit, and which way is better."""

    name: str
    unit: str  # "nats", "tokens/s", "%", "s", ...
    better: Direction
    kind: MetricKind = "other"  # selects the default equivalence margin

    def __post_init__(self) -> None:
        if self.better not in ("lower", "higher"):
            raise ValueError(f"metric {self.name!r}: better must be 'lower' or 'higher', not {self.better!r}")
        if self.kind not in METRIC_KINDS:
            raise ValueError(f"metric {self.name!r}: kind must be one of {METRIC_KINDS}, not {self.kind!r}")

    @classmethod
    def loss(cls, name: str = "val loss") -> Metric:
        """A loss in nats; lower is better."""
        return cls(name, "nats", "lower", "loss")

    @classmethod
    def throughput(cls, name: str = "throughput", unit: str = "tokens/s") -> Metric:
        """A rate; higher is better."""
        return cls(name, unit, "higher", "throughput")

    @classmethod
    def duration(cls, name: str = "time per iter", unit: str = "s") -> Metric:
        """A time; lower is better."""
        return cls(name, unit, "lower", "time")


@dataclass(frozen=True)
class Claim:
    """What a recommendation predicts: the treatment's metric is `direction` than the
    baseline's (by `size`, in the metric's unit, when the recommendation states one)."""

    metric: Metric
    direction: Direction
    size: float | None = None
    recommendation: str = ""  # e.g. "train longer", "--compile=True"

    def __post_init__(self) -> None:
        if self.direction not in ("lower", "higher"):
            raise ValueError(f"claim direction must be 'lower' or 'higher', not {self.direction!r}")
        if self.size is not None and not (math.isfinite(self.size) and self.size > 0):
            raise ValueError(f"claimed size must be a positive number of {self.metric.unit}, not {self.size!r}")

    @classmethod
    def improves(cls, metric: Metric, size: float | None = None, recommendation: str = "") -> Claim:
        """The common claim: the treatment moves the metric the better way."""
        return cls(metric, metric.better, size, recommendation)

    @property
    def sign(self) -> int:
        """+1 when the claim predicts treatment - baseline > 0, else -1."""
        return 1 if self.direction == "higher" else -1


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float  # two-sided confidence, e.g. 0.95


@dataclass(frozen=True)
class ArmStats:
    """One arm over its seeds."""

    n: int
    mean: float
    sd: float | None  # None with a single seed
    values: tuple[float, ...]


@dataclass(frozen=True)
class NoiseFloor:
    """Seed noise, in the metric's unit (None where fewer than 2 values exist)."""

    baseline_sd: float | None  # sd over the baseline seeds
    treatment_sd: float | None  # sd over the treatment seeds
    difference_sd: float | None  # sd of the paired differences; None without pairs
    unit: str


@dataclass(frozen=True)
class Margin:
    """The equivalence margin: effects within +-value count as no effect."""

    value: float
    basis: str  # how it was set


@dataclass(frozen=True)
class TTest:
    kind: TestKind
    statistic: float  # +-inf for identical non-zero differences (n >= 3)
    df: float
    p_value: float  # two-sided


@dataclass(frozen=True)
class Effect:
    """treatment - baseline."""

    estimate: float
    unit: str
    relative: float | None  # estimate / |baseline mean|; None when that mean is 0
    ci: Interval | None  # CI_LEVEL; None without a test
    decision: Interval | None  # (1 - 2 alpha) interval the verdict rules use


@dataclass(frozen=True)
class Verification:
    """The outcome of one experiment: its verdict, the reason, and the numbers behind it."""

    claim: Claim
    verdict: Verdict
    reason: str
    alpha: float
    paired: bool  # paired t-test (False for Welch, and when not run)
    n_seeds: int  # seeds per arm: the pairs, or the smaller arm without pairs (0: not run)
    baseline: ArmStats | None
    treatment: ArmStats | None
    effect: Effect | None
    test: TTest | None
    mde: float | None  # minimum detectable effect at alpha and the given power, metric unit
    margin: Margin | None
    noise: NoiseFloor | None

    @property
    def metric(self) -> Metric:
        return self.claim.metric

    @property
    def p_value(self) -> float | None:
        return None if self.test is None else self.test.p_value

    @classmethod
    def not_verifiable(cls, claim: Claim, reason: str, *, alpha: float = ALPHA) -> Verification:
        """The experiment could not run here (e.g. "no CUDA device", "torch.compile failed")."""
        if not reason.strip():
            raise ValueError("a 'not verifiable here' verdict needs a reason")
        return cls(claim, "not verifiable here", reason, alpha, False, 0, None, None, None, None, None, None, None)

    def summary(self) -> str:
        """One paragraph for a report."""
        m = self.metric
        head = f"{m.name} ({m.unit}, {m.better} is better)"
        if self.baseline is None or self.treatment is None or self.effect is None:
            return f"{head}: {self.verdict} -- {self.reason}"
        e = self.effect
        parts = [f"{head}: baseline {_arm_text(self.baseline)}, treatment {_arm_text(self.treatment)}",
                 f"effect {e.estimate:+.4g} {e.unit}"]
        if e.ci is not None:
            parts.append(f"{e.ci.level:.0%} CI [{e.ci.low:+.4g}, {e.ci.high:+.4g}]")
        if self.test is not None:
            parts.append(f"p = {self.test.p_value:.2g} ({self.test.kind}, {self.test.df:.3g} df)")
        if self.mde is not None:
            parts.append(f"detectable >= {self.mde:.3g} {e.unit}")
        return "; ".join(parts) + f"; {self.verdict} -- {self.reason}"


def _arm_text(a: ArmStats) -> str:
    sd = "n/a" if a.sd is None else f"{a.sd:.3g}"
    return f"{a.mean:.6g} ± {sd} (n={a.n})"
