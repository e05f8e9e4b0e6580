"""Cluster-and-merge: redundant channels found by a dense multicut, folded into the ones kept.

For a producer layer (Conv / Linear) whose output channels feed a consumer layer, possibly
through an elementwise activation that commutes with positive scaling (ReLU, leaky ReLU or
none), a channel :math:`c` merged into representative :math:`r` is dropped from the producer
and its consumer weights are added to :math:`r`'s, scaled by
:math:`\\alpha_c = \\max(0, \\langle w_c, w_r\\rangle / \\lVert w_r\\rVert^2)` (the plain sum,
:math:`\\alpha = 1`, for an exact duplicate; ``scale=False`` always sums). Duplicated
channels are therefore merged without changing the pair's output at all.

On a whole model, `cluster_model` finds each layer's consumer (`channel_pairs`, through
``torch.fx``), clusters every layer's channels in one `ClusteringProblem` under a kept-channel
budget, folds the clusters (scaling by a least-squares fit on calibration activations by
default) and reports the output distortion against magnitude pruning at the same widths.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.fx
from numpy.typing import ArrayLike, NDArray
from torch import nn
from torch.nn.utils import prune

from pruneplan.solver import solve
from pruneplan.solver.clustering import ClusterGroup, ClusteringProblem, ClusteringResult, cluster

from ._layers import Batch, canonical_name, find_layers, model_device, output_tensor, to_device

__all__ = [
    "FEATURES",
    "SCALES",
    "ChannelPair",
    "LayerMerge",
    "MergeReport",
    "ModelMergeReport",
    "SupportsSolve",
    "channel_features",
    "channel_pairs",
    "cluster_and_merge",
    "cluster_model",
    "drop_channels",
    "merge_model",
    "merge_pair",
    "prune_pair",
]

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


# -- whole models ---------------------------------------------------------------------------------

FEATURES = ("activations", "weights", "both")
"""Channel features of `cluster_model`: activation correlations, unit filters, or both."""

SCALES = ("activations", "weights", "none")
"""How a merged channel's consumer weights are scaled onto its representative's."""

_F = nn.functional
_ELEMENTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
    nn.Hardswish, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
)  # fmt: skip
_POOL_MODULES: tuple[type[nn.Module], ...] = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)  # fmt: skip
_ELEMENTWISE_FUNCTIONS: frozenset[Any] = frozenset(
    {torch.relu, _F.relu, _F.relu6, _F.leaky_relu, _F.elu, _F.gelu, _F.silu, torch.tanh,
     torch.sigmoid, _F.hardswish, _F.dropout, torch.dropout}
)  # fmt: skip
_POOL_FUNCTIONS: frozenset[Any] = frozenset(
    {torch.max_pool1d, torch.max_pool2d, torch.max_pool3d, _F.max_pool1d, _F.max_pool2d,
     _F.max_pool3d, _F.avg_pool1d, _F.avg_pool2d, _F.avg_pool3d, _F.adaptive_avg_pool1d,
     _F.adaptive_avg_pool2d, _F.adaptive_avg_pool3d, _F.adaptive_max_pool1d,
     _F.adaptive_max_pool2d, _F.adaptive_max_pool3d}
)  # fmt: skip
_ELEMENTWISE_METHODS = frozenset({"relu", "sigmoid", "tanh", "contiguous"})
_BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_SUPPORTED = (
    "ReLU-like or other elementwise activations, dropout, pooling, flatten(1) before a Linear "
    "and one BatchNorm right after the layer"
)


@dataclass(frozen=True)
class ChannelPair:
    """A layer whose output channels can be merged, and the layer that reads them.

    Attributes
    ----------
    name : str
        The producer's canonical weight name (``"conv1.weight"``), the group's name.
    producer, consumer : str
        Module paths in the model (``model.get_submodule(path)``).
    batchnorm : str or None
        The BatchNorm right after the producer (folded into its channels), if any.
    channels : int
        The producer's output channels.
    spread : int
        Consumer input columns per channel (``H * W`` after a flatten, else 1).
    """

    name: str
    producer: str
    consumer: str
    batchnorm: str | None
    channels: int
    spread: int = 1


class _Refused(Exception):
    """Why a layer's channels cannot be merged (becomes the ``ValueError`` naming it)."""


def _chain_kind(gm: torch.fx.GraphModule, node: torch.fx.Node) -> str:
    """``"elementwise"``, ``"pool"``, ``"flatten"``, ``"batchnorm"``, ``"layer"`` or ``""``."""
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        if isinstance(module, nn.Flatten):
            return "flatten" if (module.start_dim, module.end_dim) == (1, -1) else ""
        for kind, types in (("elementwise", _ELEMENTWISE_MODULES), ("pool", _POOL_MODULES),
                            ("batchnorm", _BATCHNORM), ("layer", (nn.Linear, *_CONV))):  # fmt: skip
            if isinstance(module, types):
                return kind
        return ""
    if node.op == "call_function" and node.target is torch.flatten:
        return "flatten" if _flat_args(node) else ""
    if node.op == "call_method" and node.target == "flatten":
        return "flatten" if _flat_args(node) else ""
    if node.op == "call_function" and node.target in _ELEMENTWISE_FUNCTIONS:
        return "elementwise"
    if node.op == "call_function" and node.target in _POOL_FUNCTIONS:
        return "pool"
    if node.op == "call_method" and node.target in _ELEMENTWISE_METHODS:
        return "elementwise"
    return ""


