"""``semi_dual`` against the references on the same matrices: POT's solvers and cvxpy.

Where POT stops short of the tolerance (``smooth_ot_dual`` is L-BFGS; its ``kl`` form overflows
at small ``reg``) the result says so with ``status=FEASIBLE``; those cases are pinned here.
"""

from __future__ import annotations

import numpy as np
import ot
import pytest

from pruneplan.solver import Status
from pruneplan.solver.transport import TransportProblem, transport

cp = pytest.importorskip("cvxpy")

POT_OPTIONS = {"tol": 1e-11, "max_iter": 20000}


def _instance(n: int, seed: int, weighted: bool) -> tuple[np.ndarray, np.ndarray | None, float]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=n)
    weights = rng.uniform(0.3, 2.0, n) if weighted else None
    budget = 0.35 * (n if weights is None else float(weights.sum()))
    return scores, weights, budget


def _problem(scores, weights, budget, reg, kind="entropy", **kw) -> TransportProblem:
    w = None if weights is None else {"a": weights}
    return TransportProblem({"a": scores}, budget, w, reg=reg, reg_type=kind, **kw)


@pytest.mark.parametrize("method", ["sinkhorn_log", "sinkhorn", "ot_solve"])
@pytest.mark.parametrize("reg", [1.0, 0.1, 0.03])
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
def test_entropy_equals_pot_sinkhorn(method: str, reg: float, weighted: bool) -> None:
    scores, weights, budget = _instance(60, 1, weighted)
    ours = transport(_problem(scores, weights, budget, reg))
    options = POT_OPTIONS if method != "ot_solve" else {}
    pot = transport(_problem(scores, weights, budget, reg), method=method, **options)
    assert pot.method == method and pot.status is Status.OPTIMAL
    np.testing.assert_allclose(ours.soft_mask["a"], pot.soft_mask["a"], atol=1e-6)
    np.testing.assert_allclose(ours.objective, pot.objective, rtol=1e-6)


def test_entropy_equals_a_direct_pot_call_on_the_documented_matrices() -> None:
    scores, weights, budget = _instance(40, 2, True)
    a = weights
    b = np.array([a.sum() - budget, budget])
    M = np.stack([scores, np.zeros_like(scores)], axis=1)
    plan = ot.sinkhorn(a, b, M, 0.1, method="sinkhorn_log", stopThr=1e-12, numItermax=10**5)
    ours = transport(_problem(scores, weights, budget, 0.1))
    np.testing.assert_allclose(ours.soft_mask["a"], plan[:, 1] / a, atol=1e-9)


@pytest.mark.parametrize("reg", [1.0, 0.1])
def test_entropy_near_pot_smooth_kl_where_it_converges(reg: float) -> None:
    scores, weights, budget = _instance(60, 3, False)
    ours = transport(_problem(scores, weights, budget, reg))
    pot = transport(_problem(scores, weights, budget, reg), method="smooth", tol=1e-12)
    np.testing.assert_allclose(ours.soft_mask["a"], pot.soft_mask["a"], atol=1e-4)


def test_pot_smooth_kl_fails_at_small_reg_and_says_so() -> None:
    scores, weights, budget = _instance(300, 1, False)
    pot = transport(_problem(scores, weights, budget, 0.01), method="smooth")
    assert pot.status is Status.FEASIBLE and pot.budget_error > 1e-3
    assert "budget error" in pot.message


def _qp_l2(scores, weights, budget, reg, groups=None, lo=None, hi=None) -> np.ndarray:
    """The l2 problem in the kept mass x, solved by cvxpy: the reference to 1e-7."""
    a = np.ones_like(scores) if weights is None else weights
    x = cp.Variable(scores.size)
    objective = scores @ (a - x) + reg / 2 * (cp.sum_squares(a - x) + cp.sum_squares(x))
    constraints = [x >= 0, x <= a, cp.sum(x) == budget]
    for g, (least, most) in enumerate(zip(lo or [], hi or [], strict=True)):
        constraints += [cp.sum(x[groups == g]) >= least, cp.sum(x[groups == g]) <= most]
    tight = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12}
    cp.Problem(cp.Minimize(objective), constraints).solve(solver="CLARABEL", **tight)
    return np.asarray(x.value) / a


