"""Sparsity schedules: target sparsity as a function of training progress."""
from __future__ import annotations


def cubic_ramp(progress: float, final: float, start: float = 0.0, end: float = 1.0) -> float:
    """Zhu & Gupta (2017) schedule: 0 before ``start``, ``final`` after ``end``, cubic in between.

    s(t) = final * (1 - (1 - u)^3), u = (t - start) / (end - start): fast early, when the network is most
    redundant, and gentle near the end. ``progress``, ``start`` and ``end`` are fractions of training.
    Example: final=0.9, start=0, end=0.5 gives s(0.25) = 0.9 * (1 - 0.5^3) = 0.7875.
    """
    if not 0.0 <= start < end <= 1.0:
        raise ValueError(f"start = {start}, end = {end} are not allowed: 0 <= start < end <= 1")
    if progress <= start:
        return 0.0
    if progress >= end:
        return final
    u = (progress - start) / (end - start)
    return final * (1.0 - (1.0 - u) ** 3)
