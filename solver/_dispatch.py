"""`solve`: one entry point for every family, dispatched on the problem's type.

Each family registers its entry point in its own ``__init__`` with one line,
``solve.register(XProblem, x_entry_point)``, so adding a family never edits this module.
"""

from __future__ import annotations

import functools
from typing import Any

from ._errors import InvalidProblemError
from ._result import Certificate

__all__ = ["solve"]


@functools.singledispatch
def solve(problem: object, **options: Any) -> Certificate:
    """Solve ``problem`` with its family's entry point (``allocate`` for an `AllocationProblem`).

    Parameters
    ----------
    problem : AllocationProblem or another family's problem
    **options
        The family entry point's keywords (``method``, ``time_limit``, ``seed``, ``progress``
        and the method's options).

    Returns
    -------
    Certificate
        The family's result type (`AllocationResult` for an `AllocationProblem`).

    Raises
    ------
    InvalidProblemError
        ``problem`` is of no registered family's type, or its family rejects it.

    Examples
    --------
    >>> from pruneplan.solver import AllocationProblem, LayerProfile, solve
    >>> layers = [LayerProfile("a", [0.0, 0.5, 0.9], [0.0, 0.1, 2.0], 100),
    ...           LayerProfile("b", [0.0, 0.5, 0.9], [0.0, 0.4, 0.5], 100)]
    >>> solve(AllocationProblem(layers, {"params": 80}), method="exact").objective
    0.6
    """
    del options
    known = sorted(cls.__name__ for cls in solve.registry if cls is not object)
    raise InvalidProblemError("problem", f"one of {', '.join(known)}", type(problem).__name__)
