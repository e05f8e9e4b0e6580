"""Layer-adaptive allocation: one pruning level per layer, minimum total loss under budgets."""

from .._dispatch import solve
from ._api import METHODS, allocate
from ._types import AllocationProblem, AllocationResult, Frontier, LayerProfile, kept_count

solve.register(AllocationProblem, allocate)

__all__ = [
    "METHODS",
    "AllocationProblem",
    "AllocationResult",
    "Frontier",
    "LayerProfile",
    "allocate",
    "kept_count",
]
