"""The distribution lists every package, and the layers import one way only."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _on_disk() -> set[str]:
    found = set()
    for package, folder in CONFIG["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([package, *rel.parts]))
        if (base / "py.typed").exists():
            found.add(package)
    return found


def test_every_package_is_listed() -> None:
    assert set(CONFIG["packages"]) == _on_disk()


def _imports(folder: str) -> set[str]:
    names: set[str] = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return names


def test_layers_import_one_way() -> None:
    """solver <- service <- clients: the solver imports neither, the service not the clients."""
    solver, service = _imports("solver"), _imports("service")
    assert not {n for n in solver if n.startswith(("pruneplan.service", "pruneplan.clients"))}
    assert not {n for n in solver if n.split(".")[0] in {"torch", "grpc", "google"}}
    assert not {n for n in service if n.startswith("pruneplan.clients")}
    assert not {n for n in service if n.split(".")[0] == "torch"}
