"""The validated, normalised form of an allocation problem that every method works on.

Layers that share a group are merged into one *item*; levels outside a layer's
``[min_sparsity, max_sparsity]`` are cut away. What remains is a multiple-choice knapsack:
pick one option per item, minimise the summed loss, keep the summed cost of every resource
within its budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from .._result import Status
from .._tolerance import FIT_RTOL
from ._types import Frontier

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Layer:
    """One validated layer: contiguous float64 arrays, every field checked."""

    name: str
    levels: F64
    loss: F64
    size: int
    costs: dict[str, F64]
    shape: tuple[int, ...] | None
    min_sparsity: float
    max_sparsity: float
    group: str | None
    magnitudes: F64 | None


@dataclass(frozen=True, eq=False)
class Item:
    """One decision: the layers in ``members`` take the same level index.

    Option ``k`` of the item is level index ``first + k`` of every member.
    """

    members: tuple[int, ...]
    first: int
    loss: F64
    """shape (K,): summed loss of the members per option."""
    costs: F64
    """shape (R, K): summed cost per budgeted resource and option."""


@dataclass(frozen=True, eq=False)
class Columns:
    """Every option of every item flattened: option ``k`` of item ``j`` is column ``start[j] + k``.

    The columns of the 0-1 program, and the flat arrays the baselines index.
    """

    owner: I64
    """shape (O,): item of each column."""
    start: I64
    """shape (J,): first column of each item."""
    count: I64
    """shape (J,): number of options of each item."""
    loss: F64
    """shape (O,)"""
    costs: F64
    """shape (R, O): cost per budgeted resource."""

    def choice(self, chosen: I64) -> I64:
        """Option per item from the columns ``chosen``, one per item."""
        owner = self.owner[chosen]
        choice = np.zeros(self.start.size, dtype=np.int64)
        choice[owner] = chosen - self.start[owner]
        return choice

    def chosen(self, choice: I64) -> I64:
        """The column of each item's option in ``choice`` (ascending)."""
        picked: I64 = self.start + np.asarray(choice, dtype=np.int64)
        return picked


@dataclass(frozen=True, eq=False)
class Instance:
    """A validated problem. ``resources`` and ``budget`` follow the order of the budget."""

    layers: tuple[Layer, ...]
    items: tuple[Item, ...]
    resources: tuple[str, ...]
    budget: F64
    reported: tuple[str, ...]
    """Resources whose usage is reported: the budgeted ones, then others every layer defines."""

    @property
    def n_items(self) -> int:
        return len(self.items)

    @cached_property
    def n_options(self) -> I64:
        """Number of options per item, shape (J,)."""
        return np.array([item.loss.size for item in self.items], dtype=np.int64)

    @cached_property
    def loss_matrix(self) -> F64:
        """Loss per item and option, shape (J, K_max); ``+inf`` pads items with fewer options."""
        out = np.full((self.n_items, int(self.n_options.max())), np.inf)
        for j, item in enumerate(self.items):
            out[j, : item.loss.size] = item.loss
        return out

    @cached_property
    def cost_tensor(self) -> F64:
        """Cost per resource, item and option, shape (R, J, K_max); padding holds 0.

        Padded options have ``+inf`` loss in `loss_matrix`, so a minimiser never picks them.
        """
        out = np.zeros((len(self.resources), self.n_items, int(self.n_options.max())))
        for j, item in enumerate(self.items):
            out[:, j, : item.loss.size] = item.costs
        return out

    @cached_property
    def columns(self) -> Columns:
        """The options of every item, flattened (the 0-1 program's columns)."""
        count = self.n_options
        start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
        return Columns(
            owner=np.repeat(np.arange(self.n_items, dtype=np.int64), count),
            start=start,
            count=count,
            loss=np.concatenate([item.loss for item in self.items]),
            costs=np.concatenate([item.costs for item in self.items], axis=1),
        )

    @cached_property
    def _first(self) -> I64:
        return np.array([item.first for item in self.items], dtype=np.int64)

    @cached_property
    def _owner(self) -> I64:
        return self.item_of_layer()

    def item_of_layer(self) -> I64:
        """Index of the item that holds each layer."""
        owner = np.empty(len(self.layers), dtype=np.int64)
        for j, item in enumerate(self.items):
            owner[list(item.members)] = j
        return owner

    def objective(self, choice: I64) -> float:
        """Total loss of a choice (one option index per item)."""
        return float(self.loss_matrix[np.arange(self.n_items), choice].sum())

    def usage(self, choice: I64) -> F64:
        """Total cost per budgeted resource of a choice, shape (R,)."""
        total: F64 = self.cost_tensor[:, np.arange(self.n_items), choice].sum(axis=1)
        return total

    def fits(self, choice: I64, *, rtol: float = FIT_RTOL) -> bool:
        """Whether a choice keeps every resource within its budget."""
        return bool(np.all(self.usage(choice) <= self.budget * (1.0 + rtol)))

    def level_indices(self, choice: I64) -> I64:
        """Level index of every layer for a choice over items."""
        return (self._first + np.asarray(choice, dtype=np.int64))[self._owner]

    def choice_from_levels(self, level_index: I64) -> I64:
        """Option index per item from a level index per layer (the first member decides)."""
        heads = np.array([item.members[0] for item in self.items], dtype=np.int64)
        return np.asarray(level_index, dtype=np.int64)[heads] - self._first

    def min_usage(self) -> F64:
        """Smallest achievable total per budgeted resource, each resource on its own."""
        padding = np.arange(self.cost_tensor.shape[2]) >= self.n_options[:, None]
        least: F64 = np.where(padding, np.inf, self.cost_tensor).min(axis=2).sum(axis=1)
        return least


@dataclass(frozen=True, eq=False)
class Solution:
    """What a method returns: ``allocate`` derives objective, usage and gap from ``choice``."""

    status: Status
    choice: I64 | None
    """One option index per item; ``None`` only when no feasible choice was found."""
    lower_bound: float = -np.inf
    message: str = ""
    frontier: Frontier | None = None
