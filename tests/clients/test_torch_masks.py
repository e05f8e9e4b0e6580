"""Masks from a plan: invariants, exact kept counts, fingerprint and size checks, rollback,
composition."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from torch.nn.utils import prune  # noqa: E402

from pruneplan.clients.torch import (  # noqa: E402
    PlanMismatchError,
    apply,
    finalize,
    find_layers,
    fingerprint,
    problem_for,
)
from pruneplan.solver import (  # noqa: E402
    AllocationProblem,
    AllocationResult,
    LayerProfile,
    Status,
    allocate,
)

from ._models import TinyCNN, mlp  # noqa: E402


def plan(
    model: torch.nn.Module, sparsity: dict[str, float], fp: str | None = None
) -> AllocationResult:
    """A hand-made plan for ``model`` (as a solver would return it)."""
    return AllocationResult(
        status=Status.FEASIBLE,
        level_index={name: 0 for name in sparsity},
        sparsity=sparsity,
        objective=0.0,
        lower_bound=0.0,
        gap=0.0,
        usage={},
        limit={},
        method="test",
        solve_time_s=0.0,
        fingerprint=fingerprint(model) if fp is None else fp,
    )


SPARSITY = {"conv1.weight": 0.5, "conv2.weight": 0.3, "fc1.weight": 0.9, "fc2.weight": 0.0}


def test_mask_invariants(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    apply(cnn, plan(cnn, SPARSITY))
    for layer in find_layers(cnn):
        module = layer.module
        assert module.weight_mask.shape == module.weight_orig.shape
        torch.testing.assert_close(module.weight, module.weight_orig * module.weight_mask)
    cnn(images[0]).square().sum().backward()
    for layer in find_layers(cnn):
        grad = layer.module.weight_orig.grad
        torch.testing.assert_close(grad * (1 - layer.module.weight_mask), torch.zeros_like(grad))


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.37, 0.5, 0.999, 1.0], ids=lambda s: f"s{s}")
def test_kept_counts_equal_the_plan(cnn: TinyCNN, sparsity: float) -> None:
    report = apply(cnn, plan(cnn, dict.fromkeys(SPARSITY, sparsity)))
    for row in report.layers:
        expected = round(row.size * (1 - sparsity))
        assert row.kept == expected
        mask = dict(cnn.named_buffers())[row.name.removesuffix(".weight") + ".weight_mask"]
        assert int(mask.sum()) == expected
    assert report.params == sum(r.kept for r in report.layers)


def test_ties_break_to_lower_index() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 2.0, 2.0, 2.0]]))
    apply(model, plan(model, {"0.weight": 0.5}))
    torch.testing.assert_close(model[0].weight_mask, torch.tensor([[0.0, 1.0, 1.0, 0.0]]))


def test_all_ones_mask_changes_nothing(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    cnn.eval()
    before = cnn(images[0])
    apply(cnn, plan(cnn, dict.fromkeys(SPARSITY, 0.0)))
    torch.testing.assert_close(cnn(images[0]), before, rtol=0, atol=0)


def test_state_dict_round_trip(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    apply(cnn, plan(cnn, SPARSITY))
    cnn.eval()
    other = TinyCNN()
    apply(other, plan(other, dict.fromkeys(SPARSITY, 0.0)))  # same reparametrisation
    other.load_state_dict(cnn.state_dict())
    other.eval()
    torch.testing.assert_close(other(images[0]), cnn(images[0]))


def test_finalize_keeps_outputs(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    apply(cnn, plan(cnn, SPARSITY))
    cnn.eval()
    before = cnn(images[0])
    assert finalize(cnn) == list(SPARSITY)
    assert not any(name.endswith(("_orig", "_mask")) for name in cnn.state_dict())
    torch.testing.assert_close(cnn(images[0]), before)
    zeros = int((cnn.fc1.weight == 0).sum())
    assert zeros >= round(cnn.fc1.weight.numel() * 0.9)


def test_wrong_model_refused(cnn: TinyCNN) -> None:
    other = mlp()
    wrong = plan(other, {"0.weight": 0.5})
    with pytest.raises(PlanMismatchError, match=f"{fingerprint(other)}.*{fingerprint(cnn)}"):
        apply(cnn, wrong)
    assert not any(layer.pruned for layer in find_layers(cnn))


def hand_built(model: torch.nn.Module, sizes: dict[str, int] | None = None) -> AllocationProblem:
    """A problem built by hand (no fingerprint), one layer per prunable weight of ``model``."""
    layers = [
        LayerProfile(
            layer.name,
            [0.0, 0.5, 0.75],
            [0.0, 1.0, 3.0],
            (sizes or {}).get(layer.name, layer.size),
        )
        for layer in find_layers(model)
    ]
    return AllocationProblem(layers, {"params": 0.5 * sum(p.size for p in layers)})


def test_plan_without_fingerprint_accepted_when_layers_match(cnn: TinyCNN) -> None:
    problem = hand_built(cnn)
    result = allocate(problem)
    assert result.fingerprint == ""
    report = apply(cnn, result, problem=problem)
    assert [r.name for r in report.layers] == [p.name for p in problem.layers]
    for row in report.layers:
        assert row.kept == round(row.size * (1 - result.sparsity[row.name]))
    assert report.params <= problem.budget["params"]
    other = TinyCNN()
    again = apply(other, result)  # without the problem: checked by the names alone
    assert [r.kept for r in again.layers] == [r.kept for r in report.layers]


def test_plan_without_fingerprint_refused_when_a_size_differs(cnn: TinyCNN) -> None:
    problem = hand_built(cnn, sizes={"fc1.weight": 1536})
    result = allocate(problem)
    assert result.fingerprint == ""
    with pytest.raises(PlanMismatchError, match=r"'fc1\.weight'.*size 1536.*3072 \(24x128\)"):
        apply(cnn, result, problem=problem)
    assert not any(layer.pruned for layer in find_layers(cnn))
    with pytest.raises(PlanMismatchError, match=r"'fc9\.weight': not a prunable layer"):
        apply(cnn, plan(cnn, {**SPARSITY, "fc9.weight": 0.5}, fp=""))
    assert not any(layer.pruned for layer in find_layers(cnn))


def test_plan_with_another_fingerprint_refused_even_when_sizes_match(cnn: TinyCNN) -> None:
    problem = hand_built(cnn)
    result = replace(allocate(problem), fingerprint="0123456789abcdef")
    with pytest.raises(PlanMismatchError, match=f"'0123456789abcdef'.*{fingerprint(cnn)!r}"):
        apply(cnn, result, problem=problem)
    assert not any(layer.pruned for layer in find_layers(cnn))


def test_unknown_layer_refused_before_any_change(cnn: TinyCNN) -> None:
    state = copy.deepcopy(cnn.state_dict())
    with pytest.raises(PlanMismatchError, match=r"'fc9\.weight'"):
        apply(cnn, plan(cnn, {**SPARSITY, "fc9.weight": 0.5}))
    assert list(cnn.state_dict()) == list(state)


def test_rollback_on_a_failing_layer(
    cnn: TinyCNN, images: list[torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(cnn, plan(cnn, {"conv1.weight": 0.5}))  # one layer already pruned
    cnn.eval()
    before_out = cnn(images[0])
    before = {k: v.clone() for k, v in cnn.state_dict().items()}
    params = {name: id(p) for name, p in cnn.named_parameters()}
    real = prune.custom_from_mask
    calls = []

    def failing(module: torch.nn.Module, name: str, mask: torch.Tensor) -> torch.nn.Module:
        calls.append(module)
        if len(calls) == 3:
            raise RuntimeError("injected failure")
        return real(module, name, mask)

    monkeypatch.setattr(prune, "custom_from_mask", failing)
    with pytest.raises(RuntimeError, match="injected"):
        apply(cnn, plan(cnn, SPARSITY))
    after = cnn.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert {name: id(p) for name, p in cnn.named_parameters()} == params
    torch.testing.assert_close(cnn(images[0]), before_out, rtol=0, atol=0)


def test_second_plan_composes(cnn: TinyCNN) -> None:
    apply(cnn, plan(cnn, {"fc1.weight": 0.5}))
    first = cnn.fc1.weight_mask.clone()
    with torch.no_grad():  # training moves weights: the pruned ones must stay pruned
        cnn.fc1.weight_orig.mul_(-1).add_(torch.randn_like(first))
    report = apply(cnn, plan(cnn, {"fc1.weight": 0.75}))
    second = cnn.fc1.weight_mask
    assert torch.all(second <= first)
    assert report.layers[0].kept == round(first.numel() * 0.25)
    looser = apply(cnn, plan(cnn, {"fc1.weight": 0.2}))  # masks only grow
    assert looser.layers[0].kept == report.layers[0].kept
    assert looser.layers[0].requested == pytest.approx(0.2)


def test_report_flops(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    report = apply(cnn, plan(cnn, SPARSITY), example=images[0])
    fc1 = next(r for r in report.layers if r.name == "fc1.weight")
    assert fc1.dense_flops == pytest.approx(2 * 128 * 24)
    conv2 = next(r for r in report.layers if r.name == "conv2.weight")
    assert conv2.dense_flops == pytest.approx(2 * 6 * 9 * 8 * 64)
    assert conv2.flops == pytest.approx(conv2.dense_flops * conv2.kept / conv2.size)
    assert report.flops == pytest.approx(sum(r.flops for r in report.layers))


def test_problem_for_carries_fingerprint(cnn: TinyCNN) -> None:
    profiles = [LayerProfile("fc2.weight", [0.0, 0.5], [0.0, 1.0], 240)]
    problem = problem_for(cnn, profiles, {"params": 100})
    assert problem.fingerprint == fingerprint(cnn)
    assert fingerprint(torch.nn.DataParallel(cnn)) == fingerprint(cnn)
