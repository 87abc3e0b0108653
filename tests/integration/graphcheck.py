"""Helpers for integration tests: what is in the graph, and the CLI against the test server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any

from kgstore.connection import QueryRunner


def snapshot(runner: QueryRunner) -> dict[str, Any]:
    """Node counts per label, relationship counts and count sums per type."""
    labels = runner.read("MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS n")
    types = runner.read(
        "MATCH ()-[r]->() RETURN type(r) AS type, count(r) AS n, sum(r.count) AS total"
    )
    return {
        "labels": {row["label"]: row["n"] for row in labels},
        "types": {row["type"]: (row["n"], row["total"]) for row in types},
    }


def graph_hash(runner: QueryRunner) -> str:
    """A digest of every node (labels, properties) and relationship (type, ends, properties).

    Nodes are named by their labels and properties, so two graphs hash alike when they
    hold the same content, whatever their internal ids.
    """
    nodes = runner.read(
        "MATCH (n) RETURN elementId(n) AS eid, labels(n) AS labels, properties(n) AS props"
    )
    key = {row["eid"]: _canon([sorted(row["labels"]), row["props"]]) for row in nodes}
    rels = runner.read(
        "MATCH (a)-[r]->(b) RETURN elementId(a) AS a, type(r) AS type, "
        "properties(r) AS props, elementId(b) AS b"
    )
    items = sorted(key.values()) + sorted(
        _canon([key[row["a"]], row["type"], row["props"], key[row["b"]]]) for row in rels
    )
    return hashlib.sha256("\n".join(items).encode()).hexdigest()


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def node_props(runner: QueryRunner, label: str, ids: list[Any]) -> dict[Any, dict[str, Any]]:
    """Properties (minus change markers) of some nodes, by id. ``label`` is a test constant."""
    rows = runner.read(
        f"UNWIND $ids AS id MATCH (n:{label} {{id: id}}) RETURN n.id AS id, properties(n) AS p",
        ids=ids,
    )
    return {row["id"]: {k: v for k, v in row["p"].items() if k != "updated_at"} for row in rows}


def cli(runner: QueryRunner, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m kgdistill ARGS`` against the test server."""
    settings = runner.settings
    env = dict(os.environ, NEO4J_URI=settings.uri, NEO4J_USER=settings.user)
    env["NEO4J_PASSWORD"] = settings.password
    if settings.database:
        env["NEO4J_DATABASE"] = settings.database
    return subprocess.run(
        [sys.executable, "-m", "kgdistill", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
