"""Input validation: turns a `SelectionProblem` into an `Instance` the methods can trust.

A fast path (`_fast_groups`) checks the common case, plain fields and arrays, with one array
check over all groups; it never raises: whenever it cannot vouch for the input it returns
``None`` and the per-group checks run instead, which raise the precise, field-naming error.
Both paths accept exactly the same problems and build the same groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .._checks import array, finite, fmt, number
from .._errors import InvalidProblemError
from ._instance import F64, I64, Instance, Orders
from ._types import ItemGroup, SelectionProblem

__all__ = ["validate_problem"]


@dataclass(frozen=True)
class _Group:
    values: F64
    costs: dict[str, F64]
    tables: dict[str, F64]
    allowed: I64


def _checked(value: ArrayLike, field: str, name: str, size: int, what: str) -> F64:
    """A finite, non-negative float64 array of ``size`` entries; errors name group and item."""
    result = array(value, field)
    if result.size != size:
        raise InvalidProblemError(field, f"{what} ({size} values)", f"{result.size} values")
    try:
        finite(result, field, nonnegative=True)
    except InvalidProblemError as err:
        index = int(np.argmax(~np.isfinite(result) | (result < 0)))
        raise InvalidProblemError(
            field, err.allowed, err.got, f"Group {name!r}, {_item(what, index)}."
        ) from None
    return result


def _item(what: str, index: int) -> str:
    return f"kept count {index}" if what.startswith("one cost per kept count") else f"item {index}"


def _count(value: object, field: str, allowed: str, lo: int, hi: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise InvalidProblemError(field, allowed, fmt(value))
    count = int(value)
    if not lo <= count <= hi:
        raise InvalidProblemError(field, allowed, fmt(value))
    return count


def _allowed(group: ItemGroup, where: str, n: int) -> I64:
    lo = _count(group.min_keep, f"{where}.min_keep", f"an integer in [0, {n}] (n items)", 0, n)
    hi = n
    if group.max_keep is not None:
        allowed = f"an integer in [min_keep, n] = [{lo}, {n}]"
        hi = _count(group.max_keep, f"{where}.max_keep", allowed, lo, n)
    m = _count(group.round_to, f"{where}.round_to", "an integer >= 1", 1, 2**62)
    counts = np.arange(lo, hi + 1, dtype=np.int64)
    counts = counts[(counts % m == 0) | (counts == n)]
    if counts.size == 0:
        raise InvalidProblemError(
            f"{where}.round_to",
            f"a multiple within [min_keep, max_keep] = [{lo}, {hi}] (or the full width {n})",
            repr(m),
            f"Group {group.name!r}: lower min_keep, raise max_keep or lower round_to.",
        )
    return np.asarray(counts, dtype=np.int64)


def _resources(value: object, field: str, name: str) -> Mapping[str, ArrayLike]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidProblemError(field, "None or a mapping of resource -> array", fmt(value))
    for resource in value:
        if not isinstance(resource, str) or not resource:
            raise InvalidProblemError(field, "keyed by non-empty resource names", fmt(resource))
    return value


def _group(group: object, index: int) -> _Group:
    where = f"groups[{index}]"
    if not isinstance(group, ItemGroup):
        raise InvalidProblemError(where, "an ItemGroup", type(group).__name__)
    if not isinstance(group.name, str) or not group.name:
        raise InvalidProblemError(f"{where}.name", "a non-empty string", fmt(group.name))
    values = array(group.values, f"{where}.values")
    if values.size == 0:
        raise InvalidProblemError(f"{where}.values", "at least one item", "an empty sequence")
    try:
        finite(values, f"{where}.values", nonnegative=False)
    except InvalidProblemError as err:
        item = int(np.argmax(~np.isfinite(values)))
        raise InvalidProblemError(
            err.field, err.allowed, err.got, f"Group {group.name!r}, item {item}."
        ) from None
    n = values.size
    given = _resources(group.costs, f"{where}.costs", group.name)
    per_count = _resources(group.cost_by_count, f"{where}.cost_by_count", group.name)
    costs = {
        r: _checked(v, f"{where}.costs.{r}", group.name, n, "one cost per item")
        for r, v in given.items()
    }
    what = "one cost per kept count 0..n"
    tables = {
        r: _checked(v, f"{where}.cost_by_count.{r}", group.name, n + 1, what)
        for r, v in per_count.items()
    }
    both = sorted(set(costs) & set(tables))
    if both:
        raise InvalidProblemError(
            f"{where}.cost_by_count.{both[0]}",
            "given either per item (costs) or by count (cost_by_count), not both",
            "both",
            f"Group {group.name!r}.",
        )
    return _Group(values, costs, tables, _allowed(group, where, n))


def _plain_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _fast_allowed(group: ItemGroup, n: int, cache: dict[tuple[int, ...], I64]) -> I64 | None:
    """`_allowed` for plain integers in range (shared, read-only arrays), else ``None``."""
    lo, hi, m = group.min_keep, group.max_keep, group.round_to
    if not (_plain_int(lo) and _plain_int(m) and (hi is None or _plain_int(hi))):
        return None
    key = (int(lo), n if hi is None else int(hi), int(m), n)
    if not (0 <= key[0] <= key[1] <= n and 1 <= key[2] <= 2**62):
        return None
    counts = cache.get(key)
    if counts is None:
        counts = np.arange(key[0], key[1] + 1, dtype=np.int64)
        counts = counts[(counts % key[2] == 0) | (counts == n)]
        if counts.size == 0:
            return None
        counts.flags.writeable = False
        cache[key] = counts
    return counts


def _vector(value: object) -> F64 | None:
    """`array` without the error: a contiguous 1-D float64 array, else ``None``."""
    try:
        result = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return np.ascontiguousarray(result) if result.ndim == 1 else None


def _fast_arrays(given: object, size: int, out: list[F64]) -> dict[str, F64] | None:
    """Per resource a 1-D float64 array of ``size`` entries (also appended to ``out``), or
    ``None``."""
    if given is None:
        return {}
    if type(given) is not dict:
        return None
    arrays: dict[str, F64] = {}
    for resource, value in given.items():
        if not isinstance(resource, str) or not resource:
            return None
        result = _vector(value)
        if result is None or result.size != size:
            return None
        arrays[resource] = result
        out.append(result)
    return arrays


def _fast_group(
    group: object, cache: dict[tuple[int, ...], I64], costs: list[F64]
) -> _Group | None:
    """`_group` for plain fields and arrays, without the finiteness checks; else ``None``."""
    if type(group) is not ItemGroup or not isinstance(group.name, str) or not group.name:
        return None
    values = _vector(group.values)
    if values is None or values.size == 0:
        return None
    n = values.size
    per_item = _fast_arrays(group.costs, n, costs)
    tables = _fast_arrays(group.cost_by_count, n + 1, costs)
    allowed = _fast_allowed(group, n, cache)
    if per_item is None or tables is None or allowed is None or set(per_item) & set(tables):
        return None
    return _Group(values, per_item, tables, allowed)


def _fast_groups(raw: Sequence[object]) -> list[_Group] | None:
    """Every group checked (values finite, costs finite and >= 0), else ``None``."""
    cache: dict[tuple[int, ...], I64] = {}
    costs: list[F64] = []
    groups = []
    for group in raw:
        checked = _fast_group(group, cache, costs)
        if checked is None:
            return None
        groups.append(checked)
    if not all(np.isfinite(g.values).all() for g in groups):
        return None
    if not all(np.isfinite(c).all() and c.min() >= 0 for c in costs):
        return None
    return groups


def _budget(budget: object, known: set[str]) -> tuple[tuple[str, ...], F64]:
    if not isinstance(budget, Mapping) or not budget:
        raise InvalidProblemError(
            "budget", "a non-empty mapping of resource -> maximum total", fmt(budget)
        )
    names: list[str] = []
    limits: list[float] = []
    for resource, limit in budget.items():
        if resource not in known:
            raise InvalidProblemError(
                "budget",
                f"keyed by a resource some group costs ({', '.join(sorted(known)) or 'none'})",
                repr(resource),
            )
        value = number(limit, f"budget.{resource}", "a finite number > 0")
        if not math.isfinite(value) or value <= 0:
            raise InvalidProblemError(f"budget.{resource}", "a finite number > 0", repr(value))
        names.append(str(resource))
        limits.append(value)
    return tuple(names), np.array(limits, dtype=np.float64)


def _unique(groups: list[_Group], raw: list[ItemGroup]) -> None:
    seen: dict[str, int] = {}
    for i, group in enumerate(raw):
        if group.name in seen:
            raise InvalidProblemError(
                f"groups[{i}].name",
                f"unique (groups[{seen[group.name]}] has it too)",
                repr(group.name),
            )
        seen[group.name] = i


def _table(group: _Group, resources: tuple[str, ...], order: Orders, j: int) -> F64:
    """Group ``j``'s cost (R, n + 1) by kept count: its tables as given (a read-only view with
    one resource), its per-item costs summed over its items by descending value (``order[j]``,
    sorted once and kept for the other methods)."""
    if len(resources) == 1 and resources[0] in group.tables:
        view = group.tables[resources[0]].reshape(1, -1)
        view.flags.writeable = False
        return view
    table = np.zeros((len(resources), group.values.size + 1))
    for i, r in enumerate(resources):
        if r in group.tables:
            table[i] = group.tables[r]
        elif r in group.costs:
            table[i, 1:] = np.cumsum(group.costs[r][order[j]])
    return table


def _per_item(groups: list[_Group], starts: I64, resources: tuple[str, ...], n: int) -> F64:
    """The (R, N) per-item costs: zeros on counted groups, a read-only broadcast if all are."""
    if all(g.tables for g in groups):
        return np.broadcast_to(np.zeros((len(resources), 1)), (len(resources), n))
    costs = np.zeros((len(resources), n))
    for j, group in enumerate(groups):
        if group.tables:
            continue
        for i, r in enumerate(resources):
            if r in group.costs:
                costs[i, starts[j] : starts[j + 1]] = group.costs[r]
    return costs


def _assemble(
    raw: list[ItemGroup],
    groups: list[_Group],
    resources: tuple[str, ...],
    budget: F64,
    fingerprint: str,
) -> Instance:
    sizes = np.array([g.values.size for g in groups], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = np.concatenate([g.values for g in groups])
    counted = [j for j, group in enumerate(groups) if group.tables]
    order = Orders(values, starts, counted)
    tables = {j: _table(groups[j], resources, order, j) for j in counted}
    return Instance(
        names=tuple(g.name for g in raw),
        starts=starts,
        values=values,
        costs=_per_item(groups, starts, resources, values.size),
        allowed=tuple(g.allowed for g in groups),
        tables=tables,
        resources=resources,
        budget=budget,
        fingerprint=fingerprint,
        order=order,
    )


def validate_problem(problem: object) -> Instance:
    """Check every field of ``problem`` and return its normalised `Instance`.

    Raises
    ------
    InvalidProblemError
        Naming the field (group and item), the allowed values and what was received.
    """
    if not isinstance(problem, SelectionProblem):
        raise InvalidProblemError("problem", "a SelectionProblem", type(problem).__name__)
    raw = problem.groups
    if isinstance(raw, (str, bytes)) or not hasattr(raw, "__len__") or len(raw) == 0:
        raise InvalidProblemError("groups", "a non-empty sequence of ItemGroup", fmt(raw))
    if not isinstance(problem.fingerprint, str):
        raise InvalidProblemError("fingerprint", "a string", fmt(problem.fingerprint))
    fast = _fast_groups(raw)
    groups = fast if fast is not None else [_group(g, i) for i, g in enumerate(raw)]
    _unique(groups, list(raw))
    known = set().union(*(set(g.costs) | set(g.tables) for g in groups))
    resources, budget = _budget(problem.budget, known)
    return _assemble(list(raw), groups, resources, budget, problem.fingerprint)
