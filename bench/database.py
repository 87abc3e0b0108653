"""The Neo4j a benchmark runs against: ``NEO4J_URI``'s (empty, or wiped on request) or a
private, project-managed instance on free ports in a temporary folder, removed after."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kgdistill import server
from kgdistill.server import settings_from_env
from kgstore.connection import QueryRunner


def wipe(runner: QueryRunner) -> None:
    """Delete every node and relationship, in batches."""
    with runner.session() as session:  # CALL {} IN TRANSACTIONS needs auto-commit
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS"
        ).consume()


@contextlib.contextmanager
def database(
    name: str, *, heap: str = "2g", allow_wipe: bool = False, gc: str = "auto"
) -> Iterator[QueryRunner]:
    """A runner on an empty database: ``NEO4J_URI``'s (a non-empty one only with
    ``allow_wipe``, else ``SystemExit``), or a private instance ``name`` with ``heap``
    and garbage collector ``gc`` (``[neo4j] gc``)."""
    cfg, folder = None, None
    if os.environ.get("NEO4J_URI"):
        settings = settings_from_env()
    else:
        folder = tempfile.mkdtemp(prefix=f"kgdistill-{name}-")
        bolt, http = server.free_port(), server.free_port()
        while http == bolt:
            http = server.free_port()
        cfg = server.ServerConfig(
            instance=name,
            bolt_port=bolt,
            http_port=http,
            heap=heap,
            instances_dir=folder,
            gc=gc,
        )
        gc_name = server.collector(gc)
        print(
            f"starting a private Neo4j on {cfg.bolt_uri} (heap {heap}, gc {gc_name}) ...",
            flush=True,
        )
        server.start(cfg, progress=lambda m: None)
        settings = settings_from_env(cfg, environ={})
    try:
        with QueryRunner.connect(settings) as runner:
            if runner.read_value("MATCH (n) RETURN count(n) AS n"):
                if not allow_wipe:
                    raise SystemExit(f"{settings.uri} is not empty; pass --wipe to delete its data")
                wipe(runner)
            yield runner
    finally:
        if cfg is not None:
            server.stop(cfg, progress=lambda m: None)
            shutil.rmtree(folder or "", ignore_errors=True)
