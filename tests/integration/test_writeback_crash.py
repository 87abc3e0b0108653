"""Kill Neo4j (SIGKILL) in the middle of a write-back: every customer stays whole, a rerun
completes the run, nothing is duplicated, and no reader ever saw two runs mixed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgdistill import server
from kgdistill.server import settings_from_env
from kgstore.connection import QueryRunner
from kgstore.writeback import RunInfo, write_predictions
from tests.conftest import managed_test_server, neo4j_cli
from tests.support import shop
from tests.support.writeback_worker import frame

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

CUSTOMERS = 3000
PRODUCTS = 300
K = 20
TOTAL = CUSTOMERS * K
BATCH = 100  # relationships per write-back transaction

BROKEN = """
MATCH (c:Customer)
OPTIONAL MATCH (c)-[r:RECOMMENDED]->()
WITH c, count(r) AS n, count(DISTINCT r.run_id) AS runs
WHERE n <> $k OR runs <> 1
RETURN count(c) AS broken
"""
DUPLICATES = """
MATCH (c:Customer)-[r:RECOMMENDED]->(p:Product)
WITH c, p, count(r) AS n WHERE n > 1
RETURN count(*) AS duplicates
"""
NEW_WRITTEN = "MATCH ()-[r:RECOMMENDED {run_id: 'run-new'}]->() RETURN count(r)"
PER_RUN = "MATCH ()-[r:RECOMMENDED]->() RETURN r.run_id AS run, count(r) AS n"
BROKEN_IDS = """
MATCH (c:Customer) WHERE $ids IS NULL OR c.id IN $ids
OPTIONAL MATCH (c)-[r:RECOMMENDED]->()
WITH c, count(r) AS n, count(DISTINCT r.run_id) AS runs
WHERE n <> $k OR runs <> 1
RETURN collect(c.id) AS ids
"""


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[server.ServerConfig]:
    cfg = managed_test_server(str(tmp_path), "crash")
    started = neo4j_cli(cfg, "start", "-q")  # by a separate process, as a user would
    assert started.returncode == 0, started.stderr
    try:
        yield cfg
    finally:
        server.stop(cfg, progress=lambda m: None)


def _count(runner: QueryRunner, query: str, **params: object) -> int:
    # A plain auto-commit query, no retries: it must fail fast once the server is killed.
    with runner.session() as session:
        return int(session.run(query, params).single(strict=True)[0])


def test_sigkill_mid_write_then_rerun_completes(private_server: server.ServerConfig) -> None:
    cfg = private_server
    settings = settings_from_env(cfg, environ={})
    with QueryRunner.connect(settings) as runner:
        shop.create_schema(runner)
        shop.add_customers(runner, list(range(1, CUSTOMERS + 1)), shop.PAST)
        shop.add_categories(runner, [{"id": 1, "level": 1, "parent": None}], shop.PAST)
        shop.add_products(
            runner,
            [{"id": p, "price": 1.0 + p, "category": 1, "brand": 1} for p in range(PRODUCTS)],
            shop.PAST,
        )
        write_predictions(
            runner,
            frame(7, CUSTOMERS, PRODUCTS, K),
            RunInfo("run-old", "crash-test", "1"),
            progress=False,
        )
        assert _count(runner, BROKEN, k=K) == 0

        # Readers while the new run writes: no customer may ever look broken or mixed.
        violations: list[int] = []
        checks = 0
        stop = threading.Event()

        def broken_ids(ids: list[int] | None = None) -> list[int]:
            with runner.session() as session:
                record = session.run(BROKEN_IDS, ids=ids, k=K).single(strict=True)
                return list(record["ids"])

        def written_new() -> int:
            return _count(runner, NEW_WRITTEN)

        def after_two_more_batches() -> None:
            # The worker commits one batch at a time (BATCH relationships at most). Once a
            # count exceeds an earlier one by two batches, it saw a commit that began after
            # every commit still running at the earlier count had finished.
            floor = written_new() + 2 * BATCH
            deadline = time.monotonic() + 120
            while worker.poll() is None and time.monotonic() < deadline:
                if written_new() >= floor:
                    return
                time.sleep(0.05)

        def observe() -> None:
            # Neo4j reads are read-committed: a traversal that runs exactly while a batch
            # commits may see part of it ("data retrieved by traversals is not protected
            # from modification by other transactions"). Such a torn view is gone once that
            # commit is; a customer committed broken stays broken (the run writes it once).
            # So a violation is a customer still broken when looked at again after the
            # commits the first look overlapped have certainly finished (no fixed delay).
            nonlocal checks
            while not stop.is_set():
                seen = broken_ids()
                checks += 1
                if seen:
                    after_two_more_batches()
                    still = broken_ids(seen)
                    if still:
                        violations.append(len(still))

        env = dict(
            os.environ,
            NEO4J_URI=settings.uri,
            NEO4J_USER=settings.user,
            NEO4J_PASSWORD=settings.password,
        )
        # BATCH relationships (5 customers) per transaction: hundreds of commits to land in.
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.writeback_worker",
                "run-new",
                "13",
                str(CUSTOMERS),
                str(PRODUCTS),
                str(K),
                str(BATCH),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        observer = threading.Thread(target=observe)
        observer.start()
        try:
            try:
                deadline = time.monotonic() + 120
                written = 0
                while written < TOTAL // 10 and time.monotonic() < deadline:
                    assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
                    written = _count(runner, NEW_WRITTEN)
                    time.sleep(0.05)
                assert written >= TOTAL // 10, "the write-back did not get going"
            finally:
                stop.set()
                observer.join()
            assert written < TOTAL, "the write-back finished before the kill; make it longer"
            assert checks > 0 and violations == []

            pid = int(cfg.pid_file.read_text().strip())
            os.kill(pid, signal.SIGKILL)
        finally:  # the writer goes too, also when a check above failed
            worker.kill()
            worker.wait(30)
            if worker.stderr:
                worker.stderr.close()

    # At once, as a user whose server crashed would: the killed JVM may still be ending and
    # holding its ports; `kgdistill neo4j start` waits for it, then recovers the store.
    restarted = neo4j_cli(cfg, "start")
    assert restarted.returncode == 0, restarted.stderr
    assert "is up on" in restarted.stdout
    with QueryRunner.connect(settings_from_env(cfg, environ={})) as runner:
        assert _count(runner, BROKEN, k=K) == 0  # each customer fully old or fully new
        assert _count(runner, DUPLICATES) == 0
        runs = {r["run"]: r["n"] for r in runner.read(PER_RUN)}
        assert set(runs) == {"run-old", "run-new"} and runs["run-new"] % K == 0
        assert 0 < runs["run-new"] < TOTAL
        status = runner.read_value("MATCH (m:ModelRun {run_id: 'run-new'}) RETURN m.status")
        assert status == "writing"

        summary = write_predictions(
            runner,
            frame(13, CUSTOMERS, PRODUCTS, K),
            RunInfo("run-new", "crash-test", "1"),
            progress=False,
        )
        assert summary.relationships_written == TOTAL - runs["run-new"]  # only what was missing
        assert _count(runner, BROKEN, k=K) == 0
        assert _count(runner, DUPLICATES) == 0
        assert {r["run"]: r["n"] for r in runner.read(PER_RUN)} == {"run-new": TOTAL}
        status = runner.read_value("MATCH (m:ModelRun {run_id: 'run-new'}) RETURN m.status")
        assert status == "complete"
