"""Rate-distortion profiling of every prunable layer, with FLOPs, latency and a resumable cache."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, cast

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from pruneplan.solver import LayerProfile

from ._layers import (
    Batch,
    Layer,
    effective_weight,
    find_layers,
    fingerprint,
    forward,
    kept_count,
    model_device,
    output_tensor,
    to_device,
)
from ._masks import _current_mask, layer_flops, topk_mask

__all__ = [
    "DEFAULT_LEVELS",
    "LOG_DENSITY_LEVELS",
    "LossIncrease",
    "Metric",
    "distortion",
    "loss_increase",
    "profile",
]

DEFAULT_LEVELS: tuple[float, ...] = tuple(i / 32 for i in range(33))
"""The default grid: 33 sparsities 0, 1/32, ..., 1."""

LOG_DENSITY_LEVELS: tuple[float, ...] = (
    *(i / 32 for i in range(17)),
    *(1.0 - 0.5 * 2.0 ** (-k / 8) for k in range(1, 33)),
    1.0,
)
"""A grid for high sparsity: 50 levels, 0, 1/32, ..., 1/2 evenly, then the density halving
every 8 levels (steps of 8.3% of the kept weights) down to 1/32 (sparsity 31/32), then 1.

On the default grid one step at 90% sparsity changes a layer's kept weights by about 30%, too
coarse for a budget near there; this grid keeps the relative step constant. Profiling costs
50/33 as much."""

Criterion: TypeAlias = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``criterion(output, targets) -> mean loss``, e.g. ``torch.nn.functional.cross_entropy``."""


@dataclass(frozen=True)
class LossIncrease:
    """The task-loss increase metric; make one with ``loss_increase(criterion)``."""

    criterion: Criterion


Metric: TypeAlias = (
    str | Callable[[torch.Tensor, torch.Tensor], float | torch.Tensor] | LossIncrease
)
"""``"mse"``, ``"worst"``, ``"kl"``, ``loss_increase(criterion)`` or
``f(output, dense_output) -> distortion`` (per batch, averaged)."""

_NAMES = ("mse", "worst", "kl")


def loss_increase(criterion: Criterion) -> LossIncrease:
    r"""Metric: how much pruning raises the task loss on labelled calibration data.

    .. math::
        D = \frac{1}{N} \sum_b n_b \big(L(f(x_b; W'), y_b) - L(f(x_b; W), y_b)\big)

    where :math:`L` is ``criterion`` (mean over the batch), :math:`n_b` the size of batch
    :math:`b`, :math:`N = \sum_b n_b`, :math:`W'` the pruned and :math:`W` the reference
    weights; clipped at 0. With it, every calibration batch must be a pair
    ``(inputs, targets)``, ``inputs`` being any batch form ``profile`` accepts.

    This is the sensitivity SPDY (Frantar & Alistarh 2022) and OBC calibrate against. On a
    model that fits its calibration labels it is close to ``"kl"``, which needs no labels; it
    is noisier where pruning a little happens to lower the loss (clipped to 0).

    Examples
    --------
    >>> import torch
    >>> metric = loss_increase(torch.nn.functional.cross_entropy)
    >>> ref, y = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), torch.tensor([0, 1])
    >>> round(distortion([torch.zeros(2, 3)], [ref], metric, targets=[y]), 4)  # log 3 - 0.2395
    0.8591
    """
    if not callable(criterion):
        raise TypeError(f"criterion: must be callable(output, targets); got {criterion!r}")
    return LossIncrease(criterion)


def _kl_sum(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, int]:
    """Sum over rows of KL(softmax(ref) || softmax(out)) along the last dim, and the row count."""
    log_q = out.double().log_softmax(-1)
    log_p = ref.double().log_softmax(-1)
    kl = torch.sum(log_p.exp() * (log_p - log_q), dim=-1)
    return float(kl.sum()), kl.numel()


