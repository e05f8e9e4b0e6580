"""Exact method: Lagrangian bound, reduced-cost fixing and a core search; MILP as fallback."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .._checks import Interval
from .._progress import report
from .._result import Status, deadline, relative_gap, time_left
from .._tolerance import OPTIMAL_GAP, THRESHOLD_ATOL, THRESHOLD_RTOL
from ._core_search import Incumbent, SearchAborted, Setup, search, setup
from ._dense import Dense, cheapest, compact, fill, from_arrays, repair
from ._enumerate import enumerate_core
from ._instance import F64, I64, Instance, Item, Solution
from ._lagrangian import solve_dual
from ._local_search import improve
from ._milp import solve_restricted
from ._surrogate import surrogate_dual

OPTIONS: dict[str, Interval] = {"max_states": Interval(1, 1e9, integer=True)}

FIRST_SHARE = 32.0
"""The first threshold of `_deepening` is the gap the incumbent leaves divided by this."""

TRIALS = (1.0 / 16.0, 2.0 / 3.0)
"""Shares of the gap below which `_enumerated` first looks for the optimum."""

GROWTH = 1.5
"""Factor by which the threshold of `_deepening` grows after each call.

Small steps: a threshold far above the optimum makes HiGHS slow (at 1,000 x 101 with three
budgets, twice the optimal gap costs 30 times the time at the optimal gap).
"""


def solve_exact(
    inst: Instance, *, time_limit: float | None, seed: int, max_states: int = 1_000_000
) -> Solution:
    """The optimal plan of ``inst`` with a certificate: `solve_arrays` on its dense form."""
    del seed  # deterministic
    allowed = np.isfinite(inst.loss_matrix)
    return solve_arrays(
        inst.loss_matrix,
        inst.cost_tensor,
        allowed,
        inst.budget,
        time_limit=time_limit,
        max_states=max_states,
    )


def solve_arrays(
    loss: F64,
    cost: F64,
    allowed: NDArray[np.bool_],
    budget: F64,
    *,
    time_limit: float | None = None,
    max_states: int = 1_000_000,
) -> Solution:
    r"""The optimal plan of a multiple-choice knapsack given as validated arrays, certified.

    .. math::
        z^\star = \min_{x} \sum_j \ell_{j x_j} \quad \text{s.t.} \quad
        \sum_j c^r_{j x_j} \le B^r \;\; \forall r

    where :math:`x_j` is the option of item :math:`j`, :math:`\ell_{jk}` its loss and
    :math:`c^r_{jk}` its cost in resource :math:`r` with budget :math:`B^r`.

    The Lagrangian dual gives a bound and a plan. With one budget, reduced costs at the
    optimal multipliers fix every item with a single option that could still beat the
    plan; the combinations of the options left open are enumerated in blocks
    (`enumerate_core`: a few dozen array operations), else searched one by one as
    non-dominated partial plans (Pisinger's core) pruned by LP bounds, and only beyond
    ``max_states`` states does HiGHS take over. With several budgets the surrogate problem
    (budgets summed with the multipliers as weights) is solved exactly (a sharper bound, a
    plan after repair); the plan is polished by swaps that keep every budget
    (`_local_search.improve`); then HiGHS, started from that plan, solves restricted problems:
    the options of reduced cost below a threshold that grows by half until the restricted
    optimum falls below it, every node above the threshold cut off (see `_deepening`).
    There the enumeration needs millions of partial plans even from the optimal plan (no
    cheap dominance in several costs). The result is ``OPTIMAL`` with a relative gap below
    1e-9, or ``TIME_LIMIT`` with the best plan and the dual bound. With one budget, dominated
    options are dropped first (`compact`).

    The entry point of every exact solve (`allocate` through `solve_exact`, count tables of
    `select` directly): the arrays are trusted, nothing is validated again.

    Parameters
    ----------
    loss : ndarray, shape (n, K)
        Loss of every option; finite and >= 0 where ``allowed``.
    cost : ndarray, shape (R, n, K)
        Cost of every option per budgeted resource; finite and >= 0 where ``allowed``.
    allowed : ndarray of bool, shape (n, K)
        The options that may be chosen; at least one per item.
    budget : ndarray, shape (R,)
        Maximum total per resource, > 0.
    time_limit : float, optional
        Seconds.
    max_states : int
        Most partial plans of the core search before HiGHS takes over.

    Returns
    -------
    Solution
        ``choice`` an index into the K options per item (``None`` if none was found).

    Notes
    -----
    :math:`O(nK)` per dual step plus the core search, whose size depends on how many items
    the bound leaves open: typically tens of items at 1,000 x 101 with one resource. With
    three budgets at 1,000 x 101 the restricted problems keep about 1% of the options.

    References
    ----------
    Pisinger, "A minimal algorithm for the multiple-choice knapsack problem", European
    Journal of Operational Research 83 (1995).
    Xu et al., "Efficient Joint Optimization of Layer-Adaptive Weight Pruning", ICCV 2023.
    """
    d, index = compact(from_arrays(loss, cost, allowed, budget))
    sol = solve_dense(d, time_limit=time_limit, max_states=max_states)
    if index is None or sol.choice is None:
        return sol
    choice = np.asarray(index[d.rows, sol.choice], dtype=np.int64)
    return Solution(sol.status, choice, sol.lower_bound, sol.message)


def solve_dense(
    d: Dense, *, time_limit: float | None = None, max_states: int = 1_000_000
) -> Solution:
    """`solve_arrays` on an instance already padded as `Dense` says (loss ``inf``, the item's
    largest cost) and already `compact` (``choice`` indexes ``d``'s own options), for callers
    that build and compact the arrays themselves."""
    return _solve(d, deadline(time_limit), max_states)


def _solve(d: Dense, stop: float, max_states: int) -> Solution:
    """`solve_arrays` on the dense instance ``d``, until ``stop`` (a `time.perf_counter` value)."""
    dual = solve_dual(d)
    if math.isinf(dual.bound):
        return Solution(Status.INFEASIBLE, None, math.inf, "The LP relaxation is infeasible.")
    start = dual.choice if dual.choice is not None else repair(d, cheapest(d))
    if start is None:
        keep = np.isfinite(d.loss)
        return _fallback(d, keep, None, dual.bound, stop, "no plan from the dual")
    inc, bound = _incumbent(d, start), dual.bound
    report("bound", objective=inc.loss, lower_bound=bound)
    if d.budget.size > 1 and relative_gap(inc.loss, bound) > OPTIMAL_GAP:
        inc, bound = surrogate_dual(d, dual.mu, inc, bound, stop, max_states)
        if math.isinf(bound):
            return Solution(
                Status.INFEASIBLE, None, math.inf, "A surrogate relaxation is infeasible."
            )
        report("bound", objective=inc.loss, lower_bound=bound)
    st = setup(d, dual.mu, dual.bound)
    if d.budget.size > 1 and relative_gap(inc.loss, bound) > OPTIMAL_GAP:
        inc = _polished(d, st, inc, start)
        report("local", objective=inc.loss, lower_bound=bound)
    if relative_gap(inc.loss, bound) <= OPTIMAL_GAP:
        return Solution(Status.OPTIMAL, inc.choice, bound)
    if d.budget.size > 1:
        # The enumeration needs millions of partial plans here even from the optimum:
        # HiGHS, started from the polished plan, on the options of small reduced cost.
        return _deepening(d, st, inc, bound, stop)
    try:
        quick = _enumerated(d, st, inc, max_states, stop)
        if quick is not None:
            return Solution(Status.OPTIMAL, quick.choice, quick.loss)
        best = search(d, st, inc, stop, max_states)
    except SearchAborted as aborted:
        if aborted.reason == "time_limit":
            return _timeout(aborted.incumbent, bound)
        return _deepening(d, st, aborted.incumbent, bound, stop)
    return Solution(Status.OPTIMAL, best.choice, best.loss)


def _deepening(d: Dense, st: Setup, inc: Incumbent, lower: float, deadline: float) -> Solution:
    r"""HiGHS on the options of reduced cost below a threshold that grows by `GROWTH`.

    Every plan of loss below :math:`g(\mu) + t` uses only options of reduced cost at most
    :math:`t`. HiGHS, told to cut off every node above :math:`g(\mu) + t`, either finds
    such a plan (then the best one is the optimum) or proves there is none (then the
    threshold is a lower bound). Proving that nothing lies below a low threshold is
    fast; the last call, with the threshold at or above the incumbent, proves it optimal.
    """
    step = (inc.loss - st.bound) / FIRST_SHARE
    while True:
        last = st.bound + step >= inc.loss
        threshold = min(st.bound + step, inc.loss)
        keep = st.reduced <= (threshold - st.bound) * (1.0 + THRESHOLD_RTOL) + THRESHOLD_ATOL
        keep[d.rows, inc.choice] |= last
        report("milp", objective=inc.loss, lower_bound=lower)
        cutoff = threshold + THRESHOLD_RTOL * abs(threshold)
        sol = _solve_kept(d, keep, inc.choice, time_left(deadline), cutoff)
        if sol.choice is not None:
            choice = _expand_choice(keep, sol.choice)
            if d.objective(choice) < inc.loss:
                inc = Incumbent(choice, d.objective(choice))
        if sol.status is Status.TIME_LIMIT:
            return _timeout(inc, lower)
        if last or inc.loss <= st.bound + step:
            note = "MILP on the options the reduced costs leave (the core grew too large)."
            return Solution(Status.OPTIMAL, inc.choice, inc.loss, note)
        lower, step = max(lower, st.bound + step), step * GROWTH


def _enumerated(
    d: Dense, st: Setup, inc: Incumbent, max_states: int, deadline: float
) -> Incumbent | None:
    """`enumerate_core` below growing shares of the gap (`TRIALS`, cheap), then below all of it.

    A plan found below a trial threshold is optimal: every better plan would lie below it
    too and would have been enumerated. On the allocation benchmark curves the optimum closes
    about 0.6 of the gap that the filled Lagrangian plan leaves; on count tables (staircases)
    it often closes 0.95 or more, where a trial near the full gap enumerates thousands of
    partial plans for nothing.
    """
    gap = inc.loss - st.bound
    for share in TRIALS:
        trial = st.bound + gap * share
        found = enumerate_core(d, st, inc, max_states, deadline, below=trial)
        if found is not None and found.loss < trial:
            return found
        inc = inc if found is None else found
    return enumerate_core(d, st, inc, max_states, deadline)


def _polished(d: Dense, st: Setup, inc: Incumbent, start: I64) -> Incumbent:
    """The best of the incumbent and the Lagrangian plan, each after `improve`."""
    for choice in (inc.choice, start):
        better = improve(d, st.reduced, choice)
        if d.objective(better) < inc.loss:
            inc = Incumbent(better, d.objective(better))
    return inc


def _incumbent(d: Dense, choice: I64) -> Incumbent:
    choice = fill(d, choice)
    return Incumbent(choice, d.objective(choice))


def _timeout(inc: Incumbent, bound: float) -> Solution:
    why = "Stopped at time_limit with the best plan found; raise time_limit for a proof."
    return Solution(Status.TIME_LIMIT, inc.choice, bound, why)


def _fallback(
    d: Dense,
    keep: NDArray[np.bool_],
    inc: Incumbent | None,
    bound: float,
    deadline: float,
    why: str,
) -> Solution:
    """HiGHS on the options in ``keep`` (n, K): those reduced costs could not rule out."""
    report("milp", objective=math.inf if inc is None else inc.loss, lower_bound=bound)
    start = None if inc is None else inc.choice
    sol = _solve_kept(d, keep, start, time_left(deadline))
    note = f"MILP fallback ({why})."
    if sol.choice is None:
        if inc is None:
            return Solution(sol.status, None, sol.lower_bound, f"{note} {sol.message}")
        return _timeout(inc, bound)
    choice = _expand_choice(keep, sol.choice)
    if inc is not None and d.objective(choice) > inc.loss:
        choice = inc.choice
    lower = max(bound, sol.lower_bound)
    return Solution(sol.status, choice, lower, f"{note} {sol.message}".strip())


def _solve_kept(
    d: Dense,
    keep: NDArray[np.bool_],
    start: I64 | None,
    limit: float | None,
    cutoff: float = math.inf,
) -> Solution:
    """HiGHS on the options in ``keep``, started from ``start`` if it lies within them."""
    sub = None
    if start is not None and bool(keep[d.rows, start].all()):
        sub = np.cumsum(keep, axis=1)[d.rows, start] - 1
    return solve_restricted(_restricted(d, keep), start=sub, time_limit=limit, cutoff=cutoff)


def _restricted(d: Dense, keep: NDArray[np.bool_]) -> Instance:
    items = tuple(
        Item(members=(), first=0, loss=d.loss[i, keep[i]], costs=d.cost[:, i, keep[i]])
        for i in range(d.loss.shape[0])
    )
    resources = tuple(f"r{r}" for r in range(d.budget.size))  # names play no part in HiGHS
    return Instance(layers=(), items=items, resources=resources, budget=d.budget, reported=())


def _expand_choice(keep: NDArray[np.bool_], choice: I64) -> I64:
    index: I64 = np.array(
        [np.flatnonzero(row)[k] for row, k in zip(keep, choice, strict=True)], dtype=np.int64
    )
    return index
