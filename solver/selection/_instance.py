"""The validated form of a selection problem that every method works on.

Items of all groups are laid end to end in flat arrays (group ``g`` owns
``starts[g]:starts[g + 1]``). A group with a count table keeps its top-``k`` items by value;
its cost in every resource is then a function of ``k`` (``tables[g]``) and its items carry no
per-item cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from .._result import Status

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B1 = NDArray[np.bool_]

SUM_BLOCK = 1 << 13
"""Items per block of `Instance.objective` (its temporaries stay below malloc's mmap size)."""


def descending(values: F64) -> I64:
    """Indices by descending value, ties by index (a stable sort, done fast without ties)."""
    order = np.argsort(-values)
    ranked = values[order]
    if np.any(ranked[1:] == ranked[:-1]):
        order = np.argsort(-values, kind="stable")
    return np.asarray(order, dtype=np.int64)


def keep_top(values: F64, k: int, kth: float, out: B1) -> B1:
    """Write into ``out`` the mask of the top-``k`` of ``values`` (descending, ties by index).

    ``kth`` is the ``k``-th largest value (ignored at ``k = 0``): every value above it is
    kept, and of those equal to it the first by index, as many as ``k`` leaves. :math:`O(n)`.
    """
    if k == 0:
        out[:] = False
        return out
    np.greater_equal(values, kth, out=out)
    extra = int(np.count_nonzero(out)) - k
    if extra > 0:
        ties = np.flatnonzero(values == kth)
        out[ties[ties.size - extra :]] = False
    return out


def keeps_top(values: F64, local: B1) -> bool:
    """Whether ``local`` keeps a top-k of ``values`` (descending, ties by index), k its count."""
    lo = np.where(local, values, np.inf).min()
    hi = np.where(local, -np.inf, values).max()
    if lo != hi:
        return bool(lo > hi)
    kept = local[values == lo]  # the ties at the boundary: the kept ones come first
    return not bool(np.any(kept[1:] & ~kept[:-1]))


class Orders(Mapping[int, I64]):
    """Per counted group, its items by descending value (ties by index), sorted on first use.

    The count-table route never needs the orders (sorted values and `keep_top` suffice);
    the other methods read them through this mapping as from a dict.
    """

    def __init__(self, values: F64, starts: I64, groups: Iterable[int]) -> None:
        self._values, self._starts = values, starts
        self._groups = tuple(groups)
        self._known = frozenset(self._groups)
        self._done: dict[int, I64] = {}

    def __getitem__(self, g: int) -> I64:
        order = self._done.get(g)
        if order is None:
            if g not in self._known:
                raise KeyError(g)
            order = descending(self._values[self._starts[g] : self._starts[g + 1]])
            order.flags.writeable = False
            self._done[g] = order
        return order

    def __contains__(self, g: object) -> bool:
        return g in self._known

    def __iter__(self) -> Iterator[int]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)


@dataclass(frozen=True, eq=False)
class Instance:
    """A validated problem; ``resources`` and ``budget`` follow the budget's order."""

    names: tuple[str, ...]
    starts: I64
    """shape (G + 1,): item offsets of the groups."""
    values: F64
    """shape (N,)"""
    costs: F64
    """shape (R, N): per-item costs (0 on the items of counted groups; a read-only broadcast
    of zeros when every group is counted)."""
    allowed: tuple[I64, ...]
    """per group, the allowed kept counts, ascending."""
    tables: dict[int, F64]
    """per counted group, its cost (R, n + 1) by kept count."""
    resources: tuple[str, ...]
    budget: F64
    fingerprint: str = ""
    order: Mapping[int, I64] = field(default_factory=dict)
    """per counted group, its items by descending value (ties by index); see `Orders`."""

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
        return np.add.reduceat(mask, self.starts[:-1], dtype=np.int64) * (self.sizes > 0)

    @cached_property
    def any_per_item(self) -> bool:
        return len(self.tables) < self.n_groups

    def usage(self, mask: B1, counts: I64 | None = None) -> F64:
        """Total per resource of the items ``mask`` keeps (``counts`` its `counts`, if known)."""
        total = np.zeros(len(self.resources))
        if self.any_per_item:
            total = self.costs @ mask.astype(np.float64)
        if self.tables:
            counts = self.counts(mask) if counts is None else counts
            for g, table in self.tables.items():
                total = total + table[:, counts[g]]
        return np.asarray(total, dtype=np.float64)

    def objective(self, mask: B1) -> float:
        """Total value removed (summed in blocks of `SUM_BLOCK` items: small temporaries)."""
        total = 0.0
        for a in range(0, self.n_items, SUM_BLOCK):
            block = slice(a, a + SUM_BLOCK)
            total += float(np.where(mask[block], 0.0, self.values[block]).sum())
        return total

    def fits(self, mask: B1, rtol: float) -> bool:
        return self.within(self.usage(mask), rtol)

    def within(self, used: F64, rtol: float) -> bool:
        """Whether the totals ``used`` (R,) meet every budget with relative slack ``rtol``."""
        return bool(np.all(used <= self.budget * (1.0 + rtol) + rtol))

    def side_ok(self, mask: B1, counts: I64 | None = None) -> bool:
        """Every kept count allowed and every counted group keeping its top items."""
        counts = self.counts(mask) if counts is None else counts
        inside = (self.kmin <= counts) & (counts <= self.kmax)
        for g in np.flatnonzero(inside & ~self.interval).tolist():
            allowed = self.allowed[g]
            i = int(np.searchsorted(allowed, counts[g]))
            inside[g] = i < allowed.size and allowed[i] == counts[g]
        if not inside.all():
            return False
        starts = self.starts.tolist()
        return all(
            keeps_top(self.values[starts[g] : starts[g + 1]], mask[starts[g] : starts[g + 1]])
            for g in self.tables
        )

    def top_mask(self, g: int, k: int) -> B1:
        """Local mask of group ``g`` keeping its top-``k`` items by value (ties by index)."""
        a, b = int(self.starts[g]), int(self.starts[g + 1])
        values = self.values[a:b]
        kth = float(np.partition(values, b - a - k)[b - a - k]) if k else 0.0
        return keep_top(values, k, kth, np.empty(b - a, dtype=bool))

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