class _Distortion:
    """Accumulates the distortion of outputs against the dense outputs over the batches."""

    def __init__(self, metric: Metric) -> None:
        if isinstance(metric, str) and metric not in _NAMES:
            raise ValueError(
                f"metric: must be one of {list(_NAMES)}, loss_increase(criterion) or a "
                f"callable; got {metric!r}"
            )
        self.metric = metric
        self.total = 0.0
        self.count = 0

    def add(self, out: torch.Tensor, ref: torch.Tensor, targets: torch.Tensor | None) -> None:
        metric = self.metric
        if metric == "mse":
            self.total += float(torch.sum((out.double() - ref.double()) ** 2))
            self.count += out.numel()
        elif metric == "worst":
            per_sample = ((out.double() - ref.double()) ** 2).flatten(1).mean(1)
            self.total = max(self.total, float(per_sample.max()))
            self.count = 1
        elif metric == "kl":
            total, count = _kl_sum(out, ref)
            self.total += total
            self.count += count
        elif isinstance(metric, LossIncrease):
            assert targets is not None
            n = len(targets)
            increase = metric.criterion(out, targets) - metric.criterion(ref, targets)
            self.total += n * float(increase)
            self.count += n
        else:
            assert callable(metric)
            self.total += float(metric(out, ref))
            self.count += 1

    def value(self) -> float:
        value = self.total / max(1, self.count)
        if not np.isfinite(value):
            raise ValueError(f"metric {_metric_name(self.metric)}: gave {value}; must be finite")
        return max(0.0, value)


def distortion(
    outputs: Sequence[torch.Tensor],
    reference: Sequence[torch.Tensor],
    metric: Metric = "mse",
    *,
    targets: Sequence[torch.Tensor] | None = None,
) -> float:
    """The distortion ``profile`` measures, of given outputs against reference outputs.

    For checking a plan: the measured joint distortion of a pruned model against the sum of
    its layers' profiled distortions (the solver's objective). ``targets`` (one tensor per
    batch) are needed with ``loss_increase``.

    Examples
    --------
    >>> import torch
    >>> ref = torch.tensor([[0.0, 0.0]])
    >>> out = torch.tensor([[1.0, 0.0]])
    >>> distortion([ref], [ref], "kl"), round(distortion([out], [ref], "kl"), 4)
    (0.0, 0.1201)
    """
    acc = _Distortion(metric)
    if isinstance(metric, LossIncrease) and targets is None:
        raise ValueError("targets: loss_increase needs the targets of every batch; got None")
    labels: Sequence[torch.Tensor | None] = [None] * len(outputs) if targets is None else targets
    for out, ref, y in zip(outputs, reference, labels, strict=True):
        acc.add(out, ref, y)
    return acc.value()


def _split_targets(
    metric: Metric, batches: list[Batch]
) -> tuple[list[Batch], list[torch.Tensor] | None]:
    """With ``loss_increase``, split each ``(inputs, targets)`` batch; else no targets."""
    if not isinstance(metric, LossIncrease):
        return batches, None
    inputs, targets = [], []
    for i, batch in enumerate(batches):
        if not (
            isinstance(batch, (tuple, list))
            and len(batch) == 2
            and isinstance(batch[1], torch.Tensor)
        ):
            raise ValueError(
                f"calib: metric loss_increase needs every batch as a pair (inputs, targets); "
                f"batch {i} is {type(batch).__name__}"
                + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
                + "; pass e.g. [(x, y) for x, y in loader]"
            )
        inputs.append(batch[0])
        targets.append(batch[1])
    return inputs, targets


def _metric_name(metric: Metric) -> str:
    if isinstance(metric, str):
        return metric
    if isinstance(metric, LossIncrease):
        return f"loss_increase({_metric_name(metric.criterion)})"
    return f"{getattr(metric, '__module__', '')}.{getattr(metric, '__qualname__', repr(metric))}"


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients inside; every module's train/eval flag restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in modes:
            module.training = mode


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().reshape(-1).contiguous().cpu()
    return bytes(flat.view(torch.uint8).numpy()) if flat.numel() else b""


