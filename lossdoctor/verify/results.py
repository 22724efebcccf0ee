"""What `lossdoctor verify` returns: one ExperimentResult per recommendation tested, and
the report around them (frozen; the JSON form is report/verify.py's)."""

from __future__ import annotations

from dataclasses import dataclass

from .stats import NoiseFloor, Verification


@dataclass(frozen=True)
class ExperimentResult:
    """One recommendation tested by an A/B comparison."""

    id: str  # short and stable: 'train-longer', 'batch-24', 'compile', 'groups', ...
    recommendation: str  # in words: what the treatment changes, and what it claims
    flags: str  # the treatment's nanoGPT flags against the baseline ("" for groups of logs)
    verification: Verification  # metric, arms, effect, p-value, verdict (stats.verify)
    how: str  # how it was measured: the design, in one or two sentences
    scaled: str = ""  # how the config was scaled to the budget, and what that may change
    seeds: tuple[int, ...] = ()  # the seeds of the pairs (groups of logs: those --paired paired them by, else none)
    # 'no effect': the recommendation holds when the verdict is `no effect` (bf16 leaves the
    # loss unchanged); 'effect': when it is `confirmed`
    expects: str = "effect"

    @property
    def supports(self) -> bool | None:
        """Whether the verdict supports the recommendation (None: neither way)."""
        verdict = self.verification.verdict
        if verdict in ("inconclusive", "not verifiable here"):
            return None
        return verdict == ("no effect" if self.expects == "no effect" else "confirmed")


@dataclass(frozen=True)
class VerifyReport:
    """The experiments of one `lossdoctor verify`, with the measured seed noise."""

    experiments: tuple[ExperimentResult, ...]
    noise: NoiseFloor | None  # seed noise of the baseline arms, in the loss's unit
    device: str  # 'cpu', 'cuda', ... ('' for groups of existing logs)
    budget_s: float | None  # the time budget, seconds (None: no training)
    notes: tuple[str, ...] = ()
