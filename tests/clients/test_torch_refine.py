"""Profiling around a plan and refining it: curves vs measured joint distortions, guarantees."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pruneplan.clients.torch import (  # noqa: E402
    measured_distortion,
    problem_for,
    profile,
    refine,
    relative_budget,
)
from pruneplan.solver import allocate  # noqa: E402

from ._models import TinyCNN, mlp  # noqa: E402
from .test_torch_profile import LEVELS, assert_identical, snapshot  # noqa: E402

PLAN = {"0.weight": 0.75, "2.weight": 0.5, "4.weight": 0.25}


def test_measured_distortion_of_nothing_pruned_is_zero(features: list[torch.Tensor]) -> None:
    model = mlp()
    assert measured_distortion(model, features, dict.fromkeys(PLAN, 0.0), metric="kl") == 0.0
    assert measured_distortion(model, features, PLAN, metric="kl") > 0.0


def test_empty_context_is_the_plain_profile(features: list[torch.Tensor]) -> None:
    model = mlp()
    plain = profile(model, features, levels=LEVELS, metric="kl", progress=False)
    empty = profile(model, features, levels=LEVELS, metric="kl", around={}, progress=False)
    for a, b in zip(plain, empty, strict=True):
        np.testing.assert_allclose(a.loss, b.loss)


def test_curves_around_a_plan_match_joint_measurements(features: list[torch.Tensor]) -> None:
    model = mlp()
    before = snapshot(model)
    around = profile(model, features, levels=LEVELS, metric="kl", around=PLAN, progress=False)
    assert_identical(model, before)
    for p in around:
        others = {n: s for n, s in PLAN.items() if n != p.name}
        base = measured_distortion(model, features, others, metric="kl")
        joint = [
            measured_distortion(model, features, {**others, p.name: s}, metric="kl") for s in LEVELS
        ]
        np.testing.assert_allclose(p.loss, np.maximum(np.array(joint) - base, 0.0), atol=1e-12)
    with pytest.raises(ValueError, match=r"around: 'fc9\.weight' is not a profiled layer"):
        profile(model, features, levels=LEVELS, around={"fc9.weight": 0.5}, progress=False)


def test_refine_never_worse_on_calibration(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    cnn.eval()
    profiles = profile(cnn, images, levels=LEVELS, metric="kl", progress=False)
    problem = problem_for(cnn, profiles, relative_budget(profiles, {"params": 0.2}))
    plan = allocate(problem, method="exact")
    before = snapshot(cnn)
    options = {"metric": "kl", "progress": False}
    refined = refine(cnn, images, problem, plan, profile_options=options)
    assert_identical(cnn, before)
    assert refine(cnn, images, problem, plan, rounds=0, profile_options=options) is plan
    kept = sum(round(p.size * (1 - refined.sparsity[p.name])) for p in profiles)
    assert kept <= problem.budget["params"] + 1e-9
    assert measured_distortion(cnn, images, refined.sparsity, metric="kl") <= (
        measured_distortion(cnn, images, plan.sparsity, metric="kl")
    )
