"""Fitting loss curves: schedule-aware laws (laws.py) and extrapolation (extrapolate.py)."""

from .extrapolate import CannotExtrapolate, Estimate, Extrapolation, Scenario, extrapolate

__all__ = ["CannotExtrapolate", "Estimate", "Extrapolation", "Scenario", "extrapolate"]