def _cache_key(
    model: nn.Module,
    batches: Sequence[Batch],
    levels: Sequence[float],
    metric: Metric,
    **extra: Any,
) -> str:
    digest = hashlib.sha256(fingerprint(model).encode())
    for name, tensor in [*model.state_dict().items()]:
        digest.update(name.encode())
        digest.update(_tensor_bytes(tensor))
    for batch in batches:
        values = (
            batch.values()
            if isinstance(batch, Mapping)
            else ([batch] if isinstance(batch, torch.Tensor) else batch)
        )
        for value in values:
            if isinstance(value, torch.Tensor):
                digest.update(_tensor_bytes(value))
    digest.update(json.dumps([list(levels), _metric_name(metric), extra], sort_keys=True).encode())
    return digest.hexdigest()


class _Cache:
    """Per-layer results in a JSON file, rewritten atomically after each layer."""

    def __init__(self, path: str | os.PathLike[str] | None, key: str) -> None:
        self.path = None if path is None else Path(path)
        self.key = key
        self.layers: dict[str, dict[str, list[float]]] = {}
        if self.path is not None and self.path.exists():
            data = json.loads(self.path.read_text())
            if data.get("key") == key:
                self.layers = data["layers"]

    def save(self, name: str, entry: dict[str, list[float]]) -> None:
        self.layers[name] = entry
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps({"key": self.key, "layers": self.layers}))
        os.replace(tmp, self.path)


def _target(module: nn.Module) -> torch.Tensor:
    """The tensor whose zeros prune the layer: the mask once pruned, else the weight itself."""
    mask = _current_mask(module)
    if mask is not None:
        return mask
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def _curve(
    model: nn.Module,
    layer: Layer,
    batches: Sequence[Batch],
    dense: Sequence[torch.Tensor],
    levels: Sequence[float],
    metric: Metric,
    targets: Sequence[torch.Tensor] | None,
    tick: Callable[[], None],
    offset: float = 0.0,
) -> list[float]:
    """Distortion of pruning only ``layer`` at each level, less ``offset`` (the distortion of
    the layer as it is), clipped at 0; the layer restored bit for bit."""
    target = _target(layer.module)
    saved = target.detach().clone()
    weight = effective_weight(layer.module)
    previous = _current_mask(layer.module)
    current = layer.size if previous is None else int(torch.count_nonzero(previous))
    loss = []
    try:
        for level in levels:
            kept = kept_count(layer.size, level)
            if kept >= current:  # the layer as it is: no distortion, no forward pass needed
                loss.append(0.0)
                tick()
                continue
            target.mul_(topk_mask(weight, kept, previous).to(target.dtype))
            acc = _Distortion(metric)
            for i, (batch, ref) in enumerate(zip(batches, dense, strict=True)):
                acc.add(
                    output_tensor(forward(model, batch)),
                    ref,
                    None if targets is None else targets[i],
                )
            loss.append(max(0.0, acc.value() - offset))
            target.copy_(saved)
            tick()
    finally:
        target.copy_(saved)
    return loss


def _measure(
    model: nn.Module,
    batches: Sequence[Batch],
    dense: Sequence[torch.Tensor],
    metric: Metric,
    targets: Sequence[torch.Tensor] | None,
) -> float:
    outputs = [output_tensor(forward(model, batch)) for batch in batches]
    return distortion(outputs, dense, metric, targets=targets)


@contextmanager
def _pruned_to(layers: Sequence[Layer], around: Mapping[str, float]) -> Iterator[None]:
    """Every layer named in ``around`` pruned by magnitude to its level inside; restored after."""
    saved = []
    try:
        for layer in layers:
            if layer.name not in around:
                continue
            target = _target(layer.module)
            saved.append((target, target.detach().clone()))
            previous = _current_mask(layer.module)
            kept = kept_count(layer.size, around[layer.name])
            if previous is not None:  # masks only grow
                kept = min(kept, int(torch.count_nonzero(previous)))
            mask = topk_mask(effective_weight(layer.module), kept, previous)
            target.mul_(mask.to(target.dtype))
        yield
    finally:
        for target, copy in saved:
            target.copy_(copy)


