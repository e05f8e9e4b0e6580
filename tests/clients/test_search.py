"""search() on real models, the evaluator against the plain apply-and-forward path, and
profile's curves unchanged by the evaluator (against the pre-evaluator algorithm, kept here)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from pruneplan.clients.demo._digits import DigitsCNN  # noqa: E402
from pruneplan.clients.torch import (  # noqa: E402
    DEFAULT_LEVELS,
    apply,
    distortion,
    loss_increase,
    problem_for,
    profile,
    relative_budget,
    search,
)
from pruneplan.clients.torch._context import frozen, prune_target, pruned_to  # noqa: E402
from pruneplan.clients.torch._evaluator import Evaluator, channels_last  # noqa: E402
from pruneplan.clients.torch._layers import effective_weight, find_layers, kept_count  # noqa: E402
from pruneplan.clients.torch._masks import topk_mask  # noqa: E402
from pruneplan.clients.torch._metrics import measure, reference_outputs  # noqa: E402
from pruneplan.clients.torch._search import _Curves, _drive, _split  # noqa: E402
from pruneplan.solver import AllocationProblem, allocate  # noqa: E402

from ._models import mlp, tiny_cnn  # noqa: E402

LEVELS = tuple(i / 16 for i in range(16))


def plain_curves(
    model: nn.Module,
    batches: Sequence[torch.Tensor],
    levels: Sequence[float],
    metric: str,
    around: Mapping[str, float] | None = None,
) -> dict[str, list[float]]:
    """profile's curves the way it measured them before the evaluator: a sort per level, one
    full forward pass per level and batch."""
    out = {}
    with frozen(model):
        ref = reference_outputs(model, batches)
        found = find_layers(model)
        for layer in found:
            others = {n: s for n, s in (around or {}).items() if n != layer.name}
            with pruned_to(found, others):
                offset = measure(model, batches, ref, metric, None) if others else 0.0
                target = prune_target(layer.module)
                saved = target.detach().clone()
                weight = effective_weight(layer.module)
                mask = getattr(layer.module, "weight_mask", None)
                current = layer.size if mask is None else int(torch.count_nonzero(mask))
                curve = []
                for level in levels:
                    kept = kept_count(layer.size, level)
                    if kept >= current:
                        curve.append(0.0)
                        continue
                    target.mul_(topk_mask(weight, kept, mask).to(target.dtype))
                    curve.append(max(0.0, measure(model, batches, ref, metric, None) - offset))
                    target.copy_(saved)
            out[layer.name] = curve
    return out


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(model: nn.Module, before: Mapping[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, rtol=0, atol=0)


@pytest.fixture
def digits_batches() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return [torch.rand(32, 1, 8, 8, generator=gen) for _ in range(2)]


# -- profile through the evaluator ---------------------------------------------------------------


@pytest.mark.parametrize("metric", ["kl", "mse", "worst"])
def test_profile_curves_unchanged_on_digits_cnn(
    digits_batches: list[torch.Tensor], metric: str
) -> None:
    torch.manual_seed(0)
    model = DigitsCNN()
    before = state(model)
    reference = plain_curves(model, digits_batches, DEFAULT_LEVELS, metric)
    profiles = profile(model, digits_batches, levels=DEFAULT_LEVELS, metric=metric, progress=False)
    for p in profiles:
        np.testing.assert_allclose(p.loss, reference[p.name], rtol=2e-4, atol=1e-10)
    assert_same_state(model, before)


def test_profile_curves_unchanged_around_a_plan_and_on_a_pruned_model(
    digits_batches: list[torch.Tensor],
) -> None:
    torch.manual_seed(1)
    model = DigitsCNN()
    names = [layer.name for layer in find_layers(model)]
    around = dict(zip(names, (0.3, 0.5, 0.7, 0.6, 0.2), strict=True))
    reference = plain_curves(model, digits_batches, DEFAULT_LEVELS, "kl", around)
    got = profile(model, digits_batches, levels=DEFAULT_LEVELS, metric="kl", progress=False,
                  around=around)  # fmt: skip
    for p in got:
        np.testing.assert_allclose(p.loss, reference[p.name], rtol=2e-4, atol=1e-10)
    profiles = profile(model, digits_batches, levels=DEFAULT_LEVELS, progress=False)
    apply(model, allocate(problem_for(model, profiles, relative_budget(profiles, {"params": 0.6}))))
    before = state(model)
    reference = plain_curves(model, digits_batches, DEFAULT_LEVELS, "mse")
    for p in profile(model, digits_batches, levels=DEFAULT_LEVELS, progress=False):
        np.testing.assert_allclose(p.loss, reference[p.name], rtol=2e-4, atol=1e-10)
    assert_same_state(model, before)


class Tied(nn.Module):
    """An embedding whose weight is the output layer's (a language model's tying)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(12, 8)
        self.mix = nn.Linear(8, 8)
        self.head = nn.Linear(8, 12, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.mix(self.embed(tokens))))


