"""`solve`: any problem to its family's entry point (temporary; the solver split replaces it)."""

from __future__ import annotations

import functools
from typing import Any

from ._allocate import allocate
from ._errors import InvalidProblemError
from ._types import AllocationProblem


@functools.singledispatch
def solve(problem: object, **kwargs: Any) -> Any:
    """Solve ``problem`` with its family's entry point."""
    raise InvalidProblemError("problem", "one of AllocationProblem", type(problem).__name__)


solve.register(AllocationProblem, allocate)
