"""Write-back against the real Neo4j: K per customer, replacement, idempotent reruns."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from kgdistill.config import ConfigError, load_config
from kgdistill.service import PredictConfig
from kgstore.connection import QueryRunner
from kgstore.ingest import load_csv
from kgstore.writeback import (
    BesideSync,
    LockLost,
    PredictionWriter,
    RunInfo,
    WritebackError,
    write_predictions,
    write_rows,
)
from tests.integration.graphcheck import graph_hash
from tests.support import shop
from tests.support.scorers import CategoryAffinityScorer

pytestmark = pytest.mark.neo4j

K = 5
CONFIG = PredictConfig(k=K, batch_size=37)  # small batches: many transactions, odd sizes
AT = datetime(2026, 1, 3, 8, 0, tzinfo=UTC)


def _recommend(graph: QueryRunner, run_id: str, frame: pd.DataFrame, **kw: object):
    return write_predictions(
        graph,
        frame,
        RunInfo(run_id, "category-affinity", "1", AT),
        CONFIG.recommendations(),
        batch_size=CONFIG.batch_size,
        progress=False,
        **kw,
    )


def _snapshot(graph: QueryRunner, rel: str = "RECOMMENDED") -> list[dict]:
    return graph.read(
        f"MATCH (s)-[r:{rel}]->(t) RETURN s.id AS s, t.id AS t, r.run_id AS run, r.rank AS rank, "
        "r.score AS score, r.model AS model, r.model_version AS version, "
        "toString(r.scored_at) AS at ORDER BY s, rank"
    )


def _per_customer(graph: QueryRunner) -> list[dict]:
    return graph.read(
        "MATCH (c:Customer) OPTIONAL MATCH (c)-[r:RECOMMENDED]->(p:Product) "
        "WITH c, r ORDER BY r.rank "
        "RETURN c.id AS id, count(r) AS n, collect(r.rank) AS ranks, collect(r.score) AS scores, "
        "collect(DISTINCT r.run_id) AS runs"
    )


def test_every_customer_gets_exactly_k_in_rank_order(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    frame = CategoryAffinityScorer().top_k(graph, list(range(1, 41)), K)
    summary = _recommend(graph, "run-1", frame)
    assert (summary.sources, summary.rows, summary.relationships_written) == (40, 200, 200)
    assert summary.relationships_deleted == 0 and summary.missing_targets == 0
    assert summary.batches > 1 and summary.rels_per_s > 0
    for row in _per_customer(graph):
        assert row["n"] == K, row
        assert row["ranks"] == list(range(1, K + 1)), row
        assert row["scores"] == sorted(row["scores"], reverse=True), row
        assert row["runs"] == ["run-1"]
    run = graph.read("MATCH (m:ModelRun {run_id: 'run-1'}) RETURN m{.*} AS m")[0]["m"]
    assert run["status"] == "complete" and run["model"] == "category-affinity"
    assert run["model_version"] == "1" and json.loads(run["metrics"]) == {}
    assert run["created_at"] is not None


def test_a_new_run_replaces_and_a_rerun_changes_nothing(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    scorer = CategoryAffinityScorer()
    first = scorer.top_k(graph, list(range(1, 41)), K)
    _recommend(graph, "run-1", first)
    # A different model's top-K for the second run: other products, other scores.
    second = (
        scorer.top_k(graph, list(range(1, 41)), K + 2)
        .query("rank > 2")
        .assign(rank=lambda f: f["rank"] - 2)
    )
    summary = _recommend(graph, "run-2", second)
    assert summary.relationships_deleted == 200
    rows = _per_customer(graph)
    assert all(r["n"] == K and r["runs"] == ["run-2"] for r in rows), rows
    assert all(r["ranks"] == list(range(1, K + 1)) for r in rows)
    before = _snapshot(graph)

    again = _recommend(graph, "run-2", second)
    assert (again.relationships_written, again.relationships_deleted) == (0, 0)
    assert _snapshot(graph) == before
    assert graph.read_value("MATCH (m:ModelRun) RETURN count(m)") == 2


def test_rerunning_a_run_with_a_changed_list_drops_what_it_no_longer_lists(
    graph: QueryRunner,
) -> None:
    shop.build_shop(graph, customers=4)
    frame = CategoryAffinityScorer().top_k(graph, [1, 2, 3, 4], K)
    _recommend(graph, "run-1", frame)
    shorter = frame[frame["rank"] <= 3]
    summary = _recommend(graph, "run-1", shorter)
    # Each customer's list changed, so each is replaced whole: 4 x 5 out, 4 x 3 in.
    assert (summary.relationships_written, summary.relationships_deleted) == (12, 20)
    assert {r["n"] for r in _per_customer(graph)} == {3}


def test_customers_named_without_rows_lose_their_old_recommendations(graph: QueryRunner) -> None:
    shop.build_shop(graph, customers=4)
    frame = CategoryAffinityScorer().top_k(graph, [1, 2, 3, 4], K)
    _recommend(graph, "run-1", frame)
    _recommend(graph, "run-2", frame[frame["customer_id"] != 4], sources=[1, 2, 3, 4])
    counts = {r["id"]: r["n"] for r in _per_customer(graph)}
    assert counts == {1: K, 2: K, 3: K, 4: 0}


def test_missing_nodes_are_counted_not_invented(graph: QueryRunner) -> None:
    shop.build_shop(graph, customers=2)
    frame = pd.DataFrame(
        {
            "customer_id": [1, 1, 999],
            "product_id": [1001, 4242, 1001],
            "score": [0.9, 0.8, 0.7],
            "rank": [1, 2, 1],
        }
    )
    summary = _recommend(graph, "run-1", frame)
    assert (summary.missing_sources, summary.missing_targets) == (1, 1)
    assert summary.relationships_written == 1
    assert graph.read_value("MATCH (p:Product {id: 4242}) RETURN count(p)") == 0
    assert graph.read_value("MATCH (c:Customer {id: 999}) RETURN count(c)") == 0


def test_a_missing_target_leaves_every_other_target_where_it_was(graph: QueryRunner) -> None:
    """The batch looks each target up once and rows point at it by position: a target
    with no node must not shift the others (customer 2 names only ones that exist)."""
    shop.build_shop(graph, customers=2)
    frame = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2],
            "product_id": [4242, 1003, 1001, 1001, 1002],
            "score": [0.9, 0.8, 0.7, 0.6, 0.5],
            "rank": [1, 2, 3, 1, 2],
        }
    )
    summary = _recommend(graph, "run-1", frame)
    assert (summary.missing_targets, summary.relationships_written) == (1, 4)
    got = [(r["s"], r["t"], r["rank"], r["score"]) for r in _snapshot(graph)]
    assert got == [(1, 1003, 2, 0.8), (1, 1001, 3, 0.7), (2, 1001, 1, 0.6), (2, 1002, 2, 0.5)]


def test_bad_rows_write_nothing(graph: QueryRunner) -> None:
    shop.build_shop(graph, customers=2)
    frame = pd.DataFrame(
        {"customer_id": [1, 1], "product_id": [1001, 1002], "score": [0.9, 0.8], "rank": [1, 1]}
    )
    with pytest.raises(WritebackError, match="rank 1 twice"):
        _recommend(graph, "run-1", frame)
    assert graph.read_value("MATCH ()-[r:RECOMMENDED]->() RETURN count(r)") == 0
    assert graph.read_value("MATCH (m:ModelRun) RETURN count(m)") == 0


def _category_frame(graph: QueryRunner, shift: int) -> pd.DataFrame:
    """Top-2 categories per product: its own leaf first, then a neighbour (by ``shift``)."""
    rows = []
    for row in graph.read(
        "MATCH (p:Product)-[:IN_CATEGORY]->(c:Category) RETURN p.id AS p, c.id AS c"
    ):
        other = shop.LEAVES[(shop.LEAVES.index(row["c"]) + shift) % 4]
        rows.append({"product_id": row["p"], "category_id": row["c"], "score": 0.9, "rank": 1})
        rows.append({"product_id": row["p"], "category_id": other, "score": 0.1, "rank": 2})
    return pd.DataFrame(rows)


def test_category_predictions_use_the_same_machinery(graph: QueryRunner) -> None:
    shop.build_shop(graph)

    def write(run_id: str, frame: pd.DataFrame):
        return write_predictions(
            graph,
            frame,
            RunInfo(run_id, "student-mlp", "3", AT),
            CONFIG.categories(),
            batch_size=CONFIG.batch_size,
            progress=False,
        )

    first = write("cat-1", _category_frame(graph, 1))
    assert (first.sources, first.relationships_written) == (40, 80)
    counts = graph.read(
        "MATCH (p:Product)-[r:PREDICTED_CATEGORY]->(c:Category) "
        "WITH p, count(r) AS n, collect(DISTINCT r.run_id) AS runs, "
        "     [x IN collect(r) WHERE x.rank = 1 | x] AS top "
        "RETURN n, runs, size(top) AS tops, count(p) AS products"
    )
    assert counts == [{"n": 2, "runs": ["cat-1"], "tops": 1, "products": 40}]
    top_is_own = graph.read_value(
        "MATCH (p:Product)-[r:PREDICTED_CATEGORY {rank: 1}]->(c:Category) "
        "RETURN all(x IN collect(EXISTS { (p)-[:IN_CATEGORY]->(c) }) WHERE x)"
    )
    assert top_is_own is True

    second = write("cat-2", _category_frame(graph, 2))
    assert second.relationships_deleted == 80
    before = _snapshot(graph, "PREDICTED_CATEGORY")
    assert {r["run"] for r in before} == {"cat-2"} and len(before) == 80
    again = write("cat-2", _category_frame(graph, 2))
    assert (again.relationships_written, again.relationships_deleted) == (0, 0)
    assert _snapshot(graph, "PREDICTED_CATEGORY") == before
    # Recommendations are another kind: untouched.
    assert graph.read_value("MATCH ()-[r:RECOMMENDED]->() RETURN count(r)") == 0


def test_a_prediction_name_held_by_other_data_is_refused_before_writing(
    graph: QueryRunner, tmp_path: Path
) -> None:
    # A graph loaded before loads refused the name: interactions stored as RECOMMENDED.
    (tmp_path / "customers.csv").write_text("customer_id\n5\n")
    (tmp_path / "products.csv").write_text("product_id\n7\n8\n")
    (tmp_path / "interactions.csv").write_text(
        "customer_id,product_id,type,timestamp,count\n5,7,recommended,2019-06-24,3\n"
    )
    load_csv(graph, tmp_path, progress=False, reserved_types=())
    before = graph_hash(graph)
    frame = pd.DataFrame({"customer_id": [5], "product_id": [8], "score": [0.9], "rank": [1]})
    with pytest.raises(WritebackError, match="RECOMMENDED relationships that are not predictions"):
        _recommend(graph, "r1", frame)
    assert graph_hash(graph) == before  # the interaction is still there, no ModelRun either
    # The same name refused in configuration: it is an interaction type.
    with pytest.raises(
        ConfigError, match=r"predict\.relationship = 'BOUGHT' is also an interaction"
    ):
        load_config(sets=["predict.relationship=BOUGHT"], environ={})


def _writer(graph: QueryRunner, run_id: str, **kw: object) -> PredictionWriter:
    run = RunInfo(run_id, "category-affinity", "1", AT)
    return PredictionWriter(
        graph, run, CONFIG.recommendations(), batch_size=CONFIG.batch_size, progress=False, **kw
    )


def _status(graph: QueryRunner, run_id: str) -> str:
    return str(graph.read_value("MATCH (r:ModelRun {run_id: $id}) RETURN r.status", id=run_id))


@pytest.mark.parametrize("workers", [1, 3])
def test_a_run_written_block_by_block_equals_one_written_whole(
    graph: QueryRunner, workers: int
) -> None:
    shop.build_shop(graph)
    frame = CategoryAffinityScorer().top_k(graph, list(range(1, 41)), K)
    whole = _recommend(graph, "run-1", frame)
    expected = [{**row, "run": "run-2"} for row in _snapshot(graph)]
    blocks = [frame[frame["customer_id"] <= 13], frame[frame["customer_id"] > 13]]
    with _writer(graph, "run-2", workers=workers) as writer:
        for block in blocks:
            writer.write(block)
        summary = writer.finish(sources=list(range(1, 41)))
    assert _snapshot(graph) == expected
    assert _status(graph, "run-2") == "complete"
    assert (summary.sources, summary.rows, summary.relationships_written) == (
        whole.sources,
        whole.rows,
        whole.relationships_written,
    )
    assert summary.relationships_deleted == whole.relationships_written  # run-1's, replaced


def test_the_writer_scores_on_while_a_block_is_written(graph: QueryRunner) -> None:
    """write() returns while its block's transaction is still open: the fence holds the
    transaction until the test, back from write(), lets it go (10 s at most)."""
    shop.build_shop(graph)
    frame = CategoryAffinityScorer().top_k(graph, list(range(1, 11)), K)
    released = threading.Event()
    seen: list[bool] = []

    def fence(_tx: object) -> None:
        seen.append(released.wait(timeout=10))

    with _writer(graph, "run-1", fence=fence) as writer:
        writer.write(frame)
        released.set()  # only reached once write() has returned
        writer.finish()
    assert seen and all(seen), "write() waited for its own transaction"
    assert len(_snapshot(graph)) == 10 * K


def test_workers_write_batches_at_once(graph: QueryRunner) -> None:
    """With two workers, two batches' transactions are open together: each has written
    its rows and reached the fence before either commits (with one, the first would wait
    for a second that never starts, and the barrier breaks)."""
    shop.build_shop(graph)
    frame = CategoryAffinityScorer().top_k(graph, list(range(1, 41)), K)
    together = threading.Barrier(2, timeout=10)
    calls: list[int] = []

    def fence(_tx: object) -> None:
        calls.append(1)
        if len(calls) <= 2:
            together.wait()

    with _writer(graph, "run-1", fence=fence, workers=2) as writer:
        writer.write(frame)
        summary = writer.finish()
    assert not together.broken and len(calls) == summary.batches > 2
    assert len(_snapshot(graph)) == 40 * K


def test_a_writer_that_lost_the_sync_lock_writes_nothing(graph: QueryRunner) -> None:
    """The fence ends each batch's transaction: once another holder has the sync's lock,
    every batch rolls back what it wrote, and the run is marked failed."""
    shop.build_shop(graph)
    frame = CategoryAffinityScorer().top_k(graph, list(range(1, 41)), K)
    beside = BesideSync("default", 60.0, AT, every_source=True)
    with pytest.raises(LockLost), _writer(graph, "run-1", beside_sync=beside, workers=2) as w:
        graph.write("MATCH (s:SyncState {name: 'default'}) SET s.lock_holder = 'elsewhere:1:x'")
        w.write(frame)
        w.finish()
    assert _snapshot(graph) == []
    assert _status(graph, "run-1") == "failed"


@pytest.mark.parametrize("how", ["writer", "write_rows"])
def test_after_a_failed_batch_no_batch_not_started_is_written(graph: QueryRunner, how: str) -> None:
    """The first batch's transaction fails (its fence raises, so it rolls back); the five
    or so batches queued behind it, which the fence would let through, never start."""
    shop.build_shop(graph)
    frame = CategoryAffinityScorer().top_k(graph, list(range(1, 41)), K)
    calls: list[int] = []

    def fence(_tx: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        if how == "writer":
            with _writer(graph, "run-1", fence=fence) as writer:
                writer.write(frame)
                writer.finish()
        else:
            run = RunInfo("run-1", "category-affinity", "1", AT)
            kind = CONFIG.recommendations()
            write_rows(graph, frame, run, kind, batch_size=CONFIG.batch_size, fence=fence)
    assert _snapshot(graph) == [] and len(calls) == 1


def test_a_bad_block_fails_the_run_and_a_rerun_completes_it(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    frame = CategoryAffinityScorer().top_k(graph, list(range(1, 41)), K)
    good, rest = frame[frame["customer_id"] <= 20], frame[frame["customer_id"] > 20]
    bad = rest.assign(score=rest["score"].where(rest["customer_id"] != 30, float("nan")))
    with pytest.raises(WritebackError), _writer(graph, "run-1") as writer:
        writer.write(good)
        writer.write(bad)  # refused before this block is written
    assert _status(graph, "run-1") == "failed"
    assert {row["s"] for row in _snapshot(graph)} == set(range(1, 21))
    with _writer(graph, "run-1") as writer:  # the rerun of the same run id
        writer.write(frame)
        writer.finish()
    assert _status(graph, "run-1") == "complete"
    assert len(_snapshot(graph)) == 40 * K
