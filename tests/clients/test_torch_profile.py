"""Profiling: model left bit-identical, curves, costs, batch and output forms, cache, additivity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scipy.stats import spearmanr  # noqa: E402
from torch import nn  # noqa: E402

from pruneplan.clients.torch import (  # noqa: E402
    apply,
    dense_cost,
    distortion,
    loss_increase,
    problem_for,
    profile,
    relative_budget,
)
from pruneplan.clients.torch import profile as profile_fn  # noqa: E402
from pruneplan.solver import allocate  # noqa: E402

from ._models import TinyCNN, mlp, tiny_cnn  # noqa: E402

LEVELS = [0.0, 0.25, 0.5, 0.75, 0.9, 1.0]


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}


def assert_identical(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key].dtype == value.dtype
        assert torch.equal(after[key], value), key


def test_model_left_bit_identical_and_modes_restored(
    cnn: TinyCNN, images: list[torch.Tensor]
) -> None:
    cnn.fc1.eval()  # mixed modes must come back as they were
    modes = {name: m.training for name, m in cnn.named_modules()}
    before = snapshot(cnn)
    profiles = profile(cnn, images, levels=LEVELS, progress=False, latency=True)
    assert_identical(cnn, before)
    assert {name: m.training for name, m in cnn.named_modules()} == modes
    assert all(p.grad is None for p in cnn.parameters())
    assert [p.name for p in profiles] == [
        "conv1.weight",
        "conv2.weight",
        "fc1.weight",
        "fc2.weight",
    ]


def test_pruned_model_left_bit_identical(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    profiles = profile(cnn, images, levels=LEVELS, progress=False)
    apply(cnn, allocate(problem_for(cnn, profiles, {"params": 1500}), method="milp"))
    before = snapshot(cnn)
    again = profile(cnn, images, levels=LEVELS, progress=False)
    assert_identical(cnn, before)
    for p in again:  # levels the masks already reach cost nothing
        mask = dict(cnn.named_buffers())[p.name + "_mask"]
        reached = np.asarray(p.levels) * p.size <= p.size - int(mask.sum())
        np.testing.assert_allclose(np.asarray(p.loss)[reached], 0.0)


def test_curves_and_costs(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    profiles = profile(cnn, images, levels=LEVELS, progress=False)
    for p in profiles:
        loss = np.asarray(p.loss)
        assert loss[0] == 0.0 and np.all(loss[1:] > 0) and np.all(np.isfinite(loss))
        kept = np.round(p.size * (1 - np.asarray(LEVELS)))
        np.testing.assert_allclose(p.costs["params"], kept)
        np.testing.assert_allclose(p.costs["flops"], p.costs["flops"][0] * kept / p.size)
        mags = np.asarray(p.magnitudes)
        assert mags[0] == 0.0 and np.all(np.diff(mags) >= 0)
    fc1 = profiles[2]
    assert fc1.shape == (24, 128) and fc1.size == 24 * 128
    np.testing.assert_allclose(fc1.costs["flops"][0], 2 * 128 * 24)
    np.testing.assert_allclose(dense_cost(profiles, "params"), sum(p.size for p in profiles))
    np.testing.assert_allclose(
        relative_budget(profiles, {"flops": 0.5})["flops"],
        0.5 * sum(p.costs["flops"][0] for p in profiles),
    )


def test_latency_costs(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    profiles = profile(cnn, images[:1], levels=LEVELS, layers=["fc*"], progress=False, latency=True)
    for p in profiles:
        latency = np.asarray(p.costs["latency_ms"])
        assert latency[-1] == 0.0 and np.all(latency[:-1] > 0)


def test_layer_patterns(cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    names = [p.name for p in profile(cnn, images, levels=LEVELS, layers=["conv*"], progress=False)]
    assert names == ["conv1.weight", "conv2.weight"]
    names = [p.name for p in profile(cnn, images, levels=LEVELS, exclude=["*2.*"], progress=False)]
    assert names == ["conv1.weight", "fc1.weight"]


def test_wrapper_prefixes_stripped(images: list[torch.Tensor]) -> None:
    inner = tiny_cnn()
    wrapped = nn.DataParallel(inner)
    names = [p.name for p in profile(wrapped, images, levels=LEVELS, progress=False)]
    assert names == [p.name for p in profile(inner, images, levels=LEVELS, progress=False)]


class TupleIO(nn.Module):
    """Takes (x, scale) or x=..., scale=...; returns (logits, aux)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = mlp()

    def forward(self, x: torch.Tensor, scale: float = 1.0) -> tuple[torch.Tensor, str]:
        return self.body(x) * scale, "aux"


class LogitsOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = mlp()

    def forward(self, x: torch.Tensor) -> object:
        return type("Out", (), {"logits": self.body(x)})()


def test_batch_and_output_forms(features: list[torch.Tensor]) -> None:
    x = features[0]
    plain = profile(mlp(), [x], levels=LEVELS, progress=False)
    variants = [
        (TupleIO(), [(x,)]),
        (TupleIO(), [{"x": x, "scale": 1.0}]),
        (LogitsOut(), [x]),
    ]
    for model, calib in variants:
        got = profile(model, calib, levels=LEVELS, progress=False)
        assert [p.name for p in got] == [f"body.{p.name}" for p in plain]
        for a, b in zip(got, plain, strict=True):
            np.testing.assert_allclose(a.loss, b.loss, rtol=1e-6)


def test_metrics(features: list[torch.Tensor]) -> None:
    model = mlp()
    mse = profile(model, features, levels=LEVELS, progress=False)
    worst = profile(model, features, levels=LEVELS, metric="worst", progress=False)
    kl = profile(
        model,
        features,
        levels=LEVELS,
        metric=lambda out, ref: torch.nn.functional.kl_div(
            out.log_softmax(-1), ref.log_softmax(-1), log_target=True, reduction="batchmean"
        ),
        progress=False,
    )
    for a, b, c in zip(mse, worst, kl, strict=True):
        assert np.all(np.asarray(b.loss) >= np.asarray(a.loss) - 1e-12)
        assert np.all(np.asarray(c.loss) >= 0)
    with pytest.raises(ValueError, match="metric"):
        profile(model, features, metric="mae", progress=False)


def test_kl_metric_by_hand() -> None:
    gen = torch.Generator().manual_seed(3)
    ref = [torch.randn(2, 3, 5, generator=gen), torch.randn(4, 3, 5, generator=gen)]
    out = [r + 0.3 * torch.randn(r.shape, generator=gen) for r in ref]
    assert distortion(ref, ref, "kl") == 0.0
    rows = []  # every (sample, position) row of the last dimension counts once
    for o, r in zip(out, ref, strict=True):
        p, q = torch.softmax(r.double(), -1), torch.softmax(o.double(), -1)
        rows.append(torch.sum(p * torch.log(p / q), -1).flatten())
    torch.testing.assert_close(
        torch.tensor(distortion(out, ref, "kl"), dtype=torch.float64), torch.cat(rows).mean()
    )
    shifted = [r + 7.0 for r in ref]  # a softmax ignores a common shift of the logits
    np.testing.assert_allclose(distortion(shifted, ref, "kl"), 0.0, atol=1e-12)


def test_kl_profile_matches_callable(features: list[torch.Tensor]) -> None:
    model = mlp()
    builtin = profile(model, features, levels=LEVELS, metric="kl", progress=False)
    by_hand = profile(
        model,
        features,
        levels=LEVELS,
        metric=lambda out, ref: torch.nn.functional.kl_div(
            out.double().log_softmax(-1),
            ref.double().log_softmax(-1),
            log_target=True,
            reduction="batchmean",
        ),
        progress=False,
    )
    for a, b in zip(builtin, by_hand, strict=True):
        np.testing.assert_allclose(a.loss, b.loss, rtol=1e-5, atol=1e-9)
        assert a.loss[0] == 0.0 and np.all(np.asarray(a.loss)[1:] > 0)


