"""`TransportMask`: the server's soft mask in torch, implicit gradients, training, hard masks."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from pruneplan.clients.torch import (  # noqa: E402
    BregmanSchedule,
    GeometricSchedule,
    TransportMask,
    transport_mask,
)
from pruneplan.solver.transport import TransportProblem, transport  # noqa: E402

CASES = [("entropy", False), ("entropy", True), ("l2", False), ("l2", True)]
IDS = [f"{k}-{'weighted' if w else 'unit'}" for k, w in CASES]


def _instance(n: int, weighted: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray | None, float]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=n)
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    return scores, weights, 0.3 * (n if weights is None else float(weights.sum()))


def _t(values: np.ndarray | None) -> torch.Tensor | None:
    return None if values is None else torch.tensor(values, dtype=torch.float64)


@pytest.mark.parametrize(("kind", "weighted"), CASES, ids=IDS)
@pytest.mark.parametrize("reg", [1.0, 0.05, 1e-3])
def test_forward_equals_the_server_semi_dual_in_float64(
    kind: str, weighted: bool, reg: float
) -> None:
    scores, weights, budget = _instance(3000, weighted)
    w = None if weights is None else {"a": weights}
    server = transport(TransportProblem({"a": scores}, budget, w, reg=reg, reg_type=kind))
    mask, tau = transport_mask(_t(scores), budget, reg, reg_type=kind, weights=_t(weights))
    assert mask.dtype == torch.float64
    np.testing.assert_allclose(mask.numpy(), server.soft_mask["a"], atol=1e-6)
    if kind == "entropy":  # (l2: any threshold in a gap between ramps can be the dual)
        np.testing.assert_allclose(tau, server.threshold["a"], rtol=1e-9, atol=1e-12)


def test_float32_scores_give_a_float32_mask_within_the_budget() -> None:
    scores, _, budget = _instance(5000, False, 1)
    module = TransportMask(5000, budget, 0.05, scores=torch.tensor(scores), dtype=torch.float32)
    mask = module()
    assert mask.dtype == torch.float32 and module.scores.dtype == torch.float32
    torch.testing.assert_close(
        mask.double().sum(), torch.tensor(budget, dtype=torch.float64), rtol=1e-6, atol=0
    )
    mask.sum().backward()
    assert module.scores.grad is not None and module.scores.grad.dtype == torch.float32


@pytest.mark.parametrize(("kind", "weighted"), CASES, ids=IDS)
def test_gradcheck(kind: str, weighted: bool) -> None:
    scores, weights, budget = _instance(10, weighted, 2)
    a = _t(weights)

    def fn(s: torch.Tensor) -> torch.Tensor:
        return transport_mask(s, budget, 0.4, reg_type=kind, weights=a)[0]

    s = torch.tensor(scores, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (s,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize(("kind", "weighted"), CASES, ids=IDS)
def test_gradient_equals_finite_differences_of_the_server_solver(kind: str, weighted: bool) -> None:
    scores, weights, budget = _instance(30, weighted, 3)
    rng = np.random.default_rng(4)
    g = rng.normal(size=30)  # loss = g . mask

    def loss(x: np.ndarray) -> float:
        w = None if weights is None else {"a": weights}
        problem = TransportProblem({"a": x}, budget, w, reg=0.3, reg_type=kind)
        return float(np.dot(g, transport(problem).soft_mask["a"]))

    s = torch.tensor(scores, requires_grad=True)
    mask, _ = transport_mask(s, budget, 0.3, reg_type=kind, weights=_t(weights))
    (mask * torch.tensor(g)).sum().backward()
    h = 1e-6
    numeric = [(loss(scores + h * e) - loss(scores - h * e)) / (2 * h) for e in np.eye(30)]
    np.testing.assert_allclose(s.grad.numpy(), numeric, atol=1e-6)


def test_gradient_keeps_the_budget_to_first_order() -> None:
    scores, weights, budget = _instance(50, True, 5)
    s = torch.tensor(scores, requires_grad=True)
    mask, _ = transport_mask(s, budget, 0.2, weights=_t(weights))
    (
        mask * torch.randn(50, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ).sum().backward()
    jac_rows = torch.autograd.functional.jacobian(
        lambda x: transport_mask(x, budget, 0.2, weights=_t(weights))[0], s.detach()
    )
    # d(sum a m)/ds = a^T J = 0: the budget holds along every direction
    torch.testing.assert_close(
        _t(weights) @ jac_rows, torch.zeros(50, dtype=torch.float64), atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("kind", ["entropy", "l2"])
def test_module_trains_and_the_budget_holds_every_step(kind: str) -> None:
    """Sparse regression: only 4 of 24 features matter; learn the weights and which to keep."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 24, generator=gen, dtype=torch.float64)
    truth = torch.zeros(24, dtype=torch.float64)
    truth[[3, 7, 11, 19]] = torch.tensor([2.0, -1.5, 1.0, 3.0], dtype=torch.float64)
    y = x @ truth
    mask = TransportMask(24, 4, 1.0, reg_type=kind, dtype=torch.float64,
                         schedule=GeometricSchedule(1.0, 0.01))  # fmt: skip
    w = nn.Parameter(torch.zeros(24, dtype=torch.float64))
    opt = torch.optim.Adam([w, mask.scores], lr=0.05)
    losses = []
    for step in range(150):
        mask.anneal(step / 149)
        m = mask()
        torch.testing.assert_close(
            m.sum(), torch.tensor(4.0, dtype=torch.float64), rtol=1e-9, atol=0
        )
        assert float(m.detach().min()) >= 0 and float(m.detach().max()) <= 1
        loss = ((x @ (w * m) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    assert torch.nonzero(mask.hard()).flatten().tolist() == [3, 7, 11, 19]
    assert math.isclose(mask.reg, 0.01)


def test_hard_mask_is_the_top_k_and_matches_the_server_with_weights() -> None:
    module = TransportMask(5, 2, 0.1, scores=torch.tensor([1.0, 3.0, 1.0, 1.0, 0.0]))
    assert module.hard().tolist() == [True, True, False, False, False]  # ties by index
    scores, weights, budget = _instance(200, True, 6)
    module = TransportMask(
        200, budget, 0.1, scores=torch.tensor(scores), weights=torch.tensor(weights)
    )
    server = transport(TransportProblem({"a": scores}, budget, {"a": weights}, reg=0.1))
    np.testing.assert_array_equal(module.hard().numpy(), server.hard_mask["a"])


def test_prune_applies_the_hard_mask_reversibly_broadcast_over_channels() -> None:
    conv = nn.Conv2d(2, 6, 3)
    module = TransportMask(6, 2, 0.1, scores=torch.tensor([0.0, 5.0, 1.0, 4.0, 2.0, 3.0]))
    module.prune(conv, "weight", dim=0)
    kept = conv.weight_mask.flatten(1).all(dim=1)
    assert kept.tolist() == [False, True, False, True, False, False]
    torch.testing.assert_close(conv.weight, conv.weight_orig * conv.weight_mask)
    prune.remove(conv, "weight")
    assert (conv.weight[[0, 2, 4, 5]] == 0).all() and not hasattr(conv, "weight_orig")


def test_prune_then_the_clients_finalize_makes_the_mask_permanent() -> None:
    from pruneplan.clients.torch import finalize

    model = nn.Sequential(nn.Linear(4, 3))
    module = TransportMask((3, 4), 5, 0.1, scores=torch.arange(12.0).reshape(3, 4))
    module.prune(model[0], "weight")
    assert finalize(model) == ["0.weight"]
    assert int((model[0].weight != 0).sum()) <= 5 and (model[0].weight[2, 3] != 0)
    assert not hasattr(model[0], "weight_mask")


def test_schedules_run_from_start_to_end() -> None:
    for schedule in (GeometricSchedule(1.0, 1e-3), BregmanSchedule(1.0, 1e-3)):
        values = [schedule(p) for p in np.linspace(0, 1, 11)]
        assert math.isclose(values[0], 1.0) and math.isclose(values[-1], 1e-3)
        assert all(a > b for a, b in itertools.pairwise(values))
        assert schedule(-1.0) == values[0] and schedule(2.0) == values[-1]
    assert math.isclose(GeometricSchedule(1.0, 1e-2)(0.5), 0.1)
    assert math.isclose(BregmanSchedule(1.0, 0.1)(0.5), 1 / 5.5)  # lambda0 / k, k = 1 + 9 p


def test_warm_start_gives_the_same_mask_as_a_cold_start() -> None:
    scores, _, budget = _instance(400, False, 7)
    module = TransportMask(400, budget, 0.05, scores=torch.tensor(scores), dtype=torch.float64)
    first = module().detach()
    assert math.isfinite(module.threshold)
    module.reg = 0.02  # the previous threshold is now only a start
    warm = module().detach()
    cold, _ = transport_mask(torch.tensor(scores), budget, 0.02)
    torch.testing.assert_close(warm, cold, atol=1e-12, rtol=0)
    assert not torch.equal(first, warm)


def test_full_budget_keeps_everything_with_zero_gradient() -> None:
    s = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    mask, tau = transport_mask(s, 3, 0.1)
    mask.sum().backward()
    assert mask.tolist() == [1.0, 1.0, 1.0] and tau == -math.inf
    assert s.grad is not None and s.grad.abs().max() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 0}, "budget: must be a number in (0, 4] (the kept mass); got 0.0."),
        ({"budget": 5}, "budget: must be a number in (0, 4] (the kept mass); got 5.0."),
        ({"reg": 0.0}, "reg: must be a finite number > 0; got 0.0."),
        ({"reg_type": "kl"}, "reg_type: must be one of entropy, l2; got 'kl'."),
        ({"weights": torch.tensor([1.0, 0.0, 1.0, 1.0])}, "weights: must be finite and > 0"),
    ],
    ids=["budget-zero", "budget-above", "reg-zero", "reg-type", "weights-zero"],
)
def test_bad_input_names_the_field(kwargs: dict, message: str) -> None:
    args = {"budget": 2, "reg": 0.1, **kwargs}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        TransportMask(4, args.pop("budget"), args.pop("reg"), **args)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_backward_equal_cpu() -> None:
    scores, _, budget = _instance(10_000, False, 8)
    cpu = TransportMask(10_000, budget, 0.05, scores=torch.tensor(scores), dtype=torch.float64)
    gpu = TransportMask(
        10_000, budget, 0.05, scores=torch.tensor(scores), dtype=torch.float64, device="cuda"
    )
    for module in (cpu, gpu):
        (
            module()
            * torch.linspace(0, 1, 10_000, dtype=torch.float64, device=module.scores.device)
        ).sum().backward()
    torch.testing.assert_close(gpu().detach().cpu(), cpu().detach(), atol=1e-12, rtol=0)
    torch.testing.assert_close(gpu.scores.grad.cpu(), cpu.scores.grad, atol=1e-10, rtol=0)
