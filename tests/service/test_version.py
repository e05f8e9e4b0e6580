"""Plan ids change with every solver source, subpackages included."""

from __future__ import annotations

import shutil
from pathlib import Path

import pruneplan.solver
from pruneplan.service.version import solver_version, source_digest

SOLVER = Path(pruneplan.solver.__file__).parent


def test_version_covers_every_solver_source(tmp_path: Path) -> None:
    copy = tmp_path / "solver"
    shutil.copytree(SOLVER, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_digest(copy)
    assert before == source_digest(SOLVER)
    nested = sorted(p for p in copy.rglob("*.py") if p.parent != copy)
    assert nested, "the solver has subpackages"
    nested[0].write_text(nested[0].read_text() + "\n# edited\n")
    assert source_digest(copy) != before


def test_renaming_a_module_changes_the_version(tmp_path: Path) -> None:
    copy = tmp_path / "solver"
    shutil.copytree(SOLVER, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_digest(copy)
    (copy / "_progress.py").rename(copy / "_progress2.py")
    assert source_digest(copy) != before


def test_solver_version_names_package_and_digest() -> None:
    version, digest = solver_version().split("+")
    assert digest == source_digest(SOLVER)
    assert version
