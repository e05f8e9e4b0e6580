"""Public types of the layer-adaptive allocation problem and its result."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "AllocationProblem",
    "AllocationResult",
    "Frontier",
    "InvalidProblemError",
    "LayerProfile",
    "Status",
]


class InvalidProblemError(ValueError):
    """A problem or an option that cannot be solved as given.

    The message follows one formula: the field, what is allowed, what was received.
    ``field`` holds the path of the offending field (``"layers[3].loss"``, ``"budget.flops"``,
    ``"options.buckets"``) so that callers such as the gRPC service can point at it.
    """

    def __init__(self, field: str, allowed: str, got: str, hint: str = "") -> None:
        self.field = field
        self.allowed = allowed
        self.got = got
        self.hint = hint
        message = f"{field}: must be {allowed}; got {got}."
        if hint:
            message += f" {hint}"
        super().__init__(message)


class Status(enum.Enum):
    """Outcome of a solve."""

    OPTIMAL = "optimal"
    """Proven optimal: ``gap`` is within the method's tolerance."""
    FEASIBLE = "feasible"
    """Within the budget, not proven optimal (heuristics, baselines, rounding)."""
    INFEASIBLE = "infeasible"
    """No allocation meets the budget; ``usage`` holds the smallest achievable totals."""
    TIME_LIMIT = "time_limit"
    """Stopped at ``time_limit``; the best allocation found so far is returned."""


@dataclass(frozen=True, eq=False)
class LayerProfile:
    """Rate-distortion profile of one prunable layer.

    Parameters
    ----------
    name : str
        Unique name, by convention the parameter's fully qualified name
        (``"layer1.0.conv1.weight"``).
    levels : array_like, shape (K,)
        Candidate sparsities in [0, 1], strictly ascending.
    loss : array_like, shape (K,)
        Measured distortion at each level; finite and >= 0. Neither monotone nor convex
        in general.
    size : int
        Number of prunable elements.
    costs : mapping of str to array_like, shape (K,), optional
        Cost of the layer at each level per resource (``"params"``, ``"flops"``,
        ``"latency_ms"``, ``"memory"``, any name). ``"params"`` defaults to
        ``size * (1 - levels)``.
    shape : tuple of int, optional
        Shape of the weight (the ``erk`` baseline needs it).
    min_sparsity, max_sparsity : float
        Only levels in ``[min_sparsity, max_sparsity]`` may be chosen.
    group : str, optional
        Layers that share a group take the same level index (their ``levels`` must match).
    magnitudes : array_like, shape (K,), optional
        Weight magnitude at which each level cuts (``global_magnitude`` and ``lamp`` need it).
    """

    name: str
    levels: ArrayLike
    loss: ArrayLike
    size: int
    costs: Mapping[str, ArrayLike] | None = None
    shape: Sequence[int] | None = None
    min_sparsity: float = 0.0
    max_sparsity: float = 1.0
    group: str | None = None
    magnitudes: ArrayLike | None = None


@dataclass(frozen=True, eq=False)
class AllocationProblem:
    """Choose one level per layer to minimise total loss under a budget.

    Parameters
    ----------
    layers : sequence of LayerProfile
        The layers, names unique.
    budget : mapping of str to float
        Maximum total per resource (absolute, > 0). Several resources at once are allowed.
    fingerprint : str
        Opaque identity of the model the profiles came from (layer names and shapes), echoed
        on the result so a plan is never applied to another model.
    """

    layers: Sequence[LayerProfile]
    budget: Mapping[str, float]
    fingerprint: str = ""


@dataclass(frozen=True, eq=False)
class Frontier:
    """Best objective for every budget on a grid of one resource.

    ``objective[i]`` is the smallest total loss with usage of ``resource`` at most
    ``budget[i]`` (``inf`` where no allocation fits).
    """

    resource: str
    budget: NDArray[np.float64]
    objective: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class AllocationResult:
    """The plan and its certificate.

    Attributes
    ----------
    status : Status
    level_index : mapping of str to int
        Chosen index into each layer's ``levels``, keyed by layer name (empty if infeasible).
    sparsity : mapping of str to float
        ``levels[level_index]`` per layer (empty if infeasible).
    objective : float
        Total loss of the plan (``inf`` if infeasible).
    lower_bound : float
        Proven lower bound on the optimal total loss (``-inf`` when the method proves none).
    gap : float
        ``(objective - lower_bound) / max(|objective|, 1e-12)``; 0 when proven optimal or
        infeasible, ``inf`` without a bound.
    usage : mapping of str to float
        Total per resource of the plan (if infeasible: the smallest achievable totals).
    limit : mapping of str to float
        The budget per resource.
    method : str
        The method that produced the plan (``auto`` resolved).
    solve_time_s : float
        Wall time of ``allocate`` including validation.
    message : str
        Human-readable detail (why infeasible, which knob to turn, ...).
    frontier : Frontier or None
        Best objective for every budget on the DP grid, for methods that yield it.
    plan_id : str
        Identifier given by the service ("" for in-process solves).
    fingerprint : str
        The problem's ``fingerprint``, echoed.
    """

    status: Status
    level_index: Mapping[str, int]
    sparsity: Mapping[str, float]
    objective: float
    lower_bound: float
    gap: float
    usage: Mapping[str, float]
    limit: Mapping[str, float]
    method: str
    solve_time_s: float
    message: str = ""
    frontier: Frontier | None = None
    plan_id: str = ""
    fingerprint: str = ""


def relative_gap(objective: float, lower_bound: float) -> float:
    """``(objective - lower_bound) / max(|objective|, 1e-12)``, clipped at 0."""
    if math.isinf(objective) and math.isinf(lower_bound) and objective > 0 and lower_bound > 0:
        return 0.0
    if not math.isfinite(lower_bound):
        return math.inf
    return max(0.0, (objective - lower_bound) / max(abs(objective), 1e-12))
