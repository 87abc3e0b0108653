"""The CSV interchange format against a real Neo4j: partial exports, unicode, empty files.

The EComm round trip through CSV is in test_load_ecomm.py, to reuse its load."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgstore.connection import QueryRunner
from kgstore.ingest import load_csv
from tests.integration.graphcheck import node_props

pytestmark = pytest.mark.neo4j


def _write(directory: Path, **files: str) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / f"{name}.csv").write_text(text, encoding="utf-8")
    return directory


def test_partial_exports_keep_what_they_do_not_mention(graph: QueryRunner, tmp_path: Path) -> None:
    first = _write(
        tmp_path / "day1",
        categories="category_id,parent_id,level\ntop,,1\nshoes,top,2\nhats,top,2\n",
        products="product_id,category_id,brand_id,price,color\nP1,shoes,acme,10.5,red\n",
        customers='customer_id,segment,stages\nC1,gold,"1;2"\n',
        interactions="customer_id,product_id,type,timestamp\nC1,P1,click,2024-03-01T10:00:00Z\n",
    )
    load_csv(graph, first, progress=False)
    stamp = graph.read_value("MATCH (p:Product {id: 'P1'}) RETURN p.updated_at AS t")

    # Nightly export: only a new price for P1 and one new interaction; nothing else named.
    second = _write(
        tmp_path / "day2",
        products="product_id,price\nP1,12.0\n",
        interactions="customer_id,product_id,type,timestamp\nC1,P1,buy,2024-03-02\n",
    )
    summary = load_csv(graph, second, progress=False)
    assert summary.nodes_created == 0 and summary.relationships_created == 1
    assert node_props(graph, "Product", ["P1"])["P1"] == {"id": "P1", "price": 12.0, "color": "red"}
    assert node_props(graph, "Customer", ["C1"])["C1"] == {
        "id": "C1",
        "segment": "gold",
        "stages": [1, 2],
    }
    moved = graph.read_value(
        "MATCH (p:Product {id: 'P1'}) RETURN p.updated_at > $t AS moved", t=stamp
    )
    assert moved is True
    assert (
        graph.read_value("MATCH (:Product {id: 'P1'})-[:MADE_BY]->(b) RETURN b.id AS b") == "acme"
    )

    # The same export again: nothing is set, not even a change marker.
    again = load_csv(graph, second, progress=False)
    assert (again.nodes_created, again.relationships_created, again.properties_set) == (0, 0, 0)

    # A product that changes category: the old link is replaced, not added to.
    third = _write(tmp_path / "day3", products="product_id,category_id\nP1,hats\n")
    load_csv(graph, third, progress=False)
    cats = graph.read("MATCH (:Product {id: 'P1'})-[:IN_CATEGORY]->(c) RETURN c.id AS c")
    assert cats == [{"c": "hats"}]


def test_unicode_and_long_values_reach_the_graph(graph: QueryRunner, tmp_path: Path) -> None:
    long_text = "ü" * 10_000
    directory = _write(
        tmp_path / "u",
        customers=f"customer_id,name,bio\nкот-1,Ærøskøbing 東京,{long_text}\n",
    )
    load_csv(graph, directory, progress=False)
    props = node_props(graph, "Customer", ["кот-1"])["кот-1"]
    assert props["name"] == "Ærøskøbing 東京" and props["bio"] == long_text


def test_empty_file_loads_nothing_and_says_so(graph: QueryRunner, tmp_path: Path) -> None:
    directory = _write(tmp_path / "e", customers="", products="product_id,price\n")
    summary = load_csv(graph, directory, progress=False)
    assert summary.nodes_created == 0
    assert "customers.csv is empty: nothing loaded from it" in summary.notes
    assert graph.read_value("MATCH (n) RETURN count(n) AS n") == 0
