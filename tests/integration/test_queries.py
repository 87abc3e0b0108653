"""Each query in cypher/queries on a small graph with known recommendations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pandas as pd
import pytest

from kgstore.connection import QueryRunner
from kgstore.queries import QueryError, run_query
from kgstore.writeback import RunInfo, write_predictions
from tests.support import shop

pytestmark = pytest.mark.neo4j

IDS = {"recommended": "RECOMMENDED", "predicted_category": "PREDICTED_CATEGORY"}
AT = datetime(2026, 1, 3, 8, 0, tzinfo=UTC)

# Standard shop: product 1000 + i is in category 10 + i % 4, price 10 + i, brand 500 + i % 3.
RECS = [
    # customer 1: 1001 (cat 11, 11.0), 1005 (cat 11, 15.0), 1002 (cat 12, 12.0)
    (1, 1001, 0.9, 1),
    (1, 1005, 0.8, 2),
    (1, 1002, 0.7, 3),
    (2, 1005, 0.95, 1),
    (3, 1005, 0.5, 1),
]


def _write(graph: QueryRunner, recs=RECS, run_id: str = "run-q") -> None:
    frame = pd.DataFrame(recs, columns=["customer_id", "product_id", "score", "rank"])
    write_predictions(graph, frame, RunInfo(run_id, "m", "1", AT), progress=False)


def _q(graph: QueryRunner, name: str, **params: object) -> list[dict]:
    return run_query(graph, name, params, identifiers=IDS)


def test_customer_recommendations(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    _write(graph)
    rows = _q(graph, "customer_recommendations", customer_id=1)
    assert [(r["rank"], r["product_id"], r["category"], r["price"]) for r in rows] == [
        (1, 1001, 11, 11.0),
        (2, 1005, 11, 15.0),
        (3, 1002, 12, 12.0),
    ]
    assert rows[0]["score"] == 0.9 and rows[0]["run_id"] == "run-q"
    assert len(_q(graph, "customer_recommendations", customer_id=1, limit=2)) == 2
    assert _q(graph, "customer_recommendations", customer_id=12345) == []


def test_product_targeting_leaves_out_buyers(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    shop.add_interactions(
        graph,
        [{"customer": 3, "product": 1005, "type": "BOUGHT", "day": 20260102, "count": 1}],
        AT,
    )
    _write(graph)
    rows = _q(graph, "product_targeting", product_id=1005)
    # Customer 1 bought 1005 in the standard shop, customer 3 just now: only 2 is left.
    assert [(r["customer_id"], r["score"]) for r in rows] == [(2, 0.95)]
    _write(graph, [(4, 1005, 0.6, 1), (5, 1005, 0.99, 1)], run_id="run-q2")
    rows = _q(graph, "product_targeting", product_id=1005)
    assert [r["customer_id"] for r in rows] == [5, 2, 4]
    assert len(_q(graph, "product_targeting", product_id=1005, limit=1)) == 1


def test_search_ranking_filters_category_tree_and_price_band(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    _write(graph)

    def products(**params: object) -> list[int]:
        return [r["product_id"] for r in _q(graph, "search_ranking", customer_id=1, **params)]

    assert products(category_id=11) == [1001, 1005]
    assert products(category_id=1) == [1001, 1005, 1002]  # the root: every subcategory
    assert products(category_id=1, max_price=12) == [1001, 1002]
    assert products(category_id=1, min_price=12, max_price=15.0) == [1005, 1002]
    assert products(category_id=13) == []


def test_explain_recommendation_names_categories_brands_and_similar_customers(
    graph: QueryRunner,
) -> None:
    shop.build_shop(graph)
    _write(graph, [(1, 1017, 0.9, 1)])
    rows = _q(graph, "explain_recommendation", customer_id=1, product_id=1017)
    reasons = {(r["reason"], r["via"]): r for r in rows}
    # Customer 1 interacted with 1005, 1009, 1013 (all category 11, like 1017).
    assert rows[0]["reason"] == "shared category" and rows[0]["via"] == 11
    assert rows[0]["strength"] == 3 and sorted(rows[0]["evidence"]) == [1005, 1009, 1013]
    # 1017's brand is 502, shared with 1005.
    assert reasons[("same brand", 502)]["evidence"] == [1005]
    # Customers 13 and 33 also interacted with 1013, and with 1017.
    similar = sorted(via for reason, via in reasons if reason == "similar customer")
    assert similar == [13, 33]
    assert all(r["rank"] == 1 and r["score"] == 0.9 for r in rows)
    assert len(_q(graph, "explain_recommendation", customer_id=1, product_id=1017, limit=1)) == 1


def test_prediction_hit_rate_is_computed_in_the_database(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    _write(graph, [(1, 1017, 0.9, 1), (1, 1021, 0.8, 2), (2, 1002, 0.9, 1), (2, 1006, 0.8, 2)])
    _write(graph, [(3, 1003, 0.9, 1)], run_id="other-run")
    shop.add_interactions(
        graph,
        [
            {"customer": 1, "product": 1017, "type": "BOUGHT", "day": 20260105, "count": 1},
            {"customer": 2, "product": 1006, "type": "CLICKED", "day": 20260104, "count": 2},
            {"customer": 3, "product": 1003, "type": "CLICKED", "day": 20260105, "count": 1},
        ],
        AT,
    )

    def rate(**params: object) -> dict:
        (row,) = _q(graph, "prediction_hit_rate", run_id="run-q", **params)
        return {
            k: row[k] for k in ("customers", "predictions", "hits", "hit_rate", "customer_hit_rate")
        }

    assert rate(day=20260105) == {
        "customers": 2,
        "predictions": 4,
        "hits": 1,
        "hit_rate": 0.25,
        "customer_hit_rate": 0.5,
    }
    assert rate(day=20260104, until_day=20260105)["hits"] == 2
    assert rate(day=20260104, until_day=20260105, interaction="BOUGHT")["hits"] == 1
    assert rate(day=20260105, max_rank=1)["predictions"] == 2
    by_run = _q(graph, "prediction_hit_rate", day=20260105)
    assert [(r["run_id"], r["hits"]) for r in by_run] == [("other-run", 1), ("run-q", 1)]
    windowed = _q(
        graph,
        "prediction_hit_rate",
        day=20260105,
        scored_from="2026-01-03T00:00:00Z",
        scored_to="2026-01-04T00:00:00Z",
    )
    assert len(windowed) == 2
    assert _q(graph, "prediction_hit_rate", day=20260105, scored_from="2026-02-01T00:00:00Z") == []


def test_parameters_are_checked_before_running(runner: QueryRunner) -> None:
    with pytest.raises(QueryError, match="needs --param customer_id"):
        _q(runner, "customer_recommendations")
    with pytest.raises(QueryError, match="takes no parameter colour"):
        _q(runner, "customer_recommendations", customer_id=1, colour="red")
    with pytest.raises(QueryError, match="no query 'nope'"):
        _q(runner, "nope")


def test_the_cli_prints_a_table_and_json(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    _write(graph)
    env = dict(
        os.environ,
        NEO4J_URI=graph.settings.uri,
        NEO4J_USER=graph.settings.user,
        NEO4J_PASSWORD=graph.settings.password,
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kgdistill", "query", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    table = cli("customer_recommendations", "--param", "customer_id=1")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["rank", "product_id", "score"]
    assert lines[2].split()[:2] == ["1", "1001"] and lines[-1] == "(3 rows)"
    as_json = cli("customer_recommendations", "-p", "customer_id=1", "-p", "limit=1", "--json")
    assert json.loads(as_json.stdout)[0]["product_id"] == 1001
    listed = cli("--list")
    assert listed.returncode == 0 and "prediction_hit_rate" in listed.stdout
    bad = cli("customer_recommendations")
    assert bad.returncode == 1 and "needs --param customer_id" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
