"""Finding prunable layers, naming them, fingerprinting a model and running calibration batches."""

from __future__ import annotations

import fnmatch
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import torch
from torch import nn

from pruneplan.solver import kept_count

__all__ = [
    "PRUNABLE_TYPES",
    "Batch",
    "Layer",
    "canonical_name",
    "current_mask",
    "effective_weight",
    "find_layers",
    "fingerprint",
    "forward",
    "kept_count",
    "model_device",
    "output_tensor",
    "to_device",
]

Batch: TypeAlias = torch.Tensor | tuple[Any, ...] | list[Any] | Mapping[str, Any]
"""One calibration batch: a tensor, a tuple of positional arguments or a dict of kwargs."""

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
"""Module types pruned by default."""

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def canonical_name(name: str) -> str:
    """Strip the ``module.`` (DataParallel/DDP) and ``_orig_mod.`` (torch.compile) prefixes.

    Examples
    --------
    >>> canonical_name("_orig_mod.module.layer1.0.conv1.weight")
    'layer1.0.conv1.weight'
    """
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
                stripped = True
    return name


@dataclass(frozen=True, eq=False)
class Layer:
    """A prunable weight: its canonical parameter name, the module and the weight's shape."""

    name: str
    module: nn.Module
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of prunable elements."""
        return math.prod(self.shape)

    @property
    def pruned(self) -> bool:
        """Whether ``torch.nn.utils.prune`` already reparametrised the weight."""
        return hasattr(self.module, "weight_orig") and hasattr(self.module, "weight_mask")


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight the module computes with: ``weight_orig * weight_mask`` once pruned."""
    if hasattr(module, "weight_orig") and hasattr(module, "weight_mask"):
        orig = module.weight_orig
        mask = module.weight_mask
        assert isinstance(orig, torch.Tensor) and isinstance(mask, torch.Tensor)
        return orig.detach() * mask
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    return weight.detach()


def current_mask(module: nn.Module) -> torch.Tensor | None:
    """The module's ``weight_mask`` once ``torch.nn.utils.prune`` reparametrised it, else None."""
    mask = getattr(module, "weight_mask", None)
    return mask if isinstance(mask, torch.Tensor) and hasattr(module, "weight_orig") else None


def _matches(name: str, patterns: Sequence[str] | None) -> bool:
    return patterns is not None and any(fnmatch.fnmatchcase(name, p) for p in patterns)


def find_layers(
    model: nn.Module,
    *,
    layers: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> list[Layer]:
    """Prunable layers of ``model`` in module order.

    Parameters
    ----------
    model : nn.Module
    layers : sequence of str, optional
        Glob patterns (``fnmatch``, e.g. ``"layer1.*"``) on the canonical parameter name; only
        matching layers are kept. Default: every Linear and Conv1d/2d/3d.
    exclude : sequence of str, optional
        Glob patterns of layers to leave out (applied after ``layers``).

    Returns
    -------
    list of Layer
        Keyed by the canonical name of the weight (``"layer1.0.conv1.weight"``).
    """
    found: list[Layer] = []
    seen: set[str] = set()
    for module_name, module in model.named_modules():
        if not isinstance(module, PRUNABLE_TYPES):
            continue
        name = canonical_name(f"{module_name}.weight" if module_name else "weight")
        if name in seen:  # a module shared by two paths is pruned once
            continue
        if layers is not None and not _matches(name, layers):
            continue
        if _matches(name, exclude):
            continue
        seen.add(name)
        found.append(Layer(name, module, tuple(effective_weight(module).shape)))
    return found


def fingerprint(model: nn.Module) -> str:
    """Identity of a model's prunable structure: a hash of layer names and weight shapes.

    Every Linear and Conv1d/2d/3d counts, whatever subset a profile selects, so a plan made
    for a subset still matches its model. Weights do not count: a plan stays valid while the
    model trains.

    Examples
    --------
    >>> from torch import nn
    >>> a, b = nn.Sequential(nn.Linear(4, 3)), nn.Sequential(nn.Linear(4, 3))
    >>> fingerprint(a) == fingerprint(b), fingerprint(a) == fingerprint(nn.Linear(4, 2))
    (True, False)
    """
    digest = hashlib.sha256()
    for layer in find_layers(model):
        digest.update(f"{layer.name}:{'x'.join(map(str, layer.shape))};".encode())
    return digest.hexdigest()[:16]


def to_device(batch: Batch, device: torch.device | None) -> Batch:
    """Move the tensors of a batch (top level of a tuple or dict) to ``device``."""
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return tuple(v.to(device) if isinstance(v, torch.Tensor) else v for v in batch)


def forward(model: nn.Module, batch: Batch) -> Any:
    """Call the model on a batch: ``model(x)``, ``model(*args)`` or ``model(**kwargs)``."""
    if isinstance(batch, torch.Tensor):
        return model(batch)
    if isinstance(batch, Mapping):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    raise TypeError(
        f"calibration batch: must be a tensor, a tuple of positional arguments or a dict of "
        f"keyword arguments; got {type(batch).__name__}"
    )


def output_tensor(output: Any) -> torch.Tensor:
    """The tensor compared: the output itself, its ``logits`` or the first tensor of a tuple."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, Mapping):
        logits = output.get("logits")
        if isinstance(logits, torch.Tensor):
            return logits
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    raise TypeError(
        f"model output: must be a tensor, have a tensor `logits`, or be a tuple holding a "
        f"tensor; got {type(output).__name__}"
    )


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU if it has none)."""
    for param in model.parameters():
        return param.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")
