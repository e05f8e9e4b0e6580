"""The fast evaluator behind ``profile``, ``refine`` and ``search``: masks by precomputed ranks.

Dense outputs are computed once; each layer's magnitude ranks are computed once, so the mask of
any level is one comparison (``rank < kept``) instead of a sort; masks are written into the
weights (or existing ``weight_mask``) in place and the saved originals copied back, never the
model; forward passes run in the caller's batches without autograd. Profiling one layer replays
the dense outputs of every module that finished before the layer first runs (the prefix of the
network is not recomputed per level), checked once per layer against the plain forward pass.
Measurements (the dense reference included) run with the CPU ``Conv2d`` weights in channels-last
memory format (``channels_last``): on one CPU thread it halves a digits CNN's or CREPE's forward
pass, and the numbers agree with the contiguous pass to float32 rounding (relative 1e-4 on
curves whose values are near 1e-8, absolute differences below 1e-10 on the digits CNN).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from ._context import prune_target
from ._layers import (
    Batch,
    Layer,
    current_mask,
    effective_weight,
    forward,
    kept_count,
    output_tensor,
)
from ._metrics import Distortion, Metric, reference_outputs

__all__ = ["CHANNELS_LAST", "Evaluator", "channels_last", "magnitude_ranks"]

CHANNELS_LAST = True
"""Whether measurements run with the CPU ``Conv2d`` weights channels-last (``channels_last``);
False gives the contiguous pass's numbers bit for bit, at about half the speed on conv nets."""


