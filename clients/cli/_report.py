"""Human-facing output of a `SolveResponse`: canonical JSON and its family's table (rich)."""

from __future__ import annotations

import sys
from typing import TextIO

from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from pruneplan.service.convert import CODECS, status_name
from pruneplan.v1 import pruning_service_pb2 as pb


def to_json(response: pb.SolveResponse) -> str:
    """Protobuf JSON with the proto field names (the solver's names, e.g. ``lower_bound``)."""
    return json_format.MessageToJson(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def usage_table(response: pb.SolveResponse) -> Table:
    """Usage against the limit per resource."""
    table = Table()
    for column in ("resource", "usage", "limit"):
        table.add_column(column, justify="left" if column == "resource" else "right")
    c = response.certificate
    for resource in sorted(c.usage):
        limit = c.limit.get(resource)
        table.add_row(resource, f"{c.usage[resource]:.6g}", "" if limit is None else f"{limit:.6g}")
    return table


def print_table(response: pb.SolveResponse, file: TextIO | None = None) -> None:
    """Print the tables (and the solver's message) to ``file`` (default stderr)."""
    console = Console(file=file or sys.stderr)
    c = response.certificate
    console.print(
        f"[bold]{status_name(c.status)}[/bold]  objective {c.objective:.6g}  "
        f"bound {c.lower_bound:.6g}  gap {c.gap:.2e}  method {c.method}  "
        f"{c.solve_time_s * 1e3:.1f} ms  plan {response.plan_id}"
    )
    kind = response.WhichOneof("solution")
    if kind in CODECS:
        console.print(CODECS[kind].table(getattr(response, kind)))
    console.print(usage_table(response))
    if c.message:
        console.print(c.message)
