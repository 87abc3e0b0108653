"""A predict --write in its own process, for the sync test to pause and kill.

    NEO4J_URI=... NEO4J_PASSWORD=... python -m tests.support.predict_worker RUN_ID K

It reads the graph and scores every customer (CategoryAffinityScorer), prints
``scored``, waits for a line on stdin (the test changes the graph and runs a sync
meanwhile), then writes under :class:`kgstore.writeback.BesideSync` as predict does,
one customer per transaction and slowly, printing ``writing`` first.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from kgdistill.server import settings_from_env
from kgdistill.sync import SyncConfig
from kgstore import writeback
from kgstore.connection import QueryRunner
from kgstore.extract import db_now
from kgstore.writeback import BesideSync, RunInfo, write_predictions
from tests.support.scorers import CategoryAffinityScorer


def main(argv: list[str]) -> int:
    run_id, k = argv[0], int(argv[1])
    with QueryRunner.connect(settings_from_env()) as runner:
        as_of = db_now(runner)
        customers = sorted(runner.read_value("MATCH (c:Customer) RETURN collect(c.id)"))
        top = CategoryAffinityScorer().top_k(runner, customers, k)
        print("scored", flush=True)
        sys.stdin.readline()

        real_fence = writeback.fence

        def slow_fence(name: str, holder: str, ttl_s: float) -> Any:
            check = real_fence(name, holder, ttl_s)

            def slow(tx: Any) -> None:
                time.sleep(0.3)
                check(tx)

            return slow

        writeback.fence = slow_fence  # each write transaction takes 0.3 s longer
        sync = SyncConfig(overlap_s=0)
        print("writing", flush=True)
        write_predictions(
            runner,
            top,
            RunInfo(run_id, "predict-worker", "1"),
            batch_size=k,  # one customer per transaction
            sources=customers,
            progress=False,
            beside_sync=BesideSync(sync.name, sync.lock_ttl_s, as_of, every_source=True),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
