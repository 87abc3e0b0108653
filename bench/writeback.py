"""Write-back throughput: batched UNWIND (the real path) against one row per transaction.

    .venv/bin/python bench/writeback.py [--customers 5000] [--k 20]

Uses NEO4J_URI (NEO4J_USER/NEO4J_PASSWORD) when set, else a project-managed server
instance ``bench-writeback`` on free ports, started here and stopped at the end if this
script started it. It writes only nodes labelled BenchCustomer/BenchProduct and
BENCH_RECOMMENDED relationships, and deletes them at the end, so any database will do.
Ends with ``batched_rels_per_s=N per_row_rels_per_s=N``: both write a run's relationships
into a graph that has none of them yet (like for like); the line before gives the rate
of a second run replacing the first (deletes plus creates, the steady state of a sync).
Both are measured on a warm server, as a running service is: two runs of the same size
on other customers go first, unmeasured.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from kgdistill import server
from kgdistill.server import settings_from_env
from kgstore.connection import QueryRunner
from kgstore.cypher import statement
from kgstore.writeback import PredictionKind, RunInfo, WriteSummary, ensure_schema, write_rows

KIND = PredictionKind("BenchCustomer", "BenchProduct", "BENCH_RECOMMENDED")
NODES = "UNWIND range(0, $n - 1) AS i MERGE (:{label} {{id: i}})"
CLEANUP = (
    "MATCH (n:BenchCustomer) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 2000 ROWS",
    "MATCH (n:BenchProduct) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 2000 ROWS",
)


def cleanup(runner: QueryRunner) -> None:
    # CALL ... IN TRANSACTIONS needs an auto-commit transaction: a plain session.run.
    with runner.session() as session:
        for query in CLEANUP:
            session.run(query).consume()


def top_k(customers: int, products: int, k: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, products, size=customers)
    cid = np.repeat(np.arange(customers), k)
    pid = (np.repeat(offsets, k) + np.tile(np.arange(k), customers)) % products
    rank = np.tile(np.arange(1, k + 1), customers)
    score = 1.0 / rank
    return pd.DataFrame({"customer_id": cid, "product_id": pid, "score": score, "rank": rank})


def batched(
    runner: QueryRunner, frame: pd.DataFrame, run: RunInfo, batch_size: int
) -> WriteSummary:
    """The real path: batches of whole customers, one UNWIND transaction each."""
    return write_rows(runner, frame, run, KIND, batch_size=batch_size, progress=False)


def per_row(runner: QueryRunner, frame: pd.DataFrame, run: RunInfo, budget_s: float) -> tuple:
    query = statement("writeback/merge_prediction", **KIND.identifiers())
    began = time.monotonic()
    done = 0
    for row in frame.itertuples(index=False):
        runner.write(
            query,
            source=int(row.customer_id),
            target=int(row.product_id),
            score=float(row.score),
            rank=int(row.rank),
            run_id=run.run_id,
            model=run.model,
            model_version=run.model_version,
            scored_at=run.scored_at,
        )
        done += 1
        if time.monotonic() - began > budget_s:
            break
    return done, time.monotonic() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--per-row-rows", type=int, default=3000)
    parser.add_argument("--per-row-seconds", type=float, default=30.0)
    parser.add_argument("--heap", default="1g", help="heap of the bench server it starts")
    args = parser.parse_args()

    started = None
    if os.environ.get("NEO4J_URI"):
        settings = settings_from_env()
    else:
        cfg = server.ServerConfig(
            instance="bench-writeback",
            bolt_port=server.free_port(),
            http_port=server.free_port(),
            heap=args.heap,
        )
        if not server.status(cfg, query_version=False).running:
            server.start(cfg, progress=lambda m: print(m, file=sys.stderr))
            started = cfg
        else:
            print("note: bench-writeback was already running; using it", file=sys.stderr)
        settings = settings_from_env(cfg, environ={})
    try:
        with QueryRunner.connect(settings) as runner:
            print(f"Neo4j: {settings.describe()}")
            cleanup(runner)
            ensure_schema(runner, KIND)
            # Extra customers for warm-up runs, not measured: as many as the measured run, and
            # written twice (a second run replacing the first), since the JIT keeps speeding
            # the write path up through the first few hundred thousand relationships.
            warm = args.customers
            runner.write(NODES.format(label="BenchCustomer"), n=args.customers + warm)
            runner.write(NODES.format(label="BenchProduct"), n=args.products)
            now = datetime.now(UTC)
            # Warm up the JVM and the query plan on other customers first, as a running
            # service would be; a cold server's first seconds measure the JIT, not the writes.
            warmup = top_k(warm, args.products, args.k, seed=9)
            warmup["customer_id"] += args.customers
            for name in ("bench-warmup-1", "bench-warmup-2"):
                batched(runner, warmup, RunInfo(name, "bench", "1", now), args.batch_size)

            first = top_k(args.customers, args.products, args.k, seed=1)
            run = RunInfo("bench-batched-1", "bench", "1", now)
            created = batched(runner, first, run, args.batch_size)
            second = top_k(args.customers, args.products, args.k, seed=2)
            run2 = RunInfo("bench-batched-2", "bench", "1", now)
            replaced = batched(runner, second, run2, args.batch_size)
            print(
                f"batched UNWIND, {args.customers} customers x {args.k}, "
                f"{args.batch_size} rels/transaction:"
            )
            print(
                f"  create  : {created.rows} rels in {created.seconds:.2f}s = "
                f"{created.rels_per_s:,.0f} rels/s"
            )
            print(
                f"  replace : {replaced.rows} rels in {replaced.seconds:.2f}s = "
                f"{replaced.rels_per_s:,.0f} rels/s ({replaced.relationships_deleted} deleted)"
            )

            rows = top_k(args.customers, args.products, args.k, seed=3).head(args.per_row_rows)
            done, seconds = per_row(
                runner, rows, RunInfo("bench-per-row", "bench", "1", now), args.per_row_seconds
            )
            per_row_rate = done / seconds
            print(
                f"one row per transaction: {done} rels in {seconds:.2f}s = "
                f"{per_row_rate:,.0f} rels/s"
            )
            # Like for like: both figures create a run's relationships from nothing.
            batched_rate = created.rels_per_s
            print(
                f"batched / per-row: {batched_rate / per_row_rate:.0f}x "
                f"(replacing a run: {replaced.rels_per_s / per_row_rate:.0f}x)"
            )
            print(f"batched_replace_rels_per_s={replaced.rels_per_s:.0f}")
            cleanup(runner)
    finally:
        if started is not None:
            server.stop(started, progress=lambda m: print(m, file=sys.stderr))
    print(f"batched_rels_per_s={batched_rate:.0f} per_row_rels_per_s={per_row_rate:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
