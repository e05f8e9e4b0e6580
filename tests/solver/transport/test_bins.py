"""Several bins through POT: the LP against scipy, Sinkhorn marginals, the two-bin special case."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.optimize import linprog

from pruneplan.solver import InvalidProblemError, Status
from pruneplan.solver.transport import BinsProblem, TransportProblem, transport, transport_bins


def _instance(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    costs = rng.uniform(0, 1, (n, k))
    weights = rng.uniform(0.5, 2.0, n)
    bins = rng.dirichlet(np.ones(k)) * weights.sum()
    return costs, weights, bins


@pytest.mark.parametrize("seed", range(4))
def test_exact_plan_equals_the_lp(seed: int) -> None:
    costs, weights, bins = _instance(7, 3, seed)
    result = transport_bins(BinsProblem(costs, bins, weights))
    n, k = costs.shape
    rows = np.kron(np.eye(n), np.ones(k))
    cols = np.kron(np.ones(n), np.eye(k))
    lp = linprog(costs.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([weights, bins]),
                 method="highs")  # fmt: skip
    assert result.method == "emd" and result.status is Status.OPTIMAL
    np.testing.assert_allclose(result.objective, lp.fun, rtol=1e-9)
    assert result.gap == 0 and result.marginal_error <= 1e-9


@pytest.mark.parametrize("method", ["sinkhorn_log", "sinkhorn", "ot_solve"])
def test_entropic_plans_meet_the_marginals(method: str) -> None:
    costs, weights, bins = _instance(40, 4, 9)
    result = transport_bins(BinsProblem(costs, bins, weights, reg=0.1), method=method)
    assert result.status is Status.OPTIMAL and result.marginal_error <= 1e-9
    np.testing.assert_allclose(result.plan.sum(axis=1), weights, rtol=1e-8)
    assert result.lower_bound == -np.inf
    exact = transport_bins(BinsProblem(costs, bins, weights))
    assert result.objective >= exact.objective


def test_two_bins_equal_the_closed_form() -> None:
    scores = np.random.default_rng(2).normal(size=50)
    costs = np.stack([scores, np.zeros(50)], axis=1)
    bins = transport_bins(BinsProblem(costs, [35.0, 15.0], reg=0.1), tol=1e-12, max_iter=10**4)
    soft = transport(TransportProblem({"a": scores}, 15.0, reg=0.1)).soft_mask["a"]
    np.testing.assert_allclose(bins.plan[:, 1], soft, atol=1e-8)


def test_l2_through_smooth_reports_its_accuracy() -> None:
    costs, weights, bins = _instance(30, 3, 4)
    result = transport_bins(BinsProblem(costs, bins, weights, reg=0.5, reg_type="l2"))
    assert result.method == "smooth"
    assert result.marginal_error < 1e-3
    assert (result.status is Status.OPTIMAL) == (result.marginal_error <= 1e-9)


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        (
            BinsProblem([1.0, 2.0], [1.0]),
            "costs: must be a 2-D array (n elements, K >= 2 bins); got shape (2,).",
        ),
        (BinsProblem([[1.0, np.nan]], [0.5, 0.5]), "costs: must be finite; got nan at index 1."),
        (
            BinsProblem([[0.0, 1.0]], [0.5, 0.6]),
            "bins: must be a total equal to the element mass 1; got 1.1.",
        ),
        (
            BinsProblem([[0.0, 1.0]], [1.5, -0.5]),
            "bins: must be finite and >= 0; got -0.5 at index 1.",
        ),
        (
            BinsProblem([[0.0, 1.0]], [1.0]),
            "bins: must be 2 values (one per column of costs); got 1.",
        ),
        (BinsProblem([[0.0, 1.0]], [0.0, 0.0], [0.0]), "weights: must be > 0; got 0.0 at index 0."),
    ],
    ids=["costs-1d", "costs-nan", "bins-total", "bins-negative", "bins-length", "weights-zero"],
)
def test_bad_input_names_the_field(problem: BinsProblem, message: str) -> None:
    with pytest.raises(InvalidProblemError, match=f"^{re.escape(message)}$"):
        transport_bins(problem)


def test_sinkhorn_needs_a_positive_reg() -> None:
    with pytest.raises(InvalidProblemError, match=r"^reg: must be > 0 for method 'sinkhorn'"):
        transport_bins(BinsProblem([[0.0, 1.0]], [0.5, 0.5]), method="sinkhorn")
