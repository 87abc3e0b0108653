"""Every statement in cypher/ compiles on the real server (EXPLAIN plans it, runs nothing)."""

from __future__ import annotations

import pytest

from kgstore import cypher
from kgstore.connection import QueryRunner
from kgstore.resources import project_path

pytestmark = pytest.mark.neo4j

ROOT = project_path("cypher")
STATEMENTS = sorted(str(p.relative_to(ROOT).with_suffix("")) for p in ROOT.rglob("*.cypher"))


def test_there_are_statements_to_check() -> None:
    groups = {name.split("/")[0] for name in STATEMENTS}
    assert {"schema", "load", "extract", "writeback", "queries"} <= groups, groups


# gds/ needs the Graph Data Science plugin: test_gds_peer.py plans those on its own server
PLAIN = [n for n in STATEMENTS if not n.startswith(("schema/", "gds/"))]
GDS = [n for n in STATEMENTS if n.startswith("gds/")]


def plans(runner: QueryRunner, name: str) -> bool:
    """EXPLAIN the statement (placeholders filled with a valid identifier; labels need
    not exist to plan): it compiles, and nothing runs."""
    filled = {key: "KgPlanCheck" for key in cypher.placeholders(name)}
    text = cypher.statement(name, **filled)
    with runner.session(notifications_min_severity="OFF") as session:
        summary = session.run("EXPLAIN " + text).consume()
    return summary.plan is not None


@pytest.mark.parametrize("name", PLAIN)
def test_statement_plans(runner: QueryRunner, name: str) -> None:
    assert plans(runner, name), name
