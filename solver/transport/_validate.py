"""Input validation: a `TransportProblem` becomes an `Instance` the methods can trust."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._checks import array, finite, fmt, number
from .._errors import InvalidProblemError
from .._tolerance import BUDGET_RTOL
from ._types import REG_TYPES, BinsProblem, TransportProblem

__all__ = ["Bins", "Instance", "validate_bins", "validate_problem"]

F64 = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Instance:
    """Groups laid end to end; group ``g`` is ``scores[offsets[g]:offsets[g + 1]]``.

    ``weights`` is None for unit masses (the fast path); ``lo``/``hi`` are kept-mass bounds per
    group (a per-group budget is ``lo = hi``); ``budget`` is the total kept mass.
    """

    names: tuple[str, ...]
    scores: F64
    weights: F64 | None
    offsets: NDArray[np.int64]
    mass: F64
    lo: F64
    hi: F64
    budget: float
    per_group: bool
    reg: float
    reg_type: str

    @property
    def size(self) -> int:
        return int(self.scores.size)

    @property
    def bounded(self) -> bool:
        """Whether any group bound can bind (a total budget with ``min_keep``/``max_keep``)."""
        return not self.per_group and bool(np.any(self.lo > 0) or np.any(self.hi < self.mass))

    def group(self, values: NDArray[np.generic], g: int) -> NDArray[np.generic]:
        return values[int(self.offsets[g]) : int(self.offsets[g + 1])]

    def masses(self) -> F64:
        """Element masses (ones for unit weights)."""
        return np.ones(self.size) if self.weights is None else self.weights


def _group_arrays(
    scores: object, weights: object
) -> tuple[tuple[str, ...], list[F64], list[F64] | None]:
    if not isinstance(scores, Mapping) or not scores:
        raise InvalidProblemError(
            "scores", "a non-empty mapping of group name to scores", fmt(scores)
        )
    names = tuple(scores)
    for name in names:
        if not isinstance(name, str):
            raise InvalidProblemError("scores", "keyed by group name (str)", fmt(name))
    arrays = []
    for name in names:
        values = array(scores[name], f"scores[{name!r}]")
        if values.size == 0:
            raise InvalidProblemError(f"scores[{name!r}]", "at least one score", "none")
        finite(values, f"scores[{name!r}]", nonnegative=False)
        arrays.append(values)
    if weights is None:
        return names, arrays, None
    return names, arrays, _weights(weights, names, arrays)


def _weights(weights: object, names: tuple[str, ...], arrays: list[F64]) -> list[F64]:
    if not isinstance(weights, Mapping) or set(weights) != set(names):
        got = fmt(sorted(weights)) if isinstance(weights, Mapping) else fmt(weights)
        raise InvalidProblemError("weights", f"a mapping with the keys of scores {names}", got)
    out = []
    for name, values in zip(names, arrays, strict=True):
        field = f"weights[{name!r}]"
        w = array(weights[name], field)
        if w.size != values.size:
            raise InvalidProblemError(field, f"{values.size} values (one per score)", str(w.size))
        finite(w, field, nonnegative=True)
        if (w == 0).any():
            i = int(np.argmax(w == 0))
            raise InvalidProblemError(field, "> 0", f"0.0 at index {i}")
        out.append(w)
    return out


def _reg(problem: TransportProblem | BinsProblem) -> tuple[float, str]:
    if problem.reg_type not in REG_TYPES:
        raise InvalidProblemError(
            "reg_type", f"one of {', '.join(REG_TYPES)}", fmt(problem.reg_type)
        )
    reg = number(problem.reg, "reg", "a finite number >= 0")
    if not math.isfinite(reg) or reg < 0:
        raise InvalidProblemError("reg", "a finite number >= 0", fmt(problem.reg))
    return reg, problem.reg_type


def _amount(value: object, field: str, top: float) -> float:
    allowed = f"a number in (0, {top:.10g}] (the kept mass)"
    amount = number(value, field, allowed)
    if not (amount > 0 and amount <= top * (1 + BUDGET_RTOL)):
        raise InvalidProblemError(field, allowed, fmt(value))
    return min(amount, top)


def _shares(value: object, field: str, names: tuple[str, ...], default: float) -> F64:
    shares = np.full(len(names), default)
    if value is None:
        return shares
    if not isinstance(value, Mapping) or not set(value) <= set(names):
        raise InvalidProblemError(
            field, f"a mapping from group names {names} to [0, 1]", fmt(value)
        )
    for g, name in enumerate(names):
        if name in value:
            share = number(value[name], f"{field}[{name!r}]", "a number in [0, 1]")
            if not 0 <= share <= 1:
                raise InvalidProblemError(f"{field}[{name!r}]", "a number in [0, 1]", fmt(share))
            shares[g] = share
    return shares


def _bounds(
    problem: TransportProblem, names: tuple[str, ...], mass: F64
) -> tuple[F64, F64, float, bool]:
    budget = problem.budget
    if isinstance(budget, Mapping):
        if set(budget) != set(names):
            raise InvalidProblemError(
                "budget", f"a total or one budget per group {names}", fmt(budget)
            )
        if problem.min_keep is not None or problem.max_keep is not None:
            raise InvalidProblemError(
                "min_keep", "None with per-group budgets", fmt(problem.min_keep)
            )
        per = np.array(
            [_amount(budget[n], f"budget[{n!r}]", m) for n, m in zip(names, mass, strict=True)]
        )
        return per, per.copy(), float(per.sum()), True
    total = _amount(budget, "budget", float(mass.sum()))
    lo = _shares(problem.min_keep, "min_keep", names, 0.0)
    hi = _shares(problem.max_keep, "max_keep", names, 1.0)
    if (lo > hi).any():
        g = int(np.argmax(lo > hi))
        raise InvalidProblemError(
            f"min_keep[{names[g]!r}]", f"<= max_keep[{names[g]!r}] = {hi[g]:g}", fmt(lo[g])
        )
    return lo * mass, hi * mass, total, False


def validate_problem(problem: TransportProblem) -> Instance:
    """Check every field (names, finiteness, lengths, ranges) and lay the groups end to end."""
    if not isinstance(problem, TransportProblem):
        raise InvalidProblemError("problem", "a TransportProblem", type(problem).__name__)
    names, arrays, weights = _group_arrays(problem.scores, problem.weights)
    reg, reg_type = _reg(problem)
    sizes = np.array([a.size for a in arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    scores = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    flat = (
        None if weights is None else (weights[0] if len(weights) == 1 else np.concatenate(weights))
    )
    mass = sizes.astype(np.float64) if weights is None else np.array([w.sum() for w in weights])
    lo, hi, total, per_group = _bounds(problem, names, mass)
    return Instance(names, scores, flat, offsets, mass, lo, hi, total, per_group, reg, reg_type)


@dataclass(frozen=True, eq=False)
class Bins:
    """A validated `BinsProblem`: contiguous float64 arrays."""

    costs: F64
    bins: F64
    weights: F64
    reg: float
    reg_type: str


def validate_bins(problem: BinsProblem) -> Bins:
    """Shapes, finiteness, signs, and equal totals of ``weights`` and ``bins``."""
    if not isinstance(problem, BinsProblem):
        raise InvalidProblemError("problem", "a BinsProblem", type(problem).__name__)
    costs = np.ascontiguousarray(np.asarray(problem.costs, dtype=np.float64))
    if costs.ndim != 2 or costs.shape[0] < 1 or costs.shape[1] < 2:
        raise InvalidProblemError(
            "costs", "a 2-D array (n elements, K >= 2 bins)", f"shape {costs.shape}"
        )
    finite(costs.ravel(), "costs", nonnegative=False)
    n, k = costs.shape
    weights = np.ones(n) if problem.weights is None else array(problem.weights, "weights")
    if weights.size != n:
        raise InvalidProblemError(
            "weights", f"{n} values (one per row of costs)", str(weights.size)
        )
    finite(weights, "weights", nonnegative=True)
    if (weights == 0).any():
        raise InvalidProblemError("weights", "> 0", f"0.0 at index {int(np.argmax(weights == 0))}")
    bins = array(problem.bins, "bins")
    if bins.size != k:
        raise InvalidProblemError("bins", f"{k} values (one per column of costs)", str(bins.size))
    finite(bins, "bins", nonnegative=True)
    total = float(weights.sum())
    if abs(float(bins.sum()) - total) > 1e-9 * total:
        raise InvalidProblemError(
            "bins", f"a total equal to the element mass {total:.10g}", f"{bins.sum():.10g}"
        )
    reg, reg_type = _reg(problem)
    return Bins(costs, bins, weights, reg, reg_type)
