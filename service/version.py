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


@functools.cache
def solver_version() -> str:
    """``"<package version>+<12 hex digits of the solver sources>"``."""
    try:
        version = metadata.version("pruneplan")
    except metadata.PackageNotFoundError:
        version = "0"
    digest = hashlib.sha256()
    root = Path(pruneplan.solver.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(
            path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0"
        )
    return f"{version}+{digest.hexdigest()[:12]}"
