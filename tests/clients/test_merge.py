"""Cluster-and-merge of a layer pair and of whole models: duplicated channels fold in exactly,
merging beats zeroing, budgets are met, unsupported layers are named."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from pruneplan.clients.torch import (  # noqa: E402
    channel_features,
    channel_pairs,
    cluster_and_merge,
    cluster_model,
    drop_channels,
    merge_model,
    merge_pair,
    prune_pair,
)


def duplicated_linear(scales: tuple[float, ...] = (1.0, 1.0, 1.0)) -> tuple[nn.Linear, nn.Linear]:
    """fc1 with 8 channels of which 0, 1, 2 are copied (times ``scales``) into 5, 6, 7."""
    torch.manual_seed(0)
    fc1, fc2 = nn.Linear(6, 8), nn.Linear(8, 4)
    with torch.no_grad():
        for src, dst, s in zip((0, 1, 2), (5, 6, 7), scales, strict=True):
            fc1.weight[dst] = s * fc1.weight[src]
            fc1.bias[dst] = s * fc1.bias[src]
    return fc1, fc2


def duplicated_conv() -> tuple[nn.Conv2d, nn.Conv2d]:
    torch.manual_seed(1)
    c1, c2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 5, 3, padding=1)
    with torch.no_grad():
        c1.weight[4], c1.bias[4] = c1.weight[1], c1.bias[1]
        c1.weight[5], c1.bias[5] = 2.5 * c1.weight[3], 2.5 * c1.bias[3]
    return c1, c2


def test_duplicated_channels_merge_exactly() -> None:
    fc1, fc2 = duplicated_linear()
    x = torch.randn(64, 6)
    report = cluster_and_merge(fc1, fc2, 5, example=x, activation=torch.relu)
    np.testing.assert_array_equal(report.merge, [0, 1, 2, 3, 4, 0, 1, 2])
    np.testing.assert_array_equal(report.kept, [0, 1, 2, 3, 4])
    assert report.producer.weight.shape == (5, 6)
    assert report.consumer.weight.shape == (4, 5)
    dense = fc2(torch.relu(fc1(x)))
    merged = report.consumer(torch.relu(report.producer(x)))
    torch.testing.assert_close(merged, dense, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(report.distortion, 0.0, atol=1e-10)
    assert report.magnitude_distortion > 1e-3  # zeroing the same number of channels hurts


def test_scaled_copies_fold_exactly_through_relu() -> None:
    c1, c2 = duplicated_conv()
    x = torch.randn(4, 3, 8, 8)
    report = cluster_and_merge(c1, c2, 4, example=x, activation=torch.relu)
    np.testing.assert_array_equal(report.merge, [0, 1, 2, 5, 1, 5])  # the larger copy kept
    np.testing.assert_allclose(report.distortion, 0.0, atol=1e-10)
    plain = cluster_and_merge(c1, c2, 4, example=x, activation=torch.relu, scale=False)
    assert plain.distortion > 1e-4  # the 2.5x copy is not a plain duplicate
    assert report.magnitude_distortion > report.distortion


def test_masked_equals_removed_and_keeps_shapes() -> None:
    c1, c2 = duplicated_conv()
    merge = np.array([0, 1, 2, 3, 1, 3])
    p_rm, c_rm = merge_pair(c1, c2, merge)
    p_mk, c_mk = merge_pair(c1, c2, merge, remove=False)
    assert p_mk.weight.shape == c1.weight.shape and c_mk.weight.shape == c2.weight.shape
    assert (
        torch.count_nonzero(p_mk.weight[4:]) == 0 and torch.count_nonzero(c_mk.weight[:, 4:]) == 0
    )
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(c_mk(torch.relu(p_mk(x))), c_rm(torch.relu(p_rm(x))))


def test_merge_beats_zeroing_on_near_duplicates() -> None:
    torch.manual_seed(3)
    fc1, fc2 = nn.Linear(16, 32), nn.Linear(32, 10)
    with torch.no_grad():
        base = torch.randn(8, 16)
        fc1.weight.copy_(base.repeat(4, 1) + 0.05 * torch.randn(32, 16))
        fc1.bias.copy_(0.1 * torch.randn(32))
    x = torch.randn(256, 16)
    for n_keep in (8, 12, 16):
        report = cluster_and_merge(fc1, fc2, n_keep, example=x, activation=torch.relu)
        assert report.kept.size == n_keep
        assert report.distortion < report.magnitude_distortion


def test_originals_untouched_and_plain_pruning() -> None:
    fc1, fc2 = duplicated_linear()
    before = (fc1.weight.clone(), fc2.weight.clone())
    cluster_and_merge(fc1, fc2, 5, example=torch.randn(4, 6))
    torch.testing.assert_close(fc1.weight, before[0])
    torch.testing.assert_close(fc2.weight, before[1])
    p, c = prune_pair(fc1, fc2, np.array([3, 0]))
    torch.testing.assert_close(p.weight, fc1.weight[[0, 3]])
    torch.testing.assert_close(c.weight, fc2.weight[:, [0, 3]])


def test_channel_features_are_unit_rows() -> None:
    fc1, _ = duplicated_linear()
    f = channel_features(fc1)
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0)
    np.testing.assert_allclose(f[5], f[0])


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: (nn.Conv2d(4, 4, 3, groups=2), nn.Conv2d(4, 2, 1)), "groups=1"),
        (lambda: (nn.Linear(3, 4), nn.Linear(5, 2)), "producer's 4 channels"),
        (lambda: (nn.ReLU(), nn.Linear(5, 2)), "nn.Linear or nn.ConvNd"),
    ],
)
def test_bad_pairs(build, words: str) -> None:
    producer, consumer = build()
    with pytest.raises(ValueError, match=words):
        cluster_and_merge(producer, consumer, 1)


def test_bad_merge_and_width() -> None:
    fc1, fc2 = duplicated_linear()
    with pytest.raises(ValueError, match="n_keep"):
        cluster_and_merge(fc1, fc2, 9)
    with pytest.raises(ValueError, match="map to itself"):
        merge_pair(fc1, fc2, np.array([1, 2, 2, 3, 4, 5, 6, 7]))
    with pytest.raises(ValueError, match="each of 8 channels"):
        merge_pair(fc1, fc2, np.array([0, 1]))


# -- whole models ---------------------------------------------------------------------------------


class ConvBN(nn.Module):
    """Conv-BN-ReLU-Conv-ReLU-pool-flatten-Linear, with conv1's channels 4, 5 copying 1, 3."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 5, 3, padding=1)
        self.fc = nn.Linear(5 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv1(x)))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def conv_bn(seed: int = 0) -> ConvBN:
    torch.manual_seed(seed)
    model = ConvBN()
    with torch.no_grad():
        model(torch.randn(16, 2, 8, 8))  # running statistics
        model.bn.weight.uniform_(0.5, 1.5)
        for src, dst in ((1, 4), (3, 5)):
            model.conv1.weight[dst], model.conv1.bias[dst] = (
                model.conv1.weight[src],
                model.conv1.bias[src],
            )
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(model.bn, name)[dst] = getattr(model.bn, name)[src]
    return model.eval()


