"""Where the files that ship beside the code live: `cypher/`, `neo4j/pom.xml`, `data/`.

kgdistill runs from a checkout (``pip install -e .``, ``make``, the Dockerfile),
so these live at the repository root; ``KGDISTILL_ROOT`` points elsewhere.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


@cache
def project_root() -> Path:
    override = os.environ.get("KGDISTILL_ROOT")
    if override:
        return Path(override).resolve()
    here = Path(__file__).resolve().parent
    for candidate in (here.parent, *here.parents):
        if (candidate / "cypher").is_dir() and (candidate / "neo4j" / "pom.xml").is_file():
            return candidate
    raise FileNotFoundError(
        "cannot find the kgdistill project files (cypher/, neo4j/pom.xml) above "
        f"{here}; install kgdistill from a checkout (pip install -e .) or set KGDISTILL_ROOT"
    )


def project_path(relative: str) -> Path:
    return project_root() / relative


def cache_home() -> Path:
    """The per-user cache: $KGDISTILL_HOME, $XDG_CACHE_HOME/kgdistill or ~/.cache/kgdistill."""
    override = os.environ.get("KGDISTILL_HOME")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kgdistill"
