"""Tracking: tidy per-epoch dynamics, provenance of every run, and the run card."""
from pruninglib.tracking.dynamics import DynamicsTracker, snapshot, to_frame
from pruninglib.tracking.provenance import git_commit, hardware, software
from pruninglib.tracking.report import mean_std_table, run_card, targets_table
from pruninglib.tracking.units import UnitTracker, unit_rows

__all__ = ["DynamicsTracker", "snapshot", "to_frame", "git_commit", "hardware", "software", "run_card",
           "targets_table", "mean_std_table", "UnitTracker", "unit_rows"]
