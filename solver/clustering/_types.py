"""Public types of the dense multicut (channel clustering) problem and its result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._result import Certificate

__all__ = ["ClusterGroup", "ClusteringProblem", "ClusteringResult"]

I64 = NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class ClusterGroup:
    """The elements of one layer to cluster (its output channels, say).

    Parameters
    ----------
    name : str
        Unique name, by convention the weight's fully qualified name (``"conv1.weight"``).
    features : array_like, shape (n, d)
        One finite feature vector per element (normalised filters, activation statistics).
        The affinity of elements :math:`i, j` is :math:`\\langle f_i, f_j \\rangle`.
    importance : array_like, shape (n,), optional
        Finite score per element; each cluster's representative is its most important
        element. Without it the representative is the cluster's medoid.
    """

    name: str
    features: ArrayLike
    importance: ArrayLike | None = None


@dataclass(frozen=True, eq=False)
class ClusteringProblem:
    """Partition every group's elements; one target mode at a time.

    Parameters
    ----------
    groups : sequence of ClusterGroup
        The groups (layers), names unique, each with at least one element.
    offset : float or mapping of str to float, optional
        The edge cost of elements :math:`i, j` is :math:`\\langle f_i, f_j\\rangle - \\theta`;
        ``offset`` is :math:`\\theta` for every group, or per group name.
    n_clusters : int or mapping of str to int, optional
        Exactly this many clusters per group (in ``[1, n]``); the offset is searched.
    keep_budget : int, optional
        Exactly this many clusters over all groups together (in ``[len(groups), total n]``);
        one shared offset is searched, then the cheapest remaining merges close the gap.

    Exactly one of ``offset``, ``n_clusters`` and ``keep_budget`` is given.
    """

    groups: Sequence[ClusterGroup]
    offset: float | Mapping[str, float] | None = None
    n_clusters: int | Mapping[str, int] | None = None
    keep_budget: int | None = None


@dataclass(frozen=True, eq=False, kw_only=True)
class ClusteringResult(Certificate):
    """A partition per group with the shared certificate header.

    ``objective`` is the cut cost summed over the groups (minimised),
    :math:`\\sum_g \\sum_{i<j,\\ c_i \\ne c_j} (\\langle f_i, f_j\\rangle - \\theta_g)`;
    ``usage["clusters"]`` the total number of clusters (``limit["clusters"]`` the
    ``keep_budget`` when one was given).

    Attributes
    ----------
    labels : mapping of str to ndarray of int64, shape (n,)
        Cluster label per element, numbered by first appearance (element 0 is in cluster 0).
    representatives : mapping of str to ndarray of int64, shape (n_clusters,)
        The element kept for each cluster label: the most important one, or the medoid.
    merge : mapping of str to ndarray of int64, shape (n,)
        Element index -> its representative's element index (a representative maps to itself).
    offset : mapping of str to float
        The offset :math:`\\theta_g` each group was solved with (given or searched).
    n_clusters : mapping of str to int
        Clusters per group (hand them to the selection family as ``min_keep/max_keep``).
    plan_id : str
        Identifier given by the service ("" for in-process solves).
    fingerprint : str
        Identity of the model the problem came from, as the service echoes it ("" here).
    """

    labels: Mapping[str, I64] = field(default_factory=dict)
    representatives: Mapping[str, I64] = field(default_factory=dict)
    merge: Mapping[str, I64] = field(default_factory=dict)
    offset: Mapping[str, float] = field(default_factory=dict)
    n_clusters: Mapping[str, int] = field(default_factory=dict)
    plan_id: str = ""
    fingerprint: str = ""
