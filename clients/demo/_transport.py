r"""The demo's transport section: DTP-style training of the digits CNN at a FLOPs budget.

One `TransportMask` holds a learnable score per weight of every prunable layer, its mass the
weight's FLOPs, so that the soft mask keeps exactly the budget's FLOPs at every step (one
global budget, as in DTP: the layers' shares are learned). The network trains through the
soft mask while ``reg`` is annealed (`BregmanSchedule`, DTP's proximal steps), then the
learned scores are hardened by the server (``semi_dual`` at ``reg = 0``: the top scores whose
FLOPs fit) and the hard masks are fine-tuned, with the same ``torch.nn.utils.prune`` masks as
the allocation plans. Its rows join the allocation section's table (`_allocation.Row`).

References
----------
Y. Li, J. C. van Gemert, T. Hoefler, B. Moons, E. Eleftheriou, B.-E. Verhoef,
"Differentiable Transportation Pruning", ICCV 2023.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from rich.console import Console
from torch import nn
from torch.func import functional_call
from torch.nn.utils import prune

from pruneplan.solver.transport import TransportProblem, TransportResult

from ..torch import BregmanSchedule, TransportMask, distortion, find_layers
from ..torch._costs import layer_flops
from ._allocation import METRIC, Row
from ._digits import Digits, accuracy, train

__all__ = ["METHOD", "REG", "Learned", "Solve", "flops_per_weight", "harden", "learn", "section"]

METHOD = "dtp (transport)"
"""The section's row name in the demo's table."""

REG = (1.0, 1e-3)
"""``reg`` at the start and the end of the soft training, in units of the scores' scale."""

SCORE_LR = 0.05
"""Adam's step on the scores (the weights take the section's ``lr``)."""

Solve = Callable[[TransportProblem, str], TransportResult]
"""``solve(problem, method) -> result``: a local server's ``Client.solve`` or in-process."""


@dataclass(frozen=True)
class Learned:
    """The soft training's outcome: the scores' module and what every step kept."""

    mask: TransportMask
    names: tuple[str, ...]
    sizes: tuple[int, ...]
    kept_flops: tuple[float, ...]
    """Soft FLOPs :math:`\\sum_i a_i m_i` of each step (the budget, to the solver's tolerance)."""
    losses: tuple[float, ...]
    """Cross-entropy of each step."""


def flops_per_weight(model: nn.Module, example: torch.Tensor) -> dict[str, torch.Tensor]:
    """FLOPs per sample of each prunable weight (the layer's dense FLOPs spread evenly)."""
    layers = find_layers(model)
    dense = layer_flops(model, example, layers)
    return {
        layer.name: torch.full(layer.shape, dense[layer.name] / layer.size, dtype=torch.float64)
        for layer in layers
    }


