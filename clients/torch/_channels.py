"""Coupled channel groups from Torch-Pruning's DependencyGraph and their exact cost model.

A group is what Torch-Pruning prunes together: a root layer's output channels and every layer
that must lose the same indices (its BatchNorm, the next layer's inputs, a residual stream, the
projections of an attention head). The cost of a model after pruning is, per resource, a sum of
terms ``coef * X * Y`` where ``X`` and ``Y`` are the kept fractions of a layer's output and
input channels, each affine in the groups' keep masks; `ChannelGraph.usage` evaluates it
exactly and `ChannelGraph.linearize` turns it into per-item costs for the solver.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from torch import nn

from ._attention import attention_heads
from ._costs import layer_flops
from ._layers import Batch, find_layers

__all__ = [
    "RESOURCES",
    "ChannelGraph",
    "ChannelGroup",
    "Linearized",
    "Member",
    "channel_graph",
    "is_depthwise",
]

RESOURCES = ("params", "flops")
"""What the cost model counts: every parameter, and 2 x the MACs of Conv/Linear weights."""

_ROOT_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _tp() -> Any:
    try:
        import torch_pruning
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "structured pruning needs Torch-Pruning: pip install 'pruneplan[structured]'"
        ) from exc
    return torch_pruning


@dataclass(frozen=True, eq=False)
class Member:
    """One coupled dimension of a group: ``module``'s output (``"out"``) or input channels.

    ``idxs[i]`` is a channel of that dimension and ``items[i]`` the group item it belongs to.
    """

    module: str
    dim: str
    channels: int
    idxs: tuple[int, ...]
    items: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class ChannelGroup:
    """Channels (or heads) that are kept or removed together across coupled layers.

    ``name`` is the root: the first Conv/Linear, in module order, whose output channels the
    group prunes. Item ``j`` is root channels ``j * width .. (j + 1) * width - 1`` (``width``
    is the head dimension for attention heads, else 1).
    """

    name: str
    size: int
    width: int
    members: tuple[Member, ...]

    def weights(self, member: Member) -> NDArray[np.float64]:
        """Channels of ``member``'s dimension per item, shape ``(size,)``."""
        return np.bincount(np.asarray(member.items, dtype=np.int64), minlength=self.size).astype(
            np.float64
        )

    def root_channels(self, items: NDArray[np.int64]) -> list[int]:
        """The root channels of ``items``, ascending."""
        return [int(i) * self.width + c for i in np.sort(items) for c in range(self.width)]


@dataclass(frozen=True)
class _Factor:
    """A kept fraction ``x0 + sum_g dx_g . mask_g``: its constant and per-group slopes."""

    x0: float
    slopes: tuple[tuple[int, NDArray[np.float64]], ...]

    def value(self, masks: Sequence[NDArray[np.float64]]) -> float:
        return self.x0 + sum((float(d @ masks[g]) for g, d in self.slopes), 0.0)


@dataclass(frozen=True)
class _Term:
    resource: str
    coef: float
    factors: tuple[_Factor, ...]


@dataclass(frozen=True)
class Linearized:
    """A linear model of the cost: per group and resource, what keeping each item costs, plus
    a constant per resource (the layers and channels no group prunes, and the tangent's
    offset)."""

    costs: list[dict[str, NDArray[np.float64]]]
    constant: dict[str, float]


