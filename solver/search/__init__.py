"""Measured search over allocations: an ask/tell session started from the exact plan.

Candidates are proposed by budget-keeping level swaps, by re-solving curves perturbed with the
measured residuals, and by re-profiled curves; they are selected by successive halving over
growing sample counts. Pure: the caller measures, the session only proposes and selects.
"""

from ._session import SearchSession
from ._types import (
    MODES,
    RESOLVE_METHODS,
    Candidate,
    Measurement,
    Record,
    SearchClosedError,
    SearchOptions,
    SearchState,
)

__all__ = [
    "MODES",
    "RESOLVE_METHODS",
    "Candidate",
    "Measurement",
    "Record",
    "SearchClosedError",
    "SearchOptions",
    "SearchSession",
    "SearchState",
]
