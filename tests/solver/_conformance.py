"""The conformance harness every solver family plugs into.

A family describes itself as a `Family`: its entry point, its methods (which of them prove
optimality), canonical cases with a known optimum, degenerate cases, infeasible cases, seeded
random problems, a brute force, and its own invariants. A test module then subclasses
`Conformance` with ``family = ...``; every method runs every case:

- a result keeps the certificate's promises: a feasible status, usage within the limit of every
  resource, an objective no better than the optimum, a lower bound no worse, a gap that is the
  relative gap of the two; a method that claims ``OPTIMAL`` has the optimum;
- an exact method is ``OPTIMAL`` with the optimum, and its gap is within `OPTIMAL_GAP`;
- an infeasible case is ``INFEASIBLE`` with an infinite objective and a message that names
  every budgeted resource;
- random problems agree with the brute force (``inf`` means infeasible).

The family's ``invariants`` check what only it knows (the plan's own objective, its bounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pytest

from pruneplan.solver import Certificate, Status
from pruneplan.solver._result import relative_gap
from pruneplan.solver._tolerance import OPTIMAL_GAP

RTOL = 1e-9
"""Relative slack of the comparisons with the brute force and the budgets."""


@dataclass(frozen=True)
class Case:
    """A named problem and its optimal objective (``inf`` when infeasible)."""

    name: str
    problem: Any
    optimum: float


@dataclass(frozen=True)
class Family:
    """What a solver family hands the harness.

    Attributes
    ----------
    solve : callable
        The entry point: ``solve(problem, method=..., seed=..., **options)``.
    methods : sequence of str
        Every registered method.
    exact : set of str
        The methods that must prove the optimum.
    known, degenerate, infeasible : sequence of Case
        Canonical cases; ``infeasible`` ones have ``optimum = inf``.
    random : mapping of str to sequence of problems
        Seeded random problems by setting, checked against ``brute_force``.
    brute_force : callable
        ``brute_force(problem)``: the optimal objective by enumeration (``inf`` if infeasible).
    invariants : callable
        ``invariants(problem, result)``: the family's own checks of a feasible result.
    infeasible_invariants : callable
        ``infeasible_invariants(problem, result)``: its checks of an ``INFEASIBLE`` result.
    promises : callable
        ``promises(method, problem, result, optimum)``: method-specific checks on top.
    may_miss : callable
        ``may_miss(method, problem)``: whether a method may return ``INFEASIBLE`` on a
        feasible problem (heuristics).
    """

    solve: Callable[..., Certificate]
    methods: Sequence[str]
    exact: frozenset[str]
    known: Sequence[Case]
    degenerate: Sequence[Case]
    infeasible: Sequence[Case]
    random: Mapping[str, Sequence[Any]]
    brute_force: Callable[[Any], float]
    invariants: Callable[[Any, Certificate], None]
    infeasible_invariants: Callable[[Any, Certificate], None] = lambda problem, result: None
    promises: Callable[[str, Any, Certificate, float], None] = lambda *args: None
    may_miss: Callable[[str, Any], bool] = lambda method, problem: False
    options: Mapping[str, Any] = field(default_factory=lambda: {"seed": 3})


def check_certificate(result: Certificate, optimum: float) -> None:
    """The promises of every feasible result, whatever the family."""
    tol = RTOL * max(1.0, abs(optimum))
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE), result.message
    for resource, limit in result.limit.items():
        assert result.usage[resource] <= limit * (1 + RTOL), resource
    assert result.objective >= optimum - tol
    assert result.lower_bound <= optimum + tol
    assert result.gap == relative_gap(result.objective, result.lower_bound)
    if result.status is Status.OPTIMAL:
        np.testing.assert_allclose(result.objective, optimum, rtol=RTOL, atol=1e-12)


def check_result(
    family: Family, method: str, problem: Any, result: Certificate, optimum: float
) -> None:
    """`check_certificate`, the family's invariants, exactness and the method's promises."""
    check_certificate(result, optimum)
    family.invariants(problem, result)
    if method in family.exact:
        assert result.status is Status.OPTIMAL, result.message
        assert result.gap <= OPTIMAL_GAP
    family.promises(method, problem, result, optimum)


def check_infeasible(result: Certificate) -> None:
    """An infeasible result: no solution, an infinite objective, every resource named."""
    assert result.status is Status.INFEASIBLE, result.message
    assert math.isinf(result.objective) and result.objective > 0
    for resource in result.limit:
        assert resource in result.message, (resource, result.message)


def _ids(cases: Sequence[Case]) -> list[str]:
    return [case.name for case in cases]


class Conformance:
    """Subclass with ``family = Family(...)`` (the class name starting with ``Test``)."""

    family: ClassVar[Family]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        family = metafunc.cls.family  # type: ignore[union-attr]
        args = set(metafunc.fixturenames)
        if "method" in args:
            metafunc.parametrize("method", list(family.methods))
        for name in ("known", "degenerate", "infeasible"):
            if name in args:
                cases = getattr(family, name)
                metafunc.parametrize(name, cases, ids=_ids(cases))
        if "setting" in args:
            metafunc.parametrize("setting", sorted(family.random))

    def _solve(self, problem: Any, method: str) -> Certificate:
        result = self.family.solve(problem, method=method, **self.family.options)
        assert result.method == method
        return result

    def test_known_optimum(self, method: str, known: Case) -> None:
        assert self.family.brute_force(known.problem) == pytest.approx(known.optimum, abs=1e-12)
        result = self._solve(known.problem, method)
        check_result(self.family, method, known.problem, result, known.optimum)

    def test_degenerate(self, method: str, degenerate: Case) -> None:
        assert self.family.brute_force(degenerate.problem) == pytest.approx(
            degenerate.optimum, abs=1e-12
        )
        result = self._solve(degenerate.problem, method)
        check_result(self.family, method, degenerate.problem, result, degenerate.optimum)

    def test_infeasible(self, method: str, infeasible: Case) -> None:
        assert math.isinf(self.family.brute_force(infeasible.problem))
        result = self._solve(infeasible.problem, method)
        check_infeasible(result)
        self.family.infeasible_invariants(infeasible.problem, result)

    def test_random_against_brute_force(self, method: str, setting: str) -> None:
        for problem in self.family.random[setting]:
            result = self._solve(problem, method)
            optimum = self.family.brute_force(problem)
            if math.isinf(optimum):
                check_infeasible(result)
                self.family.infeasible_invariants(problem, result)
            elif result.status is Status.INFEASIBLE:
                assert self.family.may_miss(method, problem), result.message
            else:
                check_result(self.family, method, problem, result, optimum)