@dataclass(eq=False)
class ChannelGraph:
    """A model's prunable groups and the exact cost of any keep masks (see module docs)."""

    model: nn.Module
    example: Batch
    groups: tuple[ChannelGroup, ...]
    dense: dict[str, float]
    terms: tuple[_Term, ...] = field(repr=False)

    def group(self, name: str) -> ChannelGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(f"group: {name!r} is not a group; expected one of {self.names}")

    @property
    def names(self) -> list[str]:
        return [g.name for g in self.groups]

    def full_masks(self) -> list[NDArray[np.bool_]]:
        return [np.ones(g.size, dtype=bool) for g in self.groups]

    def masks_of(self, masks: Mapping[str, Any]) -> list[NDArray[np.bool_]]:
        """Masks in group order from a mapping by name (a missing group keeps everything)."""
        out = []
        for g in self.groups:
            mask = np.asarray(masks.get(g.name, np.ones(g.size, dtype=bool)), dtype=bool)
            if mask.shape != (g.size,):
                raise ValueError(
                    f"masks[{g.name!r}]: must have shape ({g.size},); got {mask.shape}"
                )
            out.append(mask)
        return out

    def usage(self, masks: Mapping[str, Any]) -> dict[str, float]:
        """Exact params and FLOPs (per sample) of the model pruned to ``masks``."""
        ms = [m.astype(np.float64) for m in self.masks_of(masks)]
        total = dict.fromkeys(RESOURCES, 0.0)
        for t in self.terms:
            total[t.resource] += t.coef * math.prod([f.value(ms) for f in t.factors])
        return total

    def linearize(self, around: Mapping[str, Any] | None = None) -> Linearized:
        r"""Per-item costs whose sum plus a constant models each resource.

        A term :math:`c\,XY` with both fractions varying becomes :math:`c\,(X + Y)/2` without
        ``around`` (an upper bound on :math:`[0, 1]^2`, so a plan that fits it fits the model)
        and the tangent :math:`c\,(X Y_p + X_p Y - X_p Y_p)` at ``around``'s masks (exact at
        them); terms with one varying fraction are exact either way.
        """
        point = None if around is None else [m.astype(np.float64) for m in self.masks_of(around)]
        costs = [{r: np.zeros(g.size) for r in RESOURCES} for g in self.groups]
        constant = dict.fromkeys(RESOURCES, 0.0)
        for t in self.terms:
            constant[t.resource] += _linear_term(t, point, costs)
        return Linearized(costs, constant)


def _linear_term(
    t: _Term, point: list[NDArray[np.float64]] | None, costs: list[dict[str, NDArray[np.float64]]]
) -> float:
    """Add the term's item costs into ``costs``; return its constant."""
    if not t.factors:
        return t.coef
    if len(t.factors) == 1:
        (f,) = t.factors
        for g, d in f.slopes:
            costs[g][t.resource] += t.coef * d
        return t.coef * f.x0
    fx, fy = t.factors
    if point is None:
        wx = wy = 0.5
        const = t.coef * (fx.x0 + fy.x0) / 2
    else:
        wx, wy = fy.value(point), fx.value(point)
        const = t.coef * (fx.x0 * wx + wy * fy.x0 - wx * wy)
    for g, d in fx.slopes:
        costs[g][t.resource] += t.coef * wx * d
    for g, d in fy.slopes:
        costs[g][t.resource] += t.coef * wy * d
    return const


def is_depthwise(module: nn.Module) -> bool:
    """A convolution with one input channel per output channel and group."""
    return (
        isinstance(module, nn.modules.conv._ConvNd)
        and module.groups == module.in_channels == module.out_channels
        and module.groups > 1
    )


def channel_graph(
    model: nn.Module,
    example: Batch,
    *,
    ignored: Sequence[str] = (),
    heads: Mapping[str, int] | None = None,
) -> ChannelGraph:
    """The prunable groups of ``model`` (Torch-Pruning's ``DependencyGraph`` on ``example``).

    Parameters
    ----------
    model : nn.Module
        Traced once (a forward and backward pass on ``example``); not modified.
    example : Batch
        One input batch (a tensor, a tuple of arguments or a dict).
    ignored : sequence of str
        Module names whose output channels stay (a group that would prune one is dropped, as
        Torch-Pruning's ``ignored_layers`` does). The last Linear (the classifier) is always
        ignored.
    heads : mapping of str to int, optional
        Module name of an attention projection (``"layer.attn.q"``) to its head dimension:
        that group's items are heads of that many channels. The model must derive its head
        count from the projection width (``heads = q.out_features // head_dim``). Every
        `HeadAttention` (what `split_attention` turns `nn.MultiheadAttention` into) is added
        on its own; an `nn.MultiheadAttention` left in the model keeps all its heads.

    Returns
    -------
    ChannelGraph
        Groups in module order of their roots, with the dense ``params`` and ``flops``.
    """
    tp = _tp()
    names = {mod: name for name, mod in model.named_modules()}
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    skip = [model.get_submodule(n) for n in ignored] + linears[-1:]
    was_training = model.training
    model.eval()
    try:
        dg = tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
        groups = _groups(dg, model, names, skip, {**attention_heads(model), **(heads or {})})
        terms, dense = _terms(model, example, groups)
    finally:
        model.train(was_training)
    return ChannelGraph(model, example, tuple(groups), dense, tuple(terms))


