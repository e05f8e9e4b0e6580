"""Structured pruning: coupled groups, exact costs, soft vs physical pruning, heads, latency."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from torch import nn  # noqa: E402

from pruneplan.clients.torch import (  # noqa: E402
    ChannelGraph,
    ChannelPlan,
    channel_graph,
    channel_importance,
    latency_tables,
    load_history,
    measure_model,
    mobilenet_v2,
    plan_channels,
    problem_for_channels,
    prune_channels,
    rebuild,
    save_history,
    structured_report,
)
from pruneplan.solver import SelectionProblem, solve  # noqa: E402

torch.set_num_threads(1)

METHODS = ("exact", "global_threshold", "greedy", "uniform")


class Block(nn.Module):
    def __init__(self, c: int, inner: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, inner, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = nn.Conv2d(inner, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class ResCNN(nn.Module):
    """Stem, two residual blocks (the stream is one coupled group), pool, two linears."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.b1 = Block(8, 12)
        self.b2 = Block(8, 6)
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.b2(self.b1(torch.relu(self.bn(self.stem(x)))))
        return self.fc2(torch.relu(self.fc1(x.mean((2, 3)))))


def res_cnn(seed: int = 0) -> ResCNN:
    torch.manual_seed(seed)
    model = ResCNN()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return model.eval()


class Attention(nn.Module):
    """Multi-head self-attention whose head count follows the projection width."""

    def __init__(self, d: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.q = nn.Linear(d, heads * head_dim)
        self.k = nn.Linear(d, heads * head_dim)
        self.v = nn.Linear(d, heads * head_dim)
        self.o = nn.Linear(heads * head_dim, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        h = self.q.out_features // self.head_dim

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, h, self.head_dim).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / self.head_dim**0.5, -1) @ v
        return self.o(att.transpose(1, 2).reshape(b, t, h * self.head_dim))


