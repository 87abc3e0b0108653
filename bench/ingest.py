"""Ingest and extraction throughput: EComm, then a synthetic shop of 1,000,000 interactions.

    .venv/bin/python -m bench.ingest        (or: .venv/bin/python bench/ingest.py)

Runs against the Neo4j that NEO4J_URI names (its database must be empty; pass
--wipe to allow deleting what is there), or else starts a project-managed
instance named ``bench`` on free ports in a temporary folder (heap 2g), and
stops and removes it at the end. Prints one line per phase and ends with
``ingest_rels_per_s=N extract_rows_per_s=N`` for the synthetic graph, where
ingest counts every relationship the load created over the whole load (schema,
nodes, links and interactions; parsing and generation excluded) and extraction
counts nodes plus interaction rows over the whole extract_graphframe call.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.database import database, wipe
from kgstore.connection import QueryRunner
from kgstore.extract import ExtractConfig, extract_graphframe
from kgstore.ingest import LoadConfig, LoadSummary, write_plan
from kgstore.sources.ecomm import read_ecomm
from kgstore.sources.plan import LoadPlan
from kgstore.sources.synthetic import generate


def measure(
    runner: QueryRunner, name: str, plan: LoadPlan, prepare_s: float, args: argparse.Namespace
) -> tuple[float, float]:
    summary: LoadSummary = write_plan(
        runner,
        plan,
        LoadConfig(batch_size=args.batch_size, workers=args.workers),
        progress=not args.quiet,
    )
    ingest = summary.relationships_created / summary.seconds
    began = time.monotonic()
    frame = extract_graphframe(runner, config=ExtractConfig(page_size=args.page_size))
    seconds = time.monotonic() - began
    counts = frame.summary()
    rows = sum(v for k, v in counts.items() if k != "interaction_count_sum")
    extract = rows / seconds
    print(
        f"{name}: prepare {prepare_s:.1f}s; ingest {summary.relationships_created:,} rels + "
        f"{summary.nodes_created:,} nodes in {summary.seconds:.1f}s = {ingest:,.0f} rels/s "
        f"(interactions alone {summary.rels_per_s:,.0f} rels/s); extract {rows:,} rows in "
        f"{seconds:.1f}s = {extract:,.0f} rows/s",
        flush=True,
    )
    wipe(runner)
    return ingest, extract


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=LoadConfig().batch_size)
    parser.add_argument(
        "--workers", type=int, default=LoadConfig().workers, help="concurrent write transactions"
    )
    parser.add_argument("--page-size", type=int, default=ExtractConfig().page_size)
    parser.add_argument("--heap", default="2g", help="heap of the bench server it starts")
    parser.add_argument("--wipe", action="store_true", help="allow wiping a non-empty NEO4J_URI")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    try:
        with database("bench", heap=args.heap, allow_wipe=args.wipe) as runner:
            began = time.monotonic()
            plan = read_ecomm()
            measure(runner, "ecomm", plan, time.monotonic() - began, args)
            began = time.monotonic()
            plan = generate(args.customers, args.products, args.interactions, seed=0)
            ingest, extract = measure(
                runner, f"synthetic {args.interactions:,}", plan, time.monotonic() - began, args
            )
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"ingest_rels_per_s={ingest:.0f} extract_rows_per_s={extract:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
