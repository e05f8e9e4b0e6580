"""Validation fast path: every layer's arrays stacked and checked at once.

Real problems have many layers on one level grid, and checking them one by one costs tens of
microseconds a layer in interpreter overhead. `stacked_layers` checks the common case with a
handful of whole-matrix operations. It never raises: whenever it cannot vouch for the input
(ragged grids, unusual types, any failed check) it returns ``None`` and the per-layer path in
`_validate` runs instead, which raises the precise, field-naming error. Both paths accept and
reject exactly the same problems and build identical `Layer` objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._checks import MAX_SIZE
from .._tolerance import LEVEL_TOL
from ._instance import F64, Layer
from ._types import LayerProfile

_NUMBER = (int, float)


@dataclass(frozen=True, eq=False)
class Stack:
    """Validated layers and the stacked arrays they view into."""

    layers: tuple[Layer, ...]
    loss: F64
    """shape (J, K)"""
    costs: dict[str, F64]
    """shape (J, K) per resource that every layer defines ("params" always)"""
    allowed: NDArray[np.bool_]
    """shape (J, K): levels within each layer's [min_sparsity, max_sparsity]"""


def _plain(profile: LayerProfile) -> bool:
    """Whether a layer's scalar fields have the plain types the fast path vouches for."""
    size, lo, hi, group = profile.size, profile.min_sparsity, profile.max_sparsity, profile.group
    return (
        isinstance(profile.name, str)
        and bool(profile.name)
        and type(size) is int
        and 1 <= size <= MAX_SIZE
        and type(lo) in _NUMBER
        and type(hi) in _NUMBER
        and 0.0 <= lo <= hi <= 1.0
        and (group is None or (isinstance(group, str) and bool(group)))
        and (profile.costs is None or type(profile.costs) is dict)
    )


def _shape(profile: LayerProfile) -> tuple[int, ...] | bool | None:
    """The checked shape, ``None`` if absent, ``False`` if the slow path must judge it."""
    if profile.shape is None:
        return None
    shape = profile.shape
    if type(shape) not in (tuple, list) or not shape:
        return False
    if not all(type(d) is int and d >= 1 for d in shape):
        return False
    return tuple(shape) if math.prod(shape) == profile.size else False


def _matrix(rows: Sequence[object], n_levels: int) -> F64 | None:
    """Rows stacked into a (n, n_levels) finite, non-negative float64 matrix, else ``None``."""
    try:
        matrix = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if matrix.ndim != 2 or matrix.shape[1] != n_levels:
        return None
    if not (np.isfinite(matrix).all() and (matrix >= 0).all()):
        return None
    return matrix


def _levels(profiles: Sequence[LayerProfile]) -> F64 | None:
    try:
        levels = np.array([p.levels for p in profiles], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if levels.ndim != 2 or levels.shape[1] == 0:
        return None
    if not (np.isfinite(levels).all() and (levels >= 0).all() and (levels <= 1).all()):
        return None
    if not (np.diff(levels, axis=1) > 0).all():
        return None
    return levels


def _costs(profiles: Sequence[LayerProfile], n_levels: int) -> dict[str, F64] | None:
    """Per resource, the stacked costs of the layers that define it (in layer order)."""
    rows: dict[str, list[object]] = {}
    for profile in profiles:
        for resource, values in (profile.costs or {}).items():
            if not isinstance(resource, str) or not resource:
                return None
            rows.setdefault(resource, []).append(values)
    stacked: dict[str, F64] = {}
    for resource, given in rows.items():
        matrix = _matrix(given, n_levels)
        if matrix is None:
            return None
        stacked[resource] = matrix
    return stacked


def _magnitudes(profiles: Sequence[LayerProfile], n_levels: int) -> F64 | bool | None:
    rows = [p.magnitudes for p in profiles if p.magnitudes is not None]
    if not rows:
        return None
    matrix = _matrix(rows, n_levels)
    if matrix is None or not (np.diff(matrix, axis=1) >= 0).all():
        return False
    return matrix


def stacked_layers(profiles: Sequence[object]) -> Stack | None:
    """Validate layers on one level grid at once; ``None`` means: use the per-layer path."""
    if not all(type(p) is LayerProfile for p in profiles):
        return None
    layers_in: Sequence[LayerProfile] = profiles  # type: ignore[assignment]
    if not all(_plain(p) for p in layers_in):
        return None
    shapes = [_shape(p) for p in layers_in]
    if any(s is False for s in shapes):
        return None
    levels = _levels(layers_in)
    if levels is None:
        return None
    n_levels = levels.shape[1]
    loss = _matrix([p.loss for p in layers_in], n_levels)
    costs = _costs(layers_in, n_levels)
    magnitudes = _magnitudes(layers_in, n_levels)
    if loss is None or costs is None or magnitudes is False:
        return None
    lo = np.array([p.min_sparsity for p in layers_in], dtype=np.float64)
    hi = np.array([p.max_sparsity for p in layers_in], dtype=np.float64)
    allowed = (levels >= lo[:, None] - LEVEL_TOL) & (levels <= hi[:, None] + LEVEL_TOL)
    if not allowed.any(axis=1).all():
        return None
    sizes = np.array([p.size for p in layers_in], dtype=np.float64)
    params = sizes[:, None] * (1.0 - levels)
    layers = _build(layers_in, levels, loss, costs, params, magnitudes, shapes)  # type: ignore[arg-type]
    full = {r: m for r, m in costs.items() if m.shape[0] == len(layers)}
    if "params" not in full:  # defaults, unless some layers (not all) gave their own
        given = "params" in costs
        full["params"] = np.stack([x.costs["params"] for x in layers]) if given else params
    return Stack(layers, loss, full, allowed)


def _build(
    profiles: Sequence[LayerProfile],
    levels: F64,
    loss: F64,
    costs: dict[str, F64],
    params: F64,
    magnitudes: F64 | None,
    shapes: list[tuple[int, ...] | None],
) -> tuple[Layer, ...]:
    cursor = dict.fromkeys(costs, 0)
    n_mag = 0
    layers = []
    for i, profile in enumerate(profiles):
        own = {"params": params[i]}
        for resource in profile.costs or {}:
            own[resource] = costs[resource][cursor[resource]]
            cursor[resource] += 1
        mags = None
        if profile.magnitudes is not None and magnitudes is not None:
            mags, n_mag = magnitudes[n_mag], n_mag + 1
        layers.append(
            Layer(
                name=profile.name,
                levels=levels[i],
                loss=loss[i],
                size=profile.size,
                costs=own,
                shape=shapes[i],
                min_sparsity=float(profile.min_sparsity),
                max_sparsity=float(profile.max_sparsity),
                group=profile.group,
                magnitudes=mags,
            )
        )
    return tuple(layers)
