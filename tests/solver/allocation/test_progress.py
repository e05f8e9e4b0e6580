"""Progress reports reach the callback given to `allocate`, and only it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pruneplan.solver import METHODS, AllocationProblem, LayerProfile, Progress, allocate
from pruneplan.solver._progress import report


def _problem() -> AllocationProblem:
    levels = [0.0, 0.5, 0.9]
    layers = [
        LayerProfile(
            f"l{i}", levels, [0.0, 0.1 * (i + 1), 2.0], 100, shape=(10, 10), magnitudes=[0, 1, 2]
        )
        for i in range(3)
    ]
    return AllocationProblem(layers, {"params": 150.0})


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_ends_with_done(method: str) -> None:
    seen: list[Progress] = []
    result = allocate(_problem(), method=method, progress=seen.append)
    assert seen, "no progress reported"
    last = seen[-1]
    assert (last.phase, last.fraction) == ("done", 1.0)
    np.testing.assert_allclose(last.objective, result.objective)
    np.testing.assert_allclose(last.lower_bound, result.lower_bound)
    for event in seen:
        assert math.isnan(event.fraction) or 0.0 <= event.fraction <= 1.0
        assert event.lower_bound <= result.objective + 1e-9


def test_report_without_callback_is_silent() -> None:
    report("anything", fraction=0.5)  # no callback installed: nothing happens, nothing raises
    seen: list[Progress] = []
    allocate(_problem(), progress=seen.append)
    report("after", fraction=0.5)  # the callback is gone after the solve
    assert all(event.phase != "after" for event in seen)
