"""Lagrangian relaxation with bisection on the multiplier (placeholder)."""

from __future__ import annotations

import math

from ._instance import Instance, Solution
from ._validate import Interval

OPTIONS: dict[str, Interval] = {}


def dual_bound(inst: Instance) -> float:
    """Lower bound on the optimum from the Lagrangian dual (placeholder: none)."""
    return -math.inf


def solve_lagrangian(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    raise NotImplementedError("lagrangian is not implemented yet")
