"""Dynamic programming over a bucketed resource axis (placeholder)."""

from __future__ import annotations

from ._instance import Instance, Solution
from ._validate import Interval

OPTIONS: dict[str, Interval] = {"buckets": Interval(2, 10**7, integer=True)}


def solve_dp(
    inst: Instance, *, time_limit: float | None, seed: int, buckets: int = 10_000
) -> Solution:
    raise NotImplementedError("dp is not implemented yet")
