"""Cluster-and-merge of a layer pair: duplicated channels fold in exactly; merging beats zeroing."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from pruneplan.clients.torch import (  # noqa: E402
    channel_features,
    cluster_and_merge,
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
