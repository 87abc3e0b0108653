"""`kgdistill load ... --bulk` against real servers: the same graph as a transactional load,
and the refusals (a non-empty database, another server, a bad row).

The bulk load runs in a managed instance of its own (the import stops and restarts the
server); the transactional load of the same shop runs in the session's server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgdistill.server import (
    Neo4jServerError,
    ServerConfig,
    cli_environment,
    import_database,
    settings_from_env,
)
from kgstore.connection import QueryRunner
from kgstore.cypher import statement
from kgstore.ingest import load_csv
from tests.conftest import managed_test_server, neo4j_cli
from tests.integration.graphcheck import graph_hash

pytestmark = pytest.mark.neo4j

# A small shop that exercises what the import files must get right: integer and string
# ids in one label, list, float and text properties (a comma, quotes, a line break,
# unicode), a property some rows lack, categories with parents, products without a
# brand, interactions of several types and days that aggregate into counts.
SHOP = {
    "categories": "category_id,parent_id,level\ntop,,1\nshoes,top,2\n7,top,2\n",
    "products": (
        "product_id,category_id,brand_id,price,color,tags\n"
        'P1,shoes,acme,10.5,red,"a;b"\n'
        '2,7,9,3.25,"blue, ""navy""",c\n'
        "P3,shoes,,,,\n"
    ),
    "customers": (
        "customer_id,segment,stages,bio\n"
        'C1,gold,"1;2","line one\nline two"\n'
        "5,silver,3,Ærøskøbing 東京\n"
        "6,,,\n"
    ),
    "interactions": (
        "customer_id,product_id,type,timestamp\n"
        "C1,P1,click,2024-03-01T10:00:00Z\n"
        "C1,P1,click,2024-03-01T11:00:00Z\n"
        "5,2,buy,2024-03-02\n"
        "5,P3,cart,20240303\n"
        "C1,2,fav,2024-03-04\n"
        "6,P1,click,2024-03-01\n"
    ),
}


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir()
    for name, text in files.items():
        (directory / f"{name}.csv").write_text(text, encoding="utf-8")
    return directory