def _groups(
    dg: Any,
    model: nn.Module,
    names: dict[nn.Module, str],
    skip: list[nn.Module],
    heads: dict[str, int],
) -> list[ChannelGroup]:
    order = {name: i for i, name in enumerate(names.values())}
    out: dict[str, ChannelGroup] = {}
    for found in dg.get_all_groups(ignored_layers=skip, root_module_types=_ROOT_TYPES):
        outs = [
            names[item.dep.target.module]
            for item in found
            if isinstance(item.dep.target.module, _ROOT_TYPES)
            and dg.is_out_channel_pruning_fn(item.dep.handler)
        ]
        root_name = min(outs, key=order.__getitem__)
        root = model.get_submodule(root_name)
        pruner = dg.get_pruner_of_module(root)
        group = dg.get_pruning_group(
            root, pruner.prune_out_channels, list(range(pruner.get_out_channels(root)))
        )
        out[root_name] = _group(dg, group, names, root_name, heads)
    return sorted(out.values(), key=lambda g: order[g.name])


def _group(
    dg: Any, group: Any, names: dict[nn.Module, str], root: str, heads: dict[str, int]
) -> ChannelGroup:
    items_of = [
        (dep, list(item.idxs), list(item.root_idxs)) for item in group for dep in [item.dep]
    ]
    width = next(
        (
            heads[names[d.target.module]]
            for d, _, _ in items_of
            if names.get(d.target.module) in heads
        ),
        1,
    )
    members = []
    n_root = 0
    for dep, idxs, root_idxs in items_of:
        module = dep.target.module
        if not isinstance(module, nn.Module) or module not in names:
            continue  # Torch-Pruning's op nodes (add, relu, reshape): no parameters
        dim = "out" if dg.is_out_channel_pruning_fn(dep.handler) else "in"
        channels = dg.get_out_channels(module) if dim == "out" else dg.get_in_channels(module)
        if names[module] == root and dim == "out":
            n_root = len(idxs)
        members.append(
            Member(
                names[module], dim, int(channels), tuple(idxs), tuple(r // width for r in root_idxs)
            )
        )
    if n_root % width:
        raise ValueError(f"heads[{root!r}]: {n_root} channels are not a multiple of {width}")
    return ChannelGroup(root, n_root // width, width, tuple(members))


def _terms(
    model: nn.Module, example: Batch, groups: Sequence[ChannelGroup]
) -> tuple[list[_Term], dict[str, float]]:
    """Every parameter tensor and every Conv/Linear weight's FLOPs as a term."""
    dims: dict[tuple[str, str], list[tuple[int, Member]]] = {}
    for g, group in enumerate(groups):
        for m in group.members:
            dims.setdefault((m.module, m.dim), []).append((g, m))

    def factor(module: str, dim: str) -> tuple[_Factor, ...]:
        parts = dims.get((module, dim), [])
        if not parts:
            return ()
        n = parts[0][1].channels
        slopes = tuple((g, groups[g].weights(m) / n) for g, m in parts)
        return (_Factor(1.0 - sum(float(s.sum()) for _, s in slopes), slopes),)

    flops = layer_flops(model, example, find_layers(model))
    terms = []
    for name, module in model.named_modules():
        for pname, param in module.named_parameters(recurse=False):
            out = factor(name, "out")
            both = (
                isinstance(module, _ROOT_TYPES) and pname == "weight" and not is_depthwise(module)
            )
            factors = out + factor(name, "in") if both else out
            terms.append(_Term("params", float(param.numel()), factors))
            if isinstance(module, _ROOT_TYPES) and pname == "weight":
                key = f"{name}.weight" if name else "weight"
                terms.append(_Term("flops", flops.get(key, 0.0), factors))
    dense = dict.fromkeys(RESOURCES, 0.0)
    for t in terms:
        dense[t.resource] += t.coef
    return terms, dense
