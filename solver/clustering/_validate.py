"""Validation of a `ClusteringProblem` into a normalised `Instance` the methods trust."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._checks import MAX_TOTAL, finite, fmt
from .._errors import InvalidProblemError
from ._types import ClusterGroup, ClusteringProblem

__all__ = ["Group", "Instance", "validate_problem"]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Group:
    """One group as the methods see it: contiguous float64 features, optional importance."""

    name: str
    features: F64
    importance: F64 | None

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


@dataclass(frozen=True)
class Instance:
    """A checked problem; exactly one of ``offset``, ``n_clusters``, ``keep_budget`` is set."""

    groups: tuple[Group, ...]
    offset: tuple[float, ...] | None
    n_clusters: tuple[int, ...] | None
    keep_budget: int | None


def _features(value: object, field: str) -> F64:
    try:
        result = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidProblemError(
            field, "an (n, d) matrix of numbers with rows of one length", fmt(value)
        ) from None
    if result.ndim != 2:
        raise InvalidProblemError(field, "an (n, d) matrix of numbers", f"shape {result.shape}")
    if result.shape[0] == 0 or result.shape[1] == 0:
        raise InvalidProblemError(field, "at least one element and one feature", "an empty group")
    bad = ~np.isfinite(result)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InvalidProblemError(field, "finite", f"{fmt(result[i, j])} at [{i}, {j}]")
    return np.ascontiguousarray(result)


def _group(group: object, i: int) -> Group:
    field = f"groups[{i}]"
    if not isinstance(group, ClusterGroup):
        raise InvalidProblemError(field, "a ClusterGroup", type(group).__name__)
    if not isinstance(group.name, str) or not group.name:
        raise InvalidProblemError(f"{field}.name", "a non-empty string", fmt(group.name))
    features = _features(group.features, f"{field}.features")
    importance = None
    if group.importance is not None:
        try:
            importance = np.ascontiguousarray(group.importance, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidProblemError(
                f"{field}.importance", "a 1-D sequence of numbers", fmt(group.importance)
            ) from None
        if importance.shape != (features.shape[0],):
            raise InvalidProblemError(
                f"{field}.importance",
                f"shape ({features.shape[0]},), one score per element",
                f"shape {importance.shape}",
            )
        finite(importance, f"{field}.importance", nonnegative=False)
    return Group(group.name, features, importance)


def _scale(features: F64) -> float:
    r"""``(n max_i ||f_i||)^2``: it bounds every sum of products of features (the objective's
    :math:`\lVert \sum_i f_i\rVert^2`, a cluster's :math:`\lVert S_C\rVert^2`) and the offset
    search's :math:`\theta \binom{n}{2}`; computed without overflow, ``inf`` past float64."""
    top = float(np.abs(features).max())
    if top == 0.0:
        return 0.0
    total: float = top * float(np.linalg.norm(features / top, axis=1).max()) * features.shape[0]
    return total * total  # Python floats: inf past the range, no error


def _magnitudes(groups: tuple[Group, ...]) -> None:
    """Products and sums of features stay finite: the running sum over groups of `_scale`
    is at most `MAX_TOTAL` (the allocation family's rule); the group where it crosses is named."""
    total = 0.0
    for i, g in enumerate(groups):
        total += _scale(g.features)
        if not total <= MAX_TOTAL:
            raise InvalidProblemError(
                f"groups[{i}].features",
                f"features whose (n * largest row norm)^2, summed over groups, is at most "
                f"{MAX_TOTAL:g}",
                f"{total:g} with group {g.name!r}",
                "Scale the features down (the clustering is the same for f/c and offset/c^2).",
            )


def _per_group(value: object, groups: tuple[Group, ...], field: str) -> tuple[object, ...]:
    """A scalar for every group, or a mapping naming each group exactly once."""
    if not isinstance(value, Mapping):
        return tuple(value for _ in groups)
    names = [g.name for g in groups]
    missing = [n for n in names if n not in value]
    extra = [k for k in value if k not in names]
    if missing or extra:
        raise InvalidProblemError(
            field,
            "a number or a mapping with one entry per group name",
            f"missing {missing}, unknown {extra}" if extra else f"missing {missing}",
        )
    return tuple(value[n] for n in names)


def _offsets(value: object, groups: tuple[Group, ...]) -> tuple[float, ...]:
    out = []
    for g, v in zip(groups, _per_group(value, groups, "offset"), strict=True):
        field = "offset" if not isinstance(value, Mapping) else f"offset[{g.name!r}]"
        is_num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        if not is_num or not math.isfinite(float(v)):  # type: ignore[arg-type]
            raise InvalidProblemError(field, "a finite number", fmt(v))
        theta = float(v)  # type: ignore[arg-type]
        if abs(theta) * 0.5 * g.n * g.n > MAX_TOTAL:
            top = MAX_TOTAL / (0.5 * g.n * g.n)
            raise InvalidProblemError(
                field, f"a number in [-{top:g}, {top:g}] for {g.n} elements of {g.name!r}", fmt(v)
            )
        out.append(theta)
    return tuple(out)


def _integer(value: object) -> int | None:
    """``value`` as an int if it is one (bools refused), else ``None``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    return None


def _counts(value: object, groups: tuple[Group, ...]) -> tuple[int, ...]:
    out = []
    for g, v in zip(groups, _per_group(value, groups, "n_clusters"), strict=True):
        field = "n_clusters" if not isinstance(value, Mapping) else f"n_clusters[{g.name!r}]"
        k = _integer(v)
        if k is None or not 1 <= k <= g.n:
            raise InvalidProblemError(field, f"an integer in [1, {g.n}] for {g.name!r}", fmt(v))
        out.append(k)
    return tuple(out)


def _budget(value: object, groups: tuple[Group, ...]) -> int:
    lo, hi = len(groups), sum(g.n for g in groups)
    budget = _integer(value)
    if budget is None or not lo <= budget <= hi:
        raise InvalidProblemError(
            "keep_budget", f"an integer in [{lo}, {hi}] (one per group to all)", fmt(value)
        )
    return budget


def validate_problem(problem: ClusteringProblem) -> Instance:
    """Check every field of ``problem`` and return its normalised `Instance`.

    Raises
    ------
    InvalidProblemError
        Naming the field, the allowed values and what was received.
    """
    if not isinstance(problem, ClusteringProblem):
        raise InvalidProblemError("problem", "a ClusteringProblem", type(problem).__name__)
    raw = problem.groups
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence) or len(raw) == 0:
        raise InvalidProblemError("groups", "a non-empty sequence of ClusterGroup", fmt(raw))
    groups = tuple(_group(g, i) for i, g in enumerate(raw))
    seen: dict[str, int] = {}
    for i, g in enumerate(groups):
        if g.name in seen:
            raise InvalidProblemError(
                f"groups[{i}].name", f"unique (groups[{seen[g.name]}] has it too)", repr(g.name)
            )
        seen[g.name] = i
    _magnitudes(groups)
    given = [k for k in ("offset", "n_clusters", "keep_budget") if getattr(problem, k) is not None]
    if len(given) != 1:
        raise InvalidProblemError(
            "offset", "exactly one of offset, n_clusters, keep_budget", f"{given or 'none'}"
        )
    return Instance(
        groups,
        _offsets(problem.offset, groups) if problem.offset is not None else None,
        _counts(problem.n_clusters, groups) if problem.n_clusters is not None else None,
        _budget(problem.keep_budget, groups) if problem.keep_budget is not None else None,
    )
