"""The query files' headers, --param typing and the table printer (no database)."""

from __future__ import annotations

import pytest

from kgdistill.cli.query import format_table
from kgstore.cypher import placeholders
from kgstore.queries import QueryError, list_queries, parse_header, parse_param, parse_value

REQUIRED = {
    "customer_recommendations",
    "product_targeting",
    "search_ranking",
    "explain_recommendation",
    "prediction_hit_rate",
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("4.5", 4.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("BOUGHT", "BOUGHT"),
        ("'42'", "42"),
        ('"4.5"', "4.5"),
        ("2026-01-02T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("nan", "nan"),
        ("", ""),
    ],
)
def test_param_values_are_typed(text: str, value: object) -> None:
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_param_key_value() -> None:
    assert parse_param("customer_id=42") == ("customer_id", 42)
    assert parse_param("$name=a=b") == ("name", "a=b")
    for bad in ("customer_id", "=3", "bad key=1"):
        with pytest.raises(QueryError):
            parse_param(bad)


def test_header_parsing() -> None:
    spec = parse_header(
        "demo",
        "// What it answers,\n// over two lines.\n//\n"
        "// $customer_id  the customer\n// $limit  (optional) at most this many;\n"
        "//   default 20\n//\n// Example: kgdistill query demo --param customer_id=1\n"
        "MATCH (c {id: $customer_id}) RETURN c LIMIT coalesce($limit, 20)\n",
    )
    assert spec.description == "What it answers, over two lines."
    assert [(p.name, p.optional) for p in spec.params] == [("customer_id", False), ("limit", True)]
    assert spec.params[1].text == "at most this many; default 20"
    assert spec.required == ("customer_id",)
    assert spec.example == "kgdistill query demo --param customer_id=1"
    assert spec.body.startswith("MATCH")
    assert spec.used_params() == {"customer_id", "limit"}
    with pytest.raises(QueryError, match="no header"):
        parse_header("bare", "MATCH (n) RETURN n")


def test_every_query_documents_exactly_the_parameters_it_uses() -> None:
    specs = {spec.name: spec for spec in list_queries()}
    assert set(specs) >= REQUIRED
    for spec in specs.values():
        declared = {p.name for p in spec.params}
        assert declared == spec.used_params(), spec.name
        assert spec.description and spec.example.startswith(f"kgdistill query {spec.name}")
        for name in spec.required:
            assert f"{name}=" in spec.example, (spec.name, name)
        assert placeholders(f"queries/{spec.name}") <= {"recommended", "predicted_category"}


def test_table_is_aligned_with_numbers_right() -> None:
    table = format_table(
        [
            {"rank": 1, "product": "a", "score": 0.5, "tags": [1, 2], "none": None},
            {"rank": 10, "product": "bbb", "score": 0.25, "tags": [], "none": None},
        ]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["rank", "product", "score", "tags", "none"]
    assert lines[2].startswith("   1  a    ")
    assert lines[3].startswith("  10  bbb  ")
    assert "1, 2" in lines[2]
    assert lines[-1] == "(2 rows)"
    assert format_table([]) == "(no rows)"
