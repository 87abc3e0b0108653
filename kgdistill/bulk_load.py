"""A bulk first load: a validated plan written by ``neo4j-admin database import``.

Into an empty database of the project-managed server, ``kgdistill load ... --bulk``
validates exactly as a transactional load does (:func:`kgstore.ingest.prepare_plan`),
writes the plan as import files (:mod:`kgstore.bulk`) while the server stops, imports,
starts it again and applies the schema. Any other target is refused before anything
changes: a server named by ``NEO4J_URI`` (its store is not ours to write), or a
database that holds nodes (later loads are incremental and use transactions).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kgdistill import server
from kgdistill.server import DEFAULT_DATABASE, Progress, ServerConfig
from kgstore.bulk import marker_now, write_import_files
from kgstore.connection import QueryRunner, env_settings
from kgstore.cypher import statement
from kgstore.ingest import PREDICTION_TYPES, LoadConfig, LoadSummary, apply_schema, prepare_plan
from kgstore.sources.plan import LoadError, LoadPlan


def _connect(cfg: ServerConfig, progress: Progress) -> QueryRunner:
    """The managed server's database (started when needed); refuses any other target."""
    if env_settings() is not None:
        raise LoadError(
            "--bulk writes the store of the project-managed Neo4j, but NEO4J_URI names "
            "another server; unset NEO4J_URI, or load without --bulk (transactions)"
        )
    if not server.status(cfg, query_version=False).running:
        server.start(cfg, progress)
    settings = server.settings_from_env(cfg)
    if (settings.database or DEFAULT_DATABASE) != DEFAULT_DATABASE:
        raise LoadError(
            f"--bulk imports into the database '{DEFAULT_DATABASE}', not "
            f"'{settings.database}' (NEO4J_DATABASE); unset it, or load without --bulk"
        )
    return QueryRunner.connect(settings)


def _timed_stop(cfg: ServerConfig, progress: Progress) -> float:
    began = time.monotonic()
    server.stop(cfg, progress)
    return time.monotonic() - began


def bulk_first_load(
    cfg: ServerConfig,
    plan: LoadPlan,
    config: LoadConfig | None = None,
    *,
    progress: Progress = print,
    reserved_types: Collection[str] = PREDICTION_TYPES,
) -> LoadSummary:
    """Write ``plan`` into the empty database of the managed server ``cfg`` by import."""
    began = time.monotonic()
    with _connect(cfg, progress) as runner:
        nodes = runner.read_value(statement("load/count_nodes"))
        if nodes:
            raise LoadError(
                f"{plan.source}: --bulk loads only into an empty database, and the database "
                f"of instance '{cfg.instance}' holds {nodes:,} nodes; nothing was loaded. "
                "Load without --bulk to add to it (transactions)"
            )
        summary = prepare_plan(runner, plan, config or LoadConfig(), reserved_types)
    instance = cfg.instance_dir
    with (
        tempfile.TemporaryDirectory(prefix=".bulk-", dir=instance) as tmp,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        t0 = time.monotonic()
        # the server shuts down (its own process's work) while this one writes the files
        stopping = pool.submit(_timed_stop, cfg, progress)
        try:
            files = write_import_files(plan, Path(tmp), marker_now())
        except BaseException:  # nothing was imported: serve the database as it was
            with contextlib.suppress(Exception):
                stopping.result()
            with contextlib.suppress(server.Neo4jServerError):
                server.start(cfg, progress)
            raise
        t1 = time.monotonic()
        stop_s = stopping.result()
        try:
            server.import_database(cfg, files.arguments(), progress)
        except BaseException:  # the old database is back: serve it again, report the import
            with contextlib.suppress(server.Neo4jServerError):
                server.start(cfg, progress)
            raise
        t2 = time.monotonic()
        server.start(cfg, progress)
    with _connect(cfg, progress) as runner:
        apply_schema(runner)
    summary.nodes_created = files.node_count
    summary.relationships_created = files.relationship_count
    summary.properties_set = files.property_count
    summary.interaction_seconds = t2 - t0  # files and import: what rels/s counts
    summary.seconds = time.monotonic() - began
    summary.notes.append(
        f"bulk: import files written in {t1 - t0:.1f}s (the server stopped meanwhile, in "
        f"{stop_s:.1f}s), neo4j-admin import {t2 - t1:.1f}s after them (rels/s counts "
        "both); the server was restarted and the schema applied"
    )
    return summary
