"""Public types of the two-bin transport problem (soft pruning masks) and its result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._result import Certificate

__all__ = ["BinsProblem", "BinsResult", "TransportProblem", "TransportResult"]

REG_TYPES = ("entropy", "l2")
"""The regularisers of the two-bin problem."""


@dataclass(frozen=True, eq=False)
class TransportProblem:
    r"""Keep the highest-scoring mass: a transport from the elements to two bins.

    .. math::
        \min_{P \ge 0} \; \sum_i s_i P_{i0} + \lambda\,\Omega(P) \quad \text{s.t.} \quad
        P_{i0} + P_{i1} = a_i, \;\; \sum_i P_{i1} = B, \;\;
        \ell_g \le \sum_{i \in g} P_{i1} \le u_g

    where :math:`s_i` is the score of element :math:`i` (sending it to the *pruned* bin 0 costs
    :math:`s_i`, to the *kept* bin 1 costs 0), :math:`a_i` its mass (``weights``), :math:`B` the
    kept mass (``budget``), :math:`\lambda` the regulariser ``reg`` and :math:`\Omega` either
    :math:`\sum_{ij} P_{ij}\log P_{ij}` (``"entropy"``, POT's Sinkhorn and ``kl``) or
    :math:`\tfrac12\sum_{ij} P_{ij}^2` (``"l2"``, POT's ``smooth_ot_dual``). The soft mask is
    :math:`m_i = P_{i1}/a_i`; the source marginal is ``weights`` and the target marginal is
    :math:`(A - B, B)` with :math:`A = \sum_i a_i`, so POT called on the same matrices returns
    the same plan.

    Parameters
    ----------
    scores : mapping of str to array_like, shape (n_g,)
        Finite scores per group (a layer's weights or its channels); higher is kept first.
    budget : float or mapping of str to float
        Kept mass in total, in ``(0, A]``, or per group (every group, each in ``(0, A_g]``).
    weights : mapping of str to array_like, shape (n_g,), optional
        Mass of each element, finite and > 0 (its params or FLOPs); 1 per element by default,
        so that the budget is a count.
    reg : float
        Regularisation :math:`\lambda \ge 0`; 0 is the exact (linear) problem.
    reg_type : {"entropy", "l2"}
    min_keep, max_keep : mapping of str to float, optional
        Per group, the least and most kept share of the group's mass, in [0, 1] (with a total
        budget only; groups not named are free).
    """

    scores: Mapping[str, ArrayLike]
    budget: float | Mapping[str, float]
    weights: Mapping[str, ArrayLike] | None = None
    reg: float = 0.1
    reg_type: str = "entropy"
    min_keep: Mapping[str, float] | None = None
    max_keep: Mapping[str, float] | None = None


@dataclass(frozen=True, eq=False, kw_only=True)
class TransportResult(Certificate):
    """The masks and their certificate (the `Certificate` header plus the plan).

    ``objective`` is the transport cost :math:`\\sum_i s_i P_{i0}` of the returned plan (the
    score mass sent to the pruned bin, regulariser excluded); ``lower_bound`` is the exact
    (``reg = 0``) optimum of the same budget, so ``gap`` is the price of the regularisation,
    not an accuracy. ``status`` is ``OPTIMAL`` when the method met the marginals to its
    tolerance, ``FEASIBLE`` when it stopped short (POT out of iterations), ``INFEASIBLE`` when
    ``min_keep``/``max_keep`` exclude the budget (then the masks are empty).

    Attributes
    ----------
    soft_mask : mapping of str to ndarray, shape (n_g,)
        :math:`m_i = P_{i1}/a_i \\in [0, 1]`; its weighted total equals the budget.
    hard_mask : mapping of str to ndarray of bool, shape (n_g,)
        The top elements by score (ties by index) whose mass fits the budget (and the group
        bounds): the top-k for unit weights and an integer budget.
    threshold : mapping of str to float
        The one free dual variable per group, :math:`\\tau_g`: the dual potentials of the bins
        are :math:`(\\tau_g, 0)`, and :math:`m_i = \\sigma((s_i - \\tau_g)/\\lambda)` (entropy)
        or :math:`\\operatorname{clip}(\\tfrac12 + (s_i - \\tau_g)/(2\\lambda a_i), 0, 1)`
        (l2); ``nan`` for POT's methods and where the mask is all 0 or all 1.
    kept : mapping of str to float
        Kept mass :math:`\\sum_{i \\in g} a_i m_i` per group.
    budget_error : float
        :math:`|\\sum_i a_i m_i - B| / B` (per-group budgets: the largest over the groups).
    iterations : int
        Root-finding (or POT) iterations.
    plan_id : str
        The service's id of this plan ("" when solved in-process).
    """

    soft_mask: Mapping[str, NDArray[np.float64]]
    hard_mask: Mapping[str, NDArray[np.bool_]]
    threshold: Mapping[str, float]
    kept: Mapping[str, float]
    budget_error: float
    iterations: int = 0
    plan_id: str = ""


@dataclass(frozen=True, eq=False)
class BinsProblem:
    r"""A general transport from the elements to :math:`K` bins (several widths, reallocation).

    .. math::
        \min_{P \ge 0} \; \sum_{ik} C_{ik} P_{ik} + \lambda\,\Omega(P) \quad \text{s.t.} \quad
        P\mathbf{1} = a, \;\; \mathbf{1}^\top P = b

    where :math:`C` is the cost of sending element :math:`i` to bin :math:`k`, :math:`a` the
    element masses, :math:`b` the bin capacities (same total), :math:`\lambda` = ``reg``
    (0: the exact LP) and :math:`\Omega` as in `TransportProblem`. Solved by POT.

    Parameters
    ----------
    costs : array_like, shape (n, K)
        Finite costs, :math:`K \ge 2`.
    bins : array_like, shape (K,)
        Mass per bin, finite and >= 0, summing to the total element mass.
    weights : array_like, shape (n,), optional
        Element masses, finite and > 0 (1 each by default).
    reg : float
    reg_type : {"entropy", "l2"}
    """

    costs: ArrayLike
    bins: ArrayLike
    weights: ArrayLike | None = None
    reg: float = 0.0
    reg_type: str = "entropy"


@dataclass(frozen=True, eq=False, kw_only=True)
class BinsResult(Certificate):
    """The plan to several bins and its certificate.

    ``objective`` is :math:`\\sum C_{ik} P_{ik}`; ``lower_bound`` equals it for the exact LP
    (``emd``) and is ``-inf`` for the regularised methods (no bound is proven).

    Attributes
    ----------
    plan : ndarray, shape (n, K)
    assignment : ndarray of int, shape (n,)
        The bin holding most of each element's mass (the hard choice).
    marginal_error : float
        Largest relative error of the row and column sums against ``weights`` and ``bins``.
    """

    plan: NDArray[np.float64]
    assignment: NDArray[np.int64]
    marginal_error: float
    iterations: int = 0
