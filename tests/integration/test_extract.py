"""Extraction against a real Neo4j: a synthetic shop, mixed id types, and small pages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kgstore.connection import QueryRunner
from kgstore.extract import ExtractConfig, extract_graphframe
from kgstore.ingest import load_csv, write_plan
from kgstore.sources.synthetic import generate, generate_cf
from tests.conftest import wipe
from tests.integration.graphcheck import cli, snapshot

pytestmark = pytest.mark.neo4j


def test_synthetic_shop_round_trips(graph: QueryRunner) -> None:
    plan = generate(customers=300, products=1_000, interactions=8_000, seed=5)
    write_plan(graph, plan, progress=False)
    expected = plan.counts()
    frame = extract_graphframe(graph, config=ExtractConfig(page_size=128))
    assert frame.summary() == expected
    assert frame.interactions["customer"].between(0, 299).all()
    assert (frame.products["category"] >= 0).all()
    leaf_levels = frame.categories.loc[frame.products["category"].unique(), "level"]
    assert set(leaf_levels) == {2}


def test_interaction_only_shop_round_trips(graph: QueryRunner) -> None:
    """Ids and interactions only: products without a category, brand or price load and
    extract like EComm without its features."""
    plan = generate_cf(customers=200, products=300, interactions=5_000, seed=5)
    write_plan(graph, plan, progress=False)
    frame = extract_graphframe(graph, config=ExtractConfig(page_size=128))
    assert frame.summary() == plan.counts()
    assert frame.summary()["categories"] == frame.summary()["brands"] == 0
    assert list(frame.customers.columns) == ["id"]
    assert (frame.products["category"] == -1).all() and (frame.products["brand"] == -1).all()
    assert frame.products["price"].isna().all()
    assert int(frame.interactions["count"].sum()) == 5_000


def test_the_same_graph_written_in_another_order_extracts_to_the_same_frame(
    graph: QueryRunner,
) -> None:
    """A customer's relationships come back in the order the store holds them, which
    depends on the order they were written; the frame (and so the held-out pairs a run
    draws from it) must not."""
    plan = generate_cf(customers=60, products=90, interactions=1_500, seed=3)
    write_plan(graph, plan, progress=False)
    first = extract_graphframe(graph, config=ExtractConfig(page_size=64))
    wipe(graph)
    plan.interactions = plan.interactions.iloc[::-1].reset_index(drop=True)
    write_plan(graph, plan, progress=False)
    second = extract_graphframe(graph, config=ExtractConfig(page_size=64))
    assert len(first.interactions) > 1_000
    pd.testing.assert_frame_equal(first.interactions, second.interactions)


def test_cli_loads_an_interaction_only_shop(graph: QueryRunner) -> None:
    args = ("--customers", "50", "--products", "80", "--interactions", "1000", "--quiet")
    result = cli(graph, "load", "synthetic", "--mode", "cf", *args)
    assert result.returncode == 0, result.stderr
    state = snapshot(graph)
    assert state["labels"] == {"Customer": 50, "Product": 80}
    assert sum(total for _, total in state["types"].values()) == 1_000
    assert cli(graph, "load", "synthetic", "--mode", "cf", *args).returncode == 0
    assert snapshot(graph) == state  # idempotent, like every load


def test_int_and_string_ids_page_in_two_passes(graph: QueryRunner, tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text("customer_id,tier\n1,a\n2,b\n10,c\nalice,d\nbob,e\n")
    (tmp_path / "products.csv").write_text("product_id,price\n7,1.0\nsku-x,2.5\n")
    (tmp_path / "interactions.csv").write_text(
        "customer_id,product_id,type,timestamp\n"
        "1,7,click,2024-01-01\n10,sku-x,buy,2024-01-02\nalice,7,cart,2024-01-03\n"
        "bob,sku-x,returned,2024-01-04\n"
    )
    load_csv(graph, tmp_path, progress=False)
    frame = extract_graphframe(graph, config=ExtractConfig(page_size=2))
    assert frame.customers["id"].tolist() == [1, 2, 10, "alice", "bob"]
    assert frame.customers["tier"].tolist() == ["a", "b", "c", "d", "e"]
    assert frame.products["id"].tolist() == [7, "sku-x"]
    assert frame.products["category"].tolist() == [-1, -1]
    # RETURNED is not one of the configured interaction types, so it is not extracted ...
    assert sorted(frame.interactions["type"]) == ["ADDED_TO_CART", "BOUGHT", "CLICKED"]
    # ... until the configuration names it.
    config = ExtractConfig(page_size=2, interaction_types=("CLICKED", "BOUGHT", "RETURNED"))
    wider = extract_graphframe(graph, config=config)
    rows = sorted(
        (str(wider.customers["id"][c]), str(wider.products["id"][p]), t)
        for c, p, t in wider.interactions[["customer", "product", "type"]].itertuples(index=False)
    )
    assert rows == [("1", "7", "CLICKED"), ("10", "sku-x", "BOUGHT"), ("bob", "sku-x", "RETURNED")]


def test_empty_graph_gives_an_empty_frame(graph: QueryRunner) -> None:
    frame = extract_graphframe(graph)
    assert frame.summary() == {
        "customers": 0,
        "products": 0,
        "categories": 0,
        "brands": 0,
        "interactions": 0,
        "interaction_count_sum": 0,
    }
