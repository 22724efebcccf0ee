"""Fitting loss curves: schedule-aware laws (laws.py) and extrapolation (extrapolate.py)."""

from .calibration import Calibration
from .extrapolate import CannotExtrapolate, Extrapolator, extrapolate
from .results import Estimate, Extrapolation, Scenario
from .scenarios import CustomSchedule

__all__ = ["Calibration", "CannotExtrapolate", "CustomSchedule", "Estimate", "Extrapolation", "Extrapolator",
           "Scenario", "extrapolate"]