def _flat_args(node: torch.fx.Node) -> bool:
    start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
    end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
    return (start, end) == (1, -1)


def _describe(gm: torch.fx.GraphModule, node: torch.fx.Node) -> str:
    if node.op == "call_module":
        return f"{type(gm.get_submodule(str(node.target))).__name__} `{node.target}`"
    return f"`{getattr(node.target, '__name__', node.target)}`"


def _follow(
    gm: torch.fx.GraphModule, start: torch.fx.Node, conv: bool
) -> tuple[str | None, torch.fx.Node | None, bool]:
    """From a producer's call to its consumer's: (BatchNorm path, consumer node, flattened)."""
    node, bn, flat = start, None, False
    while True:
        users = list(node.users)
        if len(users) != 1:
            names = ", ".join(_describe(gm, u) for u in users) or "nothing"
            raise _Refused(f"its output is read by {len(users)} operations ({names})")
        (user,) = users
        if user.op == "output":
            return bn, None, flat
        others = [*user.args[1:], *user.kwargs.values()]
        if user.args[:1] != (node,) or any(isinstance(a, torch.fx.Node) for a in others):
            raise _Refused(f"{_describe(gm, user)} combines it with other tensors")
        kind = _chain_kind(gm, user)
        if kind == "layer":
            return bn, user, flat
        if kind == "batchnorm" and node is start:
            bn = str(user.target)
        elif not (kind == "elementwise" or (conv and not flat and kind in ("pool", "flatten"))):
            raise _Refused(f"{_describe(gm, user)} sits between it and the next layer")
        flat = flat or kind == "flatten"
        node = user


