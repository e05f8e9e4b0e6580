"""Costs per layer: dense FLOPs by forward hooks, params and FLOPs per level, budgets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from pruneplan.solver import LayerProfile

from ._layers import Batch, Layer, effective_weight, forward, kept_count, output_tensor

__all__ = ["dense_cost", "layer_flops", "level_costs", "relative_budget"]


def layer_flops(model: nn.Module, example: Batch, layers: list[Layer]) -> dict[str, float]:
    """Dense FLOPs per sample of each layer's weight (2 x multiply-accumulates), by hooks.

    One forward pass on ``example`` without gradients; FLOPs of a Linear or ConvNd weight are
    ``2 * weight.numel() * output.numel() / out_channels``, divided by the batch size (the
    leading dimension of the model's output).
    """
    counts: dict[str, float] = {}
    handles = []
    for layer in layers:

        def hook(mod: nn.Module, inp: Any, out: Any, name: str = layer.name) -> None:
            width = out.shape[1] if isinstance(mod, nn.modules.conv._ConvNd) else out.shape[-1]
            counts[name] = counts.get(name, 0.0) + 2.0 * effective_weight(mod).numel() * (
                out.numel() / width
            )

        handles.append(layer.module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            batch_size = output_tensor(forward(model, example)).shape[0]
    finally:
        for handle in handles:
            handle.remove()
    return {layer.name: counts.get(layer.name, 0.0) / max(1, batch_size) for layer in layers}


def level_costs(
    layer: Layer, levels: Sequence[float], flops: float
) -> dict[str, NDArray[np.float64]]:
    r"""``"params"`` and ``"flops"`` per level, both proportional to the weights kept.

    .. math::
        c_{\text{params}}(s) = k(s), \qquad c_{\text{flops}}(s) = F \, k(s) / n

    where :math:`k(s)` is ``kept_count(n, s)``, :math:`n` the layer's size and :math:`F` its
    dense FLOPs per sample (``layer_flops``).
    """
    density = np.array([kept_count(layer.size, s) / layer.size for s in levels])
    return {"params": density * layer.size, "flops": density * flops}


def dense_cost(profiles: Sequence[LayerProfile], resource: str) -> float:
    """Total cost of the unpruned prunable layers in ``resource`` ("params", "flops", ...).

    Read at each layer's first level and scaled by its density (exact for "params" and
    "flops", which are linear in the kept weights; the first level is 0 on the default grid).
    """
    total = 0.0
    for p in profiles:
        first = float(np.asarray(p.levels, dtype=np.float64)[0])
        if resource == "params" and (p.costs is None or "params" not in p.costs):
            total += float(p.size)
            continue
        if p.costs is None or resource not in p.costs:
            raise KeyError(f"layer {p.name!r}: has no cost {resource!r}")
        cost = float(np.asarray(p.costs[resource], dtype=np.float64)[0])
        total += cost / max(1.0 - first, 1e-12)
    return total


def relative_budget(
    profiles: Sequence[LayerProfile], fractions: Mapping[str, float]
) -> dict[str, float]:
    """Absolute budget from fractions of the dense cost, e.g. ``{"flops": 0.3}``.

    Examples
    --------
    >>> from pruneplan.solver import LayerProfile
    >>> p = LayerProfile("w", [0.0, 0.5], [0.0, 1.0], 10, costs={"flops": [40.0, 20.0]})
    >>> relative_budget([p], {"flops": 0.3, "params": 0.5})
    {'flops': 12.0, 'params': 5.0}
    """
    return {r: f * dense_cost(profiles, r) for r, f in fractions.items()}