def _split(flat: torch.Tensor, like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``flat`` cut into tensors of the shapes of ``like``'s, by name."""
    sizes = [t.numel() for t in like.values()]
    return {
        name: part.reshape(like[name].shape)
        for name, part in zip(like, torch.split(flat, sizes), strict=True)
    }


def learn(
    model: nn.Module,
    data: Digits,
    budget: float,
    *,
    epochs: int,
    seed: int,
    lr: float = 1e-3,
    batch_size: int = 64,
) -> Learned:
    """Train ``model`` (in place) through one soft mask over all its prunable weights.

    ``budget`` is the kept FLOPs as a fraction of the dense FLOPs; scores start at each
    weight's magnitude over its layer's mean magnitude, ``reg`` anneals over ``REG``.
    """
    per_weight = flops_per_weight(model, data.x_train[:batch_size])
    params = dict(model.named_parameters())
    weights = {name: params[name] for name in per_weight}
    init = torch.cat(
        [(w.detach().abs() / w.detach().abs().mean()).reshape(-1) for w in weights.values()]
    )
    flops = torch.cat([f.reshape(-1) for f in per_weight.values()])
    mask = TransportMask(
        init.numel(), budget * float(flops.sum()), REG[0], weights=flops, scores=init,
        schedule=BregmanSchedule(*REG),
    )  # fmt: skip
    optimizer = torch.optim.Adam(
        [{"params": model.parameters(), "lr": lr}, {"params": mask.parameters(), "lr": SCORE_LR}]
    )
    gen = torch.Generator().manual_seed(seed)
    steps = epochs * math.ceil(len(data.y_train) / batch_size)
    kept, losses = [], []
    model.train()
    for step in range(steps):
        mask.anneal(step / max(1, steps - 1))
        idx = torch.randperm(len(data.y_train), generator=gen)[:batch_size]
        soft = mask()
        kept.append(float(torch.dot(soft.detach().double(), flops)))
        masked = {name: weights[name] * m for name, m in _split(soft, weights).items()}
        out = functional_call(model, masked, (data.x_train[idx],))
        loss = nn.functional.cross_entropy(out, data.y_train[idx])
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    names = tuple(weights)
    sizes = tuple(w.numel() for w in weights.values())
    return Learned(mask, names, sizes, tuple(kept), tuple(losses))


def harden(learned: Learned, solve: Solve) -> tuple[TransportProblem, TransportResult]:
    """The exact problem of the learned scores (one group per layer, one FLOPs budget) and
    its hard masks from ``solve`` (``semi_dual`` at ``reg = 0``)."""
    mask = learned.mask
    assert mask.weights is not None
    scores = torch.split(mask.scores.detach().double(), list(learned.sizes))
    flops = torch.split(mask.weights, list(learned.sizes))
    problem = TransportProblem(
        {n: s.numpy() for n, s in zip(learned.names, scores, strict=True)},
        mask.budget,
        weights={n: f.numpy() for n, f in zip(learned.names, flops, strict=True)},
        reg=0.0,
    )
    return problem, solve(problem, "semi_dual")


def _row(
    model: nn.Module, data: Digits, result: TransportResult, *, budget: float, epochs: int,
    seed: int, dense_out: Sequence[torch.Tensor], per_weight: dict[str, torch.Tensor],
) -> Row:  # fmt: skip
    """Mask ``model`` with the hard masks, measure, fine-tune, measure again."""
    modules = {layer.name: layer.module for layer in find_layers(model)}
    for name, hard in result.hard_mask.items():
        mask = torch.from_numpy(hard.copy()).reshape(per_weight[name].shape)
        prune.custom_from_mask(modules[name], "weight", mask.float())  # type: ignore[no-untyped-call]
    acc_before = accuracy(model, data.x_test, data.y_test)
    with torch.no_grad():
        measured = distortion([model(b) for b in data.calibration()], dense_out, METRIC)
    train(model, data.x_train, data.y_train, epochs=epochs, lr=1e-3, seed=seed)
    kept = {n: int(h.sum()) for n, h in result.hard_mask.items()}
    flops = {n: float(per_weight[n].reshape(-1)[0]) for n in kept}
    return Row(
        method=METHOD, budget=budget, params=sum(kept.values()),
        dense_params=sum(f.numel() for f in per_weight.values()),
        flops=sum(kept[n] * flops[n] for n in kept),
        dense_flops=float(sum(f.sum() for f in per_weight.values())),
        acc_before=acc_before, acc_after=accuracy(model, data.x_test, data.y_test),
        predicted=math.nan, measured=measured, status=result.status.name,
        plan_id=result.plan_id,
        sparsity={n: 1 - kept[n] / h.size for n, h in result.hard_mask.items()},
    )  # fmt: skip


def section(
    model: nn.Module, data: Digits, solve: Solve, *, quick: bool, seed: int, console: Console
) -> list[Row]:
    """For every budget: DTP-train a copy of ``model``, harden its scores, fine-tune, measure."""
    model.eval()
    with torch.no_grad():
        dense_out = [model(b) for b in data.calibration()]
    per_weight = flops_per_weight(model, data.x_train[:64])
    rows = []
    for budget in (0.3,) if quick else (0.3, 0.1):
        start = time.perf_counter()
        trained = copy.deepcopy(model)
        torch.manual_seed(seed)
        learned = learn(trained, data, budget, epochs=2 if quick else 10, seed=seed)
        _, result = harden(learned, solve)
        row = _row(
            trained, data, result, budget=budget, epochs=1 if quick else 3, seed=seed,
            dense_out=dense_out, per_weight=per_weight,
        )  # fmt: skip
        console.print(
            f"{METHOD} at {budget:.0%} FLOPs: {len(learned.losses)} soft steps, loss "
            f"{learned.losses[0]:.3f} -> {learned.losses[-1]:.3f}, hardened "
            f"({row.flops / row.dense_flops:.1%} FLOPs), {time.perf_counter() - start:.1f} s"
        )
        rows.append(row)
    return rows
