"""Cluster-and-merge of a layer pair: redundant channels folded into the ones kept.

For a producer layer (Conv / Linear) whose output channels feed a consumer layer, possibly
through an elementwise activation that commutes with positive scaling (ReLU, leaky ReLU or
none), a channel :math:`c` merged into representative :math:`r` is dropped from the producer
and its consumer weights are added to :math:`r`'s, scaled by
:math:`\\alpha_c = \\max(0, \\langle w_c, w_r\\rangle / \\lVert w_r\\rVert^2)` (the plain sum,
:math:`\\alpha = 1`, for an exact duplicate; ``scale=False`` always sums). Duplicated
channels are therefore merged without changing the pair's output at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from pruneplan.solver.clustering import ClusterGroup, ClusteringProblem, cluster

__all__ = ["MergeReport", "channel_features", "cluster_and_merge", "merge_pair", "prune_pair"]

Activation = Callable[[torch.Tensor], torch.Tensor]
Layer = nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d
"""A layer whose output channels can be merged (dim 0 of the weight) or consumed (dim 1)."""
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True, eq=False)
class MergeReport:
    """What a cluster-and-merge did, and how close it stayed to the dense pair.

    Attributes
    ----------
    producer, consumer : nn.Module
        The merged pair (new modules; the originals are untouched).
    merge : ndarray of int64, shape (channels,)
        Channel -> the representative it was merged into (representatives map to themselves).
    kept : ndarray of int64, shape (n_keep,)
        The representatives, ascending (the producer's remaining channels, in order).
    distortion : float
        :math:`\\lVert y' - y\\rVert^2 / \\lVert y\\rVert^2` of the consumer's output on the
        example batch (``nan`` without one).
    magnitude_distortion : float
        The same for plain magnitude pruning at the same width (the ``n_keep`` channels of
        largest weight norm kept, the rest removed, nothing folded).
    """

    producer: Layer
    consumer: Layer
    merge: NDArray[np.int64]
    kept: NDArray[np.int64]
    distortion: float
    magnitude_distortion: float


def _check_pair(producer: Layer, consumer: Layer) -> int:
    """The channel count the pair shares; refuses what cannot be merged channel by channel."""
    for role, module in (("producer", producer), ("consumer", consumer)):
        if not isinstance(module, (nn.Linear, *_CONV)):
            raise ValueError(
                f"{role}: must be nn.Linear or nn.ConvNd; got {type(module).__name__}."
            )
        if isinstance(module, _CONV) and module.groups != 1:
            raise ValueError(f"{role}: must have groups=1; got groups={module.groups}.")
    out = int(producer.weight.shape[0])
    if consumer.weight.shape[1] != out:
        raise ValueError(
            f"consumer: must take the producer's {out} channels as input; "
            f"got {consumer.weight.shape[1]} input channels."
        )
    return int(out)


def channel_features(producer: Layer) -> NDArray[np.float64]:
    """One unit vector per output channel: the flattened filter with its bias, normalised.

    Examples
    --------
    >>> layer = nn.Linear(3, 2)
    >>> channel_features(layer).shape
    (2, 4)
    """
    w = producer.weight.detach().reshape(producer.weight.shape[0], -1).double()
    if producer.bias is not None:
        w = torch.cat([w, producer.bias.detach().double()[:, None]], dim=1)
    norms = w.norm(dim=1, keepdim=True).clamp_min(1e-12)
    out: NDArray[np.float64] = (w / norms).cpu().numpy()
    return out


def _row(producer: Layer) -> torch.Tensor:
    w = producer.weight.detach().reshape(producer.weight.shape[0], -1)
    if producer.bias is not None:
        w = torch.cat([w, producer.bias.detach()[:, None]], dim=1)
    return w


def _shrunk(module: Layer, weight: torch.Tensor, bias: torch.Tensor | None) -> Layer:
    """A copy of ``module`` with new weight (and bias), its channel counts taken from them."""
    new: Layer
    if isinstance(module, nn.Linear):
        new = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    else:
        conv: Any = type(module)
        new = conv(
            weight.shape[1], weight.shape[0], module.kernel_size, stride=module.stride,
            padding=module.padding, dilation=module.dilation, bias=bias is not None,
            padding_mode=module.padding_mode,
        )  # fmt: skip
    new = new.to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None and new.bias is not None:
            new.bias.copy_(bias)
    return new


def merge_pair(
    producer: Layer,
    consumer: Layer,
    merge: NDArray[np.int64],
    *,
    remove: bool = True,
    scale: bool = True,
) -> tuple[Layer, Layer]:
    r"""Fold every channel into its representative: new producer and consumer modules.

    .. math::
        V'_{:, r} = \sum_{c:\ \mathrm{merge}(c) = r} \alpha_c V_{:, c}

    where :math:`V` is the consumer's weight over its input channels and :math:`\alpha_c`
    the scale of channel :math:`c` on its representative (1 for the representative).
    ``remove=True`` drops the merged channels (fewer channels); ``remove=False`` keeps the
    shapes and zeroes them (the producer's rows and bias, the consumer's columns).
    """
    channels = _check_pair(producer, consumer)
    merge = np.asarray(merge, dtype=np.int64)
    if merge.shape != (channels,) or merge.min() < 0 or merge.max() >= channels:
        raise ValueError(f"merge: must map each of {channels} channels to a channel; got {merge}.")
    if not np.array_equal(merge[merge], merge):
        raise ValueError("merge: a representative must map to itself.")
    kept = np.unique(merge)
    rows = _row(producer)
    target = torch.as_tensor(merge, device=rows.device)
    alpha = torch.ones(channels, dtype=rows.dtype, device=rows.device)
    if scale:
        rep = rows[target]
        alpha = ((rows * rep).sum(1) / (rep * rep).sum(1).clamp_min(1e-30)).clamp_min(0.0)
    v = consumer.weight.detach()
    scaled = v * alpha.reshape(1, -1, *([1] * (v.dim() - 2)))
    folded = torch.zeros_like(v).index_add_(1, target, scaled)
    w, b = producer.weight.detach(), producer.bias
    bias = None if b is None else b.detach()
    cb = None if consumer.bias is None else consumer.bias.detach()
    idx = torch.as_tensor(kept, device=rows.device)
    if remove:
        new_p = _shrunk(producer, w[idx], None if bias is None else bias[idx])
        return new_p, _shrunk(consumer, folded[:, idx], cb)
    keep = torch.zeros(channels, dtype=torch.bool, device=rows.device)
    keep[idx] = True
    w_mask = keep.reshape(-1, *([1] * (w.dim() - 1)))
    new_p = _shrunk(producer, w * w_mask, None if bias is None else bias * keep)
    v_mask = keep.reshape(1, -1, *([1] * (v.dim() - 2)))
    return new_p, _shrunk(consumer, folded * v_mask, cb)


def prune_pair(producer: Layer, consumer: Layer, kept: NDArray[np.int64]) -> tuple[Layer, Layer]:
    """Plain structured pruning: only the ``kept`` channels remain, nothing folded."""
    _check_pair(producer, consumer)
    idx = torch.as_tensor(np.sort(np.asarray(kept, dtype=np.int64)), device=producer.weight.device)
    bias = None if producer.bias is None else producer.bias.detach()[idx]
    cb = None if consumer.bias is None else consumer.bias.detach()
    new_p = _shrunk(producer, producer.weight.detach()[idx], bias)
    return new_p, _shrunk(consumer, consumer.weight.detach()[:, idx], cb)


def _distortion(
    pair: tuple[Layer, Layer], dense: torch.Tensor, x: torch.Tensor, act: Activation
) -> float:
    with torch.no_grad():
        out = pair[1](act(pair[0](x)))
    return float(((out - dense) ** 2).sum() / (dense**2).sum().clamp_min(1e-30))


def cluster_and_merge(
    producer: Layer,
    consumer: Layer,
    n_keep: int,
    *,
    example: torch.Tensor | None = None,
    activation: Activation | None = None,
    features: NDArray[np.float64] | None = None,
    method: str = "auto",
    remove: bool = True,
    scale: bool = True,
) -> MergeReport:
    """Cluster the producer's channels into ``n_keep`` groups and merge each into one.

    Features default to `channel_features` (unit filters: cosine affinity) and the
    representative of a cluster is its channel of largest weight norm. With an
    ``example`` input of the producer, reports the consumer-output distortion of the merge
    and of magnitude pruning to the same width (``activation`` sits between the two layers;
    it must commute with positive scaling, as ReLU does, for the scaled fold to be exact).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> fc1, fc2 = nn.Linear(4, 3), nn.Linear(3, 2)
    >>> with torch.no_grad():
    ...     fc1.weight[2], fc1.bias[2] = fc1.weight[0], fc1.bias[0]  # channel 2 duplicates 0
    >>> report = cluster_and_merge(fc1, fc2, 2, example=torch.randn(8, 4))
    >>> report.merge.tolist(), report.distortion < 1e-12
    ([0, 1, 0], True)
    """
    channels = _check_pair(producer, consumer)
    if isinstance(n_keep, bool) or not isinstance(n_keep, int) or not 1 <= n_keep <= channels:
        raise ValueError(f"n_keep: must be an integer in [1, {channels}]; got {n_keep!r}.")
    x = channel_features(producer) if features is None else np.asarray(features, np.float64)
    norms = _row(producer).double().norm(dim=1).cpu().numpy()
    group = ClusterGroup("channels", x, importance=norms)
    result = cluster(ClusteringProblem([group], n_clusters=n_keep), method=method)
    merge = np.asarray(result.merge["channels"], dtype=np.int64)
    merged = merge_pair(producer, consumer, merge, remove=remove, scale=scale)
    distortion = magnitude = math.nan
    if example is not None:
        act: Activation = activation if activation is not None else (lambda t: t)
        with torch.no_grad():
            dense = consumer(act(producer(example)))
        top = np.lexsort((np.arange(channels), -norms))[:n_keep]
        distortion = _distortion(merged, dense, example, act)
        magnitude = _distortion(prune_pair(producer, consumer, top), dense, example, act)
    return MergeReport(merged[0], merged[1], merge, np.unique(merge), distortion, magnitude)
