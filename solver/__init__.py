"""Optimisation-based pruning plans with a certificate, one subpackage per solver family.

Pure numerical code: numpy and scipy (highspy and POT for the back ends that need them).
`solve` takes any family's problem; each family also has its own entry point (`allocate`,
`select`, `cluster`; `transport` lives in `pruneplan.solver.transport`, whose name it would
shadow here).
"""

from ._dispatch import solve
from ._errors import InvalidProblemError
from ._progress import Progress
from ._result import Certificate, Status
from .allocation import (
    METHODS,
    AllocationProblem,
    AllocationResult,
    Frontier,
    LayerProfile,
    allocate,
    kept_count,
)
from .clustering import ClusterGroup, ClusteringProblem, ClusteringResult, cluster
from .selection import GroupSelection, ItemGroup, SelectionProblem, SelectionResult, select
from .transport import (
    BinsProblem,
    BinsResult,
    TransportProblem,
    TransportResult,
    transport_bins,
)

__all__ = [
    "METHODS",
    "AllocationProblem",
    "AllocationResult",
    "BinsProblem",
    "BinsResult",
    "Certificate",
    "ClusterGroup",
    "ClusteringProblem",
    "ClusteringResult",
    "Frontier",
    "GroupSelection",
    "InvalidProblemError",
    "ItemGroup",
    "LayerProfile",
    "Progress",
    "SelectionProblem",
    "SelectionResult",
    "Status",
    "TransportProblem",
    "TransportResult",
    "allocate",
    "cluster",
    "kept_count",
    "select",
    "solve",
    "transport_bins",
]
