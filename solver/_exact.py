"""Exact method (placeholder: delegates to MILP until the dedicated algorithm lands)."""

from __future__ import annotations

from ._instance import Instance, Solution
from ._milp import solve_milp
from ._validate import Interval

OPTIONS: dict[str, Interval] = {}


def solve_exact(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    return solve_milp(inst, time_limit=time_limit, seed=seed)