def _cut_magnitudes(layer: Layer, levels: Sequence[float]) -> list[float]:
    """Per level, the largest magnitude the level prunes (0 where nothing is pruned)."""
    ascending = torch.sort(effective_weight(layer.module).abs().flatten().double()).values
    out = []
    for level in levels:
        pruned = layer.size - kept_count(layer.size, level)
        out.append(float(ascending[pruned - 1]) if pruned > 0 else 0.0)
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_ms(fn: Callable[[], Any], device: torch.device, repeats: int = 7) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _latency(layer: Layer, inp: torch.Tensor, levels: Sequence[float]) -> list[float]:
    """Milliseconds of a dense layer of reduced output width, at each level's kept width.

    Structured proxy: level ``s`` keeps ``round(out * (1 - s))`` output channels/features
    (rounded to a multiple of ``groups``); a width of 0 costs 0 ms. Unstructured masks do not
    make a dense kernel faster; this is the latency a structured pruning at that density buys.
    """
    mod = layer.module
    out_width = layer.shape[0]
    by_width: dict[int, float] = {}
    result = []
    for level in levels:
        groups = getattr(mod, "groups", 1)
        width = round(out_width * (1.0 - level) / groups) * groups
        if width not in by_width:
            by_width[width] = 0.0 if width == 0 else _time_width(mod, inp, width)
        result.append(by_width[width])
    return result


def _time_width(mod: nn.Module, inp: torch.Tensor, width: int) -> float:
    weight = effective_weight(mod)
    device, dtype = weight.device, weight.dtype
    if isinstance(mod, nn.Linear):
        proxy: nn.Module = nn.Linear(mod.in_features, width, bias=mod.bias is not None)
    else:
        assert isinstance(mod, nn.modules.conv._ConvNd)
        conv = cast(Callable[..., nn.Module], type(mod))
        proxy = conv(
            mod.in_channels,
            width,
            mod.kernel_size,
            stride=mod.stride,
            padding=mod.padding,
            dilation=mod.dilation,
            groups=mod.groups,
            bias=mod.bias is not None,
        )
    proxy = proxy.to(device=device, dtype=dtype).eval()
    x = torch.randn(inp.shape, device=device, dtype=dtype)
    return _time_ms(lambda: proxy(x), device)


