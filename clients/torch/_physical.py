"""Apply a channel plan: softly (channels zeroed by masks, shapes kept) or physically."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from ._channel_plan import ChannelPlan
from ._channels import is_depthwise
from ._costs import layer_flops
from ._latency import time_ms
from ._layers import Batch, find_layers, forward, model_device

__all__ = [
    "History",
    "ModelCost",
    "StructuredReport",
    "load_history",
    "measure_model",
    "prune_channels",
    "rebuild",
    "save_history",
    "structured_report",
]

History = list[list[Any]]
"""Torch-Pruning's ``pruning_history()``: ``[module name, is output pruning, indices]`` each."""


def _tp() -> Any:
    import torch_pruning

    return torch_pruning


def _removed(
    model: nn.Module, plan: ChannelPlan | Mapping[str, Sequence[int]]
) -> dict[str, list[int]]:
    """Check every group name and index before anything is touched."""
    removed = plan.removed if isinstance(plan, ChannelPlan) else plan
    if isinstance(plan, ChannelPlan) and not plan.feasible:
        raise ValueError(
            f"plan: is {plan.result.status.name}, nothing to apply: {plan.result.message}"
        )
    modules = dict(model.named_modules())
    out = {}
    for name, idxs in removed.items():
        module = modules.get(name)
        if not isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
            raise ValueError(f"plan: group {name!r} is not a Conv/Linear module of the model")
        width = module.out_features if isinstance(module, nn.Linear) else module.out_channels
        bad = [i for i in idxs if not 0 <= int(i) < width]
        if bad or len(set(idxs)) >= width:
            raise ValueError(
                f"plan[{name!r}]: removed channels must be distinct, in [0, {width}) and leave "
                "one; "
                f"got {len(idxs)} indices{f', out of range {bad[:5]}' if bad else ''}"
            )
        out[name] = sorted(int(i) for i in idxs)
    return out


def _groups(
    model: nn.Module, example: Batch, removed: Mapping[str, list[int]]
) -> tuple[Any, list[Any]]:
    was_training = model.training
    model.eval()
    try:
        dg = _tp().DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    finally:
        model.train(was_training)
    groups = []
    for name, idxs in removed.items():
        if idxs:
            module = model.get_submodule(name)
            pruner = dg.get_pruner_of_module(module)
            groups.append(dg.get_pruning_group(module, pruner.prune_out_channels, idxs))
    return dg, groups


def prune_channels(
    model: nn.Module,
    example: Batch,
    plan: ChannelPlan | Mapping[str, Sequence[int]],
    *,
    physical: bool = True,
) -> History:
    """Remove ``plan.removed``'s channels from ``model`` in place, with every coupled layer.

    ``physical=True``: Torch-Pruning's ``DG.get_pruning_group(root, prune_out_channels,
    idxs=...)`` and ``prune()`` per group; the layers shrink and the returned history
    (`save_history`) rebuilds the same shapes on the dense architecture (`rebuild`).
    ``physical=False``: the same coupled slices are zeroed by ``torch.nn.utils.prune`` masks
    (``weight_orig`` + ``weight_mask``; shapes kept, reversible, gradients of removed
    channels zero); returns ``[]``. The outputs of both agree where every coupled layer is a
    Conv/Linear/BatchNorm (a LayerNorm's statistics change when channels leave it).

    Every group name and index is checked before the model is touched.
    """
    removed = _removed(model, plan)
    dg, groups = _groups(model, example, removed)
    if physical:
        for group in groups:
            group.prune()
        return [list(entry) for entry in dg.pruning_history()]
    masks: dict[tuple[str, str], torch.Tensor] = {}
    names = {m: n for n, m in model.named_modules()}
    for group in groups:
        for item in group:
            module = item.dep.target.module
            if isinstance(module, nn.Module) and module in names:
                out = dg.is_out_channel_pruning_fn(item.dep.handler)
                _zero(masks, names[module], module, list(item.idxs), out)
    for (name, pname), mask in masks.items():
        torch_prune.custom_from_mask(model.get_submodule(name), pname, mask)  # type: ignore[no-untyped-call]
    return []


def _zero(
    masks: dict[tuple[str, str], torch.Tensor],
    name: str,
    module: nn.Module,
    idxs: list[int],
    out: bool,
) -> None:
    """Zero ``idxs`` along each parameter's channel dimension in the accumulated masks."""
    weighted = isinstance(module, (nn.Linear, nn.modules.conv._ConvNd))
    for pname, param in list(module.named_parameters(recurse=False)):
        pname = pname.removesuffix("_orig")
        if not out and not (weighted and pname == "weight"):
            continue  # an input-channel pruning touches only a weight's columns
        dim = 0 if out or is_depthwise(module) else 1
        if param.dim() <= dim:
            continue
        key = (name, pname)
        if key not in masks:
            masks[key] = torch.ones_like(param)
        masks[key].index_fill_(dim, torch.tensor(idxs, device=param.device), 0.0)


def save_history(history: History, path: str | os.PathLike[str]) -> Path:
    """Write a pruning history as JSON."""
    out = Path(path)
    out.write_text(json.dumps(history))
    return out


def load_history(path: str | os.PathLike[str]) -> History:
    """Read `save_history`'s JSON."""
    history: History = json.loads(Path(path).read_text())
    return history


def rebuild(model: nn.Module, example: Batch, history: History) -> nn.Module:
    """Shrink a dense ``model`` (e.g. freshly built from the dense checkpoint) to the shapes a
    pruning history recorded, in place; then ``load_state_dict`` the pruned weights."""
    was_training = model.training
    model.eval()
    try:
        dg = _tp().DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
        dg.load_pruning_history([list(entry) for entry in history])
    finally:
        model.train(was_training)
    return model


@dataclass(frozen=True)
class ModelCost:
    """Parameters, FLOPs per sample (2 x Conv/Linear MACs) and measured milliseconds per call."""

    params: int
    flops: float
    latency_ms: float | None


def measure_model(
    model: nn.Module, example: Batch, *, latency: bool = True, repeats: int = 15
) -> ModelCost:
    """Count ``model``'s parameters and FLOPs on ``example`` and time one forward pass (eval,
    no gradients, the fastest of ``repeats``: steadier than the median on a loaded machine)."""
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        flops = sum(layer_flops(model, example, find_layers(model)).values())
        ms = None
        if latency:
            with torch.no_grad():
                ms = time_ms(lambda: forward(model, example), model_device(model), repeats, min)
    finally:
        model.train(was_training)
    return ModelCost(params, flops, ms)


@dataclass(frozen=True)
class StructuredReport:
    """The physical model's cost next to the dense model's and the plan's."""

    planned: dict[str, float]
    dense: ModelCost
    pruned: ModelCost

    @property
    def speedup(self) -> float | None:
        """Dense over pruned measured latency."""
        if self.dense.latency_ms is None or not self.pruned.latency_ms:
            return None
        return self.dense.latency_ms / self.pruned.latency_ms


def structured_report(
    dense: nn.Module, pruned: nn.Module, example: Batch, plan: ChannelPlan, *, latency: bool = True
) -> StructuredReport:
    """`measure_model` of both models, with the plan's modelled usage."""
    return StructuredReport(
        dict(plan.usage),
        measure_model(dense, example, latency=latency),
        measure_model(pruned, example, latency=latency),
    )
