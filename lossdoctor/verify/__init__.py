"""Statistics of `lossdoctor verify`: a recommendation ("train longer", "--compile=True", ...) is
settled by an A/B experiment, baseline against treatment over seeds, paired when both arms ran
on the same seeds (paired t-test on the per-seed differences) and unpaired otherwise (Welch's
t-test), and ends in one verdict -- confirmed, refuted, no effect, inconclusive, or not
verifiable here -- with the effect and its 95% CI, the p-value, the seed noise, and the
smallest effect the design could detect; sequential_decision says whether to add seeds while
keeping the false-confirmation rate at most alpha. The rules and thresholds are in
lossdoctor.verify.stats.
"""

from .sequential import SequentialDecision, sequential_decision
from .stats import (
    ALPHA,
    CI_LEVEL,
    FAR_SMALLER,
    LOSS_MARGIN_NATS,
    MIN_SEEDS_FOR_CONSTANT,
    POWER,
    RELATIVE_MARGIN,
    VERDICTS,
    ArmStats,
    Claim,
    Direction,
    Effect,
    Interval,
    Margin,
    Metric,
    MetricKind,
    NoiseFloor,
    TTest,
    Verdict,
    Verification,
    default_margin,
    minimum_detectable_effect,
    noise_floor,
    verify,
)

__all__ = [
    "ALPHA",
    "CI_LEVEL",
    "FAR_SMALLER",
    "LOSS_MARGIN_NATS",
    "MIN_SEEDS_FOR_CONSTANT",
    "POWER",
    "RELATIVE_MARGIN",
    "VERDICTS",
    "ArmStats",
    "Claim",
    "Direction",
    "Effect",
    "Interval",
    "Margin",
    "Metric",
    "MetricKind",
    "NoiseFloor",
    "SequentialDecision",
    "TTest",
    "Verdict",
    "Verification",
    "default_margin",
    "minimum_detectable_effect",
    "noise_floor",
    "sequential_decision",
    "verify",
]
