"""Bad input: every case raises `InvalidProblemError` naming the field, with the exact message."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest

from pruneplan.solver import InvalidProblemError
from pruneplan.solver.transport import TransportProblem, transport

S = {"a": [0.5, 1.0, -1.0], "b": [2.0, 0.0]}


def _p(**changes: Any) -> TransportProblem:
    fields: dict[str, Any] = {"scores": S, "budget": 2.0, **changes}
    return TransportProblem(**fields)


# (id, problem, method, the exact message)
CASES: list[tuple[str, TransportProblem, str, str]] = [
    ("scores-nan", _p(scores={"a": [0.0, math.nan]}), "auto",
     "scores['a']: must be finite; got nan at index 1."),
    ("scores-inf", _p(scores={"a": [math.inf]}, budget=1), "auto",
     "scores['a']: must be finite; got inf at index 0."),
    ("scores-empty-group", _p(scores={"a": []}), "auto",
     "scores['a']: must be at least one score; got none."),
    ("scores-2d", _p(scores={"a": [[1.0, 2.0]]}), "auto",
     "scores['a']: must be a 1-D sequence of numbers; got shape (1, 2)."),
    ("scores-empty", _p(scores={}), "auto",
     "scores: must be a non-empty mapping of group name to scores; got {}."),
    ("weights-negative", _p(weights={"a": [1.0, -1.0, 1.0], "b": [1.0, 1.0]}), "auto",
     "weights['a']: must be finite and >= 0; got -1.0 at index 1."),
    ("weights-zero", _p(weights={"a": [1.0, 0.0, 1.0], "b": [1.0, 1.0]}), "auto",
     "weights['a']: must be > 0; got 0.0 at index 1."),
    ("weights-nan", _p(weights={"a": [1.0, 1.0, 1.0], "b": [math.nan, 1.0]}), "auto",
     "weights['b']: must be finite and >= 0; got nan at index 0."),
    ("weights-length", _p(weights={"a": [1.0, 1.0], "b": [1.0, 1.0]}), "auto",
     "weights['a']: must be 3 values (one per score); got 2."),
    ("weights-keys", _p(weights={"a": [1.0, 1.0, 1.0]}), "auto",
     "weights: must be a mapping with the keys of scores ('a', 'b'); got ['a']."),
    ("budget-zero", _p(budget=0), "auto",
     "budget: must be a number in (0, 5] (the kept mass); got 0."),
    ("budget-above-mass", _p(budget=5.5), "auto",
     "budget: must be a number in (0, 5] (the kept mass); got 5.5."),
    ("budget-nan", _p(budget=math.nan), "auto",
     "budget: must be a number in (0, 5] (the kept mass); got nan."),
    ("budget-group-above", _p(budget={"a": 1.0, "b": 3.0}), "auto",
     "budget['b']: must be a number in (0, 2] (the kept mass); got 3.0."),
    ("budget-group-keys", _p(budget={"a": 1.0}), "auto",
     "budget: must be a total or one budget per group ('a', 'b'); got {'a': 1.0}."),
    ("reg-negative", _p(reg=-0.1), "auto", "reg: must be a finite number >= 0; got -0.1."),
    ("reg-inf", _p(reg=math.inf), "auto", "reg: must be a finite number >= 0; got inf."),
    ("reg-zero-sinkhorn", _p(reg=0.0), "sinkhorn",
     "reg: must be > 0 for method 'sinkhorn'; got 0.0."),
    ("reg-zero-smooth", _p(reg=0.0), "smooth", "reg: must be > 0 for method 'smooth'; got 0.0."),
    ("reg-type", _p(reg_type="kl"), "auto", "reg_type: must be one of entropy, l2; got 'kl'."),
    ("reg-type-sinkhorn", _p(reg_type="l2"), "sinkhorn_log",
     "reg_type: must be 'entropy' for method 'sinkhorn_log'; got 'l2'."),
    ("min-keep-range", _p(min_keep={"a": 1.5}), "auto",
     "min_keep['a']: must be a number in [0, 1]; got 1.5."),
    ("min-above-max", _p(min_keep={"a": 0.6}, max_keep={"a": 0.5}), "auto",
     "min_keep['a']: must be <= max_keep['a'] = 0.5; got 0.6."),
    ("max-keep-unknown-group", _p(max_keep={"c": 0.5}), "auto",
     "max_keep: must be a mapping from group names ('a', 'b') to [0, 1]; got {'c': 0.5}."),
    ("bounds-with-group-budgets", _p(budget={"a": 1.0, "b": 1.0}, min_keep={"a": 0.1}), "auto",
     "min_keep: must be None with per-group budgets; got {'a': 0.1}."),
    ("bounds-with-pot", _p(min_keep={"a": 0.1}), "sinkhorn",
     "min_keep: must be None (method 'sinkhorn' has no group bounds; use semi_dual); got bounds."),
]  # fmt: skip


@pytest.mark.parametrize(("problem", "method", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_bad_input_names_the_field(problem: TransportProblem, method: str, message: str) -> None:
    with pytest.raises(InvalidProblemError, match=f"^{re.escape(message)}$") as info:
        transport(problem, method=method)
    assert info.value.field == message.split(":")[0]


def test_unknown_method_lists_the_valid_ones() -> None:
    valid = "auto, semi_dual, sinkhorn, sinkhorn_log, smooth, emd, ot_solve"
    with pytest.raises(InvalidProblemError, match=re.escape(f"method: must be one of {valid}")):
        transport(_p(), method="greedy")


def test_options_are_checked_against_the_method_table() -> None:
    with pytest.raises(InvalidProblemError, match=r"^options\.tol: must be an option of method"):
        transport(_p(), method="semi_dual", tol=1e-3)
    with pytest.raises(
        InvalidProblemError, match=r"^options\.max_iter: must be None or an integer"
    ):
        transport(_p(), method="sinkhorn", max_iter=1.5)


def test_not_a_problem() -> None:
    message = r"^problem: must be a TransportProblem; got dict"
    with pytest.raises(InvalidProblemError, match=message):
        transport({"scores": S}, method="auto")  # type: ignore[arg-type]


def test_caller_arrays_are_not_modified() -> None:
    scores = np.array([0.3, -0.2, 0.9])
    before = scores.copy()
    result = transport(TransportProblem({"a": scores}, 1.5, reg=0.1))
    np.testing.assert_array_equal(scores, before)
    assert not np.shares_memory(result.soft_mask["a"], scores)
