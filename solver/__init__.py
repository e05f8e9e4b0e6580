"""Exact layer-adaptive pruning allocation with a certificate.

Pure numerical code: numpy and scipy (HiGHS and POT for the back ends that need them).
"""

from ._allocate import METHODS, allocate
from ._progress import Progress
from ._result import Certificate
from ._solve import solve
from ._types import (
    AllocationProblem,
    AllocationResult,
    Frontier,
    InvalidProblemError,
    LayerProfile,
    Status,
    kept_count,
)

__all__ = [
    "METHODS",
    "AllocationProblem",
    "AllocationResult",
    "Certificate",
    "Frontier",
    "InvalidProblemError",
    "LayerProfile",
    "Progress",
    "Status",
    "allocate",
    "kept_count",
    "solve",
]
