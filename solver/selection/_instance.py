"""The validated form of a selection problem that every method works on.

Items of all groups are laid end to end in flat arrays (group ``g`` owns
``starts[g]:starts[g + 1]``). A group with a count table keeps its top-``k`` items by value;
its cost in every resource is then a function of ``k`` (``tables[g]``) and its items carry no
per-item cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from .._result import Status

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B1 = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Instance:
    """A validated problem; ``resources`` and ``budget`` follow the budget's order."""

    names: tuple[str, ...]
    starts: I64
    """shape (G + 1,): item offsets of the groups."""
    values: F64
    """shape (N,)"""
    costs: F64
    """shape (R, N): per-item costs (0 on the items of counted groups)."""
    allowed: tuple[I64, ...]
    """per group, the allowed kept counts, ascending."""
    tables: dict[int, F64]
    """per counted group, its cost (R, n + 1) by kept count."""
    resources: tuple[str, ...]
    budget: F64
    fingerprint: str = ""
    order: dict[int, I64] = field(default_factory=dict)
    """per counted group, its items by descending value (ties by index)."""

    @property
    def n_groups(self) -> int:
        return len(self.names)

    @property
    def n_items(self) -> int:
        return int(self.values.size)

    @cached_property
    def sizes(self) -> I64:
        return np.diff(self.starts)

    @cached_property
    def group_of(self) -> I64:
        """shape (N,): the group of every item."""
        return np.repeat(np.arange(self.n_groups, dtype=np.int64), self.sizes)

    @cached_property
    def counted(self) -> B1:
        """shape (G,): whether the group has a count table."""
        flags = np.zeros(self.n_groups, dtype=bool)
        flags[list(self.tables)] = True
        return flags

    @cached_property
    def per_item(self) -> B1:
        """shape (N,): items whose group has no count table (free 0/1 decisions)."""
        return ~self.counted[self.group_of]

    @cached_property
    def interval(self) -> B1:
        """shape (G,): whether every count between the smallest and largest allowed is."""
        return np.array([a[-1] - a[0] + 1 == a.size for a in self.allowed], dtype=bool)

    @cached_property
    def kmin(self) -> I64:
        return np.array([a[0] for a in self.allowed], dtype=np.int64)

    @cached_property
    def kmax(self) -> I64:
        return np.array([a[-1] for a in self.allowed], dtype=np.int64)

    @cached_property
    def total_value(self) -> float:
        return float(self.values.sum())

    def counts(self, mask: B1) -> I64:
        """Kept count per group."""
        return np.add.reduceat(mask.astype(np.int64), self.starts[:-1]) * (self.sizes > 0)

    @cached_property
    def any_per_item(self) -> bool:
        return bool(self.per_item.any())

    def usage(self, mask: B1) -> F64:
        """Total per resource of the items ``mask`` keeps."""
        total = np.zeros(len(self.resources))
        if self.any_per_item:
            total = self.costs @ mask.astype(np.float64)
        if self.tables:
            counts = self.counts(mask)
            for g, table in self.tables.items():
                total = total + table[:, counts[g]]
        return np.asarray(total, dtype=np.float64)

    def objective(self, mask: B1) -> float:
        """Total value removed."""
        return float(np.sum(self.values, where=~mask))

    def fits(self, mask: B1, rtol: float) -> bool:
        return bool(np.all(self.usage(mask) <= self.budget * (1.0 + rtol) + rtol))

    def side_ok(self, mask: B1) -> bool:
        """Every kept count allowed and every counted group keeping its top items."""
        counts = self.counts(mask)
        for g, allowed in enumerate(self.allowed):
            if not np.any(allowed == counts[g]):
                return False
        for g, order in self.order.items():
            a = self.starts[g]
            if not mask[a + order[: counts[g]]].all():
                return False
        return True

    def top_mask(self, g: int, k: int) -> B1:
        """Local mask of group ``g`` keeping its top-``k`` items by value."""
        n = int(self.sizes[g])
        local = np.zeros(n, dtype=bool)
        order = self.order.get(g)
        if order is None:
            a = self.starts[g]
            order = np.argsort(-self.values[a : a + n], kind="stable")
        local[order[:k]] = True
        return local

    def min_usage(self) -> F64:
        """Smallest achievable total per resource (each resource on its own)."""
        least = np.zeros(len(self.resources))
        for g in range(self.n_groups):
            a, b = self.starts[g], self.starts[g + 1]
            allowed = self.allowed[g]
            if g in self.tables:
                table = self.tables[g]
                if self.interval[g]:
                    least += table[:, allowed[0] : allowed[-1] + 1].min(axis=1)
                else:
                    least += table[:, allowed].min(axis=1)
                continue
            cum = np.zeros((len(self.resources), b - a + 1))
            cum[:, 1:] = np.cumsum(np.sort(self.costs[:, a:b], axis=1), axis=1)
            least += cum[:, allowed].min(axis=1)
        return least


@dataclass(frozen=True, eq=False)
class Solution:
    """What a method returns: a keep mask (``None`` if none found) and a bound on the removed
    value."""

    status: Status
    mask: B1 | None
    lower_bound: float
    message: str = ""
