"""Bad input against a real Neo4j: nothing of a failed load is written, and the CLI says where."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from kgstore.connection import QueryRunner
from kgstore.ingest import LoadConfig, LoadError, load_csv, load_synthetic
from kgstore.sources.ecomm import EDGES, bundled_dir
from tests.integration.graphcheck import cli, snapshot

pytestmark = pytest.mark.neo4j


def test_malformed_ecomm_line_stops_the_load_before_any_write(
    graph: QueryRunner, tmp_path: Path
) -> None:
    load_synthetic(graph, customers=20, products=50, interactions=200, seed=1, progress=False)
    before = snapshot(graph)
    copy = tmp_path / "ecomm"
    shutil.copytree(bundled_dir(), copy)
    with open(copy / EDGES, "a", encoding="utf-8") as fh:
        fh.write("23067537\t1184664230\tclick\t20190616\n")
    result = cli(graph, "load", "ecomm", "--path", str(copy), "--quiet")
    assert result.returncode == 1
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith("kgdistill load: error:")
    assert f"{copy / EDGES}, line 85214" in message
    assert "'click' is not an integer" in message
    assert snapshot(graph) == before


def _interactions(directory: Path, text: str) -> Path:
    directory.mkdir(exist_ok=True)
    (directory / "interactions.csv").write_text(
        "customer_id,product_id,type,timestamp\n" + text, encoding="utf-8"
    )
    return directory


def test_unknown_ends_are_an_error_naming_them(graph: QueryRunner, tmp_path: Path) -> None:
    directory = _interactions(tmp_path / "x", "c1,p1,click,2024-01-01\nghost,p1,buy,2024-01-02\n")
    (directory / "customers.csv").write_text("customer_id\nc1\n")
    (directory / "products.csv").write_text("product_id\np1\n")
    with pytest.raises(LoadError) as info:
        load_csv(graph, directory, progress=False)
    message = str(info.value)
    assert "1 interactions name 1 unknown customers and 0 unknown products" in message
    assert "customer 'ghost' -BOUGHT-> product 'p1'" in message
    assert "--skip-unknown" in message
    assert graph.read_value("MATCH (n) RETURN count(n) AS n") == 0  # not even c1 or p1


def test_skip_unknown_loads_the_rest_and_reports_what_it_skipped(
    graph: QueryRunner, tmp_path: Path
) -> None:
    directory = _interactions(tmp_path / "x", "c1,p1,click,2024-01-01\nghost,p1,buy,2024-01-02\n")
    (directory / "customers.csv").write_text("customer_id\nc1\n")
    (directory / "products.csv").write_text("product_id\np1\n")
    summary = load_csv(graph, directory, config=LoadConfig(on_unknown="skip"), progress=False)
    assert summary.skipped_unknown == 1
    assert summary.unknown_sample == ["customer 'ghost' -BOUGHT-> product 'p1'"]
    assert snapshot(graph)["types"] == {"CLICKED": (1, 1)}

    # The CLI flag does the same, and reports it in --json.
    more = _interactions(tmp_path / "y", "c1,p1,buy,2024-01-03\nc1,nope,buy,2024-01-03\n")
    result = cli(graph, "load", "csv", "--dir", str(more), "--skip-unknown", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["skipped_unknown"] == 1
    assert report["relationships_created"] == 1
    assert "product 'nope'" in report["unknown_sample"][0]


def test_ends_already_in_the_database_are_known(graph: QueryRunner, tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "customers.csv").write_text("customer_id\n1\n")
    (base / "products.csv").write_text("product_id,price\n2,3.5\n")
    load_csv(graph, base, progress=False)
    nightly = _interactions(tmp_path / "n", "1,2,cart,2024-05-05T12:00:00\n1,2,cart,2024-05-05\n")
    summary = load_csv(graph, nightly, progress=False)
    assert summary.relationships_created == 1
    assert snapshot(graph)["types"] == {"ADDED_TO_CART": (1, 2)}


def test_unknown_category_parent_is_an_error(graph: QueryRunner, tmp_path: Path) -> None:
    directory = tmp_path / "c"
    directory.mkdir()
    (directory / "categories.csv").write_text("category_id,parent_id\nshoes,apparel\n")
    with pytest.raises(
        LoadError, match=re.escape("1 categories name unknown parents, e.g. 'shoes' -> 'apparel'")
    ):
        load_csv(graph, directory, progress=False)
    assert graph.read_value("MATCH (n) RETURN count(n) AS n") == 0


def test_missing_paths_named_on_the_command_line_are_errors(
    graph: QueryRunner, tmp_path: Path
) -> None:
    result = cli(graph, "load", "csv", "--dir", str(tmp_path / "nope"), "--quiet")
    assert result.returncode == 1
    assert "CSV directory" in result.stderr and "does not exist" in result.stderr
    result = cli(graph, "load", "ecomm", "--path", str(tmp_path / "nope.tar.gz"), "--quiet")
    assert result.returncode == 1 and "does not exist" in result.stderr
