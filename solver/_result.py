"""What every solver family's result shares: `Status`, the certificate header, the gap."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ._tolerance import GAP_FLOOR, OPTIMAL_GAP

__all__ = ["Certificate", "Status", "deadline", "relative_gap", "status_for_gap", "time_left"]


class Status(enum.Enum):
    """Outcome of a solve."""

    OPTIMAL = "optimal"
    """Proven optimal: ``gap`` is within the method's tolerance."""
    FEASIBLE = "feasible"
    """Within the budget, not proven optimal (heuristics, baselines, rounding)."""
    INFEASIBLE = "infeasible"
    """No solution meets the budget; ``usage`` holds the smallest achievable totals."""
    TIME_LIMIT = "time_limit"
    """Stopped at ``time_limit``; the best solution found so far is returned."""


@dataclass(frozen=True, eq=False, kw_only=True)
class Certificate:
    """The header every result carries, whatever the family.

    Attributes
    ----------
    status : Status
    objective : float
        The value of the solution (minimised; ``inf`` if infeasible).
    lower_bound : float
        Proven lower bound on the optimal objective (``-inf`` when the method proves none).
    gap : float
        ``(objective - lower_bound) / max(|objective|, 1e-12)``; 0 when proven optimal or
        infeasible, ``inf`` without a bound.
    usage : mapping of str to float
        Total per resource of the solution (if infeasible: the smallest achievable totals).
    limit : mapping of str to float
        The budget per resource.
    method : str
        The method that produced the solution (``auto`` resolved).
    solve_time_s : float
        Wall time of the solve including validation.
    message : str
        Human-readable detail (why infeasible, which knob to turn, ...).
    """

    status: Status
    objective: float
    lower_bound: float
    gap: float
    usage: Mapping[str, float]
    limit: Mapping[str, float]
    method: str
    solve_time_s: float
    message: str = ""


def relative_gap(objective: float, lower_bound: float) -> float:
    """``(objective - lower_bound) / max(|objective|, 1e-12)``, clipped at 0."""
    if math.isinf(objective) and math.isinf(lower_bound) and objective > 0 and lower_bound > 0:
        return 0.0
    if not math.isfinite(lower_bound):
        return math.inf
    return max(0.0, (objective - lower_bound) / max(abs(objective), GAP_FLOOR))


def status_for_gap(gap: float, tol: float = OPTIMAL_GAP) -> Status:
    """``OPTIMAL`` when ``gap <= tol``, else ``FEASIBLE``."""
    return Status.OPTIMAL if gap <= tol else Status.FEASIBLE


def deadline(time_limit: float | None) -> float:
    """The `time.perf_counter` instant at which ``time_limit`` seconds from now run out."""
    return math.inf if time_limit is None else time.perf_counter() + time_limit


def time_left(deadline: float, least: float = 1e-3) -> float | None:
    """Seconds until ``deadline`` (``None`` if there is none), at least ``least``.

    The floor lets a back end handed the rest of a nearly spent budget still start and
    return its best plan rather than refuse a zero time limit.
    """
    return None if math.isinf(deadline) else max(deadline - time.perf_counter(), least)
