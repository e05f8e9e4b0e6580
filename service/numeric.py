r"""Arithmetic range checks of an allocation request, before it reaches a solver.

.. math::
    \sum_i \max_k \ell_i(k) \le T, \qquad \sum_i \max_k c^r_i(k) \le T \;\; \forall r,
    \qquad 1 \le s_i \le 2^{53}

where :math:`\ell_i`, :math:`c^r_i` and :math:`s_i` are the loss, the cost in resource
:math:`r` and the size of layer :math:`i`, and :math:`T` = `MAX_TOTAL`. Every entry may be finite
while a sum of them is not: the objective of a plan then overflows to ``inf`` and a feasible
problem reads as ``INFEASIBLE`` with a message that contradicts itself. A size above
:math:`2^{53}` is not exact in float64 (the kept count comes back wrong) and one near
:math:`2^{64}` overflows the response's ``uint64`` kept count (``INTERNAL``).

Entries that are not finite or negative are left to the solver's own validation, which names them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import allocation_pb2 as apb
from pruneplan.v1 import common_pb2 as cpb

__all__ = ["MAX_SIZE", "MAX_TOTAL", "check_numbers"]

MAX_SIZE = 2**53
"""Largest layer size: every integer up to it is exact in float64."""

MAX_TOTAL = 1e300
"""Largest sum over layers of each layer's largest loss (or cost of one resource): headroom of
about 10^8 below the float64 maximum for the solvers' sums, products and tolerances."""

_LOSS_HINT = "Rescale the losses: multiplying every loss by one constant leaves the plan unchanged."
_COST_HINT = "Rescale the costs of {!r} and its budget by one constant: the plan is unchanged."


def check_numbers(problem: apb.AllocationProblem, path: str = "allocation") -> None:
    """Refuse sizes above `MAX_SIZE` and loss or cost sums above `MAX_TOTAL`.

    One pass over the layers gathers the arrays' bytes; the maxima and sums are vectorised
    (``O(numbers)``, a few hundred nanoseconds per layer in Python).

    Raises
    ------
    InvalidProblemError
        On ``{path}.layers[i].size``, or on the array of the first layer where the running sum
        passes `MAX_TOTAL` (``{path}.layers[i].loss``, ``{path}.layers[i].costs.<resource>``).
    """
    layers = problem.layers
    sizes = [layer.size for layer in layers]
    if sizes and max(sizes) > MAX_SIZE:
        i = next(i for i, size in enumerate(sizes) if size > MAX_SIZE)
        raise InvalidProblemError(
            f"{path}.layers[{i}].size",
            f"an integer in [1, {MAX_SIZE}] (2^53, the largest exact in float64)",
            str(sizes[i]),
        )
    names, indices, chunks = _gather(layers)
    largest = _largest([chunk for series in chunks for chunk in series])
    start = 0
    for name, where in zip(names, indices, strict=True):
        hint = _LOSS_HINT if name == "loss" else _COST_HINT.format(name.removeprefix("costs."))
        _check_sum(where, largest[start : start + len(where)], path, name, hint)
        start += len(where)


def _gather(
    layers: Sequence[apb.LayerProfile],
) -> tuple[list[str], list[list[int]], list[list[bytes]]]:
    """Per series (``"loss"``, then ``"costs.<resource>"``): its name, the layers that have it
    and their arrays' bytes."""
    losses = [_raw(layer.loss) for layer in layers]
    costs: dict[str, tuple[list[int], list[bytes]]] = {}
    for i, layer in enumerate(layers):
        for resource, values in layer.costs.items():
            entry = costs.get(resource)
            if entry is None:
                entry = costs[resource] = ([], [])
            entry[0].append(i)
            entry[1].append(_raw(values))
    resources = sorted(costs)
    names = ["loss", *(f"costs.{r}" for r in resources)]
    indices = [list(range(len(layers))), *(costs[r][0] for r in resources)]
    return names, indices, [losses, *(costs[r][1] for r in resources)]


def _raw(message: cpb.Values) -> bytes:
    """The array's ``f64le`` bytes (packed ``values`` encoded; malformed arrays: none, the
    solver's decoding reports them)."""
    raw = message.f64le
    if raw:
        return raw if len(raw) % 8 == 0 and not message.values else b""
    values = message.values
    return np.asarray(values, dtype="<f8").tobytes() if values else b""


def _largest(chunks: list[bytes]) -> NDArray[np.float64]:
    """Each chunk's largest value (0 when empty or not finite: the solver names those)."""
    lengths = np.fromiter((len(c) // 8 for c in chunks), dtype=np.int64, count=len(chunks))
    largest = np.zeros(len(chunks))
    filled = lengths > 0
    if filled.any():
        data = np.frombuffer(b"".join(chunks), dtype="<f8")
        starts = np.concatenate(([0], np.cumsum(lengths[filled])[:-1]))
        with np.errstate(invalid="ignore"):
            largest[filled] = np.maximum.reduceat(data, starts)
    largest[~np.isfinite(largest)] = 0.0
    return np.maximum(largest, 0.0)


def _check_sum(
    indices: Sequence[int], largest: NDArray[np.float64], path: str, name: str, hint: str
) -> None:
    """The running sum of the layers' ``largest`` values stays at most `MAX_TOTAL`."""
    with np.errstate(over="ignore"):
        totals = np.cumsum(largest)
    over = np.flatnonzero(totals > MAX_TOTAL)
    if over.size:
        k = int(over[0])
        raise InvalidProblemError(
            f"{path}.layers[{indices[k]}].{name}",
            f"values whose sum over layers (the largest of each layer) is at most {MAX_TOTAL:g}",
            f"a running sum of {totals[k]:g} at this layer",
            hint,
        )
