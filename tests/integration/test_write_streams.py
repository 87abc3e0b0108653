"""Concurrent write streams against a real Neo4j: the interaction load's machinery."""

from __future__ import annotations

import pytest
from neo4j.exceptions import Neo4jError

from kgstore.connection import QueryRunner
from kgstore.ingest import LoadConfig, load_synthetic
from tests.integration.graphcheck import snapshot

pytestmark = pytest.mark.neo4j

CREATE = "UNWIND $ids AS id CREATE (:StreamTest {id: id, stream: $stream})"


def test_streams_all_commit_and_counters_add_up(graph: QueryRunner) -> None:
    streams = [
        [
            (CREATE, {"ids": list(range(s * 100 + b * 10, s * 100 + b * 10 + 10)), "stream": s}, 10)
            for b in range(5)
        ]
        for s in range(3)
    ]
    seen: list[int] = []
    counters = graph.write_streams(streams, on_batch=seen.append)
    assert counters["nodes_created"] == 150
    assert seen == [10] * 15
    rows = graph.read("MATCH (n:StreamTest) RETURN n.stream AS s, count(*) AS n ORDER BY s")
    assert rows == [{"s": 0, "n": 50}, {"s": 1, "n": 50}, {"s": 2, "n": 50}]


def test_a_failure_is_raised_and_its_stream_stops(graph: QueryRunner) -> None:
    bad = "UNWIND $ids AS id CREATE (:StreamTest {id: id, stream: $stream, x: 1 / 0})"
    failing = [
        (CREATE, {"ids": [1, 2], "stream": 0}, 2),
        (bad, {"ids": [3], "stream": 0}, 1),
        (CREATE, {"ids": [4], "stream": 0}, 1),
    ]
    other = [(CREATE, {"ids": [10], "stream": 1}, 1)]
    with pytest.raises(Neo4jError, match=r"/ by zero|[Dd]ivision by zero"):
        graph.write_streams([failing, other])
    ids = set(graph.read_value("MATCH (n:StreamTest {stream: 0}) RETURN collect(n.id) AS ids"))
    assert ids == {1, 2}  # what committed stays; nothing after the failure ran


@pytest.mark.parametrize("workers", [1, 3])
def test_any_number_of_workers_loads_the_same_graph(graph: QueryRunner, workers: int) -> None:
    def load(workers: int) -> None:
        load_synthetic(
            graph,
            customers=60,
            products=300,
            interactions=3_000,
            seed=4,
            config=LoadConfig(batch_size=97, workers=workers),
            progress=False,
        )

    def interactions() -> list[tuple[object, ...]]:
        rows = graph.read(
            "MATCH (c:Customer)-[r]->(p:Product) RETURN c.id AS c, p.id AS p, type(r) AS t, "
            "r.day AS d, r.count AS n ORDER BY c, p, t, d"
        )
        return [tuple(row.values()) for row in rows]

    load(2)
    reference, counts = interactions(), snapshot(graph)
    assert len(reference) > 2_000
    graph.write("MATCH (:Customer)-[r]->(:Product) DELETE r")
    load(workers)
    assert interactions() == reference
    assert snapshot(graph) == counts
