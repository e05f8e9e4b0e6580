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
    "BinsProblem",
    "BinsResult",
    "Certificate",
    "ClusterGroup",
    "ClusteringProblem",
    "ClusteringResult",
    "Frontier",
    "GroupSelection",
    "InvalidProblemError",
    "ItemGroup",
    "LayerProfile",
    "Progress",
    "SelectionProblem",
    "SelectionResult",
    "Status",
    "TransportProblem",
    "TransportResult",
    "allocate",
    "cluster",
    "kept_count",
    "select",
    "solve",
    "transport_bins",
]

NAMES = sorted(t.__name__ for t in solver.solve.registry if t is not object)
FAMILIES = ", ".join(NAMES)
"""Every registered problem type (each family registers its own in its ``__init__``), sorted."""

HEADER = [
    "status",
    "objective",
    "lower_bound",
    "gap",
    "usage",
    "limit",
    "method",
    "solve_time_s",
    "message",
]
"""The `Certificate` fields every family's result starts with, in order."""

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


def test_solve_signature() -> None:
    params = inspect.signature(solver.solve).parameters
    assert [(p.name, p.kind.name) for p in params.values()] == [
        ("problem", "POSITIONAL_OR_KEYWORD"),
        ("options", "VAR_KEYWORD"),
    ]


def test_contract_fields() -> None:
    layer = [f.name for f in dataclasses.fields(solver.LayerProfile)]
    assert layer == [
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
    assert [f.name for f in dataclasses.fields(solver.AllocationProblem)] == [
        "layers",
        "budget",
        "fingerprint",
    ]
    assert [f.name for f in dataclasses.fields(solver.Certificate)] == HEADER
    assert [f.name for f in dataclasses.fields(solver.AllocationResult)] == [
        *HEADER,
        "level_index",
        "sparsity",
        "frontier",
        "plan_id",
        "fingerprint",
    ]
    assert issubclass(solver.AllocationResult, solver.Certificate)
    assert [f.name for f in dataclasses.fields(solver.Frontier)] == [
        "resource",
        "budget",
        "objective",
    ]
    assert [f.name for f in dataclasses.fields(solver.Progress)] == [
        "phase",
        "fraction",
        "objective",
        "lower_bound",
    ]
    assert [s.name for s in solver.Status] == ["OPTIMAL", "FEASIBLE", "INFEASIBLE", "TIME_LIMIT"]
    assert issubclass(solver.InvalidProblemError, ValueError)


def test_solve_routes_each_problem_type_to_its_family() -> None:
    problem = solver.AllocationProblem(
        [solver.LayerProfile("a", [0.0, 0.5], [0.0, 1.0], 10)], {"params": 6}
    )
    via_solve = solver.solve(problem, method="dp", buckets=100)
    direct = solver.allocate(problem, method="dp", buckets=100)
    assert isinstance(via_solve, solver.AllocationResult)
    assert (via_solve.method, dict(via_solve.level_index)) == ("dp", dict(direct.level_index))
    assert solver.solve.dispatch(solver.AllocationProblem) is solver.allocate
    with pytest.raises(solver.InvalidProblemError) as info:
        solver.solve({"layers": []})
    assert str(info.value) == f"problem: must be one of {FAMILIES}; got dict."
    assert {"AllocationProblem", "SelectionProblem", "ClusteringProblem"} <= set(
        FAMILIES.split(", ")
    )
    assert info.value.field == "problem"


def _python(code: str) -> str:
    """What ``code`` prints in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout


def test_a_family_plugs_into_solve_with_one_register_line() -> None:
    code = (
        "import pruneplan.solver as s\n"
        "class ToyProblem: pass\n"
        "s.solve.register(ToyProblem, lambda problem, **kw: ('toy', kw))\n"
        "print(s.solve(ToyProblem(), seed=1))\n"
        "try:\n"
        "    s.solve(3)\n"
        "except s.InvalidProblemError as e:\n"
        "    print(e)\n"
    )
    assert _python(code).splitlines() == [
        "('toy', {'seed': 1})",
        f"problem: must be one of {', '.join(sorted([*NAMES, 'ToyProblem']))}; got int.",
    ]


def test_solver_imports_no_protobuf_grpc_or_torch() -> None:
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import pruneplan.solver as s\n"
        "for m in pkgutil.walk_packages(s.__path__, prefix=f'{s.__name__}.'):\n"
        "    importlib.import_module(m.name)\n"
        "heavy = ('google.protobuf', 'grpc', 'torch')\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.startswith(heavy))))\n"
    )
    assert json.loads(_python(code)) == []


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
