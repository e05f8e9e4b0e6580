"""The solver version that plan ids include: the package version and a digest of the solver code.

The digest changes whenever any solver source changes, so a plan store never serves a plan that
an older solver made, even between releases.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

import pruneplan.solver


def source_digest(root: Path) -> str:
    """12 hex digits of every ``*.py`` below ``root``, subpackages included, by relative path."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix().encode()
        digest.update(name + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@functools.cache
def solver_version() -> str:
    """``"<package version>+<12 hex digits of the solver sources>"``."""
    try:
        version = metadata.version("pruneplan")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"{version}+{source_digest(Path(pruneplan.solver.__file__).parent)}"
