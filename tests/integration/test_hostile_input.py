"""Hostile input through `kgdistill load csv` against a real Neo4j, one probe per row.

Each probe is a directory of CSV files. A refused probe must end the command with
exit status 1 and exactly one stderr line naming the file and the line (cross-file
problems name the ids instead), no traceback, and leave the graph identical to
before: the hash covers every node and relationship with all their properties. An
accepted probe is a documented acceptance (docs/csv-format.md): the test says what
it loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kgstore.connection import QueryRunner
from kgstore.ingest import load_synthetic
from tests.integration.graphcheck import cli, graph_hash

pytestmark = pytest.mark.neo4j

CUSTOMERS = b"customer_id,segment\nc1,gold\n"
PRODUCTS = b"product_id,price\np1,2.5\n"
HEADER = b"customer_id,product_id,type,timestamp\n"
HUGE = 131_072  # 128 KB


@dataclass(frozen=True)
class Probe:
    files: dict[str, bytes]
    where: str | None  # "file, line N" the error names; None: accepted (or no line)
    reason: str  # in the error, or for an accepted probe a Cypher count that must be 1
    names: str = ""  # cross-file errors: what the message names instead of a line


def _interactions(rows: bytes, header: bytes = HEADER) -> dict[str, bytes]:
    return {"customers.csv": CUSTOMERS, "products.csv": PRODUCTS, "interactions.csv": header + rows}


REFUSED = {
    "too-many-cells": Probe(
        {"customers.csv": b"customer_id,segment\nc1,gold,extra\n"},
        "customers.csv, line 2",
        "expected 2 columns (as the header), got 3",
    ),
    "too-few-cells": Probe(
        _interactions(b"c1,p1,click\n"), "interactions.csv, line 2", "expected 4 columns"
    ),
    "nan-price": Probe(
        {"products.csv": b"product_id,price\np1,NaN\n"}, "products.csv, line 2", "(NaN)"
    ),
    "inf-price": Probe(
        {"products.csv": b"product_id,price\np1,inf\n"}, "products.csv, line 2", "is infinite"
    ),
    "1e999-price": Probe(
        {"products.csv": b"product_id,price\np1,1e999\n"}, "products.csv, line 2", "is infinite"
    ),
    "1e999-feature": Probe(
        {"customers.csv": b"customer_id,score\nc1,1.5\nc2,1e999\n"},
        "customers.csv, line 3",
        "column 'score': '1e999' is infinite",
    ),
    "10^23-feature": Probe(
        {"customers.csv": b"customer_id,big\nc1,100000000000000000000000\n"},
        "customers.csv, line 2",
        "is out of range",
    ),
    "10^23-count": Probe(
        _interactions(
            b"c1,p1,click,2024-01-01,100000000000000000000000\n",
            b"customer_id,product_id,type,timestamp,count\n",
        ),
        "interactions.csv, line 2",
        "column 'count'",
    ),
    "underscore-price": Probe(
        {"products.csv": b"product_id,price\np1,1_000\n"}, "products.csv, line 2", "not a number"
    ),
    "bad-date": Probe(
        _interactions(b"c1,p1,click,2024-02-30\n"),
        "interactions.csv, line 2",
        "'2024-02-30' is not a date",
    ),
    "word-date": Probe(
        _interactions(b"c1,p1,click,2024-01-01\nc1,p1,click,yesterday\n"),
        "interactions.csv, line 3",
        "is not a date",
    ),
    "empty-id": Probe(
        {"customers.csv": b"customer_id,segment\n ,gold\n"}, "customers.csv, line 2", "empty id"
    ),
    "long-id": Probe(
        {"customers.csv": b"customer_id\n" + b"k" * 300 + b"\n"},
        "customers.csv, line 2",
        "id is 300 characters long",
    ),
    "huge-id": Probe(
        {"customers.csv": b"customer_id\n" + b"k" * HUGE + b"\n"},
        "customers.csv, line 2",
        f"id is {HUGE} characters long",
    ),
    "huge-text-cell": Probe(
        {"customers.csv": b"customer_id,note\nc1,short\nc2," + b"x" * HUGE + b"\n"},
        "customers.csv, line 3",
        f"text is {HUGE} characters long",
    ),
    "huge-number-cell": Probe(
        {"customers.csv": b"customer_id,n\nc1,1\nc2," + b"9" * HUGE + b"\n"},
        "customers.csv, line 3",
        "is out of range",
    ),
    "not-utf8": Probe(
        {"customers.csv": b"customer_id,name\nc1,ok\nc2,caf\xe9\n"},
        "customers.csv, line 3",
        "not UTF-8 text (byte 0xe9",
    ),
    "nul-byte": Probe(
        {"customers.csv": b"customer_id,name\nc1,a\x00b\n"},
        "customers.csv, line 2",
        "column 'name': text contains a NUL character",
    ),
    "open-quote": Probe(
        {"customers.csv": b'customer_id,name\nc1,"never closed\n'},
        "customers.csv, line 2",
        "unreadable CSV",
    ),
    "duplicate-header": Probe(
        {"customers.csv": b"customer_id,segment,Segment\nc1,a,b\n"},
        "customers.csv, line 1",
        "repeated column names",
    ),
    "missing-header": Probe(
        _interactions(b"c1,p1,click\n", b"customer_id,product_id,type\n"),
        "interactions.csv, line 1",
        "missing ['timestamp']",
    ),
    "wrong-first-column": Probe(
        {"products.csv": b"price,product_id\n2.5,p1\n"},
        "products.csv, line 1",
        "the first column must be 'product_id'",
    ),
    "duplicate-id": Probe(
        {"customers.csv": b"customer_id\nc1\nc1\n"},
        "customers.csv, line 3",
        "customer 'c1' appears twice",
    ),
    "cypher-in-type": Probe(
        _interactions(b"c1,p1,x`]->() DETACH DELETE n //,2024-01-01\n"),
        "interactions.csv, line 2",
        "is not allowed",
    ),
    "cypher-in-column": Probe(
        {"customers.csv": b"customer_id,`x` DETACH DELETE n\nc1,1\n"},
        "customers.csv, line 1",
        "feature column name",
    ),
    "reserved-column": Probe(
        {"customers.csv": b"customer_id,updated_at\nc1,1\n"},
        "customers.csv, line 1",
        "'updated_at' is reserved",
    ),
    "prediction-type": Probe(
        _interactions(b"c1,p1,recommended,2024-01-01\n"),
        "interactions.csv, line 2",
        "is the relationship predictions are written as",
    ),
    "zero-count": Probe(
        _interactions(
            b"c1,p1,click,2024-01-01,0\n", b"customer_id,product_id,type,timestamp,count\n"
        ),
        "interactions.csv, line 2",
        "count 0 is not a positive integer",
    ),
    "unknown-ends": Probe(
        _interactions(b"c1,p1,click,2024-01-01\nghost,p1,buy,2024-01-02\n"),
        None,
        "1 interactions name 1 unknown customers",
        names="customer 'ghost' -BOUGHT-> product 'p1'",
    ),
    "unknown-parent": Probe(
        {"categories.csv": b"category_id,parent_id\nshoes,apparel\n"},
        None,
        "categories name unknown parents",
        names="'shoes' -> 'apparel'",
    ),
}

# Documented acceptances, each with a Cypher count that must come back 1.
ACCEPTED = {
    "bom": Probe(
        {"customers.csv": b"\xef\xbb\xbfcustomer_id,segment\nc1,gold\n"},
        None,
        "MATCH (c:Customer {id: 'c1', segment: 'gold'}) RETURN count(c)",
    ),
    "crlf": Probe(
        {"customers.csv": b"customer_id,segment\r\nc1,gold\r\nc2,silver\r\n"},
        None,
        "MATCH (c:Customer {segment: 'silver'}) WHERE c.id = 'c2' RETURN count(c)",
    ),
    "quotes-in-id": Probe(
        {"customers.csv": b'customer_id\n"c""1"\n'},
        None,
        "MATCH (c:Customer {id: 'c\"1'}) RETURN count(c)",
    ),
    "cypher-in-id": Probe(
        {"customers.csv": b'customer_id\n"x\'}) DETACH DELETE n //"\n'},
        None,
        'MATCH (c:Customer {id: "x\'}) DETACH DELETE n //"}) RETURN count(c)',
    ),
    "full-width-digits-id": Probe(
        {"customers.csv": "customer_id\n４２\n".encode()},
        None,
        "MATCH (c:Customer {id: '４２'}) RETURN count(c)",
    ),
    "nan-feature-is-missing": Probe(
        {"customers.csv": b"customer_id,score\nc1,1.5\nc2,NaN\n"},
        None,
        "MATCH (c:Customer {id: 'c2'}) WHERE c.score IS NULL RETURN count(c)",
    ),
    "newline-in-type": Probe(
        _interactions(b'c1,p1,"RECX\n",2024-01-01\n'),
        None,
        "MATCH (:Customer {id: 'c1'})-[r:RECX]->(:Product {id: 'p1'}) RETURN count(r)",
    ),
    "new-interaction-word": Probe(
        _interactions(b"c1,p1,returned,2024-01-01\n"),
        None,
        "MATCH (:Customer)-[r:RETURNED {day: 20240101, count: 1}]->() RETURN count(r)",
    ),
    "blank-lines": Probe(
        {"customers.csv": b"\ncustomer_id\n\nc1\n\n"},
        None,
        "MATCH (c:Customer {id: 'c1'}) RETURN count(c)",
    ),
}


def _write(directory: Path, files: dict[str, bytes]) -> Path:
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory


@pytest.fixture
def shop(graph: QueryRunner) -> QueryRunner:
    """A small graph already there, so 'identical to before' covers existing data."""
    load_synthetic(graph, customers=5, products=10, interactions=20, seed=3, progress=False)
    return graph


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_input_is_one_line_and_leaves_the_graph_as_it_was(
    shop: QueryRunner, tmp_path: Path, name: str
) -> None:
    probe = REFUSED[name]
    before = graph_hash(shop)
    directory = _write(tmp_path / name, probe.files)
    result = cli(shop, "load", "csv", "--dir", str(directory), "--quiet")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("kgdistill load: error: "), line
    if probe.where is not None:
        assert f"{directory}/{probe.where}: " in line, line
    else:
        assert probe.names in line, line
    assert probe.reason in line, line
    assert len(line) < 600, f"{len(line)} characters: a bad value repeated whole?"
    assert graph_hash(shop) == before


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_documented_acceptances_load_as_documented(
    shop: QueryRunner, tmp_path: Path, name: str
) -> None:
    probe = ACCEPTED[name]
    before = graph_hash(shop)
    directory = _write(tmp_path / name, probe.files)
    result = cli(shop, "load", "csv", "--dir", str(directory), "--quiet")
    assert result.returncode == 0, result.stderr
    assert shop.read_value(probe.reason) == 1
    assert graph_hash(shop) != before
    assert shop.read_value("MATCH (c:Customer) RETURN count(c)") >= 5  # nothing deleted
