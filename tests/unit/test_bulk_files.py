"""kgstore.bulk: a LoadPlan as neo4j-admin import files (no database needed)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from kgstore.bulk import ARRAY_DELIMITER, import_key, value_type, write_import_files
from kgstore.sources.plan import LoadError, LoadPlan, aggregate_interactions

MARK = "2026-01-02T03:04:05.000006Z"


def _read(spec: str) -> list[list[str]]:
    path = spec.split("=", 1)[1]
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _plan() -> LoadPlan:
    plan = LoadPlan(source="t")
    plan.customers = [
        {"id": 1, "props": {"stages": [1, 2], "income": 2.5}},
        {"id": "c-2", "props": {"bio": 'a, "b"\nc'}},
        {"id": 3, "props": {}},
        {"id": 4, "props": {"income": 7}},  # an int where another row has a float
    ]
    plan.products = [{"id": 10, "props": {"price": 1.0}}]
    plan.product_categories = [{"id": 10, "category": "x"}, {"id": 10, "category": "y"}]
    plan.complete()
    plan.interactions = aggregate_interactions(
        [1, 1, "c-2"], [10, 10, 10], ["CLICKED", "CLICKED", "BOUGHT"], [20240101] * 3
    )
    return plan


def test_nodes_split_by_id_kind_and_property_type_and_keep_every_value(tmp_path: Path) -> None:
    files = write_import_files(_plan(), tmp_path, MARK)
    customers = [_read(spec) for spec in files.nodes if spec.startswith("Customer=")]
    headers = sorted(tuple(table[0]) for table in customers)
    assert headers == [
        (":ID(Customer)", "id:long", "income:long", "updated_at:datetime"),
        (":ID(Customer)", "id:long", "stages:long[]", "income:double", "updated_at:datetime"),
        (":ID(Customer)", "id:string", "bio:string", "updated_at:datetime"),
    ]
    rows = {row[0]: row for table in customers for row in table[1:]}
    assert rows["i1"] == ["i1", "1", f"1{ARRAY_DELIMITER}2", "2.5", MARK]
    assert rows["i3"] == ["i3", "3", "", "", MARK]  # absent properties stay unset
    assert rows["sc-2"] == ["sc-2", "c-2", 'a, "b"\nc', MARK]
    assert files.multiline  # the bio's line break: the importer must read quoted newlines
    assert files.node_count == 4 + 1 + 2  # customers, the product, categories x and y


def test_links_keep_one_per_product_and_interactions_their_counts(tmp_path: Path) -> None:
    files = write_import_files(_plan(), tmp_path, MARK)
    by_type = {spec.split("=", 1)[0]: _read(spec) for spec in files.relationships}
    assert by_type["IN_CATEGORY"] == [[":START_ID(Product)", ":END_ID(Category)"], ["i10", "sy"]]
    assert by_type["CLICKED"] == [
        [":START_ID(Customer)", ":END_ID(Product)", "day:long", "count:long", "loaded_at:datetime"],
        ["i1", "i10", "20240101", "2", MARK],
    ]
    assert by_type["BOUGHT"][1][:2] == ["sc-2", "i10"]
    assert files.relationship_count == 3
    assert "--array-delimiter=U+001F" in files.arguments()


def test_values_the_store_cannot_take_as_cypher_stores_them_are_refused() -> None:
    assert value_type([1.5, 2.0], "x") == "double[]"
    assert value_type(True, "x") == "boolean"
    with pytest.raises(LoadError, match="customer 'c', property 'a' is an empty list"):
        value_type([], "customer 'c', property 'a'")
    with pytest.raises(LoadError, match="mixed"):
        value_type([1, "a"], "x")
    assert import_key(7) == "i7" and import_key("7a") == "s7a"


def test_a_property_named_like_the_header_syntax_is_refused(tmp_path: Path) -> None:
    plan = LoadPlan(source="t", customers=[{"id": 1, "props": {"a:b": 1}}])
    with pytest.raises(LoadError, match="property name 'a:b'"):
        write_import_files(plan, tmp_path, MARK)


def test_ids_that_need_csv_quoting_reach_the_interaction_files_intact(tmp_path: Path) -> None:
    odd = 'c,"x"\nz'
    plan = LoadPlan(source="t", customers=[{"id": odd, "props": {}}])
    plan.products = [{"id": 10, "props": {}}]
    plan.interactions = aggregate_interactions([odd], [10], ["CLICKED"], [20240101])
    files = write_import_files(plan, tmp_path, MARK)
    (clicked,) = (_read(spec) for spec in files.relationships)
    (customers,) = (_read(spec) for spec in files.nodes if spec.startswith("Customer="))
    assert clicked[1][0] == customers[1][0] == "s" + odd
    assert files.multiline