def images(seed: int = 1, n: int = 2) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(16, 2, 8, 8, generator=gen) for _ in range(n)]


def near_duplicate_mlp(seed: int) -> nn.Sequential:
    """64 hidden units, 16 distinct directions each copied 4 times with 5% noise."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, 64), nn.ReLU(), nn.Linear(64, 6))
    with torch.no_grad():
        base = torch.randn(16, 12)
        model[0].weight.copy_(base.repeat(4, 1) + 0.05 * torch.randn(64, 12))
        model[0].bias.copy_(0.1 * torch.randn(16).repeat(4))
    return model


def blocks(merge: np.ndarray) -> set[tuple[int, ...]]:
    """The partition a merge map makes (whichever channel of a block represents it)."""
    return {tuple(np.flatnonzero(merge == r).tolist()) for r in np.unique(merge)}


def test_channel_pairs_find_batchnorm_and_flatten() -> None:
    pairs = channel_pairs(conv_bn())
    assert [(p.name, p.producer, p.consumer, p.batchnorm, p.channels, p.spread) for p in pairs] == [
        ("conv1.weight", "conv1", "conv2", "bn", 6, 1),
        ("conv2.weight", "conv2", "fc", None, 5, 16),
    ]


@pytest.mark.parametrize("features", ["activations", "weights", "both"])
def test_duplicated_channels_through_batchnorm_merge_exactly(features: str) -> None:
    model, calib = conv_bn(), images()
    with torch.no_grad():
        dense = [model(x) for x in calib]
    report = cluster_model(
        model, calib, n_clusters={"conv1.weight": 4, "conv2.weight": 5}, features=features
    )
    assert blocks(report.layers[0].merge) == {(0,), (1, 4), (2,), (3, 5)}
    assert model.conv1.weight.shape[0] == 4 and model.bn.num_features == 4
    assert model.conv2.weight.shape[1] == 4 and model.fc.weight.shape == (3, 80)
    with torch.no_grad():
        for x, y in zip(calib, dense, strict=True):
            torch.testing.assert_close(model(x), y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(report.distortion, 0.0, atol=1e-10)
    assert report.layers[0].magnitude_distortion > 1e-3


def test_masked_model_matches_removed_and_masks_hold() -> None:
    removed, masked, calib = conv_bn(), conv_bn(), images()
    a = cluster_model(removed, calib, keep=7)
    b = cluster_model(masked, calib, keep=7, remove=False)
    np.testing.assert_array_equal(a.layers[0].merge, b.layers[0].merge)
    assert masked.conv1.weight.shape == (6, 2, 3, 3) and hasattr(masked.conv2, "weight_mask")
    mask = masked.conv2.weight_mask
    assert int(mask.sum(dim=(0, 2, 3)).count_nonzero()) == b.layers[0].kept  # columns kept
    torch.testing.assert_close(masked.conv2.weight, masked.conv2.weight_orig * mask)
    with torch.no_grad():
        torch.testing.assert_close(masked(calib[0]), removed(calib[0]), rtol=1e-5, atol=1e-5)
    assert a.params == b.params < a.dense_params


def test_merging_beats_zeroing_paired_over_seeds() -> None:
    gen = torch.Generator().manual_seed(5)
    calib = [torch.randn(256, 12, generator=gen)]
    gains = []
    for seed in range(8):
        model = near_duplicate_mlp(seed)
        report = cluster_model(model, calib, keep=16)
        assert report.kept == 16
        zeroed = near_duplicate_mlp(seed)
        drop_channels(zeroed, {"0.weight": np.unique(report.layers[0].merge)}, remove=False)
        with torch.no_grad():
            dense, ours, theirs = (
                near_duplicate_mlp(seed)(calib[0]),
                model(calib[0]),
                zeroed(calib[0]),
            )
        zero = float(((theirs - dense) ** 2).sum() / (dense**2).sum())
        np.testing.assert_allclose(
            report.distortion, float(((ours - dense) ** 2).sum() / (dense**2).sum()), rtol=1e-4
        )
        gains.append(np.log(zero / report.distortion))
        assert report.distortion < report.magnitude_distortion
    assert np.mean(gains) > 1.0  # merging is e-fold (and more) closer than zeroing the same
    assert np.std(gains) < 0.5 * np.mean(gains)


@pytest.mark.parametrize("keep", [0.5, 37])
def test_digits_cnn_and_mlp_stay_runnable_with_the_budget_met(keep: float) -> None:
    from pruneplan.clients.demo._digits import DigitsCNN, DigitsMLP

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    for model in (DigitsCNN(), DigitsMLP()):
        calib = [torch.rand(64, 1, 8, 8, generator=gen) for _ in range(2)]
        pairs = channel_pairs(model)
        total = sum(p.channels for p in pairs)
        report = cluster_model(model, calib, keep=keep)
        want = round(keep * total) if isinstance(keep, float) else keep
        widths = [model.get_submodule(p.producer).weight.shape[0] for p in pairs]
        assert report.kept == sum(widths) == want and report.channels == total
        assert [layer.kept for layer in report.layers] == widths
        assert int(report.result.usage["clusters"]) == want
        with torch.no_grad():
            assert model(calib[0]).shape == (64, 10)
        assert report.params == sum(t.numel() for t in model.parameters()) < report.dense_params
        assert report.distortion < report.magnitude_distortion


def test_client_solves_the_problem_and_weights_features() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.problems: list[object] = []

        def solve(self, problem: object, method: str = "auto", time_limit: float | None = None):
            from pruneplan.solver import solve

            self.problems.append(problem)
            return solve(problem, method=method, time_limit=time_limit)

    fc1, fc2 = duplicated_linear()
    model = nn.Sequential(fc1, nn.ReLU(), fc2)
    client = Recorder()
    report = cluster_model(model, [torch.randn(32, 6)], keep=5, client=client, features="weights")
    assert len(client.problems) == 1 and report.result.usage["clusters"] == 5
    assert blocks(report.layers[0].merge) == {(0, 5), (1, 6), (2, 7), (3,), (4,)}
    np.testing.assert_allclose(report.distortion, 0.0, atol=1e-10)


def test_merge_model_applies_a_given_map() -> None:
    model, calib = conv_bn(), images()
    with torch.no_grad():
        dense = model(calib[0])
    merge_model(model, {"conv1.weight": [0, 1, 2, 3, 1, 3]})
    assert model.conv1.weight.shape[0] == 4
    with torch.no_grad():
        torch.testing.assert_close(model(calib[0]), dense, rtol=1e-5, atol=1e-5)


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x))
        return self.fc3(h + self.fc2(h))


class BNAfterReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.bn(torch.relu(self.fc1(x))))


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        return self.fc2(h if h.sum() > 0 else -h)


def _pruned_mlp() -> nn.Module:
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    torch.nn.utils.prune.l1_unstructured(model[0], "weight", amount=0.5)
    return model


@pytest.mark.parametrize(
    ("build", "options", "words"),
    [
        (Residual, {}, r"layer fc1\.weight: .*read by 2 operations"),
        (Residual, {"exclude": ["fc1.*"]}, r"layer fc2\.weight: .*combines it with other tensors"),
        (BNAfterReLU, {}, r"layer fc1\.weight: .*BatchNorm1d `bn` sits between"),
        (Untraceable, {}, r"model: must be traceable"),
        (_pruned_mlp, {}, r"layer 0\.weight: .*finalize\(\)"),
        (
            lambda: nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.Conv2d(4, 2, 1)),
            {},
            r"layer 0\.weight: .*groups=1",
        ),
        (
            lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(36, 2)),
            {"layers": ["2.weight"]},
            r"layer 2\.weight: .*the model's output",
        ),
        (
            lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.Linear(6, 2)),
            {},
            r"layer 0\.weight: .*Linear `1` must read its 4 channels",
        ),
        (lambda: nn.Sequential(nn.Linear(4, 3)), {}, r"layers: no layer with a consumer"),
    ],
    ids=[
        "residual",
        "add",
        "bn-after-relu",
        "untraceable",
        "pruned",
        "groups",
        "output",
        "conv-to-linear",
        "no-pairs",
    ],
)
def test_unsupported_layers_are_named(build, options: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        channel_pairs(build(), **options)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "keep, n_clusters: give exactly one"),
        ({"keep": 8, "n_clusters": 2}, "keep, n_clusters: give exactly one"),
        ({"keep": 1}, r"keep: must be a channel count in \[2, 11\]"),
        ({"keep": 1.5}, r"keep: .* or a fraction in \(0, 1\]"),
        (
            {"n_clusters": {"conv1.weight": 7, "conv2.weight": 2}},
            r"n_clusters\['conv1.weight'\]: layer conv1.weight must keep an integer in \[1, 6\]",
        ),
        ({"n_clusters": {"fc.weight": 2}}, r"n_clusters: 'fc.weight' is not a mergeable layer"),
        ({"n_clusters": {"conv1.weight": 2}}, r"n_clusters\['conv2.weight'\]: .*got None"),
        ({"keep": 8, "features": "filters"}, "features: must be one of"),
        ({"keep": 8, "scale": "sum"}, "scale: must be one of"),
    ],
    ids=[
        "none",
        "both",
        "keep-low",
        "keep-frac",
        "k-range",
        "k-unknown",
        "k-missing",
        "features",
        "scale",
    ],
)
def test_bad_targets_name_the_field_and_layer(options: dict, words: str) -> None:
    model = conv_bn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=words):
        cluster_model(model, images(), **options)
    for key, value in model.state_dict().items():  # nothing touched
        torch.testing.assert_close(value, before[key])


def test_bad_maps_name_the_layer() -> None:
    with pytest.raises(ValueError, match=r"merge\['conv1.weight'\]: layer conv1.weight must get 6"):
        merge_model(conv_bn(), {"conv1.weight": [0, 0, 1, 2, 3, 4]})
    with pytest.raises(ValueError, match=r"kept\['conv2.weight'\]: .*distinct channel indices"):
        drop_channels(conv_bn(), {"conv2.weight": [1, 1]})
    with pytest.raises(ValueError, match=r"calib: scale='activations' needs"):
        merge_model(conv_bn(), {"conv1.weight": list(range(6))}, scale="activations")


def test_demo_section_rows_table_and_file(tmp_path) -> None:
    pytest.importorskip("sklearn")
    import io
    import json

    from rich.console import Console

    from pruneplan.clients.demo import _clustering
    from pruneplan.clients.demo._digits import DigitsCNN, load_digits

    torch.manual_seed(0)
    console = Console(file=io.StringIO(), width=160)
    rows = _clustering.show(
        DigitsCNN(), load_digits(0), 0.9, out=tmp_path, quick=True, seed=0, console=console
    )
    merged, magnitude = rows
    assert (merged.method, magnitude.method) == _clustering.METHODS
    assert merged.widths == magnitude.widths and merged.params == magnitude.params
    assert merged.channels == sum(merged.widths.values()) == round(0.5 * merged.dense_channels)
    assert merged.distortion < magnitude.distortion
    data = json.loads((tmp_path / "clustering.json").read_text())
    assert [r["method"] for r in data["rows"]] == list(_clustering.METHODS)
    assert _clustering.table(rows, 0.9).row_count == 2