def magnitude_ranks(weight: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
    """Rank of every element by descending magnitude (ties to the lower flat index), elements
    masked by ``previous`` last: ``ranks < kept`` is ``topk_mask(weight, kept, previous)``."""
    scores = weight.detach().abs().flatten().to(torch.float64)
    if previous is not None:
        scores = torch.where(previous.flatten() > 0, scores, torch.full_like(scores, -1.0))
    order = torch.argsort(scores, descending=True, stable=True)
    dtype = torch.int32 if scores.numel() < 2**31 else torch.int64
    ranks = torch.empty(scores.numel(), dtype=dtype, device=weight.device)
    ranks[order] = torch.arange(scores.numel(), dtype=dtype, device=weight.device)
    return ranks.view_as(weight)


@dataclass(eq=False)
class _Slot:
    """One layer: the tensor whose zeros prune it, its saved original, ranks and live count."""

    layer: Layer
    target: torch.Tensor
    saved: torch.Tensor
    ranks: torch.Tensor
    current: int

    def kept(self, sparsity: float) -> int:
        """Weights kept at ``sparsity``; masks only grow, so never more than are live now."""
        return min(kept_count(self.layer.size, sparsity), self.current)

    def prune(self, kept: int) -> None:
        torch.mul(self.saved, (self.ranks < kept).to(self.saved.dtype), out=self.target)

    def restore(self) -> None:
        self.target.copy_(self.saved)


@dataclass(eq=False)
class Evaluator:
    """Distortion of the model pruned by magnitude to per-layer sparsities, against its outputs
    as they were (dense, or the current masked model) on fixed calibration batches.

    Use inside ``frozen(model)``; the model is restored bit for bit after every measurement.
    ``forwards`` counts the batch forward passes run (the dense reference included), the unit
    the targets are stated in (one per batch of the calibration set).
    """

    model: nn.Module
    layers: Sequence[Layer]
    batches: Sequence[Batch]
    metric: Metric
    targets: Sequence[torch.Tensor] | None = None
    reference: Sequence[torch.Tensor] = ()
    forwards: float = 0.0
    slots: dict[str, _Slot] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Distortion(self.metric)  # validates the metric
        if not self.reference:
            with channels_last(self.model):
                self.reference = reference_outputs(self.model, self.batches)
            self.forwards += len(self.batches)
        for layer in self.layers:
            target = prune_target(layer.module)
            previous = current_mask(layer.module)
            current = layer.size if previous is None else int(torch.count_nonzero(previous))
            ranks = magnitude_ranks(effective_weight(layer.module), previous)
            self.slots[layer.name] = _Slot(layer, target, target.detach().clone(), ranks, current)

    @contextmanager
    def pruned(self, sparsity: Mapping[str, float]) -> Iterator[None]:
        """Every layer named in ``sparsity`` pruned by magnitude to it inside; restored after."""
        touched = []
        grad = torch.is_grad_enabled()
        torch.set_grad_enabled(False)
        try:
            for name, level in sparsity.items():
                slot = self._slot(name)
                kept = slot.kept(float(level))
                if kept < slot.current:
                    touched.append(slot)
                    slot.prune(kept)
            yield
        finally:
            for slot in touched:
                slot.restore()
            torch.set_grad_enabled(grad)

    def measure(self, sparsity: Mapping[str, float], indices: Sequence[int] | None = None) -> float:
        """Joint distortion of the model pruned to ``sparsity`` on the batches ``indices``
        (default all), against the cached reference outputs."""
        chosen = range(len(self.batches)) if indices is None else indices
        with channels_last(self.model), self.pruned(sparsity):
            acc = Distortion(self.metric)
            for i in chosen:
                acc.add(self._run(self.batches[i]), self.reference[i], self._target(i))
        return acc.value()

    def curve(
        self,
        name: str,
        levels: Sequence[float],
        offset: float = 0.0,
        tick: Callable[[float], None] = lambda _: None,
    ) -> list[float]:
        """Distortion of pruning only layer ``name`` at each level less ``offset``, clipped at
        0: what ``profile`` measures. Levels the layer already reaches cost no forward pass;
        levels with the same kept count share one."""
        slot = self._slot(name)
        counts = [slot.kept(level) for level in levels]
        todo = sorted({k for k in counts if k < slot.current}, reverse=True)
        accs = {k: Distortion(self.metric) for k in todo}
        with torch.no_grad(), channels_last(self.model):
            self._levels(slot, todo, accs, tick)
        for _ in range(len(levels) - len(todo)):
            tick(1.0)
        return [max(0.0, accs[k].value() - offset) if k in accs else 0.0 for k in counts]

    def curve_around(
        self,
        name: str,
        levels: Sequence[float],
        around: Mapping[str, float],
        tick: Callable[[float], None] = lambda _: None,
    ) -> list[float]:
        """``curve`` of layer ``name`` with every other layer of ``around`` pruned to its level
        there (restored after): the distortion beyond theirs, what ``profile(around=...)``
        and the search's ``"curves"`` proposals measure."""
        others = {n: s for n, s in around.items() if n != name}
        with self.pruned(others):
            offset = self.measure({}) if others else 0.0
            return self.curve(name, levels, offset, tick)

    def _levels(
        self,
        slot: _Slot,
        todo: Sequence[int],
        accs: Mapping[int, Distortion],
        tick: Callable[[float], None],
    ) -> None:
        """Each kept count of ``todo`` measured on every batch, the prefix replayed."""
        replay = {"check": True, "use": bool(todo)}
        for i, batch in enumerate(self.batches):
            with _Replay.prefix(self, slot, batch, replay) as run:
                for kept in todo:
                    slot.prune(kept)
                    try:
                        accs[kept].add(run(), self.reference[i], self._target(i))
                    finally:
                        slot.restore()
                    tick(1.0 / len(self.batches))

    def _slot(self, name: str) -> _Slot:
        try:
            return self.slots[name]
        except KeyError:
            raise ValueError(
                f"sparsity: {name!r} is not an evaluated layer; expected names among "
                f"{sorted(self.slots)}"
            ) from None

    def _target(self, i: int) -> torch.Tensor | None:
        return None if self.targets is None else self.targets[i]

    def _run(self, batch: Batch) -> torch.Tensor:
        self.forwards += 1
        return output_tensor(forward(self.model, batch))


@contextmanager
def channels_last(model: nn.Module) -> Iterator[None]:
    """Inside, the 4-D weights (and masks) of every ``Conv2d`` on the CPU in channels-last
    memory format, so its outputs and the pooling after them run channels-last: about twice
    as fast on one CPU thread (the digits CNN, CREPE). The original tensors are put back
    untouched after (the copies take the in-place pruning). Tensors that share storage with
    another parameter or buffer are left alone: a copy would untie them. The kernels sum in
    another order, so outputs agree with the contiguous ones to float32 rounding. Nothing
    changes while ``CHANNELS_LAST`` is False."""
    if not CHANNELS_LAST:
        yield
        return
    shared = collections.Counter(_storage(t) for t in (*model.parameters(), *model.buffers()))
    swapped = []
    try:
        for module in model.modules():
            if not isinstance(module, nn.Conv2d):
                continue
            for t in (*module.parameters(recurse=False), *module.buffers(recurse=False)):
                if (
                    t.dim() == 4
                    and t.device.type == "cpu"
                    and shared[_storage(t)] == 1
                    and not t.is_contiguous(memory_format=torch.channels_last)
                ):
                    swapped.append((t, t.data))
                    t.data = t.data.contiguous(memory_format=torch.channels_last)
        yield
    finally:
        for t, data in reversed(swapped):
            t.data = data


class _Diverged(RuntimeError):
    """The replayed forward pass called other operations than the traced one."""


class _TraceMode(TorchFunctionMode):
    """Records every torch operation's function and output until the layer starts or one
    touches the layer's own tensors (a tied weight, ``torch.nn.utils.prune``'s hook)."""

    def __init__(self, storages: set[int]) -> None:
        super().__init__()
        self.storages, self.started, self.open = storages, False, True
        self.funcs: list[Any] = []
        self.outputs: list[Any] = []
        self.versions: list[tuple[int, ...]] = []

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if self.open and (self.started or _touches((args, kwargs), self.storages)):
            self.open = False
        out = func(*args, **kwargs)
        if self.open:
            self.funcs.append(func)
            self.outputs.append(out)
            self.versions.append(_versions(out))
        return out

    def unchanged(self) -> bool:
        """No recorded output was modified in place since it was recorded."""
        return all(_versions(o) == v for o, v in zip(self.outputs, self.versions, strict=True))


class _ReplayMode(TorchFunctionMode):
    """Answers the traced operations from their recorded outputs, in order; the rest live."""

    def __init__(self, trace: _TraceMode) -> None:
        super().__init__()
        self.trace, self.next = trace, 0

    def __torch_function__(
        self, func: Any, types: Any, args: Sequence[Any] = (), kwargs: Any = None
    ) -> Any:
        k = self.next
        if k < len(self.trace.outputs):
            if func is not self.trace.funcs[k]:
                raise _Diverged(f"operation {k}: {func} instead of {self.trace.funcs[k]}")
            self.next = k + 1
            return self.trace.outputs[k]
        return func(*args, **(kwargs or {}))


class _Replay:
    """Runs one batch with every operation before ``slot``'s layer first runs answered from one
    dense trace, the rest live. Falls back to plain forward passes when tracing fails, when the
    replay diverges or changes a recorded output in place, or (checked on a layer's first batch)
    when its output differs from the plain pass."""

    def __init__(self, evaluator: Evaluator, slot: _Slot, batch: Batch) -> None:
        self.evaluator, self.slot, self.batch = evaluator, slot, batch
        module = slot.layer.module
        tensors = (*module.parameters(recurse=False), *module.buffers(recurse=False))
        self.trace = _TraceMode({_storage(t) for t in tensors} - {-1})
        self.ok = True

    @classmethod
    @contextmanager
    def prefix(
        cls, evaluator: Evaluator, slot: _Slot, batch: Batch, state: dict[str, bool]
    ) -> Iterator[Callable[[], torch.Tensor]]:
        """``state``: ``use`` (replay at all), ``check`` (compare once with the plain pass: a
        layer's first batch); a failed trace, replay or check turns ``use`` off."""
        replay = cls(evaluator, slot, batch)

        def plain() -> torch.Tensor:
            return evaluator._run(batch)

        if not state["use"] or not replay._record():
            state["use"] = False
            yield plain
            return
        if state["check"]:
            state["check"] = False
            state["use"] = replay._agrees()

        def run() -> torch.Tensor:
            if state["use"] and replay.ok:
                out = replay.run()
                if out is not None:
                    return out
            state["use"] = False
            return plain()

        yield run

    def run(self) -> torch.Tensor | None:
        """The replayed output, or None (and ``ok`` off) where the replay cannot be trusted."""
        self.evaluator.forwards += 1  # counted as a full pass; the saving shows in wall time
        try:
            with _ReplayMode(self.trace):
                out = output_tensor(forward(self.evaluator.model, self.batch))
        except _Diverged:
            self.ok = False
            return None
        if any(
            _versions(o) != v for o, v in zip(self.trace.outputs, self.trace.versions, strict=True)
        ):
            self.ok = False  # a recorded output was changed in place: right now, stale next
        return out

    def _record(self) -> bool:
        """One dense forward pass under the trace; True if something before the layer can be
        replayed."""
        trace = self.trace

        def start(_module: nn.Module, _args: Any) -> None:
            trace.started = True

        handle = self.slot.layer.module.register_forward_pre_hook(start, prepend=True)
        try:
            with trace:
                self.evaluator._run(self.batch)
        except Exception:  # any failure: profile the plain way
            return False
        finally:
            handle.remove()
        unchanged = all(
            _versions(o) == v for o, v in zip(trace.outputs, trace.versions, strict=True)
        )
        return trace.started and unchanged and bool(trace.outputs)

    def _agrees(self) -> bool:
        """The replayed and the plain output agree with the layer at its first pruned level."""
        kept = self.slot.current - max(1, self.slot.current // 32)
        self.slot.prune(kept)
        try:
            fast = self.run()
            slow = self.evaluator._run(self.batch)
        finally:
            self.slot.restore()
        if fast is None or fast.shape != slow.shape or not self.ok:
            return False
        scale = float(slow.detach().abs().max()) if slow.numel() else 0.0
        return bool(torch.allclose(fast, slow, rtol=1e-6, atol=1e-7 * max(scale, 1e-30)))


def _storage(tensor: torch.Tensor) -> int:
    try:
        return int(tensor.untyped_storage().data_ptr())
    except (RuntimeError, NotImplementedError):
        return -1


def _touches(tree: Any, storages: set[int]) -> bool:
    """Whether any tensor in ``tree`` shares storage with ``storages``."""
    return any(
        isinstance(leaf, torch.Tensor) and _storage(leaf) in storages for leaf in tree_leaves(tree)
    )


def _versions(tree: Any) -> tuple[int, ...]:
    return tuple(leaf._version for leaf in tree_leaves(tree) if isinstance(leaf, torch.Tensor))
