"""Latency tables per group: each group's layers timed at candidate widths on the device."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from ._cache import ProfileCache, cache_key
from ._channels import ChannelGraph, ChannelGroup, is_depthwise
from ._latency import layer_inputs, time_ms
from ._layers import find_layers, model_device

__all__ = ["LatencyTable", "candidate_counts", "latency_tables"]

_CONSTANT = "<not pruned>"


@dataclass(frozen=True, eq=False)
class LatencyTable:
    """Milliseconds per group as a function of its kept count, and the rest of the model.

    ``tables[name][k]`` is the summed time of the layers the group owns (those whose output
    channels it prunes, else whose inputs) with ``k`` items kept, shape ``(size + 1,)``, a
    staircase over the measured counts (the time of the next measured count up, made
    non-decreasing: timing noise never makes a wider layer cheaper); ``constant``
    the time of the layers no group owns. Other groups' widths are dense while timing, so the
    table is an upper bound for a layer between two pruned groups.
    """

    tables: Mapping[str, NDArray[np.float64]]
    constant: float
    device: str

    def usage(self, counts: Mapping[str, int]) -> float:
        """Modelled milliseconds at the kept ``counts`` (a missing group keeps all)."""
        total = self.constant
        for name, table in self.tables.items():
            total += float(table[counts.get(name, len(table) - 1)])
        return total


def candidate_counts(size: int, widths: int, round_to: int = 1) -> list[int]:
    """Up to ``widths`` kept counts in ``1..size``, multiples of ``round_to``, ``size`` last.

    >>> candidate_counts(64, 4), candidate_counts(10, 20, round_to=4)
    ([16, 32, 48, 64], [4, 8, 10])
    """
    allowed = [k for k in range(round_to, size, round_to)] + [size]
    if len(allowed) <= widths:
        return allowed
    step = size / widths
    return sorted(
        {min(size, math.ceil(step * i / round_to) * round_to) for i in range(1, widths + 1)}
    )


def _owners(graph: ChannelGraph) -> dict[str, tuple[int, str]]:
    """Conv/Linear module name -> (group index, dimension) of the group that owns it."""
    owners: dict[str, tuple[int, str]] = {}
    for dim in ("out", "in"):
        for g, group in enumerate(graph.groups):
            for m in group.members:
                if m.dim == dim and m.module not in owners:
                    owners[m.module] = (g, dim)
    return owners


def _proxy(mod: nn.Module, inp: torch.Tensor, dim: str, channels: int) -> Callable[[], object]:
    """A call of a dense copy of ``mod`` with ``channels`` output (or input) channels."""
    weight = mod.weight
    assert isinstance(weight, torch.Tensor)
    if isinstance(mod, nn.Linear):
        n_in = channels if dim == "in" else mod.in_features
        n_out = channels if dim == "out" else mod.out_features
        proxy: nn.Module = nn.Linear(n_in, n_out, bias=mod.bias is not None)
        x = inp[..., :n_in]
    else:
        assert isinstance(mod, nn.modules.conv._ConvNd)
        depthwise = is_depthwise(mod)
        n_in = channels if dim == "in" or depthwise else mod.in_channels
        n_out = channels if dim == "out" else mod.out_channels
        conv = cast(Callable[..., nn.Module], type(mod))
        proxy = conv(
            n_in,
            n_out,
            mod.kernel_size,
            stride=mod.stride,
            padding=mod.padding,
            dilation=mod.dilation,
            groups=n_in if depthwise else mod.groups,
            bias=mod.bias is not None,
        )
        x = inp[:, :n_in]
    proxy = proxy.to(device=weight.device, dtype=weight.dtype).eval()
    x = torch.randn(x.shape, device=weight.device, dtype=weight.dtype)
    return lambda: proxy(x)


def _group_table(
    graph: ChannelGraph,
    group: ChannelGroup,
    owned: list[tuple[str, str]],
    inputs: Mapping[str, torch.Tensor],
    counts: list[int],
) -> dict[str, list[float]]:
    device = model_device(graph.model)
    ms = []
    with torch.no_grad():
        for k in counts:
            total = 0.0
            for name, dim in owned:
                mod = graph.model.get_submodule(name)
                member = next(m for m in group.members if m.module == name and m.dim == dim)
                channels = max(1, round(k * member.channels / group.size))
                total += time_ms(_proxy(mod, inputs[name], dim, channels), device, statistic=min)
            ms.append(total)
    return {"counts": [float(k) for k in counts], "ms": ms}


def _staircase(size: int, entry: Mapping[str, list[float]]) -> NDArray[np.float64]:
    counts = np.asarray(entry["counts"], dtype=np.int64)
    ms = np.asarray(entry["ms"], dtype=np.float64)
    table = np.zeros(size + 1)
    for k in range(1, size + 1):
        table[k] = ms[np.searchsorted(counts, k)]
    return np.maximum.accumulate(table)


def latency_tables(
    graph: ChannelGraph,
    *,
    widths: int = 8,
    round_to: int = 1,
    cache: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> LatencyTable:
    """Time every group's layers at up to ``widths`` kept counts on the model's device.

    Each Conv/Linear layer is owned by one group (the one pruning its output channels, else
    its inputs) and timed as a dense layer of that width on its input's shape (fastest of 7
    runs, ``time_ms``); the counts are `candidate_counts`. With ``cache`` (a JSON file keyed
    by the model's weights, the example, the device and the options) a rerun measures only
    what is missing.
    """
    model = graph.model
    device = model_device(model)
    owners = _owners(graph)
    layers = find_layers(model)
    key = cache_key(
        model,
        [graph.example],
        [float(widths), float(round_to)],
        "latency",
        device=str(device),
        groups=graph.names,
    )
    store = ProfileCache(cache, key)
    inputs = {
        k.removesuffix(".weight"): v for k, v in layer_inputs(model, graph.example, layers).items()
    }
    bar = Progress(
        TextColumn("timing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not progress,
    )
    with bar:
        task = bar.add_task("", total=len(graph.groups) + 1)
        for g, group in enumerate(graph.groups):
            bar.update(task, description=group.name)
            if group.name not in store.layers:
                owned = [(n, d) for n, (i, d) in owners.items() if i == g and n in inputs]
                counts = candidate_counts(group.size, widths, round_to)
                store.save(group.name, _group_table(graph, group, owned, inputs, counts))
            bar.advance(task)
        if _CONSTANT not in store.layers:
            rest = [n for n in inputs if n not in owners]
            ms = 0.0
            with torch.no_grad():
                for n in rest:
                    layer = functools.partial(model.get_submodule(n), inputs[n])
                    ms += time_ms(layer, device, statistic=min)
            store.save(_CONSTANT, {"ms": [float(ms)]})
        bar.advance(task)
    tables = {g.name: _staircase(g.size, store.layers[g.name]) for g in graph.groups}
    return LatencyTable(tables, store.layers[_CONSTANT]["ms"][0], str(device))
