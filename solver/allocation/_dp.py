"""Dynamic programming over a bucketed axis of one resource, with compact back-pointers."""

from __future__ import annotations

import math
import time

import numpy as np
from numpy.typing import NDArray

from .._checks import Interval
from .._progress import report
from .._result import Status, deadline, relative_gap, status_for_gap
from .._tolerance import BUCKET_RTOL
from ._dense import Dense, dense, fill, non_dominated, repair
from ._instance import F64, I64, Instance, Solution
from ._lagrangian import solve_dual
from ._types import Frontier

OPTIONS: dict[str, Interval] = {"buckets": Interval(2, 10**7, integer=True)}


def pointer_dtype(n_options: int) -> np.dtype[np.unsignedinteger]:
    """Smallest unsigned dtype that holds an option index: uint8 up to 256 options."""
    return np.dtype(np.uint8) if n_options <= 256 else np.dtype(np.uint16)


def bucket_weights(cost: F64, budget: float, buckets: int) -> NDArray[np.int64]:
    """Costs in buckets of ``budget / buckets``, rounded up so that no plan overspends."""
    unit = budget / buckets
    weights: NDArray[np.int64] = np.ceil(cost / unit - BUCKET_RTOL).astype(np.int64)
    return weights


def _useful(loss: F64, weight: NDArray[np.int64], buckets: int) -> I64:
    """Options not dominated by one of no more weight and no more loss, within reach."""
    reach = np.flatnonzero(np.isfinite(loss) & (weight <= buckets))
    keep: I64 = reach[non_dominated(weight[reach], loss[reach])]
    return keep


def _step(
    value: F64, loss: F64, weight: NDArray[np.int64], out: F64, pointer: NDArray[np.unsignedinteger]
) -> None:
    """One layer of the DP: ``out[b] = min_k value[b - w_k] + loss_k``, argmin in ``pointer``."""
    out.fill(np.inf)
    size = value.size
    scratch = np.empty(size)
    better = np.empty(size, dtype=bool)
    for k in _useful(loss, weight, size - 1):
        w = int(weight[k])
        cand, target, mask = scratch[: size - w], out[w:], better[: size - w]
        np.add(value[: size - w], loss[k], out=cand)
        np.less(cand, target, out=mask)
        np.copyto(target, cand, where=mask)
        np.copyto(pointer[w:], k, where=mask, casting="unsafe")


def dp_table(
    loss: F64, weight: NDArray[np.int64], buckets: int, deadline: float = math.inf
) -> tuple[F64, NDArray[np.unsignedinteger]] | None:
    """Best loss for every bucket budget and the back-pointers, shape (n, buckets + 1).

    Only two value rows are kept; back-pointers are uint8 (uint16 beyond 256 options).
    Returns ``None`` when ``deadline`` (a `time.perf_counter` value) passes.
    """
    n, width = loss.shape
    pointer = np.zeros((n, buckets + 1), dtype=pointer_dtype(width))
    value, spare = np.zeros(buckets + 1), np.empty(buckets + 1)
    for i in range(n):
        _step(value, loss[i], weight[i], spare, pointer[i])
        value, spare = spare, value
        if time.perf_counter() > deadline:
            return None
    return value, pointer


def backtrack(pointer: NDArray[np.unsignedinteger], weight: NDArray[np.int64], b: int) -> I64:
    """Option per item of the best plan within ``b`` buckets."""
    n = pointer.shape[0]
    choice = np.empty(n, dtype=np.int64)
    for i in range(n - 1, -1, -1):
        k = int(pointer[i, b])
        choice[i] = k
        b -= int(weight[i, k])
    return choice


def _penalised(d: Dense, mu: F64) -> F64:
    """Loss with the resources after the first priced in by their Lagrange multipliers."""
    if d.budget.size == 1:
        return d.loss
    return d.loss + np.tensordot(mu[1:], d.cost[1:], axes=1)


def solve_dp(
    inst: Instance, *, time_limit: float | None, seed: int, buckets: int = 10_000
) -> Solution:
    r"""Exact DP on the first budgeted resource, its costs rounded up to buckets.

    .. math::
        V_j(b) = \min_k \; V_{j-1}\left(b - \lceil c_{jk} / u \rceil\right) + \ell_{jk},
        \qquad V_0(b) = 0, \qquad u = B / N

    where :math:`V_j(b)` is the least loss of the first :math:`j` items within :math:`b`
    buckets, :math:`c_{jk}` and :math:`\ell_{jk}` the cost and loss of item :math:`j` at
    option :math:`k`, :math:`B` the budget and :math:`N` = ``buckets``. Rounding up never
    overspends; a repair pass then spends the leftover budget on the true costs, and the
    Lagrangian plan is kept instead when it is better (so rounding never loses a feasible
    problem).

    Several budgets: the DP runs on the first, the others priced into the loss by their
    Lagrange multipliers; a plan that still breaks one is repaired greedily, and if that
    fails the result is ``INFEASIBLE`` with a message saying the DP could not decide
    (use ``exact``). The frontier is returned for one resource only: ``objective[i]`` is
    :math:`V_n(i)`, the best loss of the rounded-up problem within ``i`` buckets, so every
    value is achievable within ``budget[i]`` and lies at or above the true frontier there
    (by less than the loss that ``n`` buckets of budget can buy).

    Notes
    -----
    :math:`O(n K N)` time with dominated options skipped; memory :math:`n (N + 1)` bytes of
    back-pointers (uint8) plus two value rows: 1,000 items x 10^5 buckets is 100 MB.

    References
    ----------
    Xu et al., "Efficient Joint Optimization of Layer-Adaptive Weight Pruning", ICCV 2023.
    Frantar and Alistarh, "SPDY: Accurate Pruning with Speedup Guarantees", ICML 2022.
    """
    del seed  # deterministic
    stop = deadline(time_limit)
    d = dense(inst)
    weight = bucket_weights(d.cost[0], float(d.budget[0]), buckets)
    report("bound")
    dual = solve_dual(d)
    report("dp", lower_bound=dual.bound)
    table = dp_table(_penalised(d, dual.mu), weight, buckets, stop)
    if table is None:
        return Solution(Status.TIME_LIMIT, None, message="The DP ran out of time_limit.")
    value, pointer = table
    choice = backtrack(pointer, weight, buckets) if np.isfinite(value[buckets]) else None
    return _finish(inst, d, choice, dual.choice, value, dual.bound)


def _finish(
    inst: Instance, d: Dense, choice: I64 | None, fallback: I64 | None, value: F64, bound: float
) -> Solution:
    """Repair and fill the DP plan; keep the Lagrangian plan if it is better."""
    buckets = value.size - 1
    frontier = None
    if d.budget.size == 1:
        grid: F64 = np.arange(buckets + 1, dtype=np.float64) * (float(d.budget[0]) / buckets)
        frontier = Frontier(inst.resources[0], grid, value.copy())
    if choice is not None and not d.fits(choice):
        choice = repair(d, choice)
    plans = [fill(d, c) for c in (choice, fallback) if c is not None]
    if not plans:
        why = (
            f"The DP budgets {inst.resources[0]!r} exactly and found no plan within the other "
            "budgets; this does not prove infeasibility. Use method='exact'."
        )
        return Solution(Status.INFEASIBLE, None, bound, why, frontier)
    best = min(plans, key=d.objective)
    status = status_for_gap(relative_gap(d.objective(best), bound))
    return Solution(status, best, bound, frontier=frontier)
