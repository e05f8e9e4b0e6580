r"""The one HiGHS layer of every family: a 0-1 program built from columns.

.. math::
    \min_x c^\top x \quad \text{s.t.} \quad \sum_{n : g_n = j} x_n = 1 \;\; \forall j, \qquad
    A x \le b, \qquad x \in \{0, 1\}^N

where column :math:`n` has objective :math:`c_n`, one-of row :math:`g_n` (optional) and costs
:math:`A_{\cdot n}` against the budgets :math:`b`. `highspy` (installed with the ``[server]``
extra) takes a start plan and a cutoff; without it `scipy.optimize.milp` solves the same
program (HiGHS too) and ignores both. Either way the outcome is read through one status map.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ._result import Status, relative_gap, status_for_gap
from ._tolerance import FIT_RTOL, OPTIMAL_GAP

__all__ = ["Outcome", "ZeroOne", "has_highspy", "solve_zero_one"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

Backend = Literal["auto", "highspy", "scipy"]

NO_HEURISTICS: dict[str, bool | float] = {
    "mip_allow_restart": False,
    "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_zi_round": False,
    "mip_heuristic_run_shifting": False,
}
"""Options for a start plan near the optimum: no restarts, no primal heuristics (sub-MIPs).

On the benchmark residual problems of the allocation family (100 to 2,000 options) they cut
HiGHS's time 3 to 6 fold.
"""


@dataclass(frozen=True, eq=False)
class ZeroOne:
    """A 0-1 program given by its columns.

    Attributes
    ----------
    objective : ndarray, shape (N,)
    group : ndarray of int, shape (N,), or None
        One-of row of each column, in ``0 .. G-1``: exactly one column of each row is 1.
        ``None``: no one-of rows.
    costs : ndarray, shape (R, N)
    budget : ndarray, shape (R,)
    """

    objective: F64
    group: I64 | None
    costs: F64
    budget: F64

    @property
    def n_groups(self) -> int:
        return 0 if self.group is None or self.group.size == 0 else int(self.group.max()) + 1


@dataclass(frozen=True, eq=False)
class Outcome:
    """What HiGHS found.

    ``chosen`` holds the indices of the columns at 1 in ascending order (``None`` when no 0-1
    plan came back); ``bound`` the MIP dual bound (``inf`` if infeasible, ``-inf`` if none).
    ``status`` is ``OPTIMAL``, ``TIME_LIMIT`` (stopped, with or without a plan) or ``INFEASIBLE``.
    """

    status: Status
    chosen: I64 | None
    bound: float
    message: str = ""


RETIGHTEN_TRIES = 3
"""Re-solves with tightened budgets when HiGHS returns a plan over a budget by its tolerance."""

_Kind = Literal["optimal", "infeasible", "stopped"]

_STATUS: dict[_Kind, Status] = {
    "optimal": Status.OPTIMAL,
    "infeasible": Status.INFEASIBLE,
    "stopped": Status.TIME_LIMIT,
}
"""The one map from what HiGHS says to `Status`, whichever way it was called."""


def has_highspy() -> bool:
    """Whether `highspy` can be imported."""
    return importlib.util.find_spec("highspy") is not None


def _outcome(model: ZeroOne, kind: _Kind, x: F64 | None, bound: float, detail: str) -> Outcome:
    """The `Outcome` of a run: ``kind`` through `_STATUS`, ``x`` read as a 0-1 plan."""
    if kind == "infeasible":
        return Outcome(Status.INFEASIBLE, None, math.inf, "HiGHS proved the budget infeasible.")
    bound = bound if math.isfinite(bound) else -math.inf
    if x is None:
        return Outcome(Status.TIME_LIMIT, None, bound, f"HiGHS found no plan ({detail}).")
    chosen: I64 = np.flatnonzero(x > 0.5).astype(np.int64)
    if model.group is not None and not np.array_equal(
        np.bincount(model.group[chosen], minlength=model.n_groups), np.ones(model.n_groups)
    ):
        return Outcome(Status.TIME_LIMIT, None, bound, f"HiGHS returned no 0-1 plan ({detail}).")
    status = _STATUS[kind]
    if status is Status.OPTIMAL:
        return Outcome(status, chosen, bound)
    why = f"HiGHS stopped ({detail}); raise time_limit for a proven optimum."
    return Outcome(status, chosen, bound, why)


def _pass_model(h: Any, model: ZeroOne) -> None:
    """Hand ``model`` to ``h`` column-wise: the one-of rows first, then one row per budget."""
    m, n_res, n_groups = model.objective.size, model.budget.size, model.n_groups
    per_col = n_res + (model.group is not None)
    index = np.empty((m, per_col), dtype=np.int32)
    value = np.empty((m, per_col))
    if model.group is not None:
        index[:, 0], value[:, 0] = model.group, 1.0
    index[:, per_col - n_res :] = n_groups + np.arange(n_res)
    value[:, per_col - n_res :] = model.costs.T
    h.passModel(
        m, n_groups + n_res, m * per_col, 1, 1, 0.0,
        model.objective, np.zeros(m), np.ones(m),
        np.concatenate([np.ones(n_groups), np.full(n_res, -np.inf)]),
        np.concatenate([np.ones(n_groups), model.budget]),
        np.arange(0, m * per_col + 1, per_col, dtype=np.int32),
        index.ravel(), value.ravel(), np.ones(m, dtype=np.int32),
    )  # fmt: skip


def _run_highspy(
    model: ZeroOne,
    start: I64 | None,
    time_limit: float | None,
    gap: float,
    cutoff: float,
    heuristics: bool,
) -> Outcome:
    import highspy

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", gap)
    h.setOptionValue("threads", 1)
    if not heuristics:
        for key, value in NO_HEURISTICS.items():
            h.setOptionValue(key, value)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if math.isfinite(cutoff):
        h.setOptionValue("objective_bound", float(cutoff))
    _pass_model(h, model)
    if start is not None:
        x = np.zeros(model.objective.size)
        x[start] = 1.0
        plan = highspy.HighsSolution()
        plan.col_value = x.tolist()
        h.setSolution(plan)
    h.run()
    status, info = h.getModelStatus(), h.getInfo()
    kinds: dict[Any, _Kind] = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kInfeasible: "infeasible",
    }
    kind = kinds.get(status, "stopped")
    found = info.primal_solution_status != 0
    plan_x: F64 | None = np.asarray(h.getSolution().col_value) if found else None
    detail = h.modelStatusToString(status)
    return _outcome(model, kind, plan_x, float(info.mip_dual_bound), detail)


def _run_scipy(model: ZeroOne, time_limit: float | None, gap: float) -> Outcome:
    import scipy.sparse as sp
    from scipy.optimize import Bounds, LinearConstraint, milp

    m = model.objective.size
    constraints = []
    if model.group is not None:
        one_each = sp.csr_array(
            (np.ones(m), (model.group, np.arange(m))), shape=(model.n_groups, m)
        )
        constraints.append(LinearConstraint(one_each, 1.0, 1.0))
    if model.budget.size:
        constraints.append(LinearConstraint(model.costs, -np.inf, model.budget))
    options: dict[str, float | bool] = {"mip_rel_gap": gap, "presolve": True, "disp": False}
    if time_limit is not None:
        options["time_limit"] = time_limit
    res = milp(
        model.objective,
        constraints=constraints,
        integrality=np.ones(m),
        bounds=Bounds(0.0, 1.0),
        options=options,
    )
    kinds: dict[int, _Kind] = {0: "optimal", 2: "infeasible"}  # scipy.optimize.milp's codes
    raw = getattr(res, "mip_dual_bound", None)
    bound = -math.inf if raw is None else float(raw)
    x: F64 | None = None if res.x is None else np.asarray(res.x)
    return _outcome(model, kinds.get(res.status, "stopped"), x, bound, str(res.message))


def solve_zero_one(
    model: ZeroOne,
    *,
    start: I64 | None = None,
    time_limit: float | None = None,
    mip_rel_gap: float = OPTIMAL_GAP,
    cutoff: float = math.inf,
    heuristics: bool = True,
    backend: Backend = "auto",
) -> Outcome:
    """Solve ``model`` with HiGHS; silent, one thread.

    Parameters
    ----------
    model : ZeroOne
    start : ndarray of int, optional
        Indices of the columns at 1 in a feasible plan: HiGHS starts from it and prunes every
        node whose LP bound exceeds its objective from the first node on.
    time_limit : float, optional
        Seconds HiGHS may run.
    mip_rel_gap : float
        Relative gap at which HiGHS stops.
    cutoff : float
        Only plans of objective below ``cutoff`` are wanted: HiGHS prunes every node whose LP
        bound exceeds it (option ``objective_bound``). A finished run then proves that no plan
        below ``cutoff`` exists beyond the one it returns; a plan it returns may lie above it.
    heuristics : bool
        ``False`` turns off restarts and primal heuristics (`NO_HEURISTICS`), for a ``start``
        near the optimum.
    backend : {"auto", "highspy", "scipy"}
        ``auto``: `highspy` when it is installed, else `scipy.optimize.milp` (which ignores
        ``start``, ``cutoff`` and ``heuristics``).

    Returns
    -------
    Outcome

    Notes
    -----
    Branch and bound: exponential in the worst case. A start plan or a low cutoff prunes most
    of the tree: proving that nothing lies below a low cutoff is fast, while finding and
    proving the optimum is not.
    """

    def run(m: ZeroOne, first: I64 | None) -> Outcome:
        if backend == "highspy" or (backend == "auto" and has_highspy()):
            return _run_highspy(m, first, time_limit, mip_rel_gap, cutoff, heuristics)
        return _run_scipy(m, time_limit, mip_rel_gap)

    outcome = run(model, start)
    budget = model.budget
    for _ in range(RETIGHTEN_TRIES):
        if outcome.chosen is None:
            return outcome
        excess = model.costs[:, outcome.chosen].sum(axis=1) - model.budget
        if not np.any(excess > FIT_RTOL * np.abs(model.budget)):
            return outcome
        # HiGHS meets rows to its feasibility tolerance (1e-7 absolute): tighten the budgets
        # that were crossed by twice the excess and solve again. The first bound stays valid.
        budget = budget - 2.0 * np.maximum(excess, 0.0)
        retry = run(ZeroOne(model.objective, model.group, model.costs, budget), None)
        bound = min(outcome.bound, retry.bound)
        if retry.chosen is None:
            return Outcome(Status.TIME_LIMIT, None, bound, "HiGHS found no plan within the budget.")
        objective = float(model.objective[retry.chosen].sum())
        status = retry.status
        if status is Status.OPTIMAL:
            status = status_for_gap(relative_gap(objective, bound))
        outcome = Outcome(status, retry.chosen, bound, retry.message)
    return Outcome(Status.TIME_LIMIT, None, outcome.bound, "HiGHS kept crossing the budget.")
