"""Progress reports from inside a solve, without threading a callback through every method.

`allocate(..., progress=callback)` installs ``callback`` for the duration of the solve; a method
calls `report` whenever it has news (a phase begins, a better plan, a sharper bound). With no
callback installed, `report` costs one context-variable lookup.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running solve.

    Attributes
    ----------
    phase : str
        What the method is doing (``"bound"``, ``"search"``, ``"milp"``, ...).
    fraction : float
        Rough share of the work done, in [0, 1] (``nan`` when unknown).
    objective : float
        Best total loss found so far (``inf`` before the first plan).
    lower_bound : float
        Best proven lower bound so far (``-inf`` before the first bound).
    """

    phase: str
    fraction: float = math.nan
    objective: float = math.inf
    lower_bound: float = -math.inf


ProgressCallback = Callable[[Progress], None]

_callback: contextvars.ContextVar[ProgressCallback | None] = contextvars.ContextVar(
    "pruneplan_progress", default=None
)


def report(
    phase: str,
    *,
    fraction: float = math.nan,
    objective: float = math.inf,
    lower_bound: float = -math.inf,
) -> None:
    """Send a `Progress` to the installed callback, if any."""
    callback = _callback.get()
    if callback is not None:
        callback(Progress(phase, fraction, objective, lower_bound))


@contextmanager
def reporting(callback: ProgressCallback | None) -> Iterator[None]:
    """Install ``callback`` for the duration of the block."""
    token = _callback.set(callback)
    try:
        yield
    finally:
        _callback.reset(token)
