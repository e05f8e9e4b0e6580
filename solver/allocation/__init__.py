"""Layer-adaptive allocation: one pruning level per layer, minimum total loss under budgets."""

from ._api import METHODS, allocate
from ._types import AllocationProblem, AllocationResult, Frontier, LayerProfile

__all__ = [
    "METHODS",
    "AllocationProblem",
    "AllocationResult",
    "Frontier",
    "LayerProfile",
    "allocate",
]
