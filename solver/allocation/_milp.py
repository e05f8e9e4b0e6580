r"""The allocation problem as a 0-1 program for HiGHS: the ``milp`` method and exact's residuals.

.. math::
    \min_x \sum_{j,k} \ell_{jk} x_{jk} \quad \text{s.t.} \quad \sum_k x_{jk} = 1,\;
    \sum_{j,k} c^r_{jk} x_{jk} \le B^r,\; x_{jk} \in \{0, 1\}

where :math:`\ell_{jk}` is the loss of item :math:`j` at option :math:`k`, :math:`c^r_{jk}` its
cost in resource :math:`r` and :math:`B^r` the budget. Both go through `pruneplan.solver._highs`.
"""

from __future__ import annotations

import math

from .._highs import Outcome, ZeroOne, solve_zero_one
from .._tolerance import OPTIMAL_GAP
from ._instance import I64, Instance, Solution


def zero_one(inst: Instance) -> ZeroOne:
    """The 0-1 program of ``inst``: one column per option, one one-of row per item."""
    cols = inst.columns
    return ZeroOne(cols.loss, cols.owner, cols.costs, inst.budget)


def _solution(inst: Instance, out: Outcome) -> Solution:
    choice = None if out.chosen is None else inst.columns.choice(out.chosen)
    return Solution(out.status, choice, out.bound, out.message)


def solve_milp(
    inst: Instance,
    *,
    time_limit: float | None,
    seed: int,
    mip_rel_gap: float = OPTIMAL_GAP,
) -> Solution:
    r"""Solve the multiple-choice knapsack as a 0-1 program with HiGHS (see the module).

    Notes
    -----
    Branch and bound with HiGHS's own heuristics; exponential in the worst case. The
    reference every other method is measured against.
    """
    del seed  # HiGHS is deterministic here
    return _solution(
        inst, solve_zero_one(zero_one(inst), time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    )


def solve_restricted(
    inst: Instance,
    *,
    start: I64 | None,
    time_limit: float | None,
    mip_rel_gap: float = OPTIMAL_GAP,
    cutoff: float = math.inf,
) -> Solution:
    """The 0-1 program of `solve_milp`, started from the plan ``start``, below ``cutoff``.

    Parameters
    ----------
    inst : Instance
        The (restricted) problem; every item has at least one option.
    start : ndarray of int, shape (n,), optional
        A plan within budget: one option index per item.
    time_limit : float, optional
        Seconds HiGHS may run.
    mip_rel_gap : float
        Relative gap at which HiGHS stops.
    cutoff : float
        Only plans of loss below ``cutoff`` are wanted (see `solve_zero_one`); ignored without
        `highspy` (the optimum is computed anyway).

    Returns
    -------
    Solution
        ``choice`` one option per item (``None`` if HiGHS found none); ``lower_bound`` the
        MIP dual bound; status ``OPTIMAL``, ``TIME_LIMIT`` or ``INFEASIBLE``.

    Notes
    -----
    Without primal heuristics or restarts (the start plan is near the optimum already).
    """
    out = solve_zero_one(
        zero_one(inst),
        start=None if start is None else inst.columns.chosen(start),
        time_limit=time_limit,
        mip_rel_gap=mip_rel_gap,
        cutoff=cutoff,
        heuristics=False,
    )
    return _solution(inst, out)
