"""Input validation: turns an `AllocationProblem` into an `Instance` the methods can trust.

Every error about a layer names it as well as its index, ``layers[3] ("blocks.3.w").loss``,
whichever path found it; the error's ``field`` stays the plain path ``layers[3].loss``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .._checks import MAX_SIZE, running_total
from .._checks import array as _array
from .._checks import finite as _finite
from .._checks import fmt as _fmt
from .._checks import number as _number
from .._errors import InvalidProblemError
from .._tolerance import LEVEL_TOL
from ._instance import F64, Instance, Item, Layer
from ._types import AllocationProblem, LayerProfile
from ._validate_fast import Stack, stacked_layers

__all__ = ["layer_label", "validate_problem"]

_LAYER = re.compile(r"layers\[(\d+)\]")


def _levels(profile: LayerProfile, where: str) -> F64:
    levels = _array(profile.levels, f"{where}.levels")
    if levels.size == 0:
        raise InvalidProblemError(f"{where}.levels", "at least one level", "an empty sequence")
    _finite(levels, f"{where}.levels", nonnegative=False)
    outside = (levels < 0) | (levels > 1)
    if outside.any():
        i = int(np.argmax(outside))
        raise InvalidProblemError(f"{where}.levels", "in [0, 1]", f"{_fmt(levels[i])} at index {i}")
    steps = np.diff(levels)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise InvalidProblemError(
            f"{where}.levels",
            "strictly ascending",
            f"{_fmt(levels[i])} at index {i} after {_fmt(levels[i - 1])}",
        )
    return levels


def _per_level(value: ArrayLike, field: str, n_levels: int) -> F64:
    array = _array(value, field)
    if array.size != n_levels:
        raise InvalidProblemError(
            field, f"one value per level ({n_levels} values)", f"{array.size} values"
        )
    _finite(array, field, nonnegative=True)
    return array


def _magnitudes(value: ArrayLike, field: str, n_levels: int) -> F64:
    magnitudes = _per_level(value, field, n_levels)
    falls = np.diff(magnitudes) < 0
    if falls.any():
        i = int(np.argmax(falls)) + 1
        raise InvalidProblemError(
            field,
            "non-decreasing (a sparser level cuts at a larger magnitude)",
            f"{_fmt(magnitudes[i])} at index {i} after {_fmt(magnitudes[i - 1])}",
        )
    return magnitudes


def _size(profile: LayerProfile, where: str) -> int:
    size = profile.size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InvalidProblemError(f"{where}.size", f"an integer in [1, {MAX_SIZE}]", _fmt(size))
    if size > MAX_SIZE:
        raise InvalidProblemError(
            f"{where}.size",
            f"an integer in [1, {MAX_SIZE}] (2^53, the largest exact in float64)",
            str(int(size)),
        )
    return int(size)


def _shape(profile: LayerProfile, where: str, size: int) -> tuple[int, ...] | None:
    if profile.shape is None:
        return None
    try:
        shape = tuple(profile.shape)
    except TypeError:
        shape = ()
    ok = all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in shape)
    if not shape or not ok:
        raise InvalidProblemError(
            f"{where}.shape", "a non-empty tuple of integers >= 1", _fmt(profile.shape)
        )
    shape = tuple(int(d) for d in shape)
    if math.prod(shape) != size:
        raise InvalidProblemError(
            f"{where}.shape",
            f"a shape with {size} elements (= size)",
            f"{shape} with {math.prod(shape)}",
        )
    return shape


def _bounds(profile: LayerProfile, where: str) -> tuple[float, float]:
    lo = _number(profile.min_sparsity, f"{where}.min_sparsity", "a number in [0, 1]")
    hi = _number(profile.max_sparsity, f"{where}.max_sparsity", "a number in [0, 1]")
    for value, name in ((lo, "min_sparsity"), (hi, "max_sparsity")):
        if not 0.0 <= value <= 1.0:
            raise InvalidProblemError(f"{where}.{name}", "in [0, 1]", repr(value))
    if lo > hi:
        raise InvalidProblemError(f"{where}.min_sparsity", f"<= max_sparsity ({hi!r})", repr(lo))
    return lo, hi


def _layer(profile: LayerProfile, index: int) -> Layer:
    if not isinstance(profile, LayerProfile):
        raise InvalidProblemError(f"layers[{index}]", "a LayerProfile", type(profile).__name__)
    if not isinstance(profile.name, str) or not profile.name:
        raise InvalidProblemError(f"layers[{index}].name", "a non-empty string", _fmt(profile.name))
    where = f"layers[{index}]"
    levels = _levels(profile, where)
    loss = _per_level(profile.loss, f"{where}.loss", levels.size)
    size = _size(profile, where)
    costs = {"params": size * (1.0 - levels)}
    if profile.costs is not None and not isinstance(profile.costs, Mapping):
        raise InvalidProblemError(
            f"{where}.costs", "None or a mapping of resource -> per-level cost", _fmt(profile.costs)
        )
    for resource, values in (profile.costs or {}).items():
        if not isinstance(resource, str) or not resource:
            raise InvalidProblemError(
                f"{where}.costs", "keyed by non-empty resource names", _fmt(resource)
            )
        costs[resource] = _per_level(values, f"{where}.costs.{resource}", levels.size)
    magnitudes = None
    if profile.magnitudes is not None:
        magnitudes = _magnitudes(profile.magnitudes, f"{where}.magnitudes", levels.size)
    lo, hi = _bounds(profile, where)
    allowed = (levels >= lo - LEVEL_TOL) & (levels <= hi + LEVEL_TOL)
    if not allowed.any():
        raise InvalidProblemError(
            f"{where}.levels",
            f"at least one level in [min_sparsity, max_sparsity] = [{lo!r}, {hi!r}]",
            f"levels from {_fmt(levels[0])} to {_fmt(levels[-1])}",
        )
    group = profile.group
    if group is not None and (not isinstance(group, str) or not group):
        raise InvalidProblemError(f"{where}.group", "None or a non-empty string", _fmt(group))
    return Layer(
        name=profile.name,
        levels=levels,
        loss=loss,
        size=size,
        costs=costs,
        shape=_shape(profile, where, size),
        min_sparsity=lo,
        max_sparsity=hi,
        group=group,
        magnitudes=magnitudes,
    )


def _budget(budget: object, layers: Sequence[Layer]) -> tuple[tuple[str, ...], F64]:
    if not isinstance(budget, Mapping) or not budget:
        raise InvalidProblemError(
            "budget", "a non-empty mapping of resource -> maximum total", _fmt(budget)
        )
    known = sorted(set().union(*(layer.costs for layer in layers)))
    names: list[str] = []
    values: list[float] = []
    for resource, limit in budget.items():
        field = f"budget.{resource}"
        if resource not in known:
            raise InvalidProblemError(
                "budget",
                f"keyed by a resource the layers define ({', '.join(known)})",
                repr(resource),
            )
        value = _number(limit, field, "a finite number > 0")
        if not math.isfinite(value) or value <= 0:
            raise InvalidProblemError(field, "a finite number > 0", repr(value))
        for i, layer in enumerate(layers):
            if resource not in layer.costs:
                raise InvalidProblemError(
                    f"layers[{i}].costs",
                    f"a cost for every budgeted resource (missing {resource!r})",
                    f"resources {sorted(layer.costs)}",
                )
        names.append(str(resource))
        values.append(value)
    return tuple(names), np.array(values)


def _ungrouped_items(stack: Stack, resources: tuple[str, ...]) -> tuple[tuple[Item, ...], F64, F64]:
    """One item per layer from the stacked arrays (no groups).

    Also returns the stacked loss (J, K) and costs (R, J, K) for `Instance`.
    """
    allowed = stack.allowed
    n_levels = allowed.shape[1]
    first = allowed.argmax(axis=1).tolist()
    stop = (n_levels - allowed[:, ::-1].argmax(axis=1)).tolist()
    loss = stack.loss
    costs = np.stack([stack.costs[r] for r in resources])
    items = tuple(
        Item(members=(i,), first=a, loss=loss[i, a:b], costs=costs[:, i, a:b])
        for i, (a, b) in enumerate(zip(first, stop, strict=True))
    )
    return items, loss, costs


def _items(layers: Sequence[Layer], resources: tuple[str, ...]) -> tuple[Item, ...]:
    members: dict[object, list[int]] = {}
    for i, layer in enumerate(layers):
        key: object = ("group", layer.group) if layer.group is not None else ("layer", i)
        members.setdefault(key, []).append(i)
    items = []
    for indices in members.values():
        head = layers[indices[0]]
        lo, hi = head.min_sparsity, head.max_sparsity
        for i in indices[1:]:
            layer = layers[i]
            if layer.levels.shape != head.levels.shape or not np.array_equal(
                layer.levels, head.levels
            ):
                raise InvalidProblemError(
                    f"layers[{i}].levels",
                    f"the same levels as layers[{indices[0]}] ({head.name!r}), "
                    f"which shares group {head.group!r}",
                    f"{layer.levels.size} levels differing from it",
                )
            lo, hi = max(lo, layer.min_sparsity), min(hi, layer.max_sparsity)
        allowed = np.flatnonzero((head.levels >= lo - LEVEL_TOL) & (head.levels <= hi + LEVEL_TOL))
        if allowed.size == 0:
            raise InvalidProblemError(
                f"layers[{indices[0]}].group",
                "a group whose members' [min_sparsity, max_sparsity] overlap on a level",
                f"group {head.group!r} with common range [{lo!r}, {hi!r}]",
            )
        first, last = int(allowed[0]), int(allowed[-1]) + 1
        loss = np.sum([layers[i].loss[first:last] for i in indices], axis=0)
        costs = np.array(
            [np.sum([layers[i].costs[r][first:last] for i in indices], axis=0) for r in resources]
        ).reshape(len(resources), last - first)
        items.append(Item(members=tuple(indices), first=first, loss=loss, costs=costs))
    return tuple(items)


def layer_label(index: int, name: object) -> str:
    """``layers[3] ("blocks.3.w")``: the index, and the name when it is a non-empty string."""
    where = f"layers[{index}]"
    if not isinstance(name, str) or not name:
        return where
    return f"{where} ({json.dumps(name, ensure_ascii=False)})"


def _named(error: InvalidProblemError, profiles: Sequence[object]) -> InvalidProblemError:
    """``error`` shown with the name of the layer it points at (not for its name itself)."""
    match = _LAYER.match(error.field)
    if match is None or error.field.endswith(".name"):
        return error
    index = int(match.group(1))
    profile = profiles[index] if index < len(profiles) else None
    if not isinstance(profile, LayerProfile):
        return error
    return error.relabel(layer_label(index, profile.name) + error.field[match.end() :])


def _check_totals(layers: Sequence[Layer]) -> None:
    """Sums of the largest loss (and cost per resource) over layers stay finite with headroom:
    every entry may be finite while a plan's total is not (it would read as infeasible)."""
    names = [str(i) for i in range(len(layers))]
    largest = np.array([layer.loss.max() for layer in layers])
    hint = "Rescale the losses: multiplying every loss by one constant leaves the plan unchanged."
    running_total(largest, "layers[{}].loss", names, hint)
    for resource in sorted(set().union(*(layer.costs for layer in layers))):
        having = [i for i, layer in enumerate(layers) if resource in layer.costs]
        largest = np.array([layers[i].costs[resource].max() for i in having])
        hint = f"Rescale the costs of {resource!r} and its budget by one constant: same plan."
        running_total(largest, f"layers[{{}}].costs.{resource}", [str(i) for i in having], hint)