def _kgdistill(
    cfg: ServerConfig, *args: str, uri: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``kgdistill ARGS`` as a user runs it against ``cfg``'s managed instance (or ``uri``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    env.update(cli_environment(cfg), **({"NEO4J_URI": uri} if uri else {}))
    cmd = [sys.executable, "-m", "kgdistill", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerConfig]:
    cfg = managed_test_server(str(tmp_path_factory.mktemp("bulk")), "bulk")
    try:
        yield cfg
    finally:
        neo4j_cli(cfg, "stop")


@pytest.fixture(scope="module")
def bulk_loaded(
    bulk_server: ServerConfig, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """The shop with a bad row loaded with and without --bulk (both refused), then the
    shop loaded with --bulk into the (still empty) instance."""
    root = tmp_path_factory.mktemp("bulk-shops")
    bad = _write(root / "bad", {**SHOP, "interactions": SHOP["interactions"] + "C1,P1,x y,1\n"})
    return {
        "plain_bad": _kgdistill(bulk_server, "load", "csv", "--dir", str(bad), "--quiet"),
        "bulk_bad": _kgdistill(bulk_server, "load", "csv", "--dir", str(bad), "--bulk", "--quiet"),
        "bulk": _kgdistill(
            bulk_server, "load", "csv", "--dir", str(_write(root / "shop", SHOP)), "--bulk"
        ),
    }


def _content(runner: QueryRunner) -> tuple[str, list[dict[str, object]]]:
    """The graph's hash without the change markers (times differ between two loads),
    and which markers there are, of which type."""
    markers = runner.read(
        "MATCH (n) RETURN labels(n)[0] AS what, valueType(n.updated_at) AS type, count(*) AS n "
        "UNION ALL MATCH ()-[r]->() RETURN type(r) AS what, valueType(r.loaded_at) AS type, "
        "count(*) AS n"
    )
    runner.write("MATCH (n) REMOVE n.updated_at")
    runner.write("MATCH ()-[r]->() REMOVE r.loaded_at")
    return graph_hash(runner), sorted(markers, key=lambda row: (row["what"], row["type"]))


def _constraints(runner: QueryRunner) -> set[tuple[str, str, str]]:
    """Every constraint as (type, label, property): what it holds, whatever its name."""
    rows = runner.read(
        "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties "
        "RETURN type, labelsOrTypes[0] AS label, properties[0] AS property"
    )
    return {(row["type"], row["label"], row["property"]) for row in rows}


def _load_schema() -> set[tuple[str, str, str]]:
    """The constraints a load creates (cypher/schema/create_constraints.cypher)."""
    text = statement("schema/create_constraints")
    found = re.findall(r"FOR \(n:(\w+)\) REQUIRE n\.(\w+) IS UNIQUE", text)
    return {("UNIQUENESS", label, prop) for label, prop in found}


def test_a_bad_row_fails_a_bulk_load_as_it_fails_a_transactional_one(
    bulk_loaded: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    plain, bulk = bulk_loaded["plain_bad"], bulk_loaded["bulk_bad"]
    assert plain.returncode == bulk.returncode == 1, bulk.stderr
    assert "interactions.csv, line 8" in bulk.stderr and bulk.stderr == plain.stderr
    # ... and nothing was written: the bulk load after them found the database empty.
    assert bulk_loaded["bulk"].returncode == 0, bulk_loaded["bulk"].stderr


def test_bulk_load_makes_the_graph_a_transactional_load_makes(
    graph: QueryRunner,
    bulk_server: ServerConfig,
    bulk_loaded: dict[str, subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    done = bulk_loaded["bulk"]
    assert done.returncode == 0, done.stderr
    assert "created:  11 nodes, 12 relationships" in done.stdout, done.stdout
    assert "rels/s" in done.stdout and "neo4j-admin import" in done.stdout

    load_csv(graph, _write(tmp_path / "shop", SHOP), progress=False)
    with QueryRunner.connect(settings_from_env(bulk_server, environ={})) as bulk_runner:
        # The session's server also holds constraints other tests created (ModelRun,
        # SyncState; some on the same label and key under another name, which the load's
        # IF NOT EXISTS keeps), so each side is held to the load's own schema.
        assert len(_load_schema()) == 4
        assert _constraints(bulk_runner) == _load_schema()
        assert _load_schema() <= _constraints(graph)
        assert _content(bulk_runner) == _content(graph)


def test_bulk_load_refuses_a_database_that_is_not_empty_or_not_its_own(
    runner: QueryRunner,
    bulk_server: ServerConfig,
    bulk_loaded: dict[str, subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    assert bulk_loaded["bulk"].returncode == 0, bulk_loaded["bulk"].stderr
    shop = _write(tmp_path / "shop", SHOP)
    with QueryRunner.connect(settings_from_env(bulk_server, environ={})) as bulk_runner:
        before = graph_hash(bulk_runner)
        again = _kgdistill(bulk_server, "load", "csv", "--dir", str(shop), "--bulk", "--quiet")
        assert again.returncode == 1
        assert "only into an empty database" in again.stderr
        assert "holds 11 nodes" in again.stderr and "Load without --bulk" in again.stderr
        assert graph_hash(bulk_runner) == before

    # NEO4J_URI names a server whose store is not ours: refused before anything is read.
    nodes = runner.read_value("MATCH (n) RETURN count(n) AS n")
    other = _kgdistill(
        bulk_server, "load", "csv", "--dir", str(shop), "--bulk", uri=runner.settings.uri
    )
    assert other.returncode == 1 and "NEO4J_URI names another server" in other.stderr
    assert runner.read_value("MATCH (n) RETURN count(n) AS n") == nodes


def test_a_failed_import_leaves_the_database_as_it_was(
    bulk_server: ServerConfig,
    bulk_loaded: dict[str, subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    assert bulk_loaded["bulk"].returncode == 0, bulk_loaded["bulk"].stderr
    with QueryRunner.connect(settings_from_env(bulk_server, environ={})) as bulk_runner:
        before = graph_hash(bulk_runner)
    assert neo4j_cli(bulk_server, "stop").returncode == 0
    # A relationship between nodes the import does not hold: the importer gives up.
    bad = tmp_path / "rel.csv"
    bad.write_text(":START_ID(Customer),:END_ID(Product)\ni1,i2\n", encoding="utf-8")
    with pytest.raises(Neo4jServerError, match="database was left as it was"):
        import_database(bulk_server, [f"--relationships=CLICKED={bad}"], progress=lambda m: None)
    assert neo4j_cli(bulk_server, "start").returncode == 0
    with QueryRunner.connect(settings_from_env(bulk_server, environ={})) as bulk_runner:
        assert graph_hash(bulk_runner) == before


def test_a_failure_writing_the_import_files_leaves_the_database_served_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops while the import files are written; when writing them fails
    (a full disk, say) nothing was imported, and the server is started again on the
    database as it was."""
    from kgdistill import bulk_load, server
    from kgstore.sources.synthetic import generate_cf

    cfg = managed_test_server(str(tmp_path / "instances"), "bulkfail")

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(bulk_load, "write_import_files", full_disk)
    try:
        with pytest.raises(OSError, match="No space left"):
            bulk_load.bulk_first_load(cfg, generate_cf(20, 10, 200, seed=0), progress=print)
        assert server.status(cfg, query_version=False).pid is not None
        with QueryRunner.connect(settings_from_env(cfg, environ={})) as runner:
            assert runner.read_value("MATCH (n) RETURN count(n) AS n") == 0
    finally:
        server.stop(cfg, progress=lambda m: None)
