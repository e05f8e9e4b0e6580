"""`cluster`: validate, dispatch to a method by name, meet the target, build the result."""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._checks import COMMON_OPTIONS, Interval, validate_options
from .._errors import InvalidProblemError
from .._progress import ProgressCallback, report, reporting
from .._registry import Method, lookup
from .._result import Status, deadline, relative_gap, status_for_gap
from ._cost import cut_cost, negative_part, representatives
from ._elf import multicut_elf
from ._gaec import gaec, partners
from ._ilp import ILP_MAX_N, multicut_ilp
from ._knn import NPROBE, knn_graph, multicut_knn
from ._types import ClusteringProblem, ClusteringResult
from ._validate import Group, Instance, validate_problem

__all__ = ["AUTO_DENSE_MAX", "METHODS", "cluster"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

AUTO_DENSE_MAX = 4_096
"""``auto`` is ``gaec`` while every group has at most this many elements, else ``knn``."""


@dataclass
class Solved:
    """One group solved at one offset."""

    labels: I64
    lower_bound: float = -math.inf
    timed_out: bool = False

    @property
    def count(self) -> int:
        return int(self.labels.max()) + 1


Cache = dict[Any, Any]
"""Per-solve memo keyed by ``id(features)``: what several offsets of a search can share."""


def _gaec(x: F64, offset: float, *, limit: float, seed: int, cache: Cache) -> Solved:
    if id(x) not in cache:
        cache[id(x)] = partners(x)
    out = gaec(x, offset, deadline=limit, first=cache[id(x)])
    return Solved(out.labels, -math.inf, out.timed_out)


def _knn(
    x: F64,
    offset: float,
    *,
    limit: float,
    seed: int,
    cache: Cache,
    k: int = 10,
    refine: int = 3,
    kl: int = 10,
    nprobe: int = NPROBE,
) -> Solved:
    key = (id(x), k, nprobe)
    if key not in cache:
        cache[key] = knn_graph(x, k, nprobe=nprobe, seed=seed)
    out = multicut_knn(
        x, offset, refine=refine, kl=kl, seed=seed, deadline=limit, neighbours=cache[key]
    )
    return Solved(out.labels, -math.inf, out.timed_out)


def _ilp(x: F64, offset: float, *, limit: float, seed: int, cache: Cache) -> Solved:
    out = multicut_ilp(x, offset, deadline=limit)
    return Solved(out.labels, out.lower_bound, out.timed_out)


def _elf(x: F64, offset: float, *, limit: float, seed: int, cache: Cache, **opts: int) -> Solved:
    return Solved(multicut_elf(x, offset, seed=seed, **opts))


SEARCH = {"search_iter": Interval(1, 200, integer=True)}
"""Bisection steps of the offset search (targets only)."""

_K = Interval(1, 1024, integer=True)
_NPROBE = Interval(1, 65536, integer=True)
_ROUNDS = Interval(0, 1000, integer=True)

METHODS: dict[str, Method] = {
    "gaec": Method(_gaec, SEARCH),
    "knn": Method(
        _knn,
        {**SEARCH, "k": _K, "refine": _ROUNDS, "kl": _ROUNDS, "nprobe": _NPROBE},
    ),
    "ilp": Method(_ilp, SEARCH),
    "elf": Method(_elf, {**SEARCH, "kl": Interval(0, 1, integer=True), "k": _K, "nprobe": _NPROBE}),
}
"""Every method by name; ``auto`` is ``gaec`` up to ``AUTO_DENSE_MAX`` elements, else ``knn``."""

Solve = Callable[[F64, float], Solved]


def _bracket(groups: tuple[Group, ...]) -> tuple[float, float]:
    """Offsets below which every pair attracts and above which every pair repels."""
    top = max(float(np.einsum("ij,ij->i", g.features, g.features).max()) for g in groups)
    return -top - 1.0, top + 1.0


def _force(x: F64, offset: float, solved: Solved, k: int) -> Solved:
    """Contract ``solved`` down to exactly ``k`` clusters (dense GAEC from its clusters)."""
    if solved.count <= k:
        return solved
    labels = gaec(x, offset, init=solved.labels, n_clusters=k).labels
    return Solved(labels, solved.lower_bound, solved.timed_out)


def _search(
    solve: Solve, groups: tuple[Group, ...], target: int, steps: int, limit: float
) -> tuple[float, list[Solved]]:
    r"""Bisect one shared offset until the groups' total count is ``target`` (or just above).

    Returns the offset and the solutions there: their total count is ``>= target``, the
    smallest found above it when no probe hits it exactly.
    """
    lo, hi = _bracket(groups)
    best = [solve(g.features, hi) for g in groups]
    for _ in range(steps):
        if time.perf_counter() > limit:
            best = [Solved(s.labels, s.lower_bound, True) for s in best]
            break
        mid = 0.5 * (lo + hi)
        probe = [solve(g.features, mid) for g in groups]
        total = sum(s.count for s in probe)
        if total >= target:
            hi, best = mid, probe
            if total == target:
                break
        else:
            lo = mid
    return hi, best


def _split_budget(
    groups: tuple[Group, ...], offset: float, solved: list[Solved], budget: int
) -> list[Solved]:
    """Close the excess over ``budget`` with the costliest next merges across groups."""
    excess = sum(s.count for s in solved) - budget
    if excess <= 0:
        return solved
    costs = [
        gaec(g.features, offset, init=s.labels, n_clusters=1, record=True).merge_costs
        for g, s in zip(groups, solved, strict=True)
    ]
    taken = [0] * len(groups)
    heap = [(-c[0], i) for i, c in enumerate(costs) if c]
    heapq.heapify(heap)
    for _ in range(excess):
        _, i = heapq.heappop(heap)
        taken[i] += 1
        if taken[i] < len(costs[i]):
            heapq.heappush(heap, (-costs[i][taken[i]], i))
    return [
        _force(g.features, offset, s, s.count - t)
        for g, s, t in zip(groups, solved, taken, strict=True)
    ]


def _solve_all(
    inst: Instance, solve: Solve, steps: int, limit: float
) -> tuple[list[float], list[Solved]]:
    groups = inst.groups
    if inst.offset is not None:
        return list(inst.offset), [
            solve(g.features, t) for g, t in zip(groups, inst.offset, strict=True)
        ]
    if inst.n_clusters is not None:
        offsets, solved = [], []
        for g, k in zip(groups, inst.n_clusters, strict=True):
            theta, (s,) = _search(solve, (g,), k, steps, limit)
            offsets.append(theta)
            solved.append(_force(g.features, theta, s, k))
        return offsets, solved
    budget = int(inst.keep_budget or 0)  # validate_problem sets exactly one mode
    theta, solved = _search(solve, groups, budget, steps, limit)
    return [theta] * len(groups), _split_budget(groups, theta, solved, budget)


def _resolve(method: object, inst: Instance | None) -> tuple[str, Method]:
    if method == "auto" and inst is not None:
        largest = max(g.n for g in inst.groups)
        return lookup(METHODS, "gaec" if largest <= AUTO_DENSE_MAX else "knn", "gaec")
    return lookup(METHODS, method, "gaec")


def _result(
    inst: Instance, name: str, offsets: list[float], solved: list[Solved], start: float
) -> ClusteringResult:
    objective = 0.0
    labels, reps, merge = {}, {}, {}
    for g, theta, s in zip(inst.groups, offsets, solved, strict=True):
        objective += cut_cost(g.features, s.labels, theta)
        r = representatives(g.features, s.labels, g.importance)
        labels[g.name], reps[g.name], merge[g.name] = s.labels, r, r[s.labels]
    bounds = [
        s.lower_bound
        if name == "ilp"
        else negative_part(g.features, theta)
        if g.n <= AUTO_DENSE_MAX
        else -math.inf
        for g, theta, s in zip(inst.groups, offsets, solved, strict=True)
    ]
    lower = math.fsum(bounds) if all(math.isfinite(b) for b in bounds) else -math.inf
    lower = min(lower, objective)
    gap = relative_gap(objective, lower)
    exact = name == "ilp" and inst.keep_budget is None and inst.n_clusters is None
    timed_out = any(s.timed_out for s in solved)
    status = Status.TIME_LIMIT if timed_out else status_for_gap(gap) if exact else Status.FEASIBLE
    total = sum(s.count for s in solved)
    limit = {} if inst.keep_budget is None else {"clusters": float(inst.keep_budget)}
    message = "" if not timed_out else "Stopped at time_limit; raise it for a finished search."
    return ClusteringResult(
        status=status,
        objective=objective,
        lower_bound=lower,
        gap=gap,
        usage={"clusters": float(total)},
        limit=limit,
        method=name,
        solve_time_s=time.perf_counter() - start,
        message=message,
        labels=labels,
        representatives=reps,
        merge=merge,
        offset={g.name: t for g, t in zip(inst.groups, offsets, strict=True)},
        n_clusters={g.name: s.count for g, s in zip(inst.groups, solved, strict=True)},
    )


def cluster(
    problem: ClusteringProblem,
    *,
    method: str = "auto",
    time_limit: float | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> ClusteringResult:
    r"""Partition each group's elements to minimise the dense multicut's cut cost.

    .. math::
        \min_{c} \sum_g \sum_{i<j \in g,\ c_i \ne c_j} (\langle f_i, f_j\rangle - \theta_g)

    where :math:`f_i` is element :math:`i`'s feature vector, :math:`c_i` its cluster and
    :math:`\theta_g` the group's offset (given, or searched so that the number of clusters is
    ``n_clusters`` per group, or ``keep_budget`` over all groups, exactly). Equivalently,
    maximise the total affinity inside clusters.

    Parameters
    ----------
    problem : ClusteringProblem
    method : str
        ``"auto"`` (``"gaec"`` up to ``AUTO_DENSE_MAX`` elements per group, else ``"knn"``),
        ``"gaec"`` (dense GAEC, factorised), ``"knn"`` (GAEC on kNN candidates, then
        element moves and Kernighan-Lin on the dense cost), ``"ilp"`` (exact, at most
        ``ILP_MAX_N`` elements), ``"elf"`` (bioimage-cpp's GAEC / Kernighan-Lin on the
        explicit graph; reference only).
    time_limit : float, optional
        Seconds; the best partition so far is returned with ``TIME_LIMIT``.
    seed : int
        Seed of the approximate kNN index (``knn`` and ``elf`` on large groups).
    progress : callable, optional
        Called with a `Progress` once with phase ``"done"`` at the end of a solve.
    **options
        ``search_iter`` (bisection steps of the offset search), ``k``, ``refine`` (move
        passes, 3), ``kl`` (Kernighan-Lin rounds, 10; 0 skips it), ``nprobe`` (``knn``),
        ``kl`` (0 or 1), ``k``, ``nprobe`` (``elf``).

    Returns
    -------
    ClusteringResult
        ``OPTIMAL`` only from ``ilp`` at a given offset; heuristics return ``FEASIBLE`` with
        the bound :math:`\sum_{i<j} \min(0, \langle f_i, f_j\rangle - \theta)` for groups
        of at most ``AUTO_DENSE_MAX`` elements, none above.

    Raises
    ------
    InvalidProblemError
        Naming the field, the allowed values and what was received.

    Examples
    --------
    >>> import numpy as np
    >>> from pruneplan.solver.clustering import ClusterGroup, ClusteringProblem, cluster
    >>> f = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.98]])
    >>> result = cluster(ClusteringProblem([ClusterGroup("conv1", f)], n_clusters=2))
    >>> result.labels["conv1"].tolist(), result.merge["conv1"].tolist()
    ([0, 0, 1, 1], [0, 0, 2, 2])
    """
    start = time.perf_counter()
    _resolve(method, None)
    common = validate_options(str(method), COMMON_OPTIONS, {"time_limit": time_limit, "seed": seed})
    inst = validate_problem(problem)
    name, spec = _resolve(method, inst)
    checked = validate_options(name, spec.options, options)
    steps = int(checked.pop("search_iter", 40))
    if name == "ilp":
        for i, g in enumerate(inst.groups):
            if g.n > ILP_MAX_N:
                raise InvalidProblemError(
                    f"groups[{i}].features",
                    f"at most {ILP_MAX_N} elements for method 'ilp'",
                    f"{g.n} elements",
                    "Use method 'gaec' or 'knn'.",
                )
    limit = deadline(common["time_limit"])

    cache: Cache = {}

    def solve(x: F64, offset: float) -> Solved:
        out: Solved = spec.solve(
            x, offset, limit=limit, seed=common["seed"], cache=cache, **checked
        )
        return out

    with reporting(progress):
        offsets, solved = _solve_all(inst, solve, steps, limit)
        result = _result(inst, name, offsets, solved, start)
        report("done", fraction=1.0, objective=result.objective, lower_bound=result.lower_bound)
    return result
