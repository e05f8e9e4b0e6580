"""Rate-distortion profiling of every prunable layer: one layer pruned at a time, measured."""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from pruneplan.solver import LayerProfile

from ._cache import ProfileCache, cache_key
from ._context import frozen
from ._costs import layer_flops, level_costs
from ._evaluator import Evaluator
from ._latency import layer_inputs, layer_latency
from ._layers import (
    Batch,
    Layer,
    effective_weight,
    find_layers,
    kept_count,
    model_device,
    to_device,
)
from ._metrics import Distortion, Metric, split_targets

__all__ = ["DEFAULT_LEVELS", "LOG_DENSITY_LEVELS", "profile"]

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


def _cut_magnitudes(layer: Layer, levels: Sequence[float]) -> list[float]:
    """Per level, the largest magnitude the level prunes (0 where nothing is pruned)."""
    ascending = torch.sort(effective_weight(layer.module).abs().flatten().double()).values
    out = []
    for level in levels:
        pruned = layer.size - kept_count(layer.size, level)
        out.append(float(ascending[pruned - 1]) if pruned > 0 else 0.0)
    return out


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
    level_list = _validate_levels(levels)
    Distortion(metric)  # validates the metric name
    dev = torch.device(device) if device is not None else model_device(model)
    batches, targets = split_targets(metric, [to_device(b, dev) for b in calib])
    if not batches:
        raise ValueError("calib: must hold at least one batch; got none")
    found = find_layers(model, layers=layers, exclude=exclude)
    if not found:
        raise ValueError("layers: no Linear or Conv1d/2d/3d layer matches")
    context = _validate_around(around, found)
    with frozen(model):
        key = cache_key(
            model,
            [*batches, *(targets or [])],
            level_list,
            metric,
            latency=latency,
            layers=[layer.name for layer in found],
            around=context,
        )
        store = ProfileCache(cache, key)
        evaluator = Evaluator(model, found, batches, metric, targets)
        flops = layer_flops(model, batches[0], found)
        inputs = layer_inputs(model, batches[0], found) if latency else {}
        with _progress(progress) as bar:
            task = bar.add_task("", total=len(found) * len(level_list))
            for layer in found:
                bar.update(task, description=layer.name)
                if layer.name in store.layers:
                    bar.advance(task, len(level_list))
                    continue
                tick = functools.partial(bar.advance, task)
                entry = {"loss": _layer_curve(evaluator, layer, level_list, context, tick)}
                if latency:
                    entry["latency_ms"] = layer_latency(layer, inputs[layer.name], level_list)
                store.save(layer.name, entry)
        return [
            _layer_profile(layer, level_list, store.layers[layer.name], flops, max_sparsity)
            for layer in found
        ]


def _layer_curve(
    evaluator: Evaluator,
    layer: Layer,
    levels: Sequence[float],
    around: Mapping[str, float],
    tick: Callable[[float], None],
) -> list[float]:
    """``layer``'s curve with every other layer of ``around`` pruned to its level there."""
    return evaluator.curve_around(layer.name, levels, around, tick)


def _validate_levels(levels: Sequence[float]) -> list[float]:
    level_list = [float(x) for x in levels]
    if any(b <= a for a, b in itertools.pairwise(level_list)) or not all(
        0.0 <= x <= 1.0 for x in level_list
    ):
        raise ValueError(f"levels: must be ascending in [0, 1]; got {level_list}")
    return level_list


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
    costs = level_costs(layer, levels, flops[layer.name])
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
