"""`kgdistill predict --write` for every customer of issue 13's shop, end to end.

    .venv/bin/python bench/predict_write.py [--customers 70679 --products 24915
        --interactions 652514 --k 20 --epochs 1]

Loads the interaction-only synthetic shop of issue 13 (``kgdistill load synthetic --mode
cf``: 70,679 customers, 24,915 products, 652,514 interactions by default) into a private
managed Neo4j (or ``NEO4J_URI``'s empty database), trains a run with ``--epochs`` epochs per
model (``kgdistill train`` with the default models and one seed; the quality is not what
this measures, the work per customer is the same), then runs ``kgdistill predict --write``
for every customer as a user does, in its own process (start, model load, extraction,
scoring, write), five times: the first write (each block of customers written while the
next is scored) with ``[predict] write_workers = 2`` transactions at once; every
recommendation deleted, the first write again as by default (one transaction at a time);
a rewrite (replacing the previous recommendations) with two workers; a rewrite as by
default; and a rewrite with ``[predict] pipeline = false`` (score every customer, then
write) and two workers. For each it prints the wall time and the write's own summary
(relationships written and replaced, seconds). The last line reads ``customers=N
relationships=R first_write_two_workers_s=X first_write_s=X rewrite_two_workers_s=X
rewrite_s=X rewrite_serial_two_workers_s=X`` (issue 13: within 60 s on this 2-core
machine; 519 s before its work).

``--precisions``: instead, four first writes, ``[predict] cheap_precision`` float32 and
"auto" taking turns (float32, auto, auto, float32), each with ``predict --json``'s
``seconds``; the last line ``customers=N first_write_float32_s=X first_write_auto_s=Y``
(the means).

``--score-workers``: instead, four first writes, ``[predict] score_workers`` 1 (one block
of customers at a time, every torch thread inside each product: before 2026-12-06) and 0
(the default: a block per torch thread, side by side) taking turns, the same way; the
last line ``customers=N first_write_one_block_s=X first_write_side_by_side_s=Y``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.database import database


def kgdistill(env: dict[str, str], *args: str) -> tuple[dict[str, Any], float]:
    """``kgdistill ARGS --json`` in its own process: its JSON summary and wall seconds."""
    cmd = [sys.executable, "-m", "kgdistill", *args, "--json", "--quiet"]
    began = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"kgdistill {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(proc.stdout)
    return summary, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = {"customers": 70_679, "products": 24_915, "interactions": 652_514, "k": 20}
    for name, default in sizes.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--epochs", type=int, default=1, help="per model, for the run")
    parser.add_argument(
        "--precisions",
        action="store_true",
        help="instead of the five passes: first writes with [predict] cheap_precision "
        "float32 and auto, taking turns (ABBA)",
    )
    parser.add_argument(
        "--score-workers",
        action="store_true",
        help="instead of the five passes: first writes with [predict] score_workers 1 "
        "(one block at a time) and 0 (blocks side by side, the default), taking turns",
    )
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with database("predictwrite", heap="2g") as runner, tempfile.TemporaryDirectory() as tmp:
        s = runner.settings
        env = dict(os.environ, NEO4J_URI=s.uri, NEO4J_USER=s.user, NEO4J_PASSWORD=s.password)
        shop = ["--customers", str(args.customers), "--products", str(args.products)]
        shop += ["--interactions", str(args.interactions)]
        _, seconds = kgdistill(env, "load", "synthetic", "--mode", "cf", *shop)
        print(f"load: {seconds:.0f} s", flush=True)
        small = ["--set", "eval.seeds=0", "--set", "eval.latency_runs=1"]
        small += ["--set", "eval.latency_pairs=2000", "--set", "eval.rank_customers=500"]
        for model in ("teacher", "student_mlp"):
            small += ["--set", f"{model}.epochs={args.epochs}"]
        runs = str(Path(tmp) / "runs")
        _, seconds = kgdistill(env, "train", "--runs-dir", runs, *small)
        print(f"train ({args.epochs} epoch per model): {seconds:.0f} s", flush=True)
        walls, writes = [], []
        # (label, pipeline, write workers, delete every recommendation first); two workers
        # run before one each time, so any warming up favours one (the default)
        passes = (
            ("first write, two workers", "true", "2", False),
            ("first write", "true", "1", True),
            ("rewrite, two workers", "true", "2", False),
            ("rewrite", "true", "1", False),
            ("rewrite, serial, two workers", "false", "2", False),
        )
        if args.precisions:
            return abba_passes(
                runner, env, runs, args, "cheap_precision", {"float32": "float32", "auto": "auto"}
            )
        if args.score_workers:
            return abba_passes(
                runner, env, runs, args, "score_workers", {"one_block": "1", "side_by_side": "0"}
            )
        for label, pipeline, workers, fresh in passes:
            if fresh:
                delete_recommendations(runner)
            env["KGDISTILL_PREDICT__PIPELINE"] = pipeline
            env["KGDISTILL_PREDICT__WRITE_WORKERS"] = workers
            result, seconds = kgdistill(
                env, "predict", "--write", "--k", str(args.k), "--runs-dir", runs
            )
            write = result["write"]
            walls.append(seconds)
            writes.append(write)
            print(
                f"predict --write ({label}): {seconds:.1f} s wall for {result['customers']:,} "
                f"customers; write {write['relationships_written']:,} written, "
                f"{write['relationships_deleted']:,} replaced in {write['seconds']:.1f} s "
                f"({write['rels_per_s']:,.0f}/s)",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"customers={args.customers} relationships={writes[0]['relationships_written']} "
        f"first_write_two_workers_s={walls[0]:.1f} first_write_s={walls[1]:.1f} "
        f"rewrite_two_workers_s={walls[2]:.1f} rewrite_s={walls[3]:.1f} "
        f"rewrite_serial_two_workers_s={walls[4]:.1f}"
    )
    return 0


def delete_recommendations(runner: Any) -> None:
    with runner.session() as session:
        session.run(
            "MATCH ()-[r:RECOMMENDED]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 50000 ROWS"
        ).consume()


def abba_passes(
    runner: Any, env: dict[str, str], runs: str, args: Any, key: str, values: dict[str, str]
) -> int:
    """First writes (every recommendation deleted before each) with ``[predict] key`` at
    each of the two ``values`` (label: value), ABBA, as by default otherwise."""
    (a, b) = values
    seconds: dict[str, list[float]] = {a: [], b: []}
    for label in (a, b, b, a):
        delete_recommendations(runner)
        env[f"KGDISTILL_PREDICT__{key.upper()}"] = values[label]
        result, wall = kgdistill(env, "predict", "--write", "--k", str(args.k), "--runs-dir", runs)
        seconds[label].append(wall)
        parts = " ".join(f"{k}={v:.1f}" for k, v in result["seconds"].items())
        print(
            f"predict --write (first write, {key} {values[label]}): {wall:.1f} s wall "
            f"({parts}); write {result['write']['seconds']:.1f} s",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    mean = {label: sum(v) / len(v) for label, v in seconds.items()}
    print(
        f"customers={args.customers} first_write_{a}_s={mean[a]:.1f} "
        f"first_write_{b}_s={mean[b]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
