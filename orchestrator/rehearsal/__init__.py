"""Rehearse an agenda: the real server, simulated venues, compressed time, drills, a report."""

from .drills import DrillError, Drills, parse_drills
from .report import Report
from .runner import RehearsalOptions, rehearse

__all__ = ["DrillError", "Drills", "RehearsalOptions", "Report", "parse_drills", "rehearse"]