def validate_problem(problem: AllocationProblem, *, fast: bool = True) -> Instance:
    """Check every field of ``problem`` and return its normalised `Instance`.

    Parameters
    ----------
    problem : AllocationProblem
    fast : bool
        Try the stacked path (`stacked_layers`) before checking layer by layer. Both paths
        accept the same problems, build the same `Instance` and raise the same errors.

    Raises
    ------
    InvalidProblemError
        Naming the field, the allowed values and what was received.
    """
    try:
        return _validated(problem, fast)
    except InvalidProblemError as error:
        layers = getattr(problem, "layers", ())
        raise _named(error, layers if isinstance(layers, Sequence) else ()) from None


def _validated(problem: AllocationProblem, fast: bool) -> Instance:
    if not isinstance(problem, AllocationProblem):
        raise InvalidProblemError("problem", "an AllocationProblem", type(problem).__name__)
    if isinstance(problem.layers, (str, bytes)) or not isinstance(problem.layers, Sequence):
        raise InvalidProblemError(
            "layers", "a sequence of LayerProfile", type(problem.layers).__name__
        )
    if len(problem.layers) == 0:
        raise InvalidProblemError("layers", "at least one layer", "an empty sequence")
    if not isinstance(problem.fingerprint, str):
        raise InvalidProblemError("fingerprint", "a string", _fmt(problem.fingerprint))
    stack = stacked_layers(problem.layers) if fast else None
    if stack is None:  # not one plain level grid, or something to report: layer by layer
        layers = tuple(_layer(profile, i) for i, profile in enumerate(problem.layers))
    else:
        layers = stack.layers
    seen: dict[str, int] = {}
    for i, layer in enumerate(layers):
        if layer.name in seen:
            raise InvalidProblemError(
                f"layers[{i}].name",
                f"unique (layers[{seen[layer.name]}] has it too)",
                repr(layer.name),
            )
        seen[layer.name] = i
    resources, budget = _budget(problem.budget, layers)
    _check_totals(layers)
    common = set.intersection(*(set(layer.costs) for layer in layers))
    reported = resources + tuple(sorted(common - set(resources)))
    if stack is None or any(layer.group is not None for layer in layers):
        return Instance(layers, _items(layers, resources), resources, budget, reported)
    items, loss, costs = _ungrouped_items(stack, resources)
    inst = Instance(layers, items, resources, budget, reported)
    if stack.allowed.all():  # the stacked arrays are the padded views: no copies needed
        inst.__dict__["loss_matrix"], inst.__dict__["cost_tensor"] = loss, costs
    return inst
