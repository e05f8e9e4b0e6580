"""Context managers that change a model temporarily: frozen (eval, no grad), pruned to a plan."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from ._layers import Layer, current_mask, effective_weight, kept_count
from ._masks import topk_mask

__all__ = ["frozen", "prune_target", "pruned_to"]


@contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients inside; every module's train/eval flag restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in modes:
            module.training = mode


def prune_target(module: nn.Module) -> torch.Tensor:
    """The tensor whose zeros prune the layer: the mask once pruned, else the weight itself."""
    mask = current_mask(module)
    if mask is not None:
        return mask
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight


@contextmanager
def pruned_to(layers: Sequence[Layer], around: Mapping[str, float]) -> Iterator[None]:
    """Every layer named in ``around`` pruned by magnitude to its level inside; restored after."""
    saved = []
    try:
        for layer in layers:
            if layer.name not in around:
                continue
            target = prune_target(layer.module)
            saved.append((target, target.detach().clone()))
            previous = current_mask(layer.module)
            kept = kept_count(layer.size, around[layer.name])
            mask = topk_mask(effective_weight(layer.module), kept, previous)  # masks only grow
            target.mul_(mask.to(target.dtype))
        yield
    finally:
        for target, copy in saved:
            target.copy_(copy)
