"""Latency per level: a dense layer of the kept output width, timed (a structured proxy)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch import nn

from ._layers import Batch, Layer, effective_weight, forward, kept_count

__all__ = ["layer_inputs", "layer_latency", "time_ms"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(
    fn: Callable[[], Any],
    device: torch.device,
    repeats: int = 7,
    statistic: Callable[[list[float]], float] = statistics.median,
) -> float:
    """Milliseconds of ``repeats`` calls of ``fn`` after two warm-up calls, their median
    (``statistic=min``: the fastest, steadier on a loaded machine)."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistic(times)


def layer_latency(layer: Layer, inp: torch.Tensor, levels: Sequence[float]) -> list[float]:
    """Milliseconds of a dense layer of reduced output width, at each level's kept width.

    Structured proxy: level ``s`` keeps ``kept_count(out / groups, s) * groups`` output
    channels/features (``round(out * (1 - s))`` rounded to a multiple of ``groups``); a width of
    0 costs 0 ms. Unstructured masks do not
    make a dense kernel faster; this is the latency a structured pruning at that density buys.
    """
    mod = layer.module
    out_width = layer.shape[0]
    by_width: dict[int, float] = {}
    result = []
    groups = getattr(mod, "groups", 1)
    for level in levels:
        width = kept_count(out_width // groups, level) * groups
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
    return time_ms(lambda: proxy(x), device)


def layer_inputs(
    model: nn.Module, batch: Batch, layers: Sequence[Layer]
) -> dict[str, torch.Tensor]:
    """Each layer's first input tensor on one forward pass of ``batch`` (by pre-hooks)."""
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