def _entropic(scores, budget, reg, groups, lo, hi) -> np.ndarray:
    """The entropic problem (unit masses) with group bounds, solved by cvxpy's exp cone."""
    x = cp.Variable(scores.size)
    objective = scores @ (1 - x) - reg * (cp.sum(cp.entr(x)) + cp.sum(cp.entr(1 - x)))
    constraints = [x >= 0, x <= 1, cp.sum(x) == budget]
    for g, (least, most) in enumerate(zip(lo, hi, strict=True)):
        constraints += [cp.sum(x[groups == g]) >= least, cp.sum(x[groups == g]) <= most]
    tight = {"tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}
    cp.Problem(cp.Minimize(objective), constraints).solve(solver="CLARABEL", **tight)
    return np.asarray(x.value)


@pytest.mark.parametrize("reg", [1.0, 0.1, 0.01])
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
def test_l2_equals_the_qp_and_is_near_pot_smooth(reg: float, weighted: bool) -> None:
    scores, weights, budget = _instance(50, 4, weighted)
    ours = transport(_problem(scores, weights, budget, reg, "l2"))
    np.testing.assert_allclose(ours.soft_mask["a"], _qp_l2(scores, weights, budget, reg), atol=1e-6)
    pot = transport(_problem(scores, weights, budget, reg, "l2"), method="smooth", tol=1e-12)
    np.testing.assert_allclose(ours.soft_mask["a"], pot.soft_mask["a"], atol=1e-3)
    assert ((ours.soft_mask["a"] == 0) | (ours.soft_mask["a"] == 1)).any() or reg == 1.0


@pytest.mark.parametrize("kind", ["entropy", "l2"])
def test_group_bounds_equal_cvxpy(kind: str) -> None:
    rng = np.random.default_rng(7)
    sizes = [12, 20, 9]
    scores = {f"g{i}": rng.normal(i - 1.0, 1.0, s) for i, s in enumerate(sizes)}
    min_keep, max_keep = {"g0": 0.25}, {"g2": 0.4}
    problem = TransportProblem(scores, 15.0, reg=0.2, reg_type=kind, min_keep=min_keep,
                               max_keep=max_keep)  # fmt: skip
    ours = np.concatenate(list(transport(problem).soft_mask.values()))
    s = np.concatenate(list(scores.values()))
    groups = np.repeat(np.arange(3), sizes)
    lo, hi = [3.0, 0.0, 0.0], [12.0, 20.0, 3.6]
    if kind == "l2":
        reference = _qp_l2(s, None, 15.0, 0.2, groups, lo, hi)
    else:
        reference = _entropic(s, 15.0, 0.2, groups, lo, hi)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
def test_exact_equals_pot_emd_and_emd_1d(weighted: bool) -> None:
    scores, weights, budget = _instance(80, 5, weighted)
    ours = transport(_problem(scores, weights, budget, 0.0))
    emd = transport(_problem(scores, weights, budget, 0.0), method="emd")
    np.testing.assert_allclose(ours.soft_mask["a"], emd.soft_mask["a"], atol=1e-9)
    a = np.ones_like(scores) if weights is None else weights
    b = np.array([a.sum() - budget, budget])
    # points s/2 and -1/2, +1/2 under the squared distance: cost differences are the scores
    plan = ot.emd_1d(scores / 2, np.array([-0.5, 0.5]), a, b, metric="sqeuclidean", dense=True)
    np.testing.assert_allclose(ours.soft_mask["a"], plan[:, 1] / a, atol=1e-9)


def test_per_group_budgets_equal_pot_group_by_group() -> None:
    rng = np.random.default_rng(9)
    scores = {"a": rng.normal(size=30), "b": rng.normal(size=17)}
    budget = {"a": 11.0, "b": 4.5}
    ours = transport(TransportProblem(scores, budget, reg=0.1))
    pot = transport(TransportProblem(scores, budget, reg=0.1), method="sinkhorn_log", **POT_OPTIONS)
    for name in scores:
        np.testing.assert_allclose(ours.soft_mask[name], pot.soft_mask[name], atol=1e-6)
        np.testing.assert_allclose(pot.kept[name], budget[name], rtol=1e-8)