class Encoder(nn.Module):
    """Embedding, one pre-norm-free encoder layer (4 heads of 4, MLP of 32), mean pool, head."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Linear(6, 16)
        self.attn = Attention(16, 4, 4)
        self.ln1 = nn.LayerNorm(16)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 16)
        self.ln2 = nn.LayerNorm(16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.emb(x)
        x = self.ln1(x + self.attn(x))
        x = self.ln2(x + self.fc2(torch.relu(self.fc1(x))))
        return self.head(x.mean(1))


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(3))


@pytest.fixture
def graph(images: torch.Tensor) -> ChannelGraph:
    return channel_graph(res_cnn(), images)


def pruned_pair(
    model: nn.Module, example: torch.Tensor, plan: ChannelPlan
) -> tuple[nn.Module, nn.Module]:
    soft, physical = copy.deepcopy(model), copy.deepcopy(model)
    prune_channels(soft, example, plan, physical=False)
    prune_channels(physical, example, plan)
    return soft, physical


def test_groups_follow_the_dependency_graph(graph: ChannelGraph) -> None:
    assert graph.names == ["stem", "b1.conv1", "b2.conv1", "fc1"]
    stream = graph.group("stem")
    coupled = {(m.module, m.dim) for m in stream.members}
    assert {("stem", "out"), ("b1.conv2", "out"), ("b2.conv2", "out"), ("b1.conv1", "in")} <= (
        coupled
    )
    assert [g.size for g in graph.groups] == [8, 12, 6, 16]
    dense = measure_model(graph.model, graph.example, latency=False)
    np.testing.assert_allclose(
        [graph.dense["params"], graph.dense["flops"]], [dense.params, dense.flops]
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fraction", [0.5, 0.3])
def test_physical_equals_soft_and_the_plan(
    graph: ChannelGraph, images: torch.Tensor, method: str, fraction: float
) -> None:
    budget = {"flops": fraction * graph.dense["flops"]}
    plan = plan_channels(graph, [images], budget, method=method)
    assert plan.feasible
    assert plan.usage["flops"] <= budget["flops"] * (1 + 1e-9)
    soft, physical = pruned_pair(graph.model, images, plan)
    with torch.no_grad():
        torch.testing.assert_close(physical(images), soft(images), rtol=1e-5, atol=1e-5)
    cost = measure_model(physical, images, latency=False)
    np.testing.assert_allclose(
        [cost.flops, cost.params], [plan.usage["flops"], plan.usage["params"]]
    )
    kept = sum(int(m.sum()) for m in plan.masks.values())
    assert kept < sum(g.size for g in graph.groups)


def test_exact_fills_the_flops_budget(graph: ChannelGraph, images: torch.Tensor) -> None:
    budget = {"flops": 0.5 * graph.dense["flops"]}
    plan = plan_channels(graph, [images], budget, importance="activation")
    assert 0.97 * budget["flops"] <= plan.usage["flops"] <= budget["flops"]
    assert len(plan.rounds) >= 1


def test_coupled_layers_lose_the_same_indices(graph: ChannelGraph, images: torch.Tensor) -> None:
    plan = plan_channels(graph, [images], {"flops": 0.4 * graph.dense["flops"]})
    gone = plan.removed["stem"]
    assert gone, "the stream keeps everything at 40% of the FLOPs"
    kept = [i for i in range(8) if i not in gone]
    dense = graph.model
    soft, physical = pruned_pair(dense, images, plan)
    for name in ("stem", "b1.conv2", "b2.conv2"):
        w = soft.get_submodule(name).weight
        torch.testing.assert_close(w[gone], torch.zeros_like(w[gone]))
        assert physical.get_submodule(name).out_channels == len(kept)
    assert physical.fc1.in_features == len(kept)
    inner = [i for i in range(12) if i not in plan.removed["b1.conv1"]]
    torch.testing.assert_close(physical.b1.conv1.weight, dense.b1.conv1.weight[inner][:, kept])
    torch.testing.assert_close(physical.bn.weight, dense.bn.weight[kept])
    torch.testing.assert_close(soft.b1.conv1.weight[:, gone], torch.zeros(12, len(gone), 3, 3))


def test_history_rebuilds_from_the_dense_checkpoint(
    graph: ChannelGraph, images: torch.Tensor, tmp_path: Path
) -> None:
    plan = plan_channels(graph, [images], {"params": 0.5 * graph.dense["params"]})
    physical = copy.deepcopy(graph.model)
    history = prune_channels(physical, images, plan)
    path = save_history(history, tmp_path / "history.json")
    assert json.loads(path.read_text()) == history
    fresh = rebuild(res_cnn(seed=5), images, load_history(path))
    fresh.load_state_dict(physical.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(images), physical(images))


def test_report_puts_the_physical_model_next_to_the_plan(
    graph: ChannelGraph, images: torch.Tensor
) -> None:
    plan = plan_channels(graph, [images], {"flops": 0.5 * graph.dense["flops"]})
    physical = copy.deepcopy(graph.model)
    prune_channels(physical, images, plan)
    report = structured_report(graph.model, physical, images, plan)
    np.testing.assert_allclose(report.pruned.flops, report.planned["flops"])
    assert report.pruned.params < report.dense.params
    assert report.speedup is not None and report.speedup > 0


def test_transformer_heads_and_mlp_neurons() -> None:
    torch.manual_seed(0)
    model = Encoder().eval()
    tokens = torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(4))
    graph = channel_graph(model, tokens, ignored=["emb"], heads={"attn.q": 4})
    assert graph.names == ["attn.q", "fc1"]
    assert [g.size for g in graph.groups] == [4, 32]  # 4 heads, 32 neurons
    plan = plan_channels(graph, [tokens], {"flops": 0.5 * graph.dense["flops"]})
    heads = int(plan.masks["attn.q"].sum())
    soft, physical = pruned_pair(model, tokens, plan)
    with torch.no_grad():
        torch.testing.assert_close(physical(tokens), soft(tokens), rtol=1e-5, atol=1e-5)
    assert physical.attn.q.out_features == physical.attn.v.out_features == 4 * heads
    assert physical.attn.o.in_features == 4 * heads
    assert physical.fc1.out_features == int(plan.masks["fc1"].sum())
    cost = measure_model(physical, tokens, latency=False)
    np.testing.assert_allclose(cost.flops, plan.usage["flops"])


def test_mobilenet_v2_depthwise_groups() -> None:
    model = mobilenet_v2(num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    graph = channel_graph(model, x)
    plan = plan_channels(graph, [x], {"flops": 0.5 * graph.dense["flops"]}, rounds=1)
    physical = copy.deepcopy(model)
    prune_channels(physical, x, plan)
    cost = measure_model(physical, x, latency=False)
    np.testing.assert_allclose(
        [cost.flops, cost.params], [plan.usage["flops"], plan.usage["params"]]
    )
    assert cost.flops <= 0.5 * graph.dense["flops"]
    with torch.no_grad():
        assert physical(x).shape == (1, 10)


@pytest.mark.parametrize("kind", ["l1", "l2", "bn", "activation", "taylor"])
def test_importance_per_item(graph: ChannelGraph, images: torch.Tensor, kind: str) -> None:
    if kind == "bn":  # fc1 has no BatchNorm
        graph = channel_graph(graph.model, images, ignored=["fc1"])
    targets = torch.tensor([0, 1, 2, 3])
    batches = [(images, targets)] if kind == "taylor" else [images]
    values = channel_importance(graph, batches, kind)
    assert list(values) == graph.names
    for g in graph.groups:
        assert values[g.name].shape == (g.size,)
        assert np.all(values[g.name] >= 0) and np.any(values[g.name] > 0)
    if kind == "l1":  # b1.conv1's filters and b1.conv2's input columns
        m = graph.model.b1
        expected = m.conv1.weight.abs().sum((1, 2, 3)) + m.conv2.weight.abs().sum((0, 2, 3))
        np.testing.assert_allclose(values["b1.conv1"], expected.detach().double().numpy())
    if kind == "bn":
        np.testing.assert_allclose(
            values["b1.conv1"], graph.model.b1.bn1.weight.detach().abs().double().numpy()
        )


def test_latency_tables_are_cached(
    graph: ChannelGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "latency.json"
    table = latency_tables(graph, widths=3, cache=path, progress=False)
    for g in graph.groups:
        t = table.tables[g.name]
        assert t.shape == (g.size + 1,) and t[0] == 0.0 and np.all(t[1:] > 0)

    def fail(*args: object, **kwargs: object) -> float:
        raise AssertionError("timed again despite the cache")

    monkeypatch.setattr("pruneplan.clients.torch._latency_tables.time_ms", fail)
    again = latency_tables(graph, widths=3, cache=path, progress=False)
    for name, t in table.tables.items():
        np.testing.assert_allclose(again.tables[name], t)
    smallest = table.usage(dict.fromkeys(graph.names, 1))  # every group at one item: feasible
    budget = {"latency_ms": 1.001 * smallest, "flops": graph.dense["flops"]}
    plan = plan_channels(graph, [], budget, latency=table, importance="l2")
    assert plan.feasible
    assert plan.usage["latency_ms"] <= budget["latency_ms"] * (1 + 1e-9)
    assert plan.usage["flops"] <= budget["flops"]


def test_solves_through_the_generic_solve(graph: ChannelGraph, images: torch.Tensor) -> None:
    budget = {"flops": 0.5 * graph.dense["flops"]}
    problem = problem_for_channels(graph, [images], budget)
    assert isinstance(problem, SelectionProblem)
    assert [g.name for g in problem.groups] == graph.names
    via_solve = plan_channels(graph, [images], budget, solve=lambda p: solve(p, method="exact"))
    direct = plan_channels(graph, [images], budget)
    for name in graph.names:
        np.testing.assert_array_equal(via_solve.masks[name], direct.masks[name])


def test_bad_input(graph: ChannelGraph, images: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"budget: resource 'memory' must be one of"):
        problem_for_channels(graph, [images], {"memory": 1.0})
    with pytest.raises(ValueError, match=r"latency_tables"):
        problem_for_channels(graph, [images], {"latency_ms": 1.0})
    fixed_fc = channel_graph(graph.model, images, ignored=["fc1"])  # fc2 costs 160 FLOPs
    with pytest.raises(ValueError, match=r"budget\['flops'\]: must exceed 160, the cost no"):
        problem_for_channels(fixed_fc, [images], {"flops": 100.0})
    infeasible = plan_channels(graph, [images], {"flops": 1.0})
    assert not infeasible.feasible and infeasible.result.status.name == "INFEASIBLE"
    with pytest.raises(ValueError, match=r"plan: is INFEASIBLE"):
        prune_channels(copy.deepcopy(graph.model), images, infeasible)
    with pytest.raises(ValueError, match=r"importance: must be one of"):
        channel_importance(graph, [images], "hessian")
    with pytest.raises(ValueError, match=r"importance\['stem'\]: must have shape \(8,\)"):
        problem_for_channels(graph, [], {"flops": 1e9}, importance={n: [1.0] for n in graph.names})
    with pytest.raises(ValueError, match=r"importance 'taylor': batches must be"):
        channel_importance(graph, [images], "taylor")
    with pytest.raises(ValueError, match=r"importance 'bn': group 'fc1' has no"):
        channel_importance(graph, [images], "bn")
    model = copy.deepcopy(graph.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"group 'nope' is not a Conv/Linear"):
        prune_channels(model, images, {"stem": [0], "nope": [1]})
    with pytest.raises(ValueError, match=r"plan\['stem'\]: removed channels must be distinct"):
        prune_channels(model, images, {"b1.conv1": [0], "stem": [9]})
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
