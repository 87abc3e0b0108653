"""The EComm load against a real Neo4j: exact counts, idempotency, extraction, and the
same graph through the CSV interchange format.

The load (~85k source rows) runs once for this module; the fixture wipes at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kgstore.connection import QueryRunner
from kgstore.extract import ExtractConfig, extract_graphframe
from kgstore.ingest import LoadSummary, load_csv, load_ecomm
from kgstore.sources.csv_files import write_csv_dir
from kgstore.sources.ecomm import read_ecomm
from tests.conftest import wipe
from tests.integration.graphcheck import node_props, snapshot

pytestmark = pytest.mark.neo4j

EXPECTED = {
    "labels": {"Customer": 1500, "Product": 36224, "Category": 402, "Brand": 67},
    "types": {
        "CLICKED": 57917,
        "FAVORITED": 5529,
        "ADDED_TO_CART": 15066,
        "BOUGHT": 6701,
    },
}


@pytest.fixture(scope="module")
def loaded(runner: QueryRunner) -> Iterator[tuple[QueryRunner, LoadSummary]]:
    if runner.read_value("MATCH (n) RETURN count(n) AS n"):
        pytest.fail("the test database is not empty; the EComm tests need an empty one")
    try:
        yield runner, load_ecomm(runner, progress=False)
    finally:
        wipe(runner)


def test_counts_are_exact(loaded: tuple[QueryRunner, LoadSummary]) -> None:
    runner, summary = loaded
    state = snapshot(runner)
    assert state["labels"] == EXPECTED["labels"]
    interactions = {t: v for t, v in state["types"].items() if t in EXPECTED["types"]}
    assert {t: total for t, (_, total) in interactions.items()} == EXPECTED["types"]
    assert sum(n for n, _ in interactions.values()) == 80943
    assert state["types"]["IN_CATEGORY"][0] == 36224
    assert state["types"]["SUBCATEGORY_OF"][0] == 401
    assert set(state["types"]) == {*EXPECTED["types"], "IN_CATEGORY", "SUBCATEGORY_OF", "MADE_BY"}
    assert summary.nodes_created == 1500 + 36224 + 402 + 67
    assert summary.relationships_created == sum(n for n, _ in state["types"].values())


def test_graph_model_and_properties(loaded: tuple[QueryRunner, LoadSummary]) -> None:
    runner, _ = loaded
    assert node_props(runner, "Customer", [22479])[22479] == {
        "id": 22479,
        "gender": 1,
        "age_level": 5,
        "education": -1,
        "career": 10,
        "income": 15203.1,
        "stages": [1, 6, 4, 8, 5, 2],
    }
    assert node_props(runner, "Product", [224658783])[224658783] == {"id": 224658783, "price": 21.8}
    levels = runner.read(
        "MATCH (c:Category) OPTIONAL MATCH (c)-[:SUBCATEGORY_OF]->(p) "
        "RETURN c.level AS level, p.id AS parent, count(*) AS n ORDER BY level"
    )
    assert levels == [
        {"level": 1, "parent": None, "n": 1},
        {"level": 2, "parent": 33, "n": 401},
    ]
    assert runner.read_value("MATCH (b:Brand {id: 0}) RETURN count(b) AS n") == 0
    leaf = runner.read_value(
        "MATCH (:Product {id: 224658783})-[:IN_CATEGORY]->(c:Category) RETURN c.id AS id"
    )
    assert leaf == 50002833
    day = runner.read(
        "MATCH (:Customer {id: 23067537})-[r:CLICKED]->(:Product {id: 1184664230}) "
        "RETURN r.day AS day, r.count AS count"
    )
    assert day == [{"day": 20190616, "count": 1}]


def test_every_write_carries_a_change_marker(loaded: tuple[QueryRunner, LoadSummary]) -> None:
    runner, _ = loaded
    assert runner.read_value("MATCH (n) WHERE n.updated_at IS NULL RETURN count(n) AS n") == 0
    missing = runner.read_value(
        "MATCH ()-[r:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT]->() "
        "WHERE r.loaded_at IS NULL RETURN count(r) AS n"
    )
    assert missing == 0


def test_loading_again_changes_nothing(loaded: tuple[QueryRunner, LoadSummary]) -> None:
    runner, _ = loaded
    before = snapshot(runner)
    started = runner.read_value("RETURN datetime() AS now")
    again = load_ecomm(runner, progress=False)
    assert again.nodes_created == 0
    assert again.relationships_created == 0
    assert again.relationships_deleted == 0
    assert again.properties_set == 0  # not one property written, markers included
    assert snapshot(runner) == before
    touched = runner.read_value(
        "MATCH (n) WHERE n.updated_at >= $t RETURN count(n) AS n", t=started
    )
    assert touched == 0


def _expected_frame_counts() -> dict[str, Any]:
    plan = read_ecomm()
    plan.complete()
    return plan.counts()


def test_extraction_round_trip(loaded: tuple[QueryRunner, LoadSummary]) -> None:
    runner, _ = loaded
    frame = extract_graphframe(runner)
    assert frame.summary() == _expected_frame_counts()
    customers = frame.customers.set_index("id")
    assert customers.loc[22479, "stages"] == [1, 6, 4, 8, 5, 2]
    assert list(frame.customers.columns) == [
        "id",
        "gender",
        "age_level",
        "education",
        "career",
        "income",
        "stages",
    ]
    products = frame.products.set_index("id")
    assert products.loc[224658783, "price"] == 21.8
    category = frame.categories.loc[products.loc[224658783, "category"]]
    assert category["id"] == 50002833 and category["level"] == 2
    assert frame.categories.loc[category["parent"], "id"] == 33
    assert (frame.products["brand"] >= 0).sum() == 680
    assert frame.interactions.groupby("type")["count"].sum().to_dict() == EXPECTED["types"]


def test_until_leaves_later_interactions_out(loaded: tuple[QueryRunner, LoadSummary]) -> None:
    runner, _ = loaded
    cut = extract_graphframe(runner, until=20190615)
    assert cut.interactions["day"].max() <= 20190615
    plan = read_ecomm().interactions
    kept = plan[plan["day"] <= 20190615]
    assert len(cut.interactions) == len(kept)
    assert cut.interactions["count"].sum() == kept["count"].sum()
    assert cut.num_products == 36224  # nodes are kept


def test_small_pages_give_the_same_frame(loaded: tuple[QueryRunner, LoadSummary]) -> None:
    runner, _ = loaded
    whole = extract_graphframe(runner)
    paged = extract_graphframe(runner, config=ExtractConfig(page_size=997))
    assert paged.summary() == whole.summary()
    assert paged.customers["id"].tolist() == whole.customers["id"].tolist()
    assert paged.products["id"].tolist() == whole.products["id"].tolist()
    key = ["customer", "product", "type", "day"]
    left = whole.interactions.sort_values(key).reset_index(drop=True)
    right = paged.interactions.sort_values(key).reset_index(drop=True)
    assert left.equals(right)


SAMPLE_CUSTOMERS = [22479, 236689, 495963]
SAMPLE_PRODUCTS = [224658783, 227491098, 228689751]
BRAND_LINKS = (
    "MATCH (p:Product)-[:MADE_BY]->(b:Brand) RETURN p.id AS p, b.id AS b ORDER BY p LIMIT 20"
)


def test_ecomm_written_as_csv_loads_into_the_same_graph(
    loaded: tuple[QueryRunner, LoadSummary], tmp_path: Path
) -> None:
    """Last in this module: it replaces the EComm graph by the CSV-loaded one, which
    must be the same graph, so tests that ran after it would still pass."""
    graph, _ = loaded
    expected = snapshot(graph)
    customers = node_props(graph, "Customer", SAMPLE_CUSTOMERS)
    products = node_props(graph, "Product", SAMPLE_PRODUCTS)
    links = graph.read(BRAND_LINKS)
    wipe(graph)

    write_csv_dir(read_ecomm(), tmp_path)
    summary = load_csv(graph, tmp_path, progress=False)
    assert summary.skipped_unknown == 0
    assert snapshot(graph) == expected
    assert node_props(graph, "Customer", SAMPLE_CUSTOMERS) == customers
    assert node_props(graph, "Product", SAMPLE_PRODUCTS) == products
    assert graph.read(BRAND_LINKS) == links
