"""The plans of an allocation problem as the search sees them: units, costs, swaps.

A *unit* is a layer, or the layers of one group (they take the same level index). A plan is one
level index per unit; its usage is the sum of its units' costs per budgeted resource. Built from
the public `LayerProfile` fields only, after `allocate` has validated the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .. import AllocationProblem, InvalidProblemError
from .._tolerance import FIT_RTOL, LEVEL_TOL

__all__ = ["Space"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def _costs(problem: AllocationProblem, i: int, resources: Sequence[str]) -> F64:
    """Costs of layer ``i`` per resource and level, shape (R, K)."""
    layer = problem.layers[i]
    levels = np.asarray(layer.levels, dtype=np.float64)
    given = dict(layer.costs or {})
    rows = []
    for r in resources:
        if r in given:
            rows.append(np.asarray(given[r], dtype=np.float64))
        else:  # only "params" may be missing: allocate validated the rest
            rows.append(int(layer.size) * (1.0 - levels))
    return np.array(rows, dtype=np.float64).reshape(len(resources), levels.size)


def _units(problem: AllocationProblem) -> list[list[int]]:
    members: dict[object, list[int]] = {}
    for i, layer in enumerate(problem.layers):
        key: object = ("group", layer.group) if layer.group else ("layer", i)
        members.setdefault(key, []).append(i)
    return list(members.values())


@dataclass(frozen=True, eq=False)
class Space:
    """Units, their allowed levels, losses and costs; usage and feasibility of plans.

    Attributes
    ----------
    names : tuple of str
        Layer names in the problem's order.
    units : tuple of tuple of int
        Layer indices of each unit.
    allowed : tuple of I64
        Allowed level indices of each unit, ascending.
    loss : tuple of F64
        Summed loss of each unit's members per level, shape (K_u,).
    costs : tuple of F64
        Summed costs of each unit's members, shape (R, K_u).
    resources : tuple of str
        The budgeted resources.
    budget : F64
        The budget per resource, shape (R,).
    """

    names: tuple[str, ...]
    units: tuple[tuple[int, ...], ...]
    allowed: tuple[I64, ...]
    loss: tuple[F64, ...]
    costs: tuple[F64, ...]
    resources: tuple[str, ...]
    budget: F64
    levels: tuple[F64, ...]
    """Each layer's levels."""
    owner: I64
    """The unit of each layer."""
    loss_pad: F64
    """``loss`` padded to shape (U, K) with 0."""
    cost_pad: F64
    """``costs`` padded to shape (R, U, K) with 0."""
    allowed_pad: NDArray[np.bool_]
    """Whether level ``k`` of unit ``u`` is allowed, shape (U, K)."""

    @classmethod
    def of(cls, problem: AllocationProblem) -> Space:
        """The space of a problem that `allocate` accepted."""
        resources = tuple(str(r) for r in problem.budget)
        layer_costs = [_costs(problem, i, resources) for i in range(len(problem.layers))]
        units, allowed, loss, costs = [], [], [], []
        for members in _units(problem):
            head = problem.layers[members[0]]
            levels = np.asarray(head.levels, dtype=np.float64)
            lo = max(float(problem.layers[i].min_sparsity) for i in members)
            hi = min(float(problem.layers[i].max_sparsity) for i in members)
            ok = np.flatnonzero((levels >= lo - LEVEL_TOL) & (levels <= hi + LEVEL_TOL))
            units.append(tuple(members))
            allowed.append(ok.astype(np.int64))
            loss.append(
                np.sum([np.asarray(problem.layers[i].loss, np.float64) for i in members], axis=0)
            )
            costs.append(np.sum([layer_costs[i] for i in members], axis=0))
        width = max(len(x) for x in loss)
        loss_pad = np.zeros((len(units), width))
        cost_pad = np.zeros((len(resources), len(units), width))
        allowed_pad = np.zeros((len(units), width), dtype=bool)
        owner = np.zeros(len(problem.layers), dtype=np.int64)
        for u, unit in enumerate(units):
            loss_pad[u, : loss[u].size] = loss[u]
            cost_pad[:, u, : loss[u].size] = costs[u]
            allowed_pad[u, allowed[u]] = True
            owner[list(unit)] = u
        return cls(
            levels=tuple(np.asarray(layer.levels, dtype=np.float64) for layer in problem.layers),
            owner=owner,
            loss_pad=loss_pad,
            cost_pad=cost_pad,
            allowed_pad=allowed_pad,
            names=tuple(layer.name for layer in problem.layers),
            units=tuple(units),
            allowed=tuple(allowed),
            loss=tuple(loss),
            costs=tuple(costs),
            resources=resources,
            budget=np.array([float(problem.budget[r]) for r in resources], dtype=np.float64),
        )

    # -- plans --------------------------------------------------------------------------------

    def usage(self, plan: I64) -> F64:
        """Total cost per budgeted resource, shape (R,)."""
        total: F64 = self.cost_pad[:, np.arange(plan.size), plan].sum(axis=1)
        return total

    def fits(self, plan: I64) -> bool:
        """Whether ``plan`` keeps every budget (the allocator's slack `FIT_RTOL`)."""
        return bool(np.all(self.usage(plan) <= self.budget * (1.0 + FIT_RTOL)))

    def excess(self, plan: I64) -> float:
        """Summed relative overshoot of the budgets (0 when the plan fits)."""
        over = self.usage(plan) / self.budget - (1.0 + FIT_RTOL)
        return float(np.sum(np.maximum(over, 0.0)))

    def predicted(self, plan: I64) -> float:
        """The additive proxy: the sum of the unit losses at ``plan``."""
        return float(sum(self.loss_pad[np.arange(plan.size), plan].tolist()))

    def layer_levels(self, plan: I64) -> list[int]:
        """Level index per layer, in the problem's order."""
        levels: list[int] = plan[self.owner].tolist()
        return levels

    def from_layers(self, level_index: Mapping[str, int] | Sequence[int], field: str) -> I64:
        """The unit plan of a per-layer level index (by name or in order); checked."""
        if isinstance(level_index, Mapping):
            missing = [n for n in self.names if n not in level_index]
            if missing:
                raise InvalidProblemError(
                    field, "a level index for every layer", f"{missing[0]!r} missing"
                )
            values = [level_index[n] for n in self.names]
        else:
            values = list(level_index)
        if len(values) != len(self.names):
            raise InvalidProblemError(
                field, f"one level index per layer ({len(self.names)})", f"{len(values)}"
            )
        levels = np.asarray(values, dtype=np.int64)
        heads = np.array([members[0] for members in self.units], dtype=np.int64)
        plan = levels[heads]
        inside = (levels >= 0) & (levels < self.allowed_pad.shape[1])
        clipped = np.where(inside, levels, 0)
        ok = inside & (levels == plan[self.owner]) & self.allowed_pad[self.owner, clipped]
        if not ok.all():
            i = int(np.argmin(ok))
            allowed = self.allowed[int(self.owner[i])].tolist()
            raise InvalidProblemError(
                f"{field}[{i}]", f"an allowed level index of its group ({allowed})", repr(values[i])
            )
        return plan

    # -- moves --------------------------------------------------------------------------------

    def step(self, plan: I64, u: int, direction: int, levels: int = 1) -> I64 | None:
        """``plan`` with unit ``u`` ``levels`` allowed levels sparser (+1) or denser (-1)
        (fewer at the end of its range), or None when it cannot move at all."""
        allowed = self.allowed[u]
        now = int(np.searchsorted(allowed, plan[u]))
        pos = min(max(now + direction * levels, 0), allowed.size - 1)
        if pos == now:
            return None
        moved = plan.copy()
        moved[u] = allowed[pos]
        return moved

    def swap(self, plan: I64, rng: np.random.Generator, reach: int = 1) -> I64 | None:
        """One level swap that keeps every budget, or None.

        A random unit moves 1 to ``reach`` levels in a random direction; if that breaks a
        budget, other units (random order, in passes) move one level the other way while it
        helps, until every budget holds; then the first untouched unit that can move one level
        denser within the budget does (spending the slack).
        """
        n = len(self.units)
        u = int(rng.integers(n))
        direction = 1 if rng.random() < 0.5 else -1
        moved = self.step(plan, u, direction, int(rng.integers(1, reach + 1)))
        if moved is None:
            return None
        touched = {u}
        order = [int(v) for v in rng.permutation(n) if v != u]
        helped = True
        while helped and not self.fits(moved):
            helped = False
            for v in order:
                if self.fits(moved):
                    break
                trial = self.step(moved, v, -direction)
                if trial is not None and self.excess(trial) < self.excess(moved):
                    moved, helped = trial, True
                    touched.add(v)
        if not self.fits(moved):
            return None
        for v in order:
            trial = None if v in touched else self.step(moved, v, -1)
            if trial is not None and self.fits(trial):
                return trial
        return moved
