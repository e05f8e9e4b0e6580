r"""Surrogate dual of the multiple-choice knapsack with several budgets.

For weights :math:`v \ge 0` with :math:`\sum_r v_r = 1`, the surrogate problem keeps one
constraint, the budgets combined:

.. math::
    S(v) = \min_x \sum_j \ell_{j x_j} \quad \text{s.t.} \quad
    \sum_j \sum_r v_r \frac{c^r_{j x_j}}{B^r} \le 1

It relaxes the original problem, so :math:`S(v) \le z^\star` for every :math:`v`, and it is
at least as tight as the Lagrangian bound at the matching weights. Its plan, when it keeps
every budget, is optimal; otherwise the weights move toward the broken budgets.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .._progress import reporting
from .._result import relative_gap
from .._tolerance import FEAS_RTOL, OPTIMAL_GAP
from ._core_search import Incumbent, SearchAborted, search, setup
from ._dense import Dense, fill, repair
from ._instance import F64, I64
from ._lagrangian import solve_dual


def surrogate_problem(d: Dense, share: F64) -> Dense:
    """The one-resource problem whose cost is the ``share``-weighted sum of relative costs."""
    cost = np.tensordot(share / d.budget, d.cost, axes=1)
    return Dense(d.loss, cost[None], np.ones(1))


def solve_one(d: Dense, deadline: float, max_states: int) -> tuple[Incumbent | None, float]:
    """Best plan of a one-resource problem and a proven lower bound (its loss if optimal)."""
    dual = solve_dual(d)
    if dual.choice is None:
        return None, dual.bound
    choice = fill(d, dual.choice)
    best = Incumbent(choice, d.objective(choice))
    if relative_gap(best.loss, dual.bound) <= OPTIMAL_GAP:
        return best, best.loss
    try:
        # Its plans need not keep the original budgets: none of them is progress to report.
        with reporting(None):
            best = search(d, setup(d, dual.mu, dual.bound), best, deadline, max_states)
    except SearchAborted as stop:
        return stop.incumbent, dual.bound
    return best, best.loss


def _improve(d: Dense, inc: Incumbent, choice: I64) -> Incumbent:
    plan = choice if d.fits(choice) else repair(d, choice)
    if plan is None:
        return inc
    plan = fill(d, plan)
    loss = d.objective(plan)
    return Incumbent(plan, loss) if loss < inc.loss else inc


def surrogate_dual(
    d: Dense,
    mu: F64,
    inc: Incumbent,
    bound: float,
    deadline: float,
    max_states: int,
    rounds: int = 1,
) -> tuple[Incumbent, float]:
    r"""Raise the bound and improve the plan by solving surrogate problems exactly.

    Starts from the weights of the Lagrange multipliers :math:`v_r \propto \mu_r B^r` and
    multiplies the weight of every broken budget up (the others down), halving the step
    whenever the broken budget changes. Stops when the plan is proven optimal, at the
    deadline, or after ``rounds`` surrogate solves. One round is the default: on the
    benchmark instances further rounds raised the bound by little and cost more than
    they saved.

    Notes
    -----
    Each round is one exact one-resource solve (Lagrangian bound and core search).

    References
    ----------
    Glover, "Surrogate constraint duality in mathematical programming", Operations
    Research 23 (1975).
    """
    share = mu * d.budget
    if not np.any(share > 0):
        return inc, bound
    share, step, last = share / share.sum(), 0.5, -1
    for _ in range(rounds):
        if time.perf_counter() > deadline:
            break
        best, lower = solve_one(surrogate_problem(d, share), deadline, max_states)
        bound = max(bound, lower)
        if best is None:
            bound = math.inf  # the surrogate relaxation is infeasible, so is the problem
            break
        inc = _improve(d, inc, best.choice)
        over = d.usage(best.choice) / d.budget - 1.0
        if relative_gap(inc.loss, bound) <= OPTIMAL_GAP or np.all(over <= FEAS_RTOL):
            break
        worst = int(over.argmax())
        step = step / 2 if last not in (-1, worst) else step
        last = worst
        share = share * np.exp(step * over / np.abs(over).max()) + 0.02 * (over > 0)
        share = share / share.sum()
    return inc, bound
