"""Public types of the channel-selection problem and its result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._result import Certificate

__all__ = ["GroupSelection", "ItemGroup", "SelectionProblem", "SelectionResult"]


@dataclass(frozen=True, eq=False)
class ItemGroup:
    """One prunable group: a layer, or coupled layers that lose the same channel indices.

    Parameters
    ----------
    name : str
        Unique name (by convention the group's root module, ``"layer1.0.conv1"``).
    values : array_like, shape (n,)
        Importance of each item (channel, neuron, head); finite, any sign.
    costs : mapping of str to array_like, shape (n,), optional
        Per resource, what keeping each item costs (what removing it saves), summed over the
        coupled layers; finite and >= 0.
    cost_by_count : mapping of str to array_like, shape (n + 1,), optional
        Per resource, the group's cost when it keeps ``k`` items (``k = 0 .. n``): a measured
        latency table, any shape, finite and >= 0. A group with a table keeps its top-``k``
        items by value. A resource is given either per item or by count, not both.
    min_keep, max_keep : int
        Bounds on the kept count (``max_keep`` defaults to ``n``).
    round_to : int
        The kept count is a multiple of ``round_to`` (e.g. 8 for tensor cores); the full
        width ``n`` is always allowed.

    A resource a group gives no cost for costs nothing in that group.
    """

    name: str
    values: ArrayLike
    costs: Mapping[str, ArrayLike] | None = None
    cost_by_count: Mapping[str, ArrayLike] | None = None
    min_keep: int = 1
    max_keep: int | None = None
    round_to: int = 1


@dataclass(frozen=True, eq=False)
class SelectionProblem:
    """Keep the most valuable items of every group within a budget per resource.

    Parameters
    ----------
    groups : sequence of ItemGroup
        The groups, names unique.
    budget : mapping of str to float
        Maximum total per resource (finite, > 0); several resources at once.
    fingerprint : str
        Opaque identity of the model, echoed on the result.
    """

    groups: Sequence[ItemGroup]
    budget: Mapping[str, float]
    fingerprint: str = ""


@dataclass(frozen=True, eq=False)
class GroupSelection:
    """What one group keeps.

    Attributes
    ----------
    kept : ndarray of int64, shape (k,)
        Kept item indices, ascending.
    count : int
        ``k``, the kept count.
    mask : ndarray of bool, shape (n,)
        ``True`` where the item is kept.
    """

    kept: NDArray[np.int64]
    count: int
    mask: NDArray[np.bool_]


@dataclass(frozen=True, eq=False, kw_only=True)
class SelectionResult(Certificate):
    """The selection and its certificate (the `Certificate` header plus the kept items).

    ``objective`` is the total value removed (minimised), so ``lower_bound`` and ``gap`` read
    as in allocation.

    Attributes
    ----------
    groups : mapping of str to GroupSelection
        Per group name, the kept indices, count and mask (empty if infeasible).
    plan_id : str
        Identifier given by the service ("" for in-process solves).
    fingerprint : str
        The problem's ``fingerprint``, echoed.
    """

    groups: Mapping[str, GroupSelection]
    plan_id: str = ""
    fingerprint: str = ""

    @property
    def kept(self) -> dict[str, NDArray[np.int64]]:
        """Kept item indices per group."""
        return {name: g.kept for name, g in self.groups.items()}

    @property
    def count(self) -> dict[str, int]:
        """Kept count per group."""
        return {name: g.count for name, g in self.groups.items()}

    @property
    def mask(self) -> dict[str, NDArray[np.bool_]]:
        """Keep mask per group."""
        return {name: g.mask for name, g in self.groups.items()}
