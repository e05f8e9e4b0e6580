"""Human-facing output of a `SolveResponse`: canonical JSON and a per-layer table (rich)."""

from __future__ import annotations

import sys
from typing import TextIO

from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from pruneplan.v1 import pruning_service_pb2 as pb

from .convert import status_name


def to_json(response: pb.SolveResponse) -> str:
    """Protobuf JSON with the proto field names (the solver's names, e.g. ``lower_bound``)."""
    return json_format.MessageToJson(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def layer_table(response: pb.SolveResponse) -> Table:
    """One row per layer: level index, sparsity, kept elements."""
    table = Table()
    table.add_column("layer")
    table.add_column("level", justify="right")
    table.add_column("sparsity", justify="right")
    table.add_column("kept", justify="right")
    for layer in response.layers:
        table.add_row(layer.name, str(layer.level_index), f"{layer.sparsity:.4f}", str(layer.kept))
    return table


def usage_table(response: pb.SolveResponse) -> Table:
    """Usage against the limit per resource."""
    table = Table()
    for column in ("resource", "usage", "limit"):
        table.add_column(column, justify="left" if column == "resource" else "right")
    for resource in sorted(response.usage):
        limit = response.limit.get(resource)
        table.add_row(
            resource, f"{response.usage[resource]:.6g}", "" if limit is None else f"{limit:.6g}"
        )
    return table


def print_table(response: pb.SolveResponse, file: TextIO | None = None) -> None:
    """Print the tables (and the solver's message) to ``file`` (default stderr)."""
    console = Console(file=file or sys.stderr)
    console.print(
        f"[bold]{status_name(response.status)}[/bold]  objective {response.objective:.6g}  "
        f"bound {response.lower_bound:.6g}  gap {response.gap:.2e}  method {response.method}  "
        f"{response.solve_time_s * 1e3:.1f} ms  plan {response.plan_id}"
    )
    console.print(layer_table(response))
    console.print(usage_table(response))
    if response.message:
        console.print(response.message)
