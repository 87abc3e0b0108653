"""Statements by name, placeholders and the identifier check (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgstore import cypher
from kgstore.cypher import CypherError, check_identifier
from kgstore.resources import project_root


@pytest.mark.parametrize("good", ["Customer", "RECOMMENDED", "PREDICTED_CATEGORY", "a1_b"])
def test_identifier_accepts_plain_names(good: str) -> None:
    assert check_identifier(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1abc",
        "_x",
        "has space",
        "a`b",
        "X) DETACH DELETE (n",
        "Käse",
        "a-b",
        "x" * 65,
        "a;b",
        "RECX\n",
        "RECX\r\n",
    ],
)
def test_identifier_refuses_anything_else(bad: str) -> None:
    with pytest.raises(CypherError, match="not allowed"):
        check_identifier(bad, "label")


def test_identifier_errors_cut_huge_values() -> None:
    with pytest.raises(CypherError) as info:
        check_identifier("x y" * 50_000, "label")
    assert len(str(info.value)) < 300


def test_statement_fills_checked_placeholders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cypher" / "t").mkdir(parents=True)
    (tmp_path / "neo4j").mkdir()
    (tmp_path / "neo4j" / "pom.xml").write_text("<project/>")
    (tmp_path / "cypher" / "t" / "merge_x.cypher").write_text(
        "UNWIND $rows AS row MERGE (n:{{label}} {id: row.id})-[:{{rel}}]->(m)"
    )
    monkeypatch.setenv("KGDISTILL_ROOT", str(tmp_path))
    project_root.cache_clear()
    cypher._read.cache_clear()
    try:
        text = cypher.statement("t/merge_x", label="Customer", rel="LIKES")
        assert text == "UNWIND $rows AS row MERGE (n:`Customer` {id: row.id})-[:`LIKES`]->(m)"
        assert cypher.placeholders("t/merge_x") == {"label", "rel"}
        with pytest.raises(CypherError, match="needs identifiers"):
            cypher.statement("t/merge_x", label="Customer")
        with pytest.raises(CypherError, match="no placeholders"):
            cypher.statement("t/merge_x", label="Customer", rel="LIKES", extra="X")
        with pytest.raises(CypherError, match="not allowed"):
            cypher.statement("t/merge_x", label="Customer", rel="X]->() DETACH DELETE (m")
        with pytest.raises(CypherError, match="no Cypher statement"):
            cypher.statement("t/missing")
        with pytest.raises(CypherError, match="bad statement name"):
            cypher.statement("../etc/passwd")
    finally:
        project_root.cache_clear()
        cypher._read.cache_clear()
