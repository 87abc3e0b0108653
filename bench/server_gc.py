"""Write-back throughput of the managed Neo4j under each garbage collector, side by side.

    .venv/bin/python bench/server_gc.py [--gc g1 parallel] [--customers 15000]
        [--products 25000] [--k 20] [--rounds 4] [--heap 2g]

Starts one private server per collector (``[neo4j] gc``), both alive for the whole run,
with the same nodes (BenchCustomer, BenchProduct). Each server first writes two runs of
``--customers`` x ``--k`` BENCH_RECOMMENDED relationships, unmeasured (the JIT warms up
through the first few hundred thousand); then ``--rounds`` rounds each write one run
per server, as ``predict --write`` writes (batches of whole customers, the real
statement), on fresh customers, the servers taking turns in an order that alternates
(ABBA) so that the machine's noise and the growing product nodes weigh on both alike.
Prints every write, then one line per collector:
``gc=NAME runs=N mean_s=X rels_per_s=X`` and, for two collectors, ``FIRST_over_SECOND=X``
(the first's mean time over the second's: above 1, the second writes faster).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.database import database
from bench.writeback import KIND, NODES, top_k
from kgdistill.server import GC_FLAGS
from kgstore.connection import QueryRunner
from kgstore.writeback import RunInfo, ensure_schema, write_rows

WARM_UP_RUNS = 2


def turns(names: list[str], rounds: int) -> list[str]:
    """``rounds`` turns of every name, every other round reversed (ABBA for two)."""
    order: list[str] = []
    for r in range(rounds):
        order += names if r % 2 == 0 else names[::-1]
    return order


def write_one(runner: QueryRunner, args: argparse.Namespace, n: int) -> float:
    """The ``n``-th run of this server: fresh customers, the real write; its seconds."""
    frame = top_k(args.customers, args.products, args.k, seed=n)
    frame["customer_id"] += n * args.customers
    now = datetime.now(UTC)
    # run ids and versions shaped like predict's (their length matters to the store)
    run = RunInfo(
        f"predict-student_mlp-{now:%Y%m%dT%H%M%SZ}-{n:06d}",
        "student_mlp",
        f"{now:%Y%m%dT%H%M%SZ}-000000",
        now,
    )
    return write_rows(runner, frame, run, KIND, progress=False).seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gc", nargs="+", choices=sorted(GC_FLAGS), default=["g1", "parallel"])
    parser.add_argument("--customers", type=int, default=15_000)
    parser.add_argument("--products", type=int, default=25_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--heap", default="2g", help="of each server")
    args = parser.parse_args()
    runs_per_server = WARM_UP_RUNS + args.rounds
    rels = args.customers * args.k
    seconds: dict[str, list[float]] = {name: [] for name in args.gc}
    with contextlib.ExitStack() as stack:
        runners = {}
        for name in args.gc:
            runner = stack.enter_context(database(f"gc-{name}", heap=args.heap, gc=name))
            ensure_schema(runner, KIND)
            runner.write(NODES.format(label="BenchCustomer"), n=args.customers * runs_per_server)
            runner.write(NODES.format(label="BenchProduct"), n=args.products)
            runners[name] = runner
        written = dict.fromkeys(args.gc, 0)
        for name in turns(args.gc, WARM_UP_RUNS):
            write_one(runners[name], args, written[name])
            written[name] += 1
        for name in turns(args.gc, args.rounds):
            took = write_one(runners[name], args, written[name])
            written[name] += 1
            seconds[name].append(took)
            print(
                f"gc {name}: {rels:,} relationships in {took:.1f}s ({rels / took:,.0f}/s)",
                flush=True,
            )
    means = {name: sum(v) / len(v) for name, v in seconds.items()}
    for name, mean in means.items():
        print(f"gc={name} runs={len(seconds[name])} mean_s={mean:.2f} rels_per_s={rels / mean:.0f}")
    if len(args.gc) == 2:
        first, second = args.gc
        print(f"{first}_over_{second}={means[first] / means[second]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
