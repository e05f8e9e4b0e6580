"""Channel importance per group item, summed over the group's coupled layers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from ._channels import ChannelGraph, ChannelGroup, Member, is_depthwise
from ._layers import Batch, forward, model_device, to_device

__all__ = ["IMPORTANCE", "Loss", "channel_importance"]

IMPORTANCE = ("l1", "l2", "bn", "taylor", "activation")
"""The importance measures `channel_importance` computes."""

Loss = Callable[[nn.Module, Batch], torch.Tensor]
"""``loss(model, batch) -> scalar tensor`` for ``"taylor"``."""

_WEIGHTED = (nn.Linear, nn.modules.conv._ConvNd)
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)


def channel_importance(
    graph: ChannelGraph,
    batches: Iterable[Batch] = (),
    kind: str = "l2",
    *,
    loss: Loss | None = None,
) -> dict[str, NDArray[np.float64]]:
    r"""Importance of every item of every group, shape ``(group.size,)`` per group name.

    .. math::
        v_j = \sum_{l \in G} \sum_{w \in S_{l,j}} s(w)

    where :math:`G` are the group's coupled layers, :math:`S_{l,j}` the slice of layer
    :math:`l`'s parameters that item :math:`j` removes (its output channel's filter, its
    input channel's column) and :math:`s` the measure:

    - ``"l1"``: :math:`|w|`; ``"l2"``: :math:`w^2`, the square root taken per item (the
      filter norm over all coupled slices); Conv/Linear weights only.
    - ``"bn"``: :math:`|\gamma|` of the group's BatchNorm/LayerNorm/GroupNorm scales.
    - ``"taylor"``: first-order Taylor :math:`|w \cdot \partial L / \partial w|` with the
      gradient accumulated over ``batches`` (Molchanov et al., 2019); ``loss(model, batch)``,
      by default the cross-entropy of ``model(inputs)`` on batches ``(inputs, targets)``.
    - ``"activation"``: mean :math:`|a|` of the output channels of the group's Conv/Linear
      layers over ``batches`` (every sample and position).

    The model's weights and train/eval flags are left as they were; ``"taylor"`` zeroes and
    then restores no gradients (they are computed with ``torch.autograd.grad``).
    """
    if kind not in IMPORTANCE:
        raise ValueError(f"importance: must be one of {list(IMPORTANCE)}; got {kind!r}")
    data = list(batches)
    if kind in ("taylor", "activation") and not data:
        raise ValueError(f"importance {kind!r}: needs calibration batches; got none")
    model = graph.model
    if kind == "taylor":
        grads = _gradients(model, data, loss)
        return {g.name: _sliced(model, g, lambda n, p: (p * grads[n]).abs()) for g in graph.groups}
    if kind == "activation":
        return _activation(model, graph.groups, data)
    if kind == "bn":
        return {g.name: _bn(model, g) for g in graph.groups}
    power = 1 if kind == "l1" else 2
    out = {g.name: _sliced(model, g, lambda n, p: p.abs() ** power) for g in graph.groups}
    return out if power == 1 else {k: np.sqrt(v) for k, v in out.items()}


def _slices(module: nn.Module, member: Member) -> list[tuple[str, torch.Tensor, int]]:
    """``(parameter name, parameter, dimension)`` that a member's channels index."""
    if not isinstance(module, _WEIGHTED):
        return []
    out = [("weight", module.weight, 0 if member.dim == "out" or is_depthwise(module) else 1)]
    if member.dim == "out" and module.bias is not None:
        out.append(("bias", module.bias, 0))
    return out


def _sliced(
    model: nn.Module,
    group: ChannelGroup,
    score: Callable[[str, torch.Tensor], torch.Tensor],
) -> NDArray[np.float64]:
    values = np.zeros(group.size)
    for member in group.members:
        module = model.get_submodule(member.module)
        for pname, param, dim in _slices(module, member):
            s = score(f"{member.module}.{pname}", param.detach()).double()
            per_channel = s.movedim(dim, 0).reshape(s.shape[dim], -1).sum(1).cpu().numpy()
            np.add.at(values, np.asarray(member.items), per_channel[list(member.idxs)])
    return values


def _bn(model: nn.Module, group: ChannelGroup) -> NDArray[np.float64]:
    values = np.zeros(group.size)
    found = False
    for member in group.members:
        module = model.get_submodule(member.module)
        if isinstance(module, _NORMS) and getattr(module, "weight", None) is not None:
            gamma = module.weight.detach().abs().double().cpu().numpy()
            np.add.at(values, np.asarray(member.items), gamma[list(member.idxs)])
            found = True
    if not found:
        raise ValueError(
            f"importance 'bn': group {group.name!r} has no BatchNorm/LayerNorm/GroupNorm scale; "
            "use 'l2', 'taylor' or 'activation'"
        )
    return values


def _default_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise ValueError(
            "importance 'taylor': batches must be (inputs, targets) pairs for the default "
            f"cross-entropy, or pass loss=; got {type(batch).__name__}"
        )
    inputs, targets = batch
    return nn.functional.cross_entropy(forward(model, inputs), targets)


def _gradients(
    model: nn.Module, batches: Sequence[Batch], loss: Loss | None
) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            value = (loss or _default_loss)(model, to_device(batch, device))
            grads = torch.autograd.grad(value, list(params.values()), allow_unused=True)
            for (n, _), g in zip(params.items(), grads, strict=True):
                if g is not None:
                    total[n] += g
    finally:
        model.train(was_training)
    return total


def _activation(
    model: nn.Module, groups: Sequence[ChannelGroup], batches: Sequence[Batch]
) -> dict[str, NDArray[np.float64]]:
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    outs = {m.module for g in groups for m in g.members if m.dim == "out"}
    handles = []
    for name in outs:
        module = model.get_submodule(name)
        if not isinstance(module, _WEIGHTED):
            continue

        def hook(mod: nn.Module, inp: Any, out: Any, name: str = name) -> None:
            a = out.detach().abs().double()
            a = a.movedim(1 if isinstance(mod, nn.modules.conv._ConvNd) else -1, 0)
            flat = a.reshape(a.shape[0], -1)
            sums[name] = sums.get(name, 0) + flat.sum(1)
            counts[name] = counts.get(name, 0) + flat.shape[1]

        handles.append(module.register_forward_hook(hook))
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                forward(model, to_device(batch, device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return {g.name: _activation_values(g, sums, counts) for g in groups}


def _activation_values(
    group: ChannelGroup, sums: dict[str, torch.Tensor], counts: dict[str, int]
) -> NDArray[np.float64]:
    values = np.zeros(group.size)
    for m in group.members:
        if m.dim == "out" and m.module in sums:
            mean = (sums[m.module] / counts[m.module]).cpu().numpy()
            np.add.at(values, np.asarray(m.items), mean[list(m.idxs)])
    return values
