"""Exact layer-adaptive pruning allocation with a certificate.

Pure numerical code: numpy and scipy (cvxpy and POT for the back ends that need them).
"""

from ._errors import InvalidProblemError
from ._progress import Progress
from ._result import Status
from .allocation import (
    METHODS,
    AllocationProblem,
    AllocationResult,
    Frontier,
    LayerProfile,
    allocate,
)

__all__ = [
    "METHODS",
    "AllocationProblem",
    "AllocationResult",
    "Frontier",
    "InvalidProblemError",
    "LayerProfile",
    "Progress",
    "Status",
    "allocate",
]