class InPlace(nn.Module):
    """A prefix output changed in place after the pruned layer, and one module called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.act = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.a(x))
        y = self.act(self.b(h))
        h.add_(y)  # the recorded h changes: the replay must not reuse it
        return h * 2.0


@pytest.mark.parametrize(
    ("model", "batches"),
    [
        (Tied, [torch.randint(0, 12, (16, 5), generator=torch.Generator().manual_seed(4))]),
        (InPlace, [torch.randn(16, 6, generator=torch.Generator().manual_seed(5))] * 2),
    ],
    ids=["tied-weights", "in-place"],
)
def test_replay_falls_back_where_it_would_be_wrong(
    model: type[nn.Module], batches: list[torch.Tensor]
) -> None:
    torch.manual_seed(2)
    net = model()
    reference = plain_curves(net, batches, LEVELS, "mse")
    for p in profile(net, batches, levels=LEVELS, progress=False):
        np.testing.assert_allclose(p.loss, reference[p.name], rtol=2e-4, atol=1e-10)
    assert any(max(curve) > 0 for curve in reference.values())


# -- the evaluator ---------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["kl", "mse", "worst"])
def test_evaluator_equals_apply_and_forward(images: list[torch.Tensor], metric: str) -> None:
    model = tiny_cnn().eval()
    rng = np.random.default_rng(0)
    with frozen(model):
        layers = find_layers(model)
        evaluator = Evaluator(model, layers, images, metric)
        dense = [model(x) for x in images]
    before = state(model)
    problem = AllocationProblem(profile(model, images[:1], levels=LEVELS, progress=False), {})
    template = allocate(replace(problem, budget={"params": 1e9}))
    for _ in range(4):
        sparsity = {layer.name: float(rng.choice(LEVELS)) for layer in layers}
        indices = sorted(rng.choice(len(images), size=int(rng.integers(1, 3)), replace=False))
        with frozen(model):
            got = evaluator.measure(sparsity, indices)
        pruned = copy.deepcopy(model)
        apply(pruned, replace(template, sparsity=sparsity))
        with torch.no_grad():
            outs = [pruned.eval()(images[i]) for i in indices]
        expected = distortion(outs, [dense[i] for i in indices], metric)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-15)
        assert_same_state(model, before)
    assert evaluator.forwards >= len(images)


def test_channels_last_copies_conv_weights_and_puts_the_originals_back() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                          nn.Conv2d(4, 4, 3, padding=1))  # fmt: skip
    model[2].weight = model[0].weight  # one Parameter in two modules: swapped once
    torch.nn.utils.prune.identity(model[3], "weight")  # weight_orig and a weight_mask
    tensors = dict([*model.named_parameters(), *model.named_buffers()])
    data = {n: (t.data_ptr(), t.stride()) for n, t in tensors.items()}
    x = torch.rand(2, 4, 6, 6, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        dense = model(x)
        with channels_last(model):
            for t in (model[0].weight, model[3].weight_orig, model[3].weight_mask):
                assert t.is_contiguous(memory_format=torch.channels_last)
                assert not t.is_contiguous()
            assert model[0].weight.data_ptr() != data["0.weight"][0]
            fast = model(x)
            model[3].weight_mask.zero_()  # in-place pruning lands on the copy
    assert {n: (t.data_ptr(), t.stride()) for n, t in tensors.items()} == data
    assert int(torch.count_nonzero(model[3].weight_mask)) == model[3].weight_mask.numel()
    torch.testing.assert_close(fast, dense, rtol=1e-5, atol=1e-5)
    a, b = nn.Conv2d(2, 2, 3), nn.Conv2d(2, 2, 3)
    b.weight = nn.Parameter(a.weight.data[:])  # another tensor on the same storage
    with channels_last(nn.Sequential(a, b)):
        assert a.weight.data_ptr() == b.weight.data_ptr()  # left alone: still tied
        assert a.weight.is_contiguous()


# -- search ----------------------------------------------------------------------------------


def mlp_setup(n_batches: int = 8) -> tuple[nn.Module, list[torch.Tensor], AllocationProblem]:
    model = mlp(0).eval()
    gen = torch.Generator().manual_seed(7)
    calib = [torch.randn(16, 16, generator=gen) for _ in range(n_batches)]
    profiles = profile(model, calib[:4], levels=LEVELS, metric="kl", progress=False)
    budget = relative_budget(profiles, {"params": 0.3, "flops": 0.35})
    return model, calib, problem_for(model, profiles, budget)


def usage(problem: AllocationProblem, level_index: Mapping[str, int]) -> dict[str, float]:
    return {
        r: sum(float(p.costs[r][level_index[p.name]]) for p in problem.layers)
        for r in problem.budget
    }


@pytest.fixture(scope="module")
def mlp_search() -> Iterator[tuple[nn.Module, list[torch.Tensor], AllocationProblem, object]]:
    model, calib, problem = mlp_setup()
    before = state(model)
    result = search(model, problem, calib, evaluations=60, progress=False, seed=1)
    assert_same_state(model, before)
    yield model, calib, problem, result


def test_every_candidate_meets_every_budget(mlp_search: tuple) -> None:  # type: ignore[type-arg]
    model, calib, problem, result = mlp_search
    from pruneplan.solver.search import SearchOptions, SearchSession, SearchState

    session = SearchSession(problem, SearchOptions(evaluations=60, samples=(1, 2, 6), seed=1))
    with frozen(model):
        evaluator = Evaluator(model, find_layers(model), calib, "kl")
        asked = 0
        while session.state is SearchState.RUNNING:
            batch = session.ask(64)
            for c in batch:
                got = usage(problem, c.level_index)
                for r, b in problem.budget.items():
                    assert got[r] <= b * (1 + 1e-9), (c.candidate_id, r, got[r], b)
            session.tell([(c.candidate_id, evaluator.measure(c.sparsity), c.samples)
                          for c in batch])  # fmt: skip
            asked += len(batch)
    assert asked > 20
    for r, b in problem.budget.items():
        assert usage(problem, result.level_index)[r] <= b * (1 + 1e-9)
    assert set(problem.budget) == {"params", "flops"}


def test_never_worse_than_the_start_where_measured(mlp_search: tuple) -> None:  # type: ignore[type-arg]
    model, calib, problem, result = mlp_search
    assert result.method == "search"
    assert result.evaluations > 0 and result.evaluations <= 60
    assert result.holdout <= result.start_holdout  # the final pick is on the held-out batches
    assert result.measured <= result.start_measured  # finalists beat the start where searched
    start = allocate(problem)
    with frozen(model):
        evaluator = Evaluator(model, find_layers(model), calib, "kl")
        # the reported numbers are the evaluator's on the two parts (2 of 8 batches held out)
        measured = [evaluator.measure(result.sparsity, [i]) for i in range(len(calib))]
        start_measured = [evaluator.measure(start.sparsity, [i]) for i in range(len(calib))]
    total = evaluator.measure(result.sparsity)
    np.testing.assert_allclose(np.mean(measured), total, rtol=1e-9)
    searched, held = _split(len(calib), 0.25, 1)
    assert len(held) == 2 and sorted(searched + held) == list(range(8))
    # equal batch sizes: the KL over batches is the mean of the per-batch KLs
    np.testing.assert_allclose(result.measured, np.mean([measured[i] for i in searched]))
    np.testing.assert_allclose(result.holdout, np.mean([measured[i] for i in held]))
    np.testing.assert_allclose(
        result.start_measured, np.mean([start_measured[i] for i in searched])
    )
    np.testing.assert_allclose(result.start_holdout, np.mean([start_measured[i] for i in held]))
    no_holdout = search(model, problem, calib, evaluations=40, progress=False, holdout=0.0)
    assert no_holdout.measured <= no_holdout.start_measured
    assert np.isnan(no_holdout.holdout)


def test_task_metric_and_errors() -> None:
    model, calib, problem = mlp_setup(6)
    gen = torch.Generator().manual_seed(8)
    labelled = [(x, torch.randint(0, 4, (len(x),), generator=gen)) for x in calib]
    drop = loss_increase(lambda out, y: -(out.argmax(1) == y).double().mean())
    result = search(model, problem, labelled, evaluations=30, metric=drop, progress=False)
    assert result.holdout <= result.start_holdout
    with pytest.raises(ValueError, match="holdout"):
        search(model, problem, calib, holdout=1.0, progress=False)
    with pytest.raises(ValueError, match=r"calib: holdout 0\.5 of 1 batch"):
        search(model, problem, calib[:1], holdout=0.5, progress=False)
    other = nn.Sequential(nn.Linear(16, 4))
    with pytest.raises(ValueError, match=r"problem\.layers"):
        search(other, problem, calib, progress=False)


def test_in_process_and_over_a_server_give_the_same_plan(tmp_path: Path) -> None:
    from pruneplan.clients import Client
    from pruneplan.service.server import ServerConfig, create_server

    model, calib, problem = mlp_setup(6)
    local = search(model, problem, calib, evaluations=30, progress=False, seed=3)
    server, port = create_server(ServerConfig(db=tmp_path / "plans.db", workers=2, grace_s=1.0))
    try:
        with Client(f"127.0.0.1:{port}", timeout=60.0) as client:
            remote = search(model, problem, calib, evaluations=30, progress=False, seed=3,
                            client=client)  # fmt: skip
    finally:
        server.stop(0).wait(30)
    assert remote.search_id and not local.search_id
    assert dict(remote.level_index) == dict(local.level_index)
    assert (remote.measured, remote.holdout, remote.evaluations) == (
        local.measured,
        local.holdout,
        local.evaluations,
    )


def test_curves_told_around_new_incumbents_drive_curves_proposals() -> None:
    from pruneplan.solver.search import SearchOptions, SearchSession

    model, calib, problem = mlp_setup()
    opts = SearchOptions(evaluations=90, samples=(1, 2, 6), seed=1)

    def run(reprofile: bool) -> tuple[SearchSession, _Curves]:
        session = SearchSession(problem, opts)
        with frozen(model):
            layers = find_layers(model)
            curves = _Curves(problem, Evaluator(model, layers, calib[:1], "kl"))
            evaluator = Evaluator(model, layers, calib[:6], "kl")
            _drive(session, evaluator, range(6), opts, False, curves if reprofile else None)
        return session, curves

    plain, _ = run(False)
    assert plain.to_dict()["curves"] is None
    assert "curves" not in {r.candidate.mode for r in plain.history}
    session, curves = run(True)
    assert "curves" in {r.candidate.mode for r in session.history}
    generations = opts.evaluations // sum(opts.candidates)
    assert 1 <= len(curves.seen) <= generations
    start = allocate(problem)
    incumbents = {tuple(sorted(r.candidate.level_index.items())): r.candidate.sparsity
                  for r in session.history if r.incumbent}  # fmt: skip
    incumbents[tuple(sorted(start.level_index.items()))] = start.sparsity
    assert curves.seen <= set(incumbents)
    # the latest curves are profile's around one of the incumbents, on the first stage's batch
    told = session.to_dict()["curves"]
    matches = []
    for key in curves.seen:
        got = profile(model, calib[:1], levels=LEVELS, metric="kl", progress=False,
                      around=dict(incumbents[key]))  # fmt: skip
        matches.append(all(np.array_equal(told[p.name], p.loss) for p in got))
    assert matches.count(True) >= 1
