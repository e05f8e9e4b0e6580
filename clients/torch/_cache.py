"""The on-disk profile cache: per-layer curves in a JSON file, keyed by model, data and options."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._layers import Batch, fingerprint
from ._metrics import Metric, metric_name

__all__ = ["ProfileCache", "cache_key"]


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().reshape(-1).contiguous().cpu()
    return bytes(flat.view(torch.uint8).numpy()) if flat.numel() else b""


def cache_key(
    model: nn.Module,
    batches: Sequence[Batch],
    levels: Sequence[float],
    metric: Metric,
    **extra: Any,
) -> str:
    """SHA-256 of what a profile depends on: the model's fingerprint, every tensor of its
    ``state_dict`` (weights, buffers, masks), the batches' tensors, the levels, the metric's
    name and ``extra`` (JSON-serialisable options)."""
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
    digest.update(json.dumps([list(levels), metric_name(metric), extra], sort_keys=True).encode())
    return digest.hexdigest()


class ProfileCache:
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
