"""The demo's transport section: the budget holds every step, the loss falls, the server's
hard masks are the module's, and ``--quick`` gives one row within the FLOPs budget."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from rich.console import Console  # noqa: E402

from pruneplan.clients.demo import _transport  # noqa: E402
from pruneplan.clients.demo._digits import Digits, DigitsCNN, load_digits, train  # noqa: E402
from pruneplan.solver import Status, solve  # noqa: E402

BUDGET = 0.3


def _in_process(problem: object, method: str) -> object:
    return solve(problem, method=method)


@pytest.fixture(scope="module")
def data() -> Digits:
    return load_digits(0)


@pytest.fixture(scope="module")
def dense(data: Digits) -> torch.nn.Module:
    torch.manual_seed(0)
    return train(DigitsCNN(), data.x_train, data.y_train, epochs=1, seed=0)


@pytest.fixture(scope="module")
def learned(dense: torch.nn.Module, data: Digits) -> _transport.Learned:
    return _transport.learn(copy.deepcopy(dense), data, BUDGET, epochs=1, seed=0)


def test_flops_per_weight_spread_the_layer_flops(dense: torch.nn.Module, data: Digits) -> None:
    per_weight = _transport.flops_per_weight(dense, data.x_train[:8])
    assert list(per_weight) == [
        "conv1.weight",
        "conv2.weight",
        "conv3.weight",
        "fc1.weight",
        "fc2.weight",
    ]
    # a conv weight acts at every output position (8x8, 8x8, 4x4), a linear one once; 2 per MAC
    want = {"conv1.weight": 128, "conv2.weight": 128, "conv3.weight": 32, "fc1.weight": 2}
    for name, flops in want.items():
        np.testing.assert_allclose(per_weight[name].numpy(), flops)


def test_budget_holds_every_step_and_the_loss_falls(learned: _transport.Learned) -> None:
    mask = learned.mask
    assert mask.weights is not None
    total = float(mask.weights.sum())
    np.testing.assert_allclose(learned.kept_flops, BUDGET * total, rtol=1e-9)
    losses = np.array(learned.losses)
    assert len(losses) == math.ceil(1257 / 64)
    assert losses[-5:].mean() < 0.8 * losses[:5].mean()
    np.testing.assert_allclose(mask.reg, _transport.REG[1], rtol=1e-12)  # annealed to the end


def test_server_hard_masks_are_the_modules(learned: _transport.Learned) -> None:
    problem, result = _transport.harden(learned, _in_process)  # type: ignore[arg-type]
    assert result.status is Status.OPTIMAL and result.method == "semi_dual"
    assert list(result.hard_mask) == list(learned.names)
    hard = torch.cat([torch.from_numpy(result.hard_mask[n]) for n in learned.names])
    torch.testing.assert_close(hard, learned.mask.hard())
    assert problem.weights is not None
    kept = sum(float(problem.weights[n][result.hard_mask[n]].sum()) for n in learned.names)
    assert kept <= learned.mask.budget * (1 + 1e-12)
    assert kept >= learned.mask.budget - max(float(w.max()) for w in problem.weights.values())


def test_quick_section_gives_one_row_within_budget(dense: torch.nn.Module, data: Digits) -> None:
    before = {k: v.clone() for k, v in dense.state_dict().items()}
    rows = _transport.section(
        dense,
        data,
        _in_process,
        quick=True,
        seed=0,
        console=Console(quiet=True),  # type: ignore[arg-type]
    )
    assert [r.method for r in rows] == [_transport.METHOD]
    (row,) = rows
    assert row.budget == BUDGET and row.status == "OPTIMAL"
    assert row.flops <= BUDGET * row.dense_flops * (1 + 1e-9)
    assert row.flops >= 0.99 * BUDGET * row.dense_flops
    assert 0.0 <= row.acc_before <= 1.0 and 0.0 <= row.acc_after <= 1.0
    assert row.acc_after > 0.5 and row.measured >= 0.0
    assert set(row.sparsity) == set(_transport.flops_per_weight(dense, data.x_train[:8]))
    json.dumps(row.__dict__)  # the demo writes every row to demo.json
    for key, value in dense.state_dict().items():  # the dense model is left as it was
        torch.testing.assert_close(value, before[key])
