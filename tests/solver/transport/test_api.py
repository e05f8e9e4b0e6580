"""The public surface of `pruneplan.solver.transport`: names, signature, result, light import."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys

import pytest

import pruneplan.solver.transport as tr
from pruneplan.solver import Status
from pruneplan.solver._result import Certificate

MODULES = sorted(f"{tr.__name__}.{m.name}" for m in pkgutil.iter_modules(tr.__path__))


def test_all_is_pinned() -> None:
    assert tr.__all__ == [
        "BIN_METHODS",
        "METHODS",
        "BinsProblem",
        "BinsResult",
        "TransportProblem",
        "TransportResult",
        "transport",
        "transport_bins",
    ]
    assert list(tr.METHODS) == [
        "semi_dual",
        "sinkhorn",
        "sinkhorn_log",
        "smooth",
        "emd",
        "ot_solve",
    ]


def test_signature_matches_the_other_families() -> None:
    params = inspect.signature(tr.transport).parameters
    assert [(p.name, p.kind.name) for p in params.values()] == [
        ("problem", "POSITIONAL_OR_KEYWORD"),
        ("method", "KEYWORD_ONLY"),
        ("time_limit", "KEYWORD_ONLY"),
        ("seed", "KEYWORD_ONLY"),
        ("progress", "KEYWORD_ONLY"),
        ("options", "VAR_KEYWORD"),
    ]


def test_result_is_a_certificate_with_every_field() -> None:
    assert issubclass(tr.TransportResult, Certificate)
    names = {f.name for f in dataclasses.fields(tr.TransportResult)}
    assert {"status", "objective", "lower_bound", "gap", "usage", "limit", "method"} <= names
    assert {"soft_mask", "hard_mask", "threshold", "kept", "budget_error", "iterations"} <= names
    problem = [f.name for f in dataclasses.fields(tr.TransportProblem)]
    assert problem == ["scores", "budget", "weights", "reg", "reg_type", "min_keep", "max_keep"]


def test_result_header() -> None:
    result = tr.transport(tr.TransportProblem({"a": [1.0, 0.0, 2.0]}, 1.0, reg=0.5), method="auto")
    assert result.method == "semi_dual" and result.status is Status.OPTIMAL
    assert result.usage == pytest.approx({"mass": 1.0}) and result.limit == {"mass": 1.0}
    assert result.gap > 0 and result.lower_bound == pytest.approx(1.0)  # 0 + 1 pruned
    assert result.solve_time_s > 0


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failed == 0


def test_transport_has_an_example() -> None:
    assert any(t.examples for t in doctest.DocTestFinder().find(tr.transport))


def test_import_needs_neither_pot_nor_torch() -> None:
    code = (
        "import json, sys\n"
        "from pruneplan.solver.transport import TransportProblem, transport\n"
        "r = transport(TransportProblem({'a': [1.0, 2.0]}, 1, reg=0.1))\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in ('ot', 'torch'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