def _pair_for(
    gm: torch.fx.GraphModule, node: torch.fx.Node, name: str, calls: dict[str, int]
) -> ChannelPair | None:
    """The pair ``node`` (a producer's call) starts, None for the model's output layer."""
    producer: Any = gm.get_submodule(str(node.target))
    conv = isinstance(producer, _CONV)
    bn, user, flat = _follow(gm, node, conv)
    if user is None:
        return None
    consumer: Any = gm.get_submodule(str(user.target))
    for role, path in (("it", str(node.target)), ("its consumer", str(user.target))):
        if calls[path] != 1:
            raise _Refused(f"{role} (`{path}`) is called {calls[path]} times")
        module = gm.get_submodule(path)
        if hasattr(module, "weight_orig"):
            raise _Refused(f"{role} is masked by torch.nn.utils.prune; finalize() it first")
        if isinstance(module, _CONV) and module.groups != 1:
            raise _Refused(f"{role} must have groups=1; got groups={module.groups}")
    if bn is not None and gm.get_submodule(bn).running_var is None:
        raise _Refused(f"BatchNorm `{bn}` must track running statistics")
    channels = int(producer.weight.shape[0])
    inputs = int(consumer.weight.shape[1])
    if isinstance(consumer, _CONV) != (conv and not flat) or inputs % channels:
        raise _Refused(
            f"{type(consumer).__name__} `{user.target}` must read its {channels} channels "
            f"(a conv after a conv, a Linear after a Linear or a flatten); got {inputs} inputs"
        )
    if not flat and inputs != channels:
        raise _Refused(f"`{user.target}` reads {inputs} channels, not its {channels}")
    return ChannelPair(name, str(node.target), str(user.target), bn, channels, inputs // channels)


def channel_pairs(
    model: nn.Module,
    *,
    layers: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> list[ChannelPair]:
    """Every selected Conv / Linear layer with the layer that reads its channels, in call order.

    The model is traced with ``torch.fx.symbolic_trace``. Between a layer and its consumer
    may sit ReLU-like or other elementwise activations, dropout, pooling, a ``flatten(1)``
    before a Linear, and one BatchNorm right after the layer (Conv-BN-ReLU-Conv). The model's
    output layer has no consumer and is left out unless named in ``layers``.

    Parameters
    ----------
    model : nn.Module
    layers, exclude : sequence of str, optional
        Glob patterns on the canonical weight name, as in `find_layers`.

    Raises
    ------
    ValueError
        Naming the first selected layer that cannot be merged, and why (a residual or other
        branch, an unsupported operation, groups != 1, a module called twice, ...).

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> [(p.name, p.consumer, p.channels) for p in channel_pairs(model)]
    [('0.weight', '2', 8)]
    """
    chosen = {layer.name for layer in find_layers(model, layers=layers, exclude=exclude)}
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as exc:
        raise ValueError(
            f"model: must be traceable by torch.fx.symbolic_trace to find each layer's "
            f"consumer; tracing failed with {type(exc).__name__}: {exc}"
        ) from exc
    calls: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    pairs = []
    for node in gm.graph.nodes:
        name = canonical_name(f"{node.target}.weight") if node.op == "call_module" else ""
        if name not in chosen or not isinstance(gm.get_submodule(node.target), Layer):
            continue
        try:
            pair = _pair_for(gm, node, name, calls)
        except _Refused as why:
            raise ValueError(
                f"layer {name}: its channels cannot be merged: {why}. Supported between a layer "
                f"and its consumer: {_SUPPORTED}. Leave it out with exclude=[{name!r}]."
            ) from None
        if pair is None and layers is not None:
            raise ValueError(
                f"layer {name}: its channels cannot be merged: it is the model's output "
                f"(no layer reads its channels). Leave it out of layers."
            )
        if pair is not None:
            pairs.append(pair)
    if not pairs:
        raise ValueError(
            f"layers: no layer with a consumer among the selected {sorted(chosen)}; "
            f"got layers={layers!r}, exclude={exclude!r}."
        )
    return pairs


@dataclass
class _Stats:
    """Second moments of a consumer's input channels over the calibration data."""

    gram: torch.Tensor  # (C, C) sum of x_c x_r over positions
    total: torch.Tensor  # (C,) sum of x_c
    count: int = 0

    @classmethod
    def empty(cls, channels: int) -> _Stats:
        """No data yet (moments all zero)."""
        zeros = torch.zeros(channels, dtype=torch.float64)
        return cls(torch.zeros(channels, channels, dtype=torch.float64), zeros)

    def add(self, x: torch.Tensor) -> None:
        self.gram += x @ x.T
        self.total += x.sum(1)
        self.count += x.shape[1]

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (C,) and the second-moment matrix (C, C)."""
        m = max(self.count, 1)
        return self.total / m, self.gram / m


def _consumer_input(x: torch.Tensor, pair: ChannelPair, conv: bool) -> torch.Tensor:
    """The consumer's input as (channels, positions), float64."""
    c = pair.channels
    if conv:
        return x.detach().transpose(0, 1).reshape(c, -1).double()
    x = x.detach().reshape(-1, c, pair.spread)
    return x.transpose(0, 1).reshape(c, -1).double()


def _calibrate(
    model: nn.Module, pairs: Sequence[ChannelPair], calib: Sequence[Batch]
) -> tuple[list[torch.Tensor], dict[str, _Stats]]:
    """The dense outputs on ``calib`` and each consumer's input statistics (eval mode)."""
    stats = {p.name: _Stats.empty(p.channels) for p in pairs}
    handles = []
    for p in pairs:
        module = model.get_submodule(p.consumer)

        def hook(_: nn.Module, args: tuple[Any, ...], p: ChannelPair = p, m: Any = module) -> None:
            stats[p.name].add(_consumer_input(args[0], p, isinstance(m, _CONV)).cpu())

        handles.append(module.register_forward_pre_hook(hook))
    try:
        outputs = _outputs(model, calib, {})
    finally:
        for handle in handles:
            handle.remove()
    return outputs, stats


def _outputs(
    model: nn.Module, calib: Sequence[Batch], overrides: dict[str, torch.Tensor]
) -> list[torch.Tensor]:
    """The model's output tensor per batch, with parameters replaced by ``overrides``."""
    device = model_device(model)
    outs = []
    with torch.no_grad():
        for batch in calib:
            b = to_device(batch, device)
            args = (b,) if isinstance(b, torch.Tensor) else () if isinstance(b, Mapping) else b
            kwargs = dict(b) if isinstance(b, Mapping) else None
            out = torch.func.functional_call(model, overrides, tuple(args), kwargs)
            outs.append(output_tensor(out))
    return outs


def _relative(outs: Sequence[torch.Tensor], dense: Sequence[torch.Tensor]) -> float:
    """:math:`\\sum \\lVert y' - y\\rVert^2 / \\sum \\lVert y\\rVert^2` over the batches."""
    num = sum(
        float(((o.double() - d.double()) ** 2).sum()) for o, d in zip(outs, dense, strict=True)
    )
    den = sum(float((d.double() ** 2).sum()) for d in dense)
    return num / max(den, 1e-300)


State = dict[str, torch.Tensor]
"""Working copies of the pairs' weights and biases, keyed by parameter path."""


def _key(path: str, tensor: str) -> str:
    return f"{path}.{tensor}" if path else tensor


def _state(model: nn.Module, pairs: Sequence[ChannelPair]) -> State:
    params = dict(model.named_parameters())
    state: State = {}
    for p in pairs:
        for path in (p.producer, p.consumer):
            for tensor in ("weight", "bias"):
                if _key(path, tensor) in params:
                    state[_key(path, tensor)] = params[_key(path, tensor)].detach().clone()
    return state


def _effective_rows(model: nn.Module, state: State, pair: ChannelPair) -> torch.Tensor:
    """The producer's channels as affine maps (C, d + 1), its BatchNorm folded in (float64)."""
    w = state[_key(pair.producer, "weight")].double().reshape(pair.channels, -1)
    bias = state.get(_key(pair.producer, "bias"))
    b = torch.zeros_like(w[:, 0]) if bias is None else bias.double()
    if pair.batchnorm is not None:
        bn: Any = model.get_submodule(pair.batchnorm)
        scale = 1.0 / torch.sqrt(bn.running_var.double() + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight.detach().double()
        shift = 0.0 if bn.bias is None else bn.bias.detach().double()
        w, b = w * scale[:, None], (b - bn.running_mean.double()) * scale + shift
    return torch.cat([w, b[:, None]], dim=1).cpu()


def _weight_features(rows: torch.Tensor) -> NDArray[np.float64]:
    out: NDArray[np.float64] = (rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)).numpy()
    return out


def _activation_features(stats: _Stats) -> NDArray[np.float64]:
    r"""Rows :math:`F` with :math:`F F^\top` the correlation of the channels (constant ones 0)."""
    mean, second = stats.moments()
    cov = second - mean[:, None] * mean[None, :]
    var = cov.diagonal().clamp_min(0.0)
    live = var > 1e-12 * max(float(var.max()), 1e-300)
    inv = torch.where(live, 1.0 / var.clamp_min(1e-300).sqrt(), torch.zeros_like(var))
    corr = cov * inv[:, None] * inv[None, :]
    values, vectors = torch.linalg.eigh(corr)
    out: NDArray[np.float64] = (vectors * values.clamp_min(0.0).sqrt()).numpy()
    return out


def _features(kind: str, rows: torch.Tensor, stats: _Stats) -> NDArray[np.float64]:
    if kind == "weights":
        return _weight_features(rows)
    if kind == "activations":
        return _activation_features(stats)
    both = np.hstack([_weight_features(rows), _activation_features(stats)])
    out: NDArray[np.float64] = both / math.sqrt(2.0)
    return out


def _group(
    model: nn.Module, state: State, pair: ChannelPair, stats: _Stats, kind: str
) -> ClusterGroup:
    """The layer's `ClusterGroup`: unit features with the importance axis (`cluster_model`)."""
    unit = _features(kind, _effective_rows(model, state, pair), stats)
    importance = _importance(state, pair, stats)
    lam = 1.0 - importance / max(float(importance.max()), 1e-300)
    features = np.hstack([np.sqrt(1.0 - lam)[:, None] * unit, np.sqrt(lam)[:, None]])
    return ClusterGroup(pair.name, features, importance=importance)


def _importance(state: State, pair: ChannelPair, stats: _Stats) -> NDArray[np.float64]:
    """A channel's weight on the consumer: its RMS activation times its column norm."""
    _, second = stats.moments()
    v = state[_key(pair.consumer, "weight")].double().cpu()
    columns = v.reshape(v.shape[0], pair.channels, -1).transpose(0, 1).reshape(pair.channels, -1)
    out: NDArray[np.float64] = (second.diagonal().clamp_min(0).sqrt() * columns.norm(dim=1)).numpy()
    return out


def _magnitude_kept(state: State, pair: ChannelPair, n_keep: int) -> NDArray[np.int64]:
    """The ``n_keep`` channels of largest filter norm (weight and bias), ties to lower index."""
    w = state[_key(pair.producer, "weight")].reshape(pair.channels, -1).double().cpu()
    bias = state.get(_key(pair.producer, "bias"))
    norms = torch.cat([w, bias.double().cpu()[:, None]], 1) if bias is not None else w
    order = np.lexsort((np.arange(pair.channels), -norms.norm(dim=1).numpy()))
    return np.sort(order[:n_keep]).astype(np.int64)


def _coefficients(
    rows: torch.Tensor, stats: _Stats, merge: torch.Tensor, scale: str
) -> torch.Tensor:
    r"""Per channel :math:`\alpha_c` with :math:`x_c \approx \alpha_c x_{m(c)}`.

    ``"activations"``: least squares on the consumer's calibration inputs,
    :math:`\alpha_c = \langle x_c, x_r\rangle / \lVert x_r\rVert^2`; ``"weights"``: the
    projection of the channel's affine map on its representative's, clamped at 0 (exact for
    scaled copies through ReLU); ``"none"``: 1, the plain sum. Representatives get 1.
    """
    c = torch.arange(merge.numel())
    alpha = torch.ones(merge.numel(), dtype=torch.float64)
    if scale == "weights":
        rep = rows[merge]
        alpha = ((rows * rep).sum(1) / (rep * rep).sum(1).clamp_min(1e-30)).clamp_min(0.0)
    elif scale == "activations":
        _, second = stats.moments()
        cross, power = second[c, merge], second[merge, merge]
        tiny = 1e-12 * max(float(second.diagonal().max()), 1e-300)
        alpha = torch.where(power > tiny, cross / power.clamp_min(tiny), torch.zeros_like(power))
    alpha[merge == c] = 1.0
    return alpha


def _fold(
    model: nn.Module,
    state: State,
    pair: ChannelPair,
    merge: NDArray[np.int64],
    *,
    scale: str | None,
    stats: _Stats,
) -> None:
    """Merge ``pair``'s channels in ``state`` (``scale=None``: drop them, nothing folded).

    The consumer's columns of each merged channel are added, times :math:`\\alpha_c`, to its
    representative's, and the merged channels' producer rows and consumer columns become zero
    (same shapes).
    """
    target = torch.as_tensor(merge, dtype=torch.int64)
    keep = torch.zeros(pair.channels, dtype=torch.bool)
    keep[target] = True
    wk, bk = _key(pair.producer, "weight"), _key(pair.producer, "bias")
    vk = _key(pair.consumer, "weight")
    v = state[vk]
    grouped = v.reshape(v.shape[0], pair.channels, -1)
    if scale is not None:
        rows = _effective_rows(model, state, pair)
        alpha = _coefficients(rows, stats, target, scale).to(v)
        folded = torch.zeros_like(grouped).index_add_(
            1, target.to(v.device), grouped * alpha[None, :, None]
        )
    else:
        folded = grouped.clone()
    keep_d = keep.to(v.device)
    folded[:, ~keep_d] = 0
    state[vk] = folded.reshape(v.shape)
    state[wk] = state[wk] * keep_d.reshape(-1, *([1] * (state[wk].dim() - 1)))
    if bk in state:
        state[bk] = state[bk] * keep_d


def _kept_index(pairs: Sequence[ChannelPair], merges: Mapping[str, NDArray[np.int64]]) -> tuple[
    dict[str, torch.Tensor], dict[str, torch.Tensor]
]:  # fmt: skip
    """Rows kept per producer path and input columns kept per consumer path."""
    rows, cols = {}, {}
    for p in pairs:
        kept = torch.as_tensor(np.unique(merges[p.name]), dtype=torch.int64)
        rows[p.producer] = kept
        spread = torch.arange(p.spread)
        cols[p.consumer] = (kept[:, None] * p.spread + spread[None, :]).reshape(-1)
    return rows, cols


def _removed(
    model: nn.Module, state: State, pairs: Sequence[ChannelPair], merges: Mapping[str, Any]
) -> dict[str, nn.Module]:
    """New modules without the merged channels, keyed by path (layers and BatchNorms)."""
    rows, cols = _kept_index(pairs, merges)
    out: dict[str, nn.Module] = {}
    for path in dict.fromkeys([*rows, *cols]):
        module: Any = model.get_submodule(path)
        w, b = state[_key(path, "weight")], state.get(_key(path, "bias"))
        if path in rows:
            w = w[rows[path].to(w.device)]
            b = None if b is None else b[rows[path].to(w.device)]
        if path in cols:
            w = w[:, cols[path].to(w.device)]
        out[path] = _shrunk(module, w, b).train(module.training)
    for p in pairs:
        if p.batchnorm is not None:
            out[p.batchnorm] = _shrunk_batchnorm(model.get_submodule(p.batchnorm), rows[p.producer])
    return out


def _shrunk_batchnorm(module: Any, kept: torch.Tensor) -> nn.Module:
    new = type(module)(
        kept.numel(), eps=module.eps, momentum=module.momentum, affine=module.affine,
        track_running_stats=module.track_running_stats,
    )  # fmt: skip
    new = new.to(device=module.running_mean.device, dtype=module.running_mean.dtype)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            if getattr(module, name) is not None:
                getattr(new, name).copy_(getattr(module, name)[kept.to(new.running_mean.device)])
        new.num_batches_tracked.copy_(module.num_batches_tracked)
    result: nn.Module = new.train(module.training)
    return result


def _replace(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, child = path.rpartition(".")
    setattr(model.get_submodule(parent), child, module)


def _install(
    model: nn.Module,
    state: State,
    pairs: Sequence[ChannelPair],
    merges: Mapping[str, NDArray[np.int64]],
    remove: bool,
) -> int:
    """Write the merged pairs into ``model``; returns its parameter count once removed."""
    removed = _removed(model, state, pairs, merges)
    params = sum(p.numel() for p in model.parameters())
    for path, new in removed.items():
        old = model.get_submodule(path)
        params += sum(p.numel() for p in new.parameters()) - sum(
            p.numel() for p in old.parameters()
        )
    if remove:
        for path, new in removed.items():
            _replace(model, path, new)
        return params
    rows, cols = _kept_index(pairs, merges)
    with torch.no_grad():
        for key, tensor in state.items():
            model.get_parameter(key).copy_(tensor)
    for path in dict.fromkeys([*rows, *cols]):
        module: Any = model.get_submodule(path)
        mask = _mask(module.weight, rows.get(path), cols.get(path))
        prune.custom_from_mask(module, "weight", mask)  # type: ignore[no-untyped-call]
    return params


def _mask(
    weight: torch.Tensor, rows: torch.Tensor | None, cols: torch.Tensor | None
) -> torch.Tensor:
    """Ones on the kept rows and input columns of ``weight``, zeros elsewhere."""
    mask = torch.ones_like(weight)
    for dim, kept in ((0, rows), (1, cols)):
        if kept is not None:
            keep = torch.zeros(weight.shape[dim], dtype=torch.bool, device=weight.device)
            keep[kept.to(weight.device)] = True
            mask[(slice(None),) * dim + (~keep,)] = 0
    return mask


@dataclass(frozen=True, eq=False)
class LayerMerge:
    """One layer of `cluster_model`: its clusters and its own distortion.

    Attributes
    ----------
    name : str
        The producer's canonical weight name.
    channels, kept : int
        Output channels before and after.
    merge : ndarray of int64, shape (channels,)
        Channel -> the representative it was merged into.
    magnitude_kept : ndarray of int64, shape (kept,)
        The channels plain magnitude pruning keeps at the same width (largest filter norms).
    distortion, magnitude_distortion : float
        Model-output distortion :math:`\\sum\\lVert y' - y\\rVert^2 / \\sum\\lVert y\\rVert^2`
        on the calibration data with only this layer merged, or only this layer pruned by
        magnitude to the same width.
    """

    name: str
    channels: int
    kept: int
    merge: NDArray[np.int64]
    magnitude_kept: NDArray[np.int64]
    distortion: float
    magnitude_distortion: float


@dataclass(frozen=True, eq=False)
class ModelMergeReport:
    """What `cluster_model` did to a model, against magnitude pruning at the same widths.

    Attributes
    ----------
    layers : tuple of LayerMerge
        Per merged layer, in call order.
    channels, kept : int
        Output channels of those layers, before and after (``kept`` meets the target exactly).
    params, dense_params : int
        The model's parameters once the merged channels are removed, and before.
    distortion, magnitude_distortion : float
        Model-output distortion on the calibration data with every layer merged, and with
        every layer pruned by magnitude to the same widths instead.
    result : ClusteringResult
        The solver's result (one group per layer).
    """

    layers: tuple[LayerMerge, ...]
    channels: int
    kept: int
    params: int
    dense_params: int
    distortion: float
    magnitude_distortion: float
    result: ClusteringResult

    @property
    def merge(self) -> dict[str, NDArray[np.int64]]:
        """Layer name -> its merge map (for `merge_model`)."""
        return {layer.name: layer.merge for layer in self.layers}

    @property
    def magnitude_kept(self) -> dict[str, NDArray[np.int64]]:
        """Layer name -> the magnitude baseline's kept channels (for `drop_channels`)."""
        return {layer.name: layer.magnitude_kept for layer in self.layers}


class SupportsSolve(Protocol):
    """What `cluster_model` needs of a ``client``: `pruneplan.clients.Client.solve`'s shape."""

    def solve(self, problem: object, method: str = ..., time_limit: float | None = ...) -> Any:
        """Solve ``problem`` and return the family's result."""


def _choice(field: str, value: object, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{field}: must be one of {', '.join(map(repr, allowed))}; got {value!r}.")
    return str(value)


def _target(
    pairs: Sequence[ChannelPair],
    keep: int | float | None,
    n_clusters: int | Mapping[str, int] | None,
) -> dict[str, Any]:
    """``keep_budget=`` or ``n_clusters=`` of the `ClusteringProblem`, checked per layer."""
    if (keep is None) == (n_clusters is None):
        raise ValueError(
            f"keep, n_clusters: give exactly one (a total or per-layer widths); got keep={keep!r}, "
            f"n_clusters={n_clusters!r}."
        )
    total, names = sum(p.channels for p in pairs), [p.name for p in pairs]
    if keep is not None:
        fraction = isinstance(keep, float)
        count = round(keep * total) if fraction else keep
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not (
            len(pairs) <= count <= total and (not fraction or 0.0 < keep <= 1.0)
        ):  # fmt: skip
            raise ValueError(
                f"keep: must be a channel count in [{len(pairs)}, {total}] (one per layer up to "
                f"all channels of {names}) or a fraction in (0, 1] of them; got {keep!r}."
            )
        return {"keep_budget": int(count)}
    counts = (
        dict.fromkeys(names, n_clusters) if isinstance(n_clusters, int) else dict(n_clusters or {})
    )
    for name in counts:
        if name not in names:
            raise ValueError(f"n_clusters: {name!r} is not a mergeable layer; they are {names}.")
    for p in pairs:
        k = counts.get(p.name)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= p.channels:
            raise ValueError(
                f"n_clusters[{p.name!r}]: layer {p.name} must keep an integer in "
                f"[1, {p.channels}] channels; got {k!r}."
            )
    return {"n_clusters": counts}


def _keep_map(kept: NDArray[np.int64], channels: int) -> NDArray[np.int64]:
    """A merge map whose representatives are ``kept`` (the others dropped onto ``kept[0]``)."""
    merge = np.full(channels, kept[0], dtype=np.int64)
    merge[kept] = kept
    return merge


def _measure(
    model: nn.Module,
    state: State,
    pairs: Sequence[ChannelPair],
    merges: Mapping[str, NDArray[np.int64]],
    scale: str,
    stats: Mapping[str, _Stats],
    calib: tuple[Sequence[Batch], Sequence[torch.Tensor]],
) -> tuple[list[LayerMerge], State, float, float]:
    """Per layer and in total: merged against magnitude-pruned, on the calibration data."""
    merged, dropped, layers = dict(state), dict(state), []
    for p in pairs:
        kept = int(np.unique(merges[p.name]).size)
        mag = _magnitude_kept(state, p, kept)
        d = []
        for one, how, m in (
            (dict(state), scale, merges[p.name]),
            (dict(state), None, _keep_map(mag, p.channels)),
        ):
            _fold(model, one, p, m, scale=how, stats=stats[p.name])
            d.append(_relative(_outputs(model, calib[0], one), calib[1]))
        _fold(model, merged, p, merges[p.name], scale=scale, stats=stats[p.name])
        _fold(model, dropped, p, _keep_map(mag, p.channels), scale=None, stats=stats[p.name])
        layers.append(LayerMerge(p.name, p.channels, kept, merges[p.name], mag, d[0], d[1]))
    total = _relative(_outputs(model, calib[0], merged), calib[1])
    baseline = _relative(_outputs(model, calib[0], dropped), calib[1])
    return layers, merged, total, baseline


def cluster_model(
    model: nn.Module,
    calib: Sequence[Batch],
    *,
    keep: int | float | None = None,
    n_clusters: int | Mapping[str, int] | None = None,
    layers: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    features: str = "activations",
    scale: str = "activations",
    method: str = "auto",
    client: SupportsSolve | None = None,
    remove: bool = True,
    time_limit: float | None = None,
) -> ModelMergeReport:
    r"""Cluster every layer's channels, merge each cluster into one channel, in place.

    One `ClusteringProblem` over the layers of `channel_pairs` (a group per layer) is solved
    for a kept-channel total ``keep`` or per-layer ``n_clusters``, with channel features

    .. math::
        f_c = \left(\sqrt{1 - \lambda_c}\, u_c,\ \sqrt{\lambda_c}\right), \qquad
        \lambda_c = 1 - s_c / \max_j s_j

    where :math:`u_c` is the unit feature of channel :math:`c` (see ``features``) and
    :math:`s_c` its importance, the RMS of its consumer input times the norm of its consumer
    weights: redundant channels attract, and so do channels that matter little (merged away
    as magnitude pruning would drop them). Each merged channel :math:`c` of a cluster with
    representative :math:`r` (its most important channel) is folded into the consumer,
    :math:`V'_{:, r} = \sum_{c:\ m(c) = r} \alpha_c V_{:, c}`, where :math:`V` is the
    consumer's weight over its input channels (their kernels or flattened positions) and
    :math:`x_c \approx \alpha_c x_r` the fit of channel :math:`c`'s consumer input on its
    representative's (see ``scale``).

    Parameters
    ----------
    model : nn.Module
        Traceable by ``torch.fx``; changed in place (eval mode while measuring, then restored).
    calib : sequence of Batch
        Calibration batches: activation statistics and the reported distortions.
    keep : int or float, optional
        Channels kept over all layers (a count, or a fraction of their total): the budget
        is met exactly, layers with more redundant channels giving up more.
    n_clusters : int or mapping of str to int, optional
        Channels kept per layer (one count for all, or per canonical weight name).
    layers, exclude : sequence of str, optional
        Glob patterns of the layers to merge, as in `find_layers`.
    features : {"activations", "weights", "both"}
        :math:`u_c`: a factor of the correlation of the channels' consumer inputs on
        ``calib``, the unit filter with the BatchNorm folded in (cosine affinity), or both
        averaged.
    scale : {"activations", "weights", "none"}
        :math:`\alpha_c`: least squares on ``calib``, the projection of the filters (exact
        for scaled copies through ReLU), or 1 (the plain sum).
    method : str
        The clustering method (`cluster`'s ``method``).
    client : Client, optional
        Solve through the service (``client.solve(problem)``); in-process by default.
    remove : bool
        Remove the merged channels (new, narrower modules replace the pair's), or keep the
        shapes and mask them (``torch.nn.utils.prune`` masks; `finalize` makes them permanent).
    time_limit : float, optional
        Seconds for the solver.

    Returns
    -------
    ModelMergeReport
        Per layer and in total, the output distortion against magnitude pruning to the same
        widths; the parameter counts; the solver's result.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    >>> report = cluster_model(model, [torch.randn(64, 8)], keep=10)
    >>> report.kept, model[0].weight.shape, model[2].weight.shape
    (10, torch.Size([10, 8]), torch.Size([3, 10]))
    """
    pairs = channel_pairs(model, layers=layers, exclude=exclude)
    features, scale = _choice("features", features, FEATURES), _choice("scale", scale, SCALES)
    target = _target(pairs, keep, n_clusters)
    batches = list(calib)
    if not batches:
        raise ValueError("calib: must hold at least one batch; got none.")
    training = model.training
    model.eval()
    try:
        dense, stats = _calibrate(model, pairs, batches)
        state = _state(model, pairs)
        groups = [_group(model, state, p, stats[p.name], features) for p in pairs]
        result = _solve(ClusteringProblem(groups, **target), client, method, time_limit)
        merges = {p.name: np.asarray(result.merge[p.name], dtype=np.int64) for p in pairs}
        layer_reports, merged, total, baseline = _measure(
            model, state, pairs, merges, scale, stats, (batches, dense)
        )
        dense_params = sum(t.numel() for t in model.parameters())
        params = _install(model, merged, pairs, merges, remove)
    finally:
        model.train(training)
    kept = sum(r.kept for r in layer_reports)
    channels = sum(p.channels for p in pairs)
    return ModelMergeReport(
        tuple(layer_reports), channels, kept, params, dense_params, total, baseline, result
    )


def _solve(
    problem: ClusteringProblem, client: SupportsSolve | None, method: str, limit: float | None
) -> ClusteringResult:
    if client is None:
        result = solve(problem, method=method, time_limit=limit)
    else:
        result = client.solve(problem, method=method, time_limit=limit)
    if not isinstance(result, ClusteringResult):
        raise TypeError(f"client: must return a ClusteringResult; got {type(result).__name__}.")
    wanted = problem.keep_budget
    got = int(result.usage["clusters"])
    if wanted is not None and got != wanted:
        raise RuntimeError(f"the solver kept {got} channels, not the budget's {wanted}.")
    if isinstance(problem.n_clusters, Mapping):
        for name, k in problem.n_clusters.items():
            if int(np.unique(result.merge[name]).size) != k:
                raise RuntimeError(f"the solver did not keep {k} channels in layer {name}.")
    return result


def _checked_maps(
    model: nn.Module, maps: Mapping[str, ArrayLike], field: str, kept: bool
) -> tuple[list[ChannelPair], dict[str, NDArray[np.int64]]]:
    """The pairs named by ``maps`` and each map checked (a merge map, or kept channels)."""
    pairs = channel_pairs(model, layers=sorted(maps))
    found = {p.name: p for p in pairs}
    out = {}
    for name, value in maps.items():
        if name not in found:
            raise ValueError(f"{field}: {name!r} is not a mergeable layer; they are {list(found)}.")
        n = found[name].channels
        m = np.asarray(value, dtype=np.int64).reshape(-1)
        if kept:
            ok = 1 <= m.size <= n and np.unique(m).size == m.size and m.min() >= 0 and m.max() < n
            what = f"distinct channel indices in [0, {n}), at least one"
            m = _keep_map(np.sort(m), n) if ok else m
        else:
            ok = m.size == n and m.min() >= 0 and m.max() < n and np.array_equal(m[m], m)
            what = f"{n} channel indices in [0, {n}), each representative mapping to itself"
        if not ok:
            raise ValueError(f"{field}[{name!r}]: layer {name} must get {what}; got {value!r}.")
        out[name] = m
    return pairs, out


def _apply(
    model: nn.Module,
    maps: tuple[list[ChannelPair], dict[str, NDArray[np.int64]]],
    scale: str | None,
    calib: Sequence[Batch] | None,
    remove: bool,
) -> None:
    pairs, merges = maps
    training = model.training
    model.eval()
    try:
        if calib is not None:
            stats = _calibrate(model, pairs, list(calib))[1]
        else:
            stats = {p.name: _Stats.empty(p.channels) for p in pairs}
        state = _state(model, pairs)
        for p in pairs:
            _fold(model, state, p, merges[p.name], scale=scale, stats=stats[p.name])
        _install(model, state, pairs, merges, remove)
    finally:
        model.train(training)


def merge_model(
    model: nn.Module,
    merge: Mapping[str, ArrayLike],
    *,
    calib: Sequence[Batch] | None = None,
    scale: str = "weights",
    remove: bool = True,
) -> None:
    """Merge every named layer's channels as ``merge`` maps them, in place.

    ``merge`` maps canonical weight names to merge maps (channel -> its representative, a
    representative to itself), e.g. a `ClusteringResult`'s ``merge``; the fold is
    `cluster_model`'s (``scale="activations"`` needs ``calib``).

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> merge_model(model, {"0.weight": [0, 1, 0]})
    >>> model[0].weight.shape, model[2].weight.shape
    (torch.Size([2, 4]), torch.Size([2, 2]))
    """
    scale = _choice("scale", scale, SCALES)
    if scale == "activations" and calib is None:
        raise ValueError("calib: scale='activations' needs calibration batches; got None.")
    _apply(model, _checked_maps(model, merge, "merge", kept=False), scale, calib, remove)


def drop_channels(model: nn.Module, kept: Mapping[str, ArrayLike], *, remove: bool = True) -> None:
    """Plain structured pruning, in place: only the ``kept`` channels of each named layer stay.

    The baseline of `cluster_model` (``report.magnitude_kept``): nothing is folded.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> drop_channels(model, {"0.weight": [2]})
    >>> model[0].weight.shape, model[2].weight.shape
    (torch.Size([1, 4]), torch.Size([2, 1]))
    """
    _apply(model, _checked_maps(model, kept, "kept", kept=True), None, None, remove)
