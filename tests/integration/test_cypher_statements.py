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


@pytest.mark.parametrize("name", [n for n in STATEMENTS if not n.startswith("schema/")])
def test_statement_plans(runner: QueryRunner, name: str) -> None:
    # Placeholders take a syntactically valid identifier; labels need not exist to plan.
    filled = {key: "KgPlanCheck" for key in cypher.placeholders(name)}
    text = cypher.statement(name, **filled)
    with runner.session(notifications_min_severity="OFF") as session:
        summary = session.run("EXPLAIN " + text).consume()
    assert summary.plan is not None, name
