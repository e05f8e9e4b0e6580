"""Distortion metrics: MSE, worst-sample MSE, KL to the dense predictions, task-loss increase."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import torch
from torch import nn

from ._layers import Batch, forward, output_tensor

__all__ = [
    "Criterion",
    "Distortion",
    "LossIncrease",
    "Metric",
    "distortion",
    "loss_increase",
    "measure",
    "metric_name",
    "reference_outputs",
    "split_targets",
]

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


class Distortion:
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
            raise ValueError(f"metric {metric_name(self.metric)}: gave {value}; must be finite")
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
    acc = Distortion(metric)
    if isinstance(metric, LossIncrease) and targets is None:
        raise ValueError("targets: loss_increase needs the targets of every batch; got None")
    labels: Sequence[torch.Tensor | None] = [None] * len(outputs) if targets is None else targets
    for out, ref, y in zip(outputs, reference, labels, strict=True):
        acc.add(out, ref, y)
    return acc.value()


def reference_outputs(model: nn.Module, batches: Sequence[Batch]) -> list[torch.Tensor]:
    """The model's outputs on ``batches`` (``output_tensor`` of each), detached copies: the
    reference a pruned model's outputs are compared against."""
    return [output_tensor(forward(model, batch)).detach().clone() for batch in batches]


def measure(
    model: nn.Module,
    batches: Sequence[Batch],
    reference: Sequence[torch.Tensor],
    metric: Metric,
    targets: Sequence[torch.Tensor] | None,
) -> float:
    """``distortion`` of the model's outputs on ``batches`` against ``reference``."""
    outs = [output_tensor(forward(model, batch)) for batch in batches]
    return distortion(outs, reference, metric, targets=targets)


def split_targets(
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


def metric_name(metric: Metric) -> str:
    if isinstance(metric, str):
        return metric
    if isinstance(metric, LossIncrease):
        return f"loss_increase({metric_name(metric.criterion)})"
    return f"{getattr(metric, '__module__', '')}.{getattr(metric, '__qualname__', repr(metric))}"
