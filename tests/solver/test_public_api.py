"""The public surface of `pruneplan.solver`: names, signatures, light imports, runnable examples."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest

import pruneplan.solver as solver

PUBLIC = [
    "METHODS",
    "AllocationProblem",
    "AllocationResult",
    "Frontier",
    "InvalidProblemError",
    "LayerProfile",
    "Progress",
    "Status",
    "allocate",
]

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(solver.__path__, prefix=f"{solver.__name__}.")
)


def test_all_is_pinned() -> None:
    assert solver.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(solver, name) is not None


def test_method_names() -> None:
    assert list(solver.METHODS) == [
        "exact",
        "dp",
        "lagrangian",
        "milp",
        "uniform",
        "erk",
        "global_magnitude",
        "lamp",
        "random",
    ]


def test_allocate_signature() -> None:
    params = inspect.signature(solver.allocate).parameters
    assert [(p.name, p.kind.name) for p in params.values()] == [
        ("problem", "POSITIONAL_OR_KEYWORD"),
        ("method", "KEYWORD_ONLY"),
        ("time_limit", "KEYWORD_ONLY"),
        ("seed", "KEYWORD_ONLY"),
        ("progress", "KEYWORD_ONLY"),
        ("options", "VAR_KEYWORD"),
    ]
    assert (params["method"].default, params["time_limit"].default, params["seed"].default) == (
        "auto",
        None,
        0,
    )


def test_contract_fields() -> None:
    layer = [f.name for f in dataclasses.fields(solver.LayerProfile)]
    assert layer[:10] == [
        "name",
        "levels",
        "loss",
        "size",
        "costs",
        "shape",
        "min_sparsity",
        "max_sparsity",
        "group",
        "magnitudes",
    ]
    result = {f.name for f in dataclasses.fields(solver.AllocationResult)}
    assert {
        "status",
        "level_index",
        "sparsity",
        "objective",
        "lower_bound",
        "gap",
        "usage",
        "limit",
        "method",
        "solve_time_s",
        "message",
        "frontier",
    } <= result
    assert {s.name for s in solver.Status} >= {"OPTIMAL", "FEASIBLE", "INFEASIBLE", "TIME_LIMIT"}
    assert issubclass(solver.InvalidProblemError, ValueError)


def test_solver_imports_no_protobuf_grpc_or_torch() -> None:
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import pruneplan.solver as s\n"
        "for m in pkgutil.walk_packages(s.__path__, prefix=f'{s.__name__}.'):\n"
        "    importlib.import_module(m.name)\n"
        "heavy = ('google.protobuf', 'grpc', 'torch')\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.startswith(heavy))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    failed, _ = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert failed == 0


def test_public_functions_have_examples() -> None:
    finder = doctest.DocTestFinder()
    assert any(t.examples for t in finder.find(solver.allocate))
    from pruneplan.solver.allocation import _baselines

    for method in ("uniform", "erk", "global_magnitude", "lamp", "random"):
        assert any(t.examples for t in finder.find(getattr(_baselines, f"solve_{method}")))
