"""Turning a plan into masks: validate, apply reversibly, roll back, report, finalize."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from pruneplan.solver import AllocationProblem, AllocationResult

from ._costs import layer_flops
from ._layers import (
    Batch,
    Layer,
    current_mask,
    effective_weight,
    find_layers,
    fingerprint,
    kept_count,
)

__all__ = ["LayerReport", "PlanMismatchError", "PruneReport", "apply", "finalize", "topk_mask"]


class PlanMismatchError(ValueError):
    """A plan that does not fit the model it is applied to (other model, unknown layer, ...)."""


@dataclass(frozen=True)
class LayerReport:
    """What one layer achieved after ``apply``.

    Attributes
    ----------
    name : str
        Canonical parameter name.
    size : int
        Prunable elements.
    kept : int
        Weights kept by the mask (counted on the mask, not taken from the plan).
    sparsity : float
        ``1 - kept / size``.
    requested : float
        The plan's sparsity for the layer.
    flops : float or None
        Achieved FLOPs per sample, ``dense_flops * kept / size`` (None without an example batch).
    dense_flops : float or None
        FLOPs per sample of the dense layer.
    """

    name: str
    size: int
    kept: int
    sparsity: float
    requested: float
    flops: float | None
    dense_flops: float | None


@dataclass(frozen=True)
class PruneReport:
    """Achieved sparsity, parameters and FLOPs per layer and in total (prunable layers only).

    Attributes
    ----------
    layers : tuple of LayerReport
    params : int
        Weights kept over all prunable layers.
    dense_params : int
        Prunable weights in total.
    sparsity : float
        ``1 - params / dense_params``.
    flops, dense_flops : float or None
        Achieved and dense FLOPs per sample over the prunable layers (None without an example).
    plan_id : str
        The plan's id ("" for in-process solves).
    """

    layers: tuple[LayerReport, ...]
    params: int
    dense_params: int
    sparsity: float
    flops: float | None
    dense_flops: float | None
    plan_id: str


def topk_mask(
    weight: torch.Tensor, kept: int, previous: torch.Tensor | None = None
) -> torch.Tensor:
    """Keep the ``kept`` largest magnitudes; ties go to the lower flat index.

    Parameters
    ----------
    weight : Tensor
        The effective weight.
    kept : int
        Exact number of ones in the mask (at most the ones of ``previous``).
    previous : Tensor, optional
        An existing mask; its zeros stay zero (masks only grow).

    Returns
    -------
    Tensor
        Mask of ``weight``'s shape and dtype, ones where kept.
    """
    scores = weight.detach().abs().flatten().to(torch.float64)
    if previous is not None:
        scores = torch.where(previous.flatten() > 0, scores, torch.full_like(scores, -1.0))
        kept = min(kept, int(torch.count_nonzero(previous)))
    order = torch.argsort(scores, descending=True, stable=True)
    mask = torch.zeros(scores.numel(), dtype=weight.dtype, device=weight.device)
    mask[order[:kept]] = 1
    return mask.view_as(weight)


def _check_plan(
    model: nn.Module, result: AllocationResult, problem: AllocationProblem | None
) -> dict[str, Layer]:
    """The model's layers the plan names, after checking that the plan fits the model.

    A plan carrying a fingerprint must carry this model's. A plan without one (solved
    in-process from a hand-built problem) is checked by its layer names, and with ``problem``
    by the sizes of its layers too.
    """
    plan = result.plan_id or "(in-process)"
    expected = fingerprint(model)
    if result.fingerprint and result.fingerprint != expected:
        raise PlanMismatchError(
            f"plan {plan}: made for model {result.fingerprint!r}, this model is "
            f"{expected!r}. Build the problem with problem_for(model, profiles, budget) from "
            f"profiles of this model."
        )
    if not result.sparsity:
        raise PlanMismatchError(
            f"plan {plan}: has no per-layer sparsity (status {result.status.name}): "
            f"{result.message}"
        )
    layers = {layer.name: layer for layer in find_layers(model)}
    sizes = None if problem is None else {p.name: int(p.size) for p in problem.layers}
    for name, sparsity in result.sparsity.items():
        if name not in layers:
            known = ", ".join(list(layers)[:8])
            raise PlanMismatchError(
                f"plan layer {name!r}: not a prunable layer (have {known}, ...)"
            )
        if sizes is not None:
            _check_size(name, sizes.get(name), layers[name])
        if not 0.0 <= float(sparsity) <= 1.0:
            raise PlanMismatchError(
                f"plan layer {name!r}: sparsity must be in [0, 1]; got {sparsity}"
            )
    return {name: layers[name] for name in result.sparsity}


def _check_size(name: str, size: int | None, layer: Layer) -> None:
    if size is None:
        raise PlanMismatchError(f"plan layer {name!r}: not a layer of the problem given")
    if size != layer.size:
        shape = "x".join(map(str, layer.shape))
        raise PlanMismatchError(
            f"plan layer {name!r}: size {size} in the problem, {layer.size} ({shape}) in this "
            f"model; the plan was made for another model"
        )


@dataclass
class _Snapshot:
    params: dict[str, Any]
    buffers: dict[str, Any]
    hooks: dict[int, Any]
    attrs: dict[str, Any]


def _snapshot(module: nn.Module) -> _Snapshot:
    return _Snapshot(
        dict(module._parameters),
        dict(module._buffers),
        dict(module._forward_pre_hooks),
        {k: v for k, v in module.__dict__.items() if k == "weight"},
    )


def _restore(module: nn.Module, snap: _Snapshot) -> None:
    module._parameters.clear()
    module._parameters.update(snap.params)
    module._buffers.clear()
    module._buffers.update(snap.buffers)
    module._forward_pre_hooks.clear()
    module._forward_pre_hooks.update(snap.hooks)
    module.__dict__.pop("weight", None)
    module.__dict__.update(snap.attrs)


@contextmanager
def _rollback(modules: list[nn.Module]) -> Iterator[None]:
    """Undo every change to ``modules`` if the body raises (same Parameter objects kept)."""
    snaps = [_snapshot(m) for m in modules]
    try:
        yield
    except BaseException:
        for module, snap in zip(modules, snaps, strict=True):
            _restore(module, snap)
        raise


def apply(
    model: nn.Module,
    result: AllocationResult,
    *,
    example: Batch | None = None,
    problem: AllocationProblem | None = None,
) -> PruneReport:
    """Apply a plan as magnitude masks through ``torch.nn.utils.prune.custom_from_mask``.

    Every layer of the plan keeps exactly ``round(size * (1 - s))`` weights of largest
    magnitude (ties to the lower flat index). Names and the model fingerprint are checked
    before anything changes; if any layer fails, every layer is restored. A plan without a
    fingerprint (solved in-process from a hand-built ``AllocationProblem``) is accepted when
    every layer it names exists, and, given ``problem``, when every layer's size matches.
    A second plan composes with the first: its mask keeps the earlier zeros (masks only
    grow), so a layer never keeps more than it already does.

    Parameters
    ----------
    model : nn.Module
        The model the plan was made for (same fingerprint).
    result : AllocationResult
        A plan from ``allocate`` or ``Client.solve`` of a problem built by ``problem_for``
        (checked by fingerprint), or of a hand-built problem without one.
    example : Batch, optional
        One batch to measure FLOPs on (one forward pass); without it FLOPs are ``None``.
    problem : AllocationProblem, optional
        The problem ``result`` solved: every plan layer's ``size`` must then be the model's.

    Returns
    -------
    PruneReport
        Achieved (counted on the masks) sparsity, parameters and FLOPs.

    Raises
    ------
    PlanMismatchError
        Other model (both fingerprints named), unknown layer, a layer whose size in
        ``problem`` is not the model's (both sizes named), sparsity outside [0, 1],
        infeasible plan.
    """
    layers = _check_plan(model, result, problem)
    masks: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        weight = effective_weight(layer.module)
        if tuple(weight.shape) != layer.shape:
            raise PlanMismatchError(f"plan layer {name!r}: weight shape changed to {weight.shape}")
        kept = kept_count(layer.size, float(result.sparsity[name]))
        masks[name] = topk_mask(weight, kept, current_mask(layer.module))
    with _rollback([layer.module for layer in layers.values()]):
        for name, layer in layers.items():
            prune.custom_from_mask(layer.module, "weight", masks[name])  # type: ignore[no-untyped-call]
    flops = layer_flops(model, example, list(layers.values())) if example is not None else None
    return _report(layers, result, flops)


def _report(
    layers: Mapping[str, Layer], result: AllocationResult, flops: Mapping[str, float] | None
) -> PruneReport:
    rows = []
    for name, layer in layers.items():
        mask = current_mask(layer.module)
        kept = layer.size if mask is None else int(torch.count_nonzero(mask))
        dense = None if flops is None else flops[name]
        rows.append(
            LayerReport(
                name=name,
                size=layer.size,
                kept=kept,
                sparsity=1.0 - kept / layer.size,
                requested=float(result.sparsity[name]),
                flops=None if dense is None else dense * kept / layer.size,
                dense_flops=dense,
            )
        )
    params = sum(r.kept for r in rows)
    dense_params = sum(r.size for r in rows)
    return PruneReport(
        layers=tuple(rows),
        params=params,
        dense_params=dense_params,
        sparsity=1.0 - params / max(1, dense_params),
        flops=None if flops is None else sum(r.flops or 0.0 for r in rows),
        dense_flops=None if flops is None else sum(r.dense_flops or 0.0 for r in rows),
        plan_id=result.plan_id,
    )


def finalize(model: nn.Module) -> list[str]:
    """Make every mask permanent (``prune.remove``): ``weight`` becomes a plain parameter again.

    Returns
    -------
    list of str
        Canonical names of the layers finalized.
    """
    done = []
    for layer in find_layers(model):
        if layer.pruned:
            prune.remove(layer.module, "weight")  # type: ignore[no-untyped-call]
            done.append(layer.name)
    return done