def test_loss_increase_by_hand() -> None:
    ce = torch.nn.functional.cross_entropy
    gen = torch.Generator().manual_seed(4)
    ref = [torch.randn(3, 4, generator=gen), torch.randn(5, 4, generator=gen)]
    out = [r + torch.randn(r.shape, generator=gen) for r in ref]
    ys = [torch.randint(0, 4, (3,), generator=gen), torch.randint(0, 4, (5,), generator=gen)]
    metric = loss_increase(ce)
    assert distortion(ref, ref, metric, targets=ys) == 0.0
    increase = (ce(torch.cat(out), torch.cat(ys)) - ce(torch.cat(ref), torch.cat(ys))).item()
    np.testing.assert_allclose(
        distortion(out, ref, metric, targets=ys), max(0.0, increase), rtol=1e-5
    )
    with pytest.raises(ValueError, match="targets"):
        distortion(out, ref, metric)
    with pytest.raises(TypeError, match="criterion"):
        loss_increase("cross_entropy")  # type: ignore[arg-type]


def test_loss_increase_profile_needs_targets(features: list[torch.Tensor]) -> None:
    model = mlp()
    x = features[0]
    with torch.no_grad():
        y = model(x).argmax(-1)  # labels the dense model fits: every increase is >= 0
    metric = loss_increase(torch.nn.functional.cross_entropy)
    got = profile(model, [(x, y)], levels=LEVELS, metric=metric, progress=False)
    for p in got:
        loss = np.asarray(p.loss)
        assert loss[0] == 0.0 and np.all(np.isfinite(loss)) and loss[-1] > 0
    for bad in ([x], [(x,)], [(x, y, y)]):
        with pytest.raises(ValueError, match=r"loss_increase needs every batch as a pair"):
            profile(model, bad, levels=LEVELS, metric=metric, progress=False)
    tupled = profile(model, [((x,), y)], levels=LEVELS, metric=metric, progress=False)
    for a, b in zip(tupled, got, strict=True):  # inputs may be any batch form
        np.testing.assert_allclose(a.loss, b.loss)


def test_cache_resumes_layer_by_layer(
    cnn: TinyCNN, images: list[torch.Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "profile.json"
    full = profile(cnn, images, levels=LEVELS, cache=path, progress=False)
    data = json.loads(path.read_text())
    assert list(data["layers"]) == [p.name for p in full]
    del data["layers"]["fc1.weight"], data["layers"]["fc2.weight"]  # "interrupted" after 2 layers
    path.write_text(json.dumps(data))
    from pruneplan.clients.torch import _profile

    measured: list[str] = []
    real = _profile._layer_curve

    def counting(evaluator: object, layer: object, *args: object) -> list[float]:
        measured.append(layer.name)  # type: ignore[attr-defined]
        return real(evaluator, layer, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_profile, "_layer_curve", counting)
    resumed = profile_fn(cnn, images, levels=LEVELS, cache=path, progress=False)
    assert measured == ["fc1.weight", "fc2.weight"]
    for a, b in zip(resumed, full, strict=True):
        np.testing.assert_allclose(a.loss, b.loss)
    with torch.no_grad():
        cnn.fc2.weight.add_(1.0)  # other weights: the cache does not apply
    measured.clear()
    profile_fn(cnn, images, levels=LEVELS, cache=path, progress=False)
    assert len(measured) == 4


def test_additivity(images: list[torch.Tensor]) -> None:
    """Sum of single-layer distortions vs the measured joint distortion (Xu et al.'s premise)."""
    model = tiny_cnn().eval()
    calib = images[:1]
    profiles = profile(model, calib, levels=LEVELS, progress=False)
    rng = np.random.default_rng(0)
    predicted, measured = [], []
    with torch.no_grad():
        dense = model(calib[0])
    for _ in range(24):
        idx = rng.integers(0, len(LEVELS) - 1, size=len(profiles))  # never 100%
        sparsity = {p.name: LEVELS[i] for p, i in zip(profiles, idx, strict=True)}
        predicted.append(
            sum(float(np.asarray(p.loss)[i]) for p, i in zip(profiles, idx, strict=True))
        )
        copy = tiny_cnn().eval()
        copy.load_state_dict(model.state_dict())
        from .test_torch_masks import plan

        apply(copy, plan(copy, sparsity))
        with torch.no_grad():
            measured.append(float(torch.mean((copy(calib[0]) - dense) ** 2)))
    rho = spearmanr(predicted, measured).statistic
    print(f"additivity: Spearman rank correlation {rho:.3f} over 24 random allocations")
    assert rho > 0.8
