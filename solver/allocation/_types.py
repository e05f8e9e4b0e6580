"""Public types of the layer-adaptive allocation problem and its result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._result import Certificate

__all__ = ["AllocationProblem", "AllocationResult", "Frontier", "LayerProfile", "kept_count"]


@dataclass(frozen=True, eq=False)
class LayerProfile:
    """Rate-distortion profile of one prunable layer.

    Parameters
    ----------
    name : str
        Unique name, by convention the parameter's fully qualified name
        (``"layer1.0.conv1.weight"``).
    levels : array_like, shape (K,)
        Candidate sparsities in [0, 1], strictly ascending.
    loss : array_like, shape (K,)
        Measured distortion at each level; finite and >= 0. Neither monotone nor convex
        in general.
    size : int
        Number of prunable elements.
    costs : mapping of str to array_like, shape (K,), optional
        Cost of the layer at each level per resource (``"params"``, ``"flops"``,
        ``"latency_ms"``, ``"memory"``, any name). ``"params"`` defaults to
        ``size * (1 - levels)``.
    shape : tuple of int, optional
        Shape of the weight (the ``erk`` baseline needs it).
    min_sparsity, max_sparsity : float
        Only levels in ``[min_sparsity, max_sparsity]`` may be chosen.
    group : str, optional
        Layers that share a group take the same level index (their ``levels`` must match).
    magnitudes : array_like, shape (K,), optional
        Weight magnitude at which each level cuts (``global_magnitude`` and ``lamp`` need it).
    """

    name: str
    levels: ArrayLike
    loss: ArrayLike
    size: int
    costs: Mapping[str, ArrayLike] | None = None
    shape: Sequence[int] | None = None
    min_sparsity: float = 0.0
    max_sparsity: float = 1.0
    group: str | None = None
    magnitudes: ArrayLike | None = None


@dataclass(frozen=True, eq=False)
class AllocationProblem:
    """Choose one level per layer to minimise total loss under a budget.

    Parameters
    ----------
    layers : sequence of LayerProfile
        The layers, names unique.
    budget : mapping of str to float
        Maximum total per resource (absolute, > 0). Several resources at once are allowed.
    fingerprint : str
        Opaque identity of the model the profiles came from (layer names and shapes), echoed
        on the result so a plan is never applied to another model.
    """

    layers: Sequence[LayerProfile]
    budget: Mapping[str, float]
    fingerprint: str = ""


@dataclass(frozen=True, eq=False)
class Frontier:
    """Best objective for every budget on a grid of one resource.

    ``objective[i]`` is the smallest total loss with usage of ``resource`` at most
    ``budget[i]`` (``inf`` where no allocation fits).
    """

    resource: str
    budget: NDArray[np.float64]
    objective: NDArray[np.float64]


@dataclass(frozen=True, eq=False, kw_only=True)
class AllocationResult(Certificate):
    """The plan and its certificate (the `Certificate` header plus the levels).

    Attributes
    ----------
    level_index : mapping of str to int
        Chosen index into each layer's ``levels``, keyed by layer name (empty if infeasible).
    sparsity : mapping of str to float
        ``levels[level_index]`` per layer (empty if infeasible).
    frontier : Frontier or None
        Best objective for every budget on the DP grid, for methods that yield it.
    plan_id : str
        Identifier given by the service ("" for in-process solves).
    fingerprint : str
        The problem's ``fingerprint``, echoed.
    """

    level_index: Mapping[str, int]
    sparsity: Mapping[str, float]
    frontier: Frontier | None = None
    plan_id: str = ""
    fingerprint: str = ""


def kept_count(size: int, sparsity: float) -> int:
    """Exact number of elements a layer keeps at ``sparsity``: ``round(size * (1 - sparsity))``,
    clamped to ``[0, size]``. The one rule for the service's ``kept`` and the client's masks."""
    return min(size, max(0, round(size * (1.0 - sparsity))))
