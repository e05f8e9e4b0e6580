"""The allocation family on the wire: `AllocationProblem` and `AllocationResult`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from pruneplan.solver import (
    AllocationProblem,
    AllocationResult,
    Frontier,
    InvalidProblemError,
    LayerProfile,
    kept_count,
)
from pruneplan.v1 import allocation_pb2 as apb

from ._arrays import array_to_values, canonical_values, values_to_array


def _layer_to_proto(layer: LayerProfile, raw: bool | None) -> apb.LayerProfile:
    message = apb.LayerProfile(
        name=layer.name,
        levels=array_to_values(layer.levels, raw=raw),
        loss=array_to_values(layer.loss, raw=raw),
        size=int(layer.size),
        shape=[int(d) for d in layer.shape or ()],
        min_sparsity=float(layer.min_sparsity),
        max_sparsity=float(layer.max_sparsity),
        group=layer.group or "",
    )
    for resource in sorted(layer.costs or {}):
        message.costs[resource].CopyFrom(array_to_values(layer.costs[resource], raw=raw))  # type: ignore[index]
    if layer.magnitudes is not None:
        message.magnitudes.CopyFrom(array_to_values(layer.magnitudes, raw=raw))
    return message


def _layer_from_proto(message: apb.LayerProfile, path: str) -> LayerProfile:
    costs = {r: values_to_array(v, f"{path}.costs.{r}") for r, v in sorted(message.costs.items())}
    magnitudes = None
    if message.HasField("magnitudes"):
        magnitudes = values_to_array(message.magnitudes, f"{path}.magnitudes")
    return LayerProfile(
        name=message.name,
        levels=values_to_array(message.levels, f"{path}.levels"),
        loss=values_to_array(message.loss, f"{path}.loss"),
        size=int(message.size),
        costs=costs or None,
        shape=tuple(int(d) for d in message.shape) or None,
        min_sparsity=message.min_sparsity if message.HasField("min_sparsity") else 0.0,
        max_sparsity=message.max_sparsity if message.HasField("max_sparsity") else 1.0,
        group=message.group or None,
        magnitudes=magnitudes,
    )


def _canonical_layer(layer: apb.LayerProfile) -> int:
    elements = canonical_values(layer.levels) + canonical_values(layer.loss)
    if layer.HasField("magnitudes"):
        elements += canonical_values(layer.magnitudes)
    for values in layer.costs.values():
        elements += canonical_values(values)
    if not layer.HasField("min_sparsity"):
        layer.min_sparsity = 0.0
    if not layer.HasField("max_sparsity"):
        layer.max_sparsity = 1.0
    return elements


class AllocationCodec:
    """`pruneplan.solver.AllocationProblem` <-> `pruneplan.v1.AllocationProblem`."""

    name = "allocation"
    problem_type = AllocationProblem
    part = "layers"

    def encode_problem(
        self, problem: AllocationProblem, *, raw: bool | None
    ) -> apb.AllocationProblem:
        return apb.AllocationProblem(
            layers=[_layer_to_proto(layer, raw) for layer in problem.layers],
            budget={str(k): float(v) for k, v in problem.budget.items()},
            fingerprint=problem.fingerprint,
        )

    def decode_problem(self, message: apb.AllocationProblem, path: str) -> AllocationProblem:
        layers = [
            _layer_from_proto(layer, f"{path}.layers[{i}]")
            for i, layer in enumerate(message.layers)
        ]
        return AllocationProblem(
            layers=layers, budget=dict(message.budget), fingerprint=message.fingerprint
        )

    def canonicalize(self, message: apb.AllocationProblem) -> int:
        return sum(_canonical_layer(layer) for layer in message.layers)

    def parts(self, message: apb.AllocationProblem) -> int:
        return len(message.layers)

    def fingerprint(self, problem: AllocationProblem) -> str:
        return problem.fingerprint

    def solver_error(
        self, problem: AllocationProblem, error: InvalidProblemError
    ) -> InvalidProblemError:
        return error  # the solver's paths (layers[3].loss) are the message's

    def encode_solution(
        self, result: AllocationResult, problem: AllocationProblem
    ) -> apb.AllocationSolution:
        layers = [
            apb.LayerResult(
                name=layer.name,
                level_index=int(result.level_index[layer.name]),
                sparsity=float(result.sparsity[layer.name]),
                kept=kept_count(int(layer.size), float(result.sparsity[layer.name])),
            )
            for layer in problem.layers
            if layer.name in result.level_index
        ]
        solution = apb.AllocationSolution(layers=layers)
        if result.frontier is not None:
            f = result.frontier
            solution.frontier.CopyFrom(
                apb.Frontier(
                    resource=f.resource,
                    budget=array_to_values(f.budget),
                    objective=array_to_values(f.objective),
                )
            )
        return solution

    def decode_result(
        self, solution: apb.AllocationSolution, header: Mapping[str, Any]
    ) -> AllocationResult:
        frontier = None
        if solution.HasField("frontier"):
            f = solution.frontier
            frontier = Frontier(
                resource=f.resource,
                budget=values_to_array(f.budget, "frontier.budget"),
                objective=values_to_array(f.objective, "frontier.objective"),
            )
        return AllocationResult(
            **header,
            level_index={layer.name: int(layer.level_index) for layer in solution.layers},
            sparsity={layer.name: float(layer.sparsity) for layer in solution.layers},
            frontier=frontier,
        )

    def table(self, solution: apb.AllocationSolution) -> Table:
        table = Table()
        table.add_column("layer")
        for column in ("level", "sparsity", "kept"):
            table.add_column(column, justify="right")
        for layer in solution.layers:
            table.add_row(
                layer.name, str(layer.level_index), f"{layer.sparsity:.4f}", str(layer.kept)
            )
        return table
