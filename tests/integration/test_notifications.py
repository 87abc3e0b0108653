"""Neo4j's notifications (unknown labels, property keys) never reach the user; errors do."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from neo4j.exceptions import CypherSyntaxError

from kgstore.connection import QueryRunner
from tests.integration.graphcheck import cli

pytestmark = pytest.mark.neo4j


def test_a_fresh_database_shows_no_notifications_but_errors_still_raise(
    graph: QueryRunner, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="neo4j.notifications")
    graph.read("MATCH (n:NoSuchLabel) WHERE n.no_such_key > 1 RETURN n.other_key AS x")
    assert not [r for r in caplog.records if r.name.startswith("neo4j.notifications")]
    with pytest.raises(CypherSyntaxError):
        graph.read("MATCH (n RETURN n")

    (tmp_path / "customers.csv").write_text("customer_id,segment\nc1,gold\n")
    (tmp_path / "products.csv").write_text("product_id,price\np1,2.5\n")
    (tmp_path / "interactions.csv").write_text(
        "customer_id,product_id,type,timestamp\nc1,p1,returned,2024-01-01\n"
    )
    result = cli(graph, "load", "csv", "--dir", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    assert "GqlStatusObject" not in result.stderr and "notification" not in result.stderr.lower()
    result = cli(graph, "query", "customer_recommendations", "-p", "customer_id=c1")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
