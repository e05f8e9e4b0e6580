"""Checks of the search options and of told values, each naming the field."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import InvalidProblemError
from .._checks import Interval, fmt
from ._types import MODES, RESOLVE_METHODS, SearchOptions

__all__ = ["curves", "generation_cost", "integer", "measured", "options"]

_SCALARS: dict[str, Interval] = {
    "evaluations": Interval(1, 10**9, integer=True),
    "max_swaps": Interval(1, 64, integer=True),
    "perturbation": Interval(0.0, 10.0),
    "seed": Interval(0, 2**63 - 1, integer=True),
}


def generation_cost(opts: SearchOptions) -> int:
    """Measurements of one full generation: every stage, plus the re-measured incumbent."""
    return sum(opts.candidates) + 1


def _stages(value: object, field: str, *, ascending: bool) -> tuple[int, ...]:
    order = "non-decreasing" if ascending else "non-increasing"
    allowed = f"a non-empty {order} sequence of integers >= 1"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise InvalidProblemError(field, allowed, fmt(value))
    out = []
    for i, v in enumerate(value):
        out.append(Interval(1, 10**9, integer=True).check(f"{field}[{i}]", v))
        if i and (out[i] < out[i - 1] if ascending else out[i] > out[i - 1]):
            raise InvalidProblemError(f"{field}[{i}]", f"{order} ({allowed})", fmt(v))
    return tuple(out)


def options(value: SearchOptions | None) -> SearchOptions:
    """``value`` (default `SearchOptions()`) with every field checked and normalised."""
    if value is None:
        return SearchOptions()
    if not isinstance(value, SearchOptions):
        raise InvalidProblemError("options", "a SearchOptions", type(value).__name__)
    data: dict[str, Any] = {f.name: getattr(value, f.name) for f in fields(value)}
    for name, interval in _SCALARS.items():
        data[name] = interval.check(f"options.{name}", data[name])
    modes = data["modes"]
    if isinstance(modes, str) or not isinstance(modes, Sequence) or not modes:
        raise InvalidProblemError("options.modes", f"a non-empty sequence of {MODES}", fmt(modes))
    for i, mode in enumerate(modes):
        if mode not in MODES:
            raise InvalidProblemError(
                f"options.modes[{i}]", f"one of {', '.join(MODES)}", fmt(mode)
            )
    if list(modes) == ["curves"]:
        raise InvalidProblemError(
            "options.modes",
            '"swap" or "resolve" besides "curves"',
            fmt(modes),
            "Curves are only there once told; the first generations need another source.",
        )
    data["modes"] = tuple(dict.fromkeys(modes))
    if data["resolve_method"] not in RESOLVE_METHODS:
        raise InvalidProblemError(
            "options.resolve_method",
            f"one of {', '.join(RESOLVE_METHODS)}",
            fmt(data["resolve_method"]),
        )
    data["candidates"] = _stages(data["candidates"], "options.candidates", ascending=False)
    if data["samples"] is None:
        data["samples"] = tuple(4**s for s in range(len(data["candidates"])))
    data["samples"] = _stages(data["samples"], "options.samples", ascending=True)
    if len(data["samples"]) != len(data["candidates"]):
        raise InvalidProblemError(
            "options.samples",
            f"one sample count per stage ({len(data['candidates'])}, as options.candidates)",
            f"{len(data['samples'])} values",
        )
    opts = SearchOptions(**data)
    if opts.evaluations < generation_cost(opts):
        raise InvalidProblemError(
            "options.evaluations",
            f">= {generation_cost(opts)} (one generation: sum(candidates) + 1 for the incumbent)",
            fmt(opts.evaluations),
        )
    return opts


def integer(value: object, field: str, lo: int = 0) -> int:
    """An integer >= ``lo`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < lo:
        raise InvalidProblemError(field, f"an integer >= {lo}", fmt(value))
    return int(value)


def measured(value: object, field: str) -> float:
    """A finite real number."""
    number = isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not number or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise InvalidProblemError(field, "a finite number", fmt(value))
    return float(value)  # type: ignore[arg-type]


def curves(value: Mapping[str, ArrayLike], sizes: Mapping[str, int]) -> dict[str, list[float]]:
    """Re-profiled losses by layer name: known names, one finite value >= 0 per level."""
    out: dict[str, list[float]] = {}
    for name, loss in value.items():
        field = f"curves.{name}"
        if name not in sizes:
            raise InvalidProblemError("curves", "keyed by layer names of the problem", fmt(name))
        try:
            array = np.asarray(loss, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidProblemError(field, "a 1-D sequence of numbers", fmt(loss)) from None
        if array.shape != (sizes[name],):
            raise InvalidProblemError(
                field, f"one loss per level ({sizes[name]} values)", f"shape {array.shape}"
            )
        bad = ~np.isfinite(array) | (array < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidProblemError(field, "finite and >= 0", f"{fmt(array[i])} at index {i}")
        out[str(name)] = array.tolist()
    return out
