"""The search session: budgets, the never-worse guarantee, halving, persistence, brute force."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pruneplan.solver import AllocationProblem, InvalidProblemError, LayerProfile, allocate
from pruneplan.solver.search import (
    Measurement,
    SearchClosedError,
    SearchOptions,
    SearchSession,
    SearchState,
)
from pruneplan.solver.search._propose import residual_weights
from pruneplan.solver.search._space import Space

from ._cases import RTOL, additive, feasible_plans, levels_of, multi_resource, noisy, run, tiny

FAST = {"resolve_method": "lagrangian"}


def _true_curves(problem: AllocationProblem, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.asarray(layer.loss) * rng.uniform(0.3, 3.0) for layer in problem.layers]


def _usage(problem: AllocationProblem, levels: list[int]) -> dict[str, float]:
    total = dict.fromkeys(problem.budget, 0.0)
    for layer, k in zip(problem.layers, levels, strict=True):
        for r in total:
            cost = (layer.costs or {}).get(r)
            value = layer.size * (1 - np.asarray(layer.levels)[k]) if cost is None else cost[k]
            total[r] += float(value)
    return total


@pytest.mark.parametrize("seed", [0, 1])
def test_every_candidate_meets_every_budget(seed: int) -> None:
    problem = multi_resource(seed)
    options = SearchOptions(evaluations=120, seed=seed, candidates=(8, 3, 1), **FAST)
    session = SearchSession(problem, options)
    measure = noisy(problem, _true_curves(problem, seed), 0.05)
    asked = run(session, measure, batch=5)
    session.tell_curves({layer.name: np.asarray(layer.loss) * 2 for layer in problem.layers})
    assert len(asked) >= 60
    for c in asked:
        levels = levels_of(problem, c)
        usage = _usage(problem, levels)
        for r, limit in problem.budget.items():
            assert usage[r] <= limit * (1 + RTOL), (c.candidate_id, r)
            np.testing.assert_allclose(c.usage[r], usage[r], rtol=1e-12)
        assert levels[2] == levels[5]  # the group takes one level
        assert np.asarray(problem.layers[0].levels)[levels[0]] >= 0.1
        assert np.asarray(problem.layers[1].levels)[levels[1]] <= 0.6
    assert {c.mode for c in asked} >= {"start", "swap", "resolve"}


def test_curves_mode_proposes_the_exact_plan_of_the_told_curves() -> None:
    problem, true = tiny(3, n=5, k=5)
    options = SearchOptions(evaluations=200, seed=0, modes=("swap", "curves"), candidates=(6, 2))
    session = SearchSession(problem, options)
    session.tell_curves({layer.name: t for layer, t in zip(problem.layers, true, strict=True)})
    measure = additive(problem, true)
    first = session.ask(100)
    assert {c.mode for c in first} == {"swap"}  # curves count from the next generation on
    session.tell([(c.candidate_id, measure(c), c.samples) for c in first])
    asked = run(session, measure)
    relaxed = [
        LayerProfile(layer.name, layer.levels, t, layer.size)
        for layer, t in zip(problem.layers, true, strict=True)
    ]
    exact = allocate(AllocationProblem(relaxed, problem.budget))
    curves = [c for c in asked if c.mode == "curves"]
    assert curves
    assert any(dict(c.level_index) == dict(exact.level_index) for c in asked)
    np.testing.assert_allclose(session.best().objective, exact.objective, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_never_worse_than_the_start_on_the_same_samples(seed: int) -> None:
    problem = multi_resource(seed, n=6)
    curves = _true_curves(problem, seed)
    options = SearchOptions(evaluations=150, seed=seed, candidates=(6, 2), samples=(1, 4), **FAST)
    session = SearchSession(problem, options)
    start = dict(session.incumbent.level_index)
    run(session, noisy(problem, curves, 0.5))
    last = max(r.candidate.generation for r in session.history)
    incumbent = start
    for g in range(last + 1):
        final = [
            r for r in session.history if r.candidate.generation == g and r.candidate.stage == 1
        ]
        assert len({r.candidate.sample_set for r in final}) == 1
        kept = next(r for r in final if dict(r.candidate.level_index) == incumbent)
        winner = min(
            final, key=lambda r: (r.measured, r.candidate.predicted, r.candidate.candidate_id)
        )
        marked = [r for r in final if r.incumbent]
        assert len(marked) == 1
        if winner.measured < kept.measured:
            assert marked[0] is winner
            incumbent = dict(winner.candidate.level_index)
        else:
            assert marked[0] is kept
    assert dict(session.best().level_index) == incumbent
    # without noise the final plan measures at most what the start measures
    session = SearchSession(problem, options)
    measure = additive(problem, curves)
    start_value = measure(session.incumbent)
    run(session, measure)
    assert session.best().objective <= start_value
    assert measure(session.incumbent) == session.best().objective


def test_halving_schedule() -> None:
    problem = multi_resource(4)
    options = SearchOptions(
        evaluations=2 * 15, seed=0, candidates=(8, 4, 2), samples=(2, 8, 32), **FAST
    )
    session = SearchSession(problem, options)
    measure = noisy(problem, _true_curves(problem, 4), 0.1)
    stages = []
    while batch := session.ask(3):  # asked in small batches: the stage waits for every tell
        stages.append(batch)
        session.tell([Measurement(c.candidate_id, measure(c), c.samples) for c in batch])
    history = session.history
    assert session.state is SearchState.DONE
    assert session.evaluations_used == 30 == len(history)
    for g in (0, 1):
        by_stage = [
            [r for r in history if r.candidate.generation == g and r.candidate.stage == s]
            for s in range(3)
        ]
        assert [len(s) for s in by_stage] == [8, 4, 3]
        for s, records in enumerate(by_stage):
            assert {r.candidate.samples for r in records} == {options.samples[s]}
            assert len({r.candidate.sample_set for r in records}) == 1
        for s in (0, 1):
            ranked = sorted(
                by_stage[s],
                key=lambda r: (r.measured, r.candidate.predicted, r.candidate.candidate_id),
            )
            keep = options.candidates[s + 1]
            went_on = [dict(r.candidate.level_index) for r in by_stage[s + 1]][:keep]
            assert went_on == [dict(r.candidate.level_index) for r in ranked[:keep]]
        previous = [r for r in history if r.incumbent and r.candidate.generation == g - 1]
        start = dict(previous[0].candidate.level_index) if previous else None
        if start is not None:
            assert dict(by_stage[2][-1].candidate.level_index) == start
    ids = [r.candidate.candidate_id for r in history]
    assert len(set(ids)) == len(ids)


def test_ask_waits_for_tells_and_never_repeats() -> None:
    problem, _ = tiny(0)
    session = SearchSession(problem, SearchOptions(candidates=(4, 1), samples=(1, 3), seed=1))
    a, b = session.ask(3), session.ask(3)
    assert len(a) == 3 and len(b) == 1 and session.ask(5) == []
    assert {c.candidate_id for c in session.pending} == {c.candidate_id for c in a + b}
    session.tell([(c.candidate_id, 1.0, 1) for c in b])
    assert session.ask(2) == []
    session.tell([(c.candidate_id, float(i), 1) for i, c in enumerate(a)])
    final = session.ask(10)
    assert len(final) == 2 and {c.samples for c in final} == {3}
    assert dict(final[0].level_index) == dict(a[0].level_index)  # measured lowest
    assert final[1].mode == "start"


def _reloaded(session: SearchSession) -> SearchSession:
    return SearchSession.from_dict(session.problem, json.loads(json.dumps(session.to_dict())))


def test_round_trip_continues_identically() -> None:
    problem = multi_resource(5, n=6)
    options = SearchOptions(evaluations=80, seed=7, candidates=(5, 2), samples=(1, 2), **FAST)
    measure = noisy(problem, _true_curves(problem, 5), 0.2)
    curves = {problem.layers[0].name: 2 * np.asarray(problem.layers[0].loss)}
    sessions = [SearchSession(problem, options), SearchSession(problem, options)]
    asked: list[list] = [[], []]
    for step in range(200):
        sessions[1] = _reloaded(sessions[1])  # stored and loaded between every call
        batches = [s.ask(3) for s in sessions]
        sessions[1] = _reloaded(sessions[1])
        assert batches[0] == batches[1]
        if not batches[0]:
            break
        if step == 4:
            for s in sessions:
                s.tell_curves(curves)
        for s, batch, seen in zip(sessions, batches, asked, strict=True):
            seen += batch
            s.tell([(c.candidate_id, measure(c), c.samples) for c in batch])
    plain, stored = sessions
    assert stored.state is SearchState.DONE and len(asked[0]) > 20
    assert stored.history == plain.history
    assert stored.to_dict() == plain.to_dict() | {"elapsed": stored.to_dict()["elapsed"]}
    assert dict(stored.best().level_index) == dict(plain.best().level_index)


@pytest.mark.parametrize("seed", [0, 1, 4, 5])
def test_finds_the_brute_force_optimum_of_tiny_instances(seed: int) -> None:
    problem, true = tiny(seed, n=5, k=5)
    measure = additive(problem, true)
    best = min(sum(true[i][k] for i, k in enumerate(p)) for p in feasible_plans(problem))
    session = SearchSession(
        problem, SearchOptions(evaluations=300, seed=seed, candidates=(8, 2), samples=(1, 1))
    )
    run(session, measure)
    np.testing.assert_allclose(session.best().objective, best, rtol=1e-12)
    assert session.best().usage["params"] <= problem.budget["params"] * (1 + RTOL)


def test_best_is_an_allocation_result() -> None:
    problem, true = tiny(1)
    session = SearchSession(problem, SearchOptions(candidates=(3,), samples=(2,), seed=0))
    before = session.best()
    assert before.method == "search" and before.objective == session.incumbent.predicted
    assert dict(before.level_index) == dict(allocate(problem).level_index)
    run(session, additive(problem, true))
    after = session.best()
    assert after.status.name == "FEASIBLE" and after.lower_bound == -np.inf
    assert set(after.sparsity) == {layer.name for layer in problem.layers}
    assert after.limit == dict(problem.budget)


def test_residual_weights_recover_a_uniform_scale() -> None:
    problem = multi_resource(0, n=5)
    space = Space.of(problem)
    rng = np.random.default_rng(0)
    plans = [np.array([rng.choice(a) for a in space.allowed]) for _ in range(30)]
    values = [2.0 * space.predicted(p) + 1.0 for p in plans]
    np.testing.assert_allclose(residual_weights(space, plans, values), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(residual_weights(space, plans[:1], values[:1]), 1.0)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"evaluations": 3}, "options.evaluations"),
        ({"evaluations": 2.5}, "options.evaluations"),
        ({"modes": ("swap", "anneal")}, "options.modes[1]"),
        ({"modes": ("curves",)}, "options.modes"),
        ({"candidates": (4, 8)}, "options.candidates[1]"),
        ({"candidates": (4, 0)}, "options.candidates[1]"),
        ({"samples": (4,)}, "options.samples"),
        ({"samples": (4, 1, 16)}, "options.samples[1]"),
        ({"perturbation": -1.0}, "options.perturbation"),
        ({"resolve_method": "uniform"}, "options.resolve_method"),
        ({"seed": -1}, "options.seed"),
        ({"max_swaps": 0}, "options.max_swaps"),
    ],
)
def test_bad_options_name_the_field(options: dict, field: str) -> None:
    problem, _ = tiny(0)
    with pytest.raises(InvalidProblemError) as info:
        SearchSession(problem, SearchOptions(**options))
    assert info.value.field == field


def test_bad_tells_name_the_field_and_record_nothing() -> None:
    problem, _ = tiny(0)
    session = SearchSession(problem, SearchOptions(candidates=(3, 1), samples=(2, 4)))
    batch = session.ask(3)
    cid = batch[0].candidate_id
    cases = [
        ([(cid, 1.0, 2), (999, 1.0, 2)], "results[1].candidate_id"),
        ([(cid, 1.0, 2), (cid, 2.0, 2)], "results[1].candidate_id"),
        ([(cid, float("nan"), 2)], "results[0].measured"),
        ([(cid, "1.0", 2)], "results[0].measured"),
        ([(cid, 1.0, 3)], "results[0].samples"),
        ([(cid, 1.0)], "results[0]"),
        ([(True, 1.0, 2)], "results[0].candidate_id"),
    ]
    for results, field in cases:
        with pytest.raises(InvalidProblemError) as info:
            session.tell(results)
        assert info.value.field == field
    assert session.history == () and len(session.pending) == 3
    with pytest.raises(InvalidProblemError) as info:
        session.ask(0)
    assert info.value.field == "n"
    session.tell([(cid, 1.0, 2)])
    with pytest.raises(InvalidProblemError):
        session.tell([(cid, 1.0, 2)])  # told already
    with pytest.raises(InvalidProblemError) as info:
        session.tell_curves({"l0": [0.0, 1.0]})
    assert info.value.field == "curves.l0"
    with pytest.raises(InvalidProblemError) as info:
        session.tell_curves({"nope": [0.0] * 4})
    assert info.value.field == "curves"
    assert session.cancel() and not session.cancel()
    assert session.state is SearchState.CANCELLED
    with pytest.raises(SearchClosedError):
        session.ask(1)
    with pytest.raises(SearchClosedError):
        session.tell([(batch[1].candidate_id, 1.0, 2)])


def test_bad_problems_and_starts() -> None:
    problem, _ = tiny(0)
    infeasible = AllocationProblem(problem.layers, {"params": 1.0})
    with pytest.raises(InvalidProblemError) as info:
        SearchSession(infeasible)
    assert info.value.field == "budget"
    over = allocate(AllocationProblem(problem.layers, {"params": 1e9}), method="uniform")
    with pytest.raises(InvalidProblemError) as info:
        SearchSession(problem, start=over)
    assert info.value.field == "start"
    bad = AllocationProblem([LayerProfile("a", [0.0, 0.5], [0.0, float("nan")], 10)], {"params": 8})
    with pytest.raises(InvalidProblemError) as info:
        SearchSession(bad)
    assert info.value.field.startswith("layers[0]")


def test_docstring_example_runs() -> None:
    import doctest

    from pruneplan.solver.search import _session

    outcome = doctest.testmod(_session)
    assert outcome.attempted >= 4 and outcome.failed == 0


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_a_few_layers_with_many_levels_spend_the_evaluations(sparsity: float) -> None:
    """Three layers, 50 levels each (the digits MLP's shape): the neighbourhood of one
    incumbent is small, so swaps widen instead of ending the search early (it used to stop
    after 3-5 of 13 generations)."""
    rng = np.random.default_rng(3)
    levels = 1 - np.geomspace(1.0, 1 / 32, 50)
    layers = [
        LayerProfile(f"fc{i}", levels, np.sort(rng.random(50)) * levels**2 * 10, size)
        for i, size in enumerate((16_640, 32_896, 1_290))
    ]
    problem = AllocationProblem(layers, {"params": (1 - sparsity) * 50_826})
    options = SearchOptions(evaluations=300, seed=0, **FAST)
    session = SearchSession(problem, options)
    truth = [np.asarray(layer.loss) * rng.uniform(0.5, 2.0) for layer in layers]
    run(session, noisy(problem, truth, 0.05))
    generation = sum(options.candidates) + 1
    assert session.state is SearchState.DONE
    assert session.evaluations_used > options.evaluations - 2 * generation
    for record in session.history:
        assert record.candidate.usage["params"] <= problem.budget["params"] * (1 + RTOL)
