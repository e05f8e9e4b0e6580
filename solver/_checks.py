"""Argument checks shared by every family: arrays, numbers, and the option tables.

Each check raises `InvalidProblemError` in the one formula: the field, what is allowed,
what was received.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._errors import InvalidProblemError

__all__ = [
    "COMMON_OPTIONS",
    "MAX_SIZE",
    "MAX_TOTAL",
    "Interval",
    "array",
    "finite",
    "fmt",
    "number",
    "running_total",
    "validate_options",
]

F64 = NDArray[np.float64]

ECHO_LIMIT = 60
"""Longest echo of a caller's value in an error message (longer ones are cut)."""


MAX_SIZE = 2**53
"""Largest element count: every integer up to it is exact in float64."""

MAX_TOTAL = 1e300
"""Largest sum over parts (layers, groups) of each one's largest loss or cost: headroom of about
10^8 below the float64 maximum for the solvers' sums, products and tolerances."""


def running_total(largest: F64, field: str, names: list[str], hint: str) -> None:
    """The running sum of ``largest`` (one value per part, in order) stays at most `MAX_TOTAL`;
    past it, the part where the sum crosses is named (``names[k]`` formats ``field``)."""
    with np.errstate(over="ignore"):
        totals = np.cumsum(np.maximum(largest, 0.0))
    over = np.flatnonzero(totals > MAX_TOTAL)
    if over.size:
        k = int(over[0])
        raise InvalidProblemError(
            field.format(names[k]),
            f"values whose sum over parts (the largest of each) is at most {MAX_TOTAL:g}",
            f"a running sum of {totals[k]:g} here",
            hint,
        )


def fmt(value: object) -> str:
    """A short ``repr`` of a caller's value for an error message (long ones are cut)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return repr(value)
    text = repr(value)
    return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 3] + "..."


def array(value: ArrayLike, field: str) -> F64:
    """``value`` as a contiguous 1-D float64 array."""
    try:
        result = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidProblemError(field, "a 1-D sequence of numbers", fmt(value)) from None
    if result.ndim != 1:
        raise InvalidProblemError(field, "a 1-D sequence of numbers", f"shape {result.shape}")
    return np.ascontiguousarray(result)


def finite(values: F64, field: str, *, nonnegative: bool) -> None:
    """Every entry finite (and >= 0 if ``nonnegative``); the first offender is named."""
    bad = ~np.isfinite(values)
    if nonnegative:
        bad |= values < 0
    if bad.any():
        i = int(np.argmax(bad))
        allowed = "finite and >= 0" if nonnegative else "finite"
        raise InvalidProblemError(field, allowed, f"{fmt(values[i])} at index {i}")


def number(value: object, field: str, allowed: str) -> float:
    """A real number (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidProblemError(field, allowed, fmt(value))
    return float(value)


@dataclass(frozen=True)
class Interval:
    """A number in ``[lo, hi]``; ints only if ``integer``; ``None`` too if ``optional``."""

    lo: float
    hi: float
    integer: bool = False
    optional: bool = False
    lo_open: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        left = "(" if self.lo_open else "["
        right = ")" if math.isinf(self.hi) else "]"
        text = f"{kind} in {left}{self._end(self.lo)}, {self._end(self.hi)}{right}"
        return f"None or {text}" if self.optional else text

    def _end(self, value: float) -> str:
        return str(int(value)) if self.integer and math.isfinite(value) else f"{value:g}"

    def check(self, field: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        is_num = is_int or isinstance(value, (float, np.floating))
        if not is_num or (self.integer and not is_int):
            raise InvalidProblemError(field, self.describe(), fmt(value))
        value_f = float(value)
        below = value_f <= self.lo if self.lo_open else value_f < self.lo
        if not math.isfinite(value_f) or below or value_f > self.hi:
            raise InvalidProblemError(field, self.describe(), fmt(value))
        return int(value) if self.integer else value_f


COMMON_OPTIONS: dict[str, Interval] = {
    "time_limit": Interval(0.0, math.inf, optional=True, lo_open=True),
    "seed": Interval(0, 2**63 - 1, integer=True),
}
"""The keyword arguments every family's entry point takes besides the method's options."""


def validate_options(
    method: str, constraints: Mapping[str, Interval], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Check ``options`` against the method's declared ``constraints``."""
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name not in constraints:
            valid = ", ".join(sorted(constraints)) or "none"
            raise InvalidProblemError(
                f"options.{name}", f"an option of method {method!r} ({valid})", "an unknown option"
            )
        checked[name] = constraints[name].check(f"options.{name}", value)
    return checked
