"""A predict --write in its own process, for the sync test to pause and kill.

    NEO4J_URI=... NEO4J_PASSWORD=... python -m tests.support.predict_worker RUN_ID K

It reads the graph and scores every customer (CategoryAffinityScorer), prints
``scored``, waits for a line on stdin (the test changes the graph and runs a sync
meanwhile), then writes under :func:`kgdistill.service.write_beside_sync` as predict does,
one customer per transaction and slowly, printing ``writing`` first.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from kgdistill.server import settings_from_env
from kgdistill.service import write_beside_sync
from kgdistill.sync import SyncConfig
from kgstore import sync_state
from kgstore.connection import QueryRunner
from kgstore.writeback import RunInfo, WriteSummary, write_predictions
from tests.support.scorers import CategoryAffinityScorer


def main(argv: list[str]) -> int:
    run_id, k = argv[0], int(argv[1])
    with QueryRunner.connect(settings_from_env()) as runner:
        as_of = sync_state.db_now(runner)
        customers = sorted(runner.read_value("MATCH (c:Customer) RETURN collect(c.id)"))
        top = CategoryAffinityScorer().top_k(runner, customers, k)
        print("scored", flush=True)
        sys.stdin.readline()

        def write(fence: Any) -> WriteSummary:
            def slow(tx: Any) -> None:
                time.sleep(0.3)
                fence(tx)

            return write_predictions(
                runner,
                top,
                RunInfo(run_id, "predict-worker", "1"),
                batch_size=k,  # one customer per transaction
                sources=customers,
                progress=False,
                fence=slow,
            )

        print("writing", flush=True)
        write_beside_sync(
            runner, SyncConfig(overlap_s=0), as_of, run_id, write, every_customer=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
