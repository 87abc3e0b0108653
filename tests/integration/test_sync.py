"""The batch sync against the real Neo4j: what it rescores, its lock, dry runs, failures."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest

from kgdistill.service import PredictConfig
from kgdistill.sync import SyncConfig, run_sync
from kgstore import writeback
from kgstore.connection import QueryRunner
from kgstore.extract import db_now
from kgstore.writeback import BesideSync, RunInfo, write_predictions
from tests.support import shop
from tests.support.scorers import CategoryAffinityScorer

pytestmark = pytest.mark.neo4j

K = 5
PREDICT = PredictConfig(k=K)
# Several chunks even in a small shop; no overlap so that each run sees only what is new
# (the default overlap re-finds changes from the last minute, on purpose: late commits).
SYNC = SyncConfig(chunk_size=7, overlap_s=0)
NEW_PRODUCTS = [2000 + i for i in range(5)]  # category 13, cheapest in the shop
# Ten customers of categories 11 and 12 each interact with one more product of their category.
INTERACTING = [1, 2, 5, 6, 9, 10, 13, 14, 17, 18]
# Customers whose recent interactions are in category 13: c % 4 == 3.
AUDIENCE = [c for c in range(1, 41) if c % 4 == 3]
UNAFFECTED = [c for c in range(1, 41) if c not in INTERACTING and c not in AUDIENCE]


def _sync(graph: QueryRunner, scorer=None, **kw: object):
    return run_sync(
        graph, scorer or CategoryAffinityScorer(), predict=PREDICT, sync=SYNC, progress=False, **kw
    )


def _runs(graph: QueryRunner) -> dict[int, list[str]]:
    rows = graph.read(
        "MATCH (c:Customer)-[r:RECOMMENDED]->() "
        "RETURN c.id AS id, collect(DISTINCT r.run_id) AS runs, count(r) AS n"
    )
    assert all(r["n"] == K for r in rows), rows
    return {r["id"]: r["runs"] for r in rows}


def _changes(graph: QueryRunner) -> None:
    now = datetime.now(UTC)
    shop.add_products(
        graph,
        [{"id": p, "price": 5.0, "category": 13, "brand": 500} for p in NEW_PRODUCTS],
        now,
    )
    rows = []
    for cid in INTERACTING:
        pool = [1000 + i for i in range(40) if i % 4 == cid % 4]
        rows.append(
            {
                "customer": cid,
                "product": pool[(cid + 5) % 10],
                "type": "CLICKED",
                "day": 20260102,
                "count": 1,
            }
        )
    shop.add_interactions(graph, rows, now)
    assert (
        graph.read_value("MATCH ()-[i]->() WHERE i.loaded_at >= $now RETURN count(i)", now=now)
        == 10
    )


def _cli(graph: QueryRunner, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        NEO4J_URI=graph.settings.uri,
        NEO4J_USER=graph.settings.user,
        NEO4J_PASSWORD=graph.settings.password,
        KGDISTILL_SYNC__CHUNK_SIZE="7",
        KGDISTILL_SYNC__OVERLAP_S="0",
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "kgdistill",
            "sync",
            "-k",
            str(K),
            "--scorer",
            "tests.support.scorers:CategoryAffinityScorer",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_first_sync_scores_everyone_then_only_what_changed(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    first = _sync(graph)
    assert first.full and first.rescored == 40 and first.status == "ok"
    assert first.watermark_from is None and first.watermark_to is not None
    before = _runs(graph)
    assert set(before) == set(range(1, 41))
    assert {tuple(v) for v in before.values()} == {(first.run_id,)}

    idle = _sync(graph)
    assert (idle.status, idle.rescored, idle.run_id) == ("nothing to do", 0, None)
    assert idle.watermark_from == first.watermark_to

    _changes(graph)
    result = _sync(graph)
    assert result.status == "ok" and not result.full
    assert result.changes["new_interactions"] == 10
    assert result.changes["changed_products"] == 5
    assert result.changes["product_audience"] == len(AUDIENCE)
    assert result.rescored == len(set(INTERACTING) | set(AUDIENCE)) == 20
    after = _runs(graph)
    for cid in UNAFFECTED:
        assert after[cid] == [first.run_id], cid
    for cid in [*INTERACTING, *AUDIENCE]:
        assert after[cid] == [result.run_id], cid
    new_in_recs = graph.read_value(
        "MATCH (c:Customer)-[:RECOMMENDED]->(p:Product) WHERE p.id IN $ids "
        "RETURN collect(DISTINCT c.id)",
        ids=NEW_PRODUCTS,
    )
    assert sorted(new_in_recs) == AUDIENCE  # new products reach the customers who like 13
    state = writeback.read_state(graph, "default")
    assert state.watermark == result.watermark_to and state.last_run_id == result.run_id
    assert state.last_rescored == 20 and state.lock_holder is None
    runs = graph.read("MATCH (m:ModelRun) RETURN m.run_id AS id, m.status AS status")
    assert {r["status"] for r in runs} == {"complete"} and len(runs) == 2


def test_a_changed_product_rescores_its_category_and_whoever_is_recommended_it(
    graph: QueryRunner,
) -> None:
    shop.build_shop(graph)
    _sync(graph)
    recommended = set(
        graph.read_value(
            "MATCH (c:Customer)-[:RECOMMENDED]->(:Product {id: 1010}) RETURN collect(c.id)"
        )
    )
    shop.change_product_price(graph, 1010, 1.0, datetime.now(UTC))  # category 12
    result = _sync(graph)
    fans = {c for c in range(1, 41) if c % 4 == 2}
    assert result.changes["changed_products"] == 1
    assert result.rescored == len(fans | recommended)
    capped = run_sync(
        graph,
        CategoryAffinityScorer(),
        predict=PREDICT,
        sync=SyncConfig(product_audience_cap=3, overlap_s=0),
        progress=False,
    )
    assert capped.rescored == 0  # nothing changed since
    shop.change_product_price(graph, 1010, 2.0, datetime.now(UTC))
    capped = run_sync(
        graph,
        CategoryAffinityScorer(),
        predict=PREDICT,
        sync=SyncConfig(product_audience_cap=3, overlap_s=0),
        progress=False,
    )
    assert capped.rescored == 3


def test_a_failing_scorer_leaves_the_watermark_and_a_rerun_completes(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    first = _sync(graph)
    _changes(graph)
    with pytest.raises(RuntimeError, match="on purpose"):
        _sync(graph, CategoryAffinityScorer(fail_after=10))  # chunk 1 (7) written, chunk 2 fails
    state = writeback.read_state(graph, "default")
    assert state.watermark == first.watermark_to and state.lock_holder is None
    failed = graph.read_value("MATCH (m:ModelRun {status: 'failed'}) RETURN collect(m.run_id)")
    assert len(failed) == 1
    runs = _runs(graph)  # still exactly K each, each customer fully one run
    assert sum(1 for v in runs.values() if v == failed) == 7

    result = _sync(graph)
    assert result.rescored == 20
    runs = _runs(graph)
    assert not any(v == failed for v in runs.values())
    assert sum(1 for v in runs.values() if v == [result.run_id]) == 20
    assert writeback.read_state(graph, "default").watermark == result.watermark_to


def test_dry_run_reports_and_writes_nothing(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    _sync(graph)
    _changes(graph)
    snapshot = "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) AS n, count(r) AS r, "
    snapshot += (
        "collect(DISTINCT r.run_id) AS runs, max(n.watermark) AS wm, max(n.updated_at) AS up"
    )
    before = graph.read(snapshot)
    result = _cli(graph, "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "dry run" and report["rescored"] == 20
    assert report["would_change"] > 0 and report["would_add"] == report["would_remove"]
    assert graph.read(snapshot) == before
    text = _cli(graph, "--dry-run", "-q")
    assert text.returncode == 0 and "would rescore 20 customers" in text.stdout
    assert "nothing written" in text.stdout


def test_the_cli_syncs_and_logs_one_line(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    result = _cli(graph, "-q")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith("sync default: ok; rescored 40 customers (first run")
    idle = _cli(graph, "--json")
    assert idle.returncode == 0 and json.loads(idle.stdout)["status"] == "nothing to do"


def test_a_failed_run_exits_1_with_one_line_and_keeps_the_watermark(graph: QueryRunner) -> None:
    shop.build_shop(graph, customers=8)
    result = _cli(graph, "-q", "--scorer", "tests.support.scorers:failing_scorer")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "failed: RuntimeError: scorer failed on purpose" in line
    assert "watermark did not move" in line
    state = writeback.read_state(graph, "default")
    assert state.watermark is None and state.lock_holder is None
    assert _cli(graph, "-q").returncode == 0


def test_a_sync_killed_mid_run_is_completed_by_the_next(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    env = dict(
        os.environ,
        NEO4J_URI=graph.settings.uri,
        NEO4J_USER=graph.settings.user,
        NEO4J_PASSWORD=graph.settings.password,
        KGDISTILL_SYNC__CHUNK_SIZE="7",
    )
    victim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kgdistill",
            "sync",
            "-q",
            "-k",
            str(K),
            "--scorer",
            "tests.support.scorers:stalling_scorer",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The first chunk is written, then the scorer stalls on the second until killed.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and victim.poll() is None:
            if graph.read_value("MATCH ()-[r:RECOMMENDED]->() RETURN count(r)"):
                break
            time.sleep(0.1)
        assert victim.poll() is None, "the sync exited before writing its first chunk"
    finally:
        victim.kill()
        victim.wait(30)
    killed = graph.read_value("MATCH (m:ModelRun) RETURN collect(m.run_id)")
    assert len(killed) == 1
    state = writeback.read_state(graph, "default")
    assert state.watermark is None and state.lock_holder is not None  # left behind

    # The next run takes the dead holder's lock at once and redoes the whole run.
    result = _sync(graph)
    assert result.full and result.rescored == 40
    runs = _runs(graph)  # exactly K each
    assert set(runs) == set(range(1, 41))
    assert {tuple(v) for v in runs.values()} == {(result.run_id,)}
    duplicates = graph.read_value(
        "MATCH (c:Customer)-[r:RECOMMENDED]->(p:Product) WITH c, p, count(r) AS n "
        "WHERE n > 1 RETURN count(*)"
    )
    assert duplicates == 0
    statuses = graph.read("MATCH (m:ModelRun) RETURN m.run_id AS id, m.status AS status")
    assert {r["id"]: r["status"] for r in statuses} == {
        killed[0]: "interrupted",  # its writer is gone: the next run said so
        result.run_id: "complete",
    }


def test_a_held_lock_exits_75_with_a_clear_message(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    writeback.acquire_lock(graph, "default", "elsewhere:1:abcd", ttl_s=600)
    result = _cli(graph, "-q")
    assert result.returncode == 75
    assert "another sync holds the lock 'default' (elsewhere:1:abcd until" in result.stderr
    assert "--wait" in result.stderr
    began = time.monotonic()
    waited = _cli(graph, "-q", "--wait", "--wait-timeout", "2")
    assert waited.returncode == 75 and time.monotonic() - began >= 2
    assert graph.read_value("MATCH ()-[r:RECOMMENDED]->() RETURN count(r)") == 0
    assert "75" in _cli(graph, "--help").stdout

    # --wait gets the lock once the holder lets go.
    releaser = threading.Timer(
        2.0, writeback.release_lock, args=(graph, "default", "elsewhere:1:abcd")
    )
    releaser.start()
    try:
        done = _cli(graph, "-q", "--wait", "--wait-timeout", "60")
    finally:
        releaser.join()
    assert done.returncode == 0, done.stderr


def test_the_default_overlap_rescores_the_last_minute_again(graph: QueryRunner) -> None:
    shop.build_shop(graph, customers=8)
    _sync(graph)
    shop.add_interactions(
        graph,
        [{"customer": 1, "product": 1009, "type": "CLICKED", "day": 20260102, "count": 1}],
        datetime.now(UTC),
    )
    overlapping = SyncConfig()  # overlap_s=60
    assert run_sync(graph, CategoryAffinityScorer(), sync=overlapping, progress=False).rescored == 1
    assert run_sync(graph, CategoryAffinityScorer(), sync=overlapping, progress=False).rescored == 1
    assert _sync(graph).rescored == 0


def test_expired_and_dead_holders_do_not_block(graph: QueryRunner) -> None:
    shop.build_shop(graph, customers=4)
    writeback.acquire_lock(graph, "default", "elsewhere:1:abcd", ttl_s=0.2)
    time.sleep(0.5)
    assert _sync(graph).status == "ok"
    # A holder on this host whose process is gone (a sync killed mid-run).
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    holder = f"{socket.gethostname()}:{int(dead.stdout)}:dead"
    writeback.acquire_lock(graph, "default", holder, ttl_s=600)
    assert _sync(graph).status == "nothing to do"


def test_only_one_of_many_concurrent_acquirers_wins(graph: QueryRunner) -> None:
    def contend(i: int, name: str, barrier: threading.Barrier, winners: list, losers: list) -> None:
        holder = f"elsewhere:{i}:race"
        barrier.wait()
        try:
            writeback.acquire_lock(graph, name, holder, ttl_s=600)
            winners.append(holder)
        except writeback.LockHeld:
            losers.append(holder)

    for round_ in range(3):
        name = f"race-{round_}"
        winners: list[str] = []
        losers: list[str] = []
        barrier = threading.Barrier(4)
        threads = [
            threading.Thread(target=contend, args=(i, name, barrier, winners, losers))
            for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == 1 and len(losers) == 3, (winners, losers)
        assert writeback.read_state(graph, name).lock_holder == winners[0]


# -- predict --write beside a sync (issue 14): nothing stale survives the next sync ------
def _stale(graph: QueryRunner) -> list[tuple[int, int]]:
    """Customers recommended a product they interacted with: scored before that happened
    (the scorer leaves out what a customer has seen)."""
    rows = graph.read(
        "MATCH (c:Customer)-[:RECOMMENDED]->(p:Product) WHERE (c)-[:CLICKED|FAVORITED|"
        "ADDED_TO_CART|BOUGHT]->(p) RETURN c.id AS c, p.id AS p ORDER BY c, p"
    )
    return [(r["c"], r["p"]) for r in rows]


def _buy(graph: QueryRunner, customer: int, product: int) -> None:
    row = {"customer": customer, "product": product, "type": "BOUGHT", "day": 20260102, "count": 1}
    shop.add_interactions(graph, [row], datetime.now(UTC))


def test_predict_scored_before_a_sync_ran_is_rescored_by_the_next(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    _sync(graph)
    customers = list(range(1, 41))
    # predict --write reads the graph and scores ...
    as_of = db_now(graph)
    scored = CategoryAffinityScorer().top_k(graph, customers, K)
    # ... meanwhile customer 1 buys its top recommendation and a sync rescores customer 1
    product = int(scored[scored["customer_id"] == 1].iloc[0]["product_id"])
    _buy(graph, 1, product)
    assert _sync(graph).rescored >= 1 and _stale(graph) == []
    # ... then predict writes what it scored before the purchase
    write_predictions(
        graph,
        scored,
        RunInfo("predict-late", "m", "1"),
        sources=customers,
        progress=False,
        beside_sync=BesideSync(SYNC.name, SYNC.lock_ttl_s, as_of, every_source=True),
    )
    assert _stale(graph) == [(1, product)]  # stale now, as written
    assert writeback.read_state(graph, "default").watermark == as_of
    _sync(graph)  # one more sync repairs it
    assert _stale(graph) == []


def test_predict_killed_mid_write_beside_a_sync_leaves_nothing_stale(graph: QueryRunner) -> None:
    shop.build_shop(graph)
    _sync(graph)
    env = dict(
        os.environ,
        NEO4J_URI=graph.settings.uri,
        NEO4J_USER=graph.settings.user,
        NEO4J_PASSWORD=graph.settings.password,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.support.predict_worker", "predict-killed", str(K)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdin is not None
        assert worker.stdout.readline().strip() == "scored"  # paused after reading the graph
        product = graph.read_value(
            "MATCH (:Customer {id: 1})-[r:RECOMMENDED]->(p) RETURN p.id ORDER BY r.rank LIMIT 1"
        )
        _buy(graph, 1, product)  # what the worker scored for customer 1 is now stale
        assert _sync(graph).rescored >= 1 and _stale(graph) == []
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert worker.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not graph.read_value(
            "MATCH (:Customer {id: 1})-[r:RECOMMENDED {run_id: 'predict-killed'}]->() "
            "RETURN count(r)"
        ):
            time.sleep(0.05)
        assert worker.poll() is None, "the worker finished before it could be killed"
    finally:
        worker.kill()
        worker.wait(30)
        for stream in (worker.stdin, worker.stdout):
            if stream is not None:
                stream.close()
    written = graph.read_value(
        "MATCH (c)-[r:RECOMMENDED {run_id: 'predict-killed'}]->() RETURN count(DISTINCT c)"
    )
    assert 0 < written < 40  # killed mid-write, customer 1 written stale
    assert (1, product) in _stale(graph)
    _sync(graph)  # one more sync: takes the dead writer's lock at once and repairs it
    assert _stale(graph) == []
    status = graph.read_value("MATCH (m:ModelRun {run_id: 'predict-killed'}) RETURN m.status")
    assert status == "interrupted"  # not 'writing' forever
    assert writeback.read_state(graph, "default").lock_holder is None