def _layer_inputs(
    model: nn.Module, batch: Batch, layers: Sequence[Layer]
) -> dict[str, torch.Tensor]:
    inputs: dict[str, torch.Tensor] = {}
    handles = [
        layer.module.register_forward_pre_hook(
            lambda mod, args, name=layer.name: inputs.setdefault(name, args[0])
        )
        for layer in layers
    ]
    try:
        forward(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    return inputs


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("profiling {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )


def profile(
    model: nn.Module,
    calib: Iterable[Batch],
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    metric: Metric = "mse",
    layers: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    progress: bool = True,
    latency: bool = False,
    device: torch.device | str | None = None,
    max_sparsity: float = 1.0,
    around: Mapping[str, float] | None = None,
) -> list[LayerProfile]:
    r"""Measure each prunable layer's rate-distortion curve, as Xu et al. (ICCV 2023) do.

    .. math::
        \ell_i(s) = D\big(f(x;\, W_1, \dots, M_s(W_i) \odot W_i, \dots, W_n),\; f(x;\, W)\big)

    where :math:`f(x; W)` is the model's output on the calibration data :math:`x` (the dense
    reference, or the current masked model once pruned), :math:`M_s(W_i)` the magnitude mask
    that keeps ``round(size_i * (1 - s))`` weights of layer :math:`i` alone, and :math:`D` the
    distortion ``metric``. Each layer is pruned alone, measured, and restored.

    Parameters
    ----------
    model : nn.Module
        Any module; left bit-identical (weights, buffers, masks) with every module's
        train/eval flag restored. Run in eval mode without gradients.
    calib : iterable of Batch
        Calibration batches, each a tensor, a tuple of positional arguments or a dict of
        keyword arguments; with ``loss_increase`` each is a pair ``(inputs, targets)``.
        Materialised once and run as given, so choose batches as large as memory allows: the
        cost is ``len(layers) * len(levels) * len(calib)`` forward passes. The output compared
        is the model's output, its ``logits``, or the first tensor of a tuple.
    levels : sequence of float
        Candidate sparsities, ascending in [0, 1]; default 33 levels ``0, 1/32, ..., 1``.
    metric : {"mse", "worst", "kl"}, LossIncrease or callable
        ``"mse"``: mean squared output error over all elements; ``"worst"``: the largest
        per-sample mean squared error (the variant Xu et al. use); ``"kl"``: mean over
        samples (every position of the last dimension's rows) of
        :math:`\mathrm{KL}(\mathrm{softmax}(f(x;W)) \,\|\, \mathrm{softmax}(f(x;W')))`, for
        classifiers and language models, no labels needed; ``loss_increase(criterion)``: the
        task-loss increase on labelled batches; a callable ``f(output, dense_output) ->
        float`` is averaged over batches. Every metric is clipped at 0. For classifiers use
        ``"kl"`` (see Notes).
    layers, exclude : sequence of str, optional
        Glob patterns of canonical parameter names to include / leave out.
    cache : path, optional
        JSON file of per-layer results keyed by the model's fingerprint, its weights and
        buffers, the calibration data, levels and metric; written after each layer, so an
        interrupted profile resumes at the next layer. A callable metric is keyed by its
        qualified name.
    progress : bool
        Show a progress bar (rich, on stderr).
    latency : bool
        Also measure ``"latency_ms"`` per level (see Notes).
    device : torch.device or str, optional
        Where batches go; default the model's device. The model is not moved.
    around : mapping of str to float, optional
        A plan's sparsity per layer (``result.sparsity``): each layer is then profiled with
        every other layer pruned by magnitude to its level here (temporarily), and its curve
        is the distortion beyond theirs, :math:`\ell_i(s) = D(W_{-i}^{\text{plan}}, s_i = s) -
        D(W_{-i}^{\text{plan}}, s_i = 0)`, clipped at 0. Far from the dense model the layers'
        errors compound, so curves measured around the plan predict its neighbours better
        than curves measured alone; ``refine`` re-solves with them.
    max_sparsity : float
        Set on every profile: levels above it are never chosen. Output distortion saturates
        once a layer is nearly gone, so a solver can find removing a whole layer "cheap",
        and no fine-tuning revives a fully masked layer; ``1 - 1/32`` keeps every layer alive.

    Returns
    -------
    list of LayerProfile
        In module order, named by the canonical parameter name, with ``size``, ``shape``,
        ``magnitudes`` (the largest magnitude each level prunes) and ``costs``: ``"params"``
        (kept weights), ``"flops"`` (per sample, ``2 * weight.numel() * positions`` measured
        by forward hooks on the first batch, times the kept fraction) and, with ``latency``,
        ``"latency_ms"``.

    Notes
    -----
    Which metric: the solver adds the layers' distortions, so the metric should track what
    the user loses and add up across layers. Logit MSE does neither well on a classifier:
    it counts shifts of all logits alike (a softmax ignores a common shift; a wrong class
    climbing matters more than the right one growing more confident) and at high sparsity it
    saturates at the scale of the logits. The KL divergence to the dense predictions is the
    expected log-loss increase against the dense model's own labels, its second-order term
    is the Fisher metric OBS-style methods use, and it is 0 exactly when the predictions
    are unchanged. ``loss_increase`` measures the same against true labels; on a model that
    fits its calibration data the two pick the same plans.

    Latency is a structured proxy: at level ``s`` a dense layer of the same type with
    ``round(out * (1 - s))`` output channels is timed on the first batch's input shape
    (median of 7 runs). Unstructured masks do not speed up dense kernels.

    Cost is forward passes: ``len(layers) * (len(levels) - 1)`` passes over the calibration
    data (level 0 and levels the layer already reaches cost none). Measured on one busy CPU
    core (torch 2.13): the demo's digits CNN (5 layers, 33 levels, 256 images) profiles in
    about 1-2 s. A ResNet-18 (21 prunable layers, 11.7 M parameters) runs 224x224 images at
    about 30 ms each, so its 672 passes take about 160 s with 8 calibration images and
    about 22 minutes with 64 (measured forward time times the pass count; a GPU was not
    measured). Use ``cache`` on long runs.

    References
    ----------
    Xu, K. et al. "Efficient Joint Optimization of Layer-Adaptive Weight Pruning in Deep
    Neural Networks", ICCV 2023.
    """
    level_list = [float(x) for x in levels]
    if any(b <= a for a, b in itertools.pairwise(level_list)) or not all(
        0.0 <= x <= 1.0 for x in level_list
    ):
        raise ValueError(f"levels: must be ascending in [0, 1]; got {level_list}")
    _Distortion(metric)  # validates the metric name
    dev = torch.device(device) if device is not None else model_device(model)
    batches, targets = _split_targets(metric, [to_device(b, dev) for b in calib])
    if not batches:
        raise ValueError("calib: must hold at least one batch; got none")
    found = find_layers(model, layers=layers, exclude=exclude)
    if not found:
        raise ValueError("layers: no Linear or Conv1d/2d/3d layer matches")
    context = _validate_around(around, found)
    with _frozen(model):
        key = _cache_key(
            model,
            [*batches, *(targets or [])],
            level_list,
            metric,
            latency=latency,
            layers=[layer.name for layer in found],
            around=context,
        )
        store = _Cache(cache, key)
        dense = [output_tensor(forward(model, b)).detach().clone() for b in batches]
        flops = layer_flops(model, batches[0], found)
        inputs = _layer_inputs(model, batches[0], found) if latency else {}
        with _progress(progress) as bar:
            task = bar.add_task("", total=len(found) * len(level_list))
            for layer in found:
                bar.update(task, description=layer.name)
                if layer.name not in store.layers:
                    others = {n: s for n, s in context.items() if n != layer.name}
                    with _pruned_to(found, others):
                        offset = _measure(model, batches, dense, metric, targets) if others else 0.0
                        loss = _curve(
                            model,
                            layer,
                            batches,
                            dense,
                            level_list,
                            metric,
                            targets,
                            lambda: bar.advance(task),
                            offset,
                        )
                    entry = {"loss": loss}
                    if latency:
                        entry["latency_ms"] = _latency(layer, inputs[layer.name], level_list)
                    store.save(layer.name, entry)
                else:
                    bar.advance(task, len(level_list))
        return [
            _layer_profile(layer, level_list, store.layers[layer.name], flops, max_sparsity)
            for layer in found
        ]


def _validate_around(
    around: Mapping[str, float] | None, found: Sequence[Layer]
) -> dict[str, float]:
    if around is None:
        return {}
    names = {layer.name for layer in found}
    context = {}
    for name, level in around.items():
        if name not in names:
            raise ValueError(
                f"around: {name!r} is not a profiled layer; expected names among {sorted(names)}"
            )
        if not 0.0 <= float(level) <= 1.0:
            raise ValueError(f"around[{name!r}]: must be a sparsity in [0, 1]; got {level}")
        context[name] = float(level)
    return context


def _layer_profile(
    layer: Layer,
    levels: list[float],
    entry: Mapping[str, list[float]],
    flops: Mapping[str, float],
    max_sparsity: float,
) -> LayerProfile:
    density = np.array([kept_count(layer.size, s) / layer.size for s in levels])
    costs = {
        "params": density * layer.size,
        "flops": density * flops[layer.name],
    }
    if "latency_ms" in entry:
        costs["latency_ms"] = np.asarray(entry["latency_ms"], dtype=np.float64)
    return LayerProfile(
        name=layer.name,
        levels=np.asarray(levels, dtype=np.float64),
        loss=np.asarray(entry["loss"], dtype=np.float64),
        size=layer.size,
        costs=costs,
        shape=layer.shape,
        max_sparsity=max_sparsity,
        magnitudes=np.asarray(_cut_magnitudes(layer, levels), dtype=np.float64),
    )
