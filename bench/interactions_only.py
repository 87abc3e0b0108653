"""Issue 11's interactions-only check, as a user runs it: defaults, the issue's shop size.

    .venv/bin/python bench/interactions_only.py [--customers 70679 --products 24915
        --interactions 652514 --k 20 --seed 0] [--set SECTION.KEY=VALUE ...]

The user's benchmark is a public interactions-only shop (70,679 customers, 24,915
products, 652,514 interactions) loaded with ``load csv``, then ``train`` and
``predict --write --k 20`` with default settings; ``train`` must finish within 20
minutes on a 2-core machine and the written top 20 beat item-kNN. That data is not
here: this bench runs the same commands on the synthetic interaction-only shop of the
same size (``load synthetic --mode cf``, drawn from latent factors, ids only), each
``kgdistill`` command in its own process against a private managed Neo4j (sized for
the machine, removed after); the load is ``--bulk`` (it only saves time: ``train``
and ``predict`` read the same graph).

Prints each command's wall seconds and peak resident memory (``wait4``), every model's
and baseline's Recall@K and NDCG@K from the run's report (the last day held out, a
seeded sample of ``eval.rank_customers`` customers with a positive ranked, 5,000 by
default, seen products left out, ties at their expected rank), each model's training
seconds and the epoch of its best validation AUC, then one line:

    interactions=N train_s=X predict_write_s=X teacher_recallK=R student_recallK=R
    twin_recallK=R item_knn_recallK=R best_baseline=NAME best_baseline_recallK=R
    peak_rss_mb=X

``--set`` passes a configuration override to ``train`` (repeatable), to measure an
alternative to a default side by side with a default run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import Step, kgdistill, server_peak_mb
from distill.baselines import best_baseline
from distill.results import config_k
from kgdistill import server


def say(name: str, step: Step, detail: str = "") -> None:
    print(f"  {name:<8} {step.seconds:8.1f} s  peak {step.peak_mb:7,.0f} MB  {detail}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=70_679)
    parser.add_argument("--products", type=int, default=24_915)
    parser.add_argument("--interactions", type=int, default=652_514)
    parser.add_argument("--k", type=int, default=20, help="top K written per customer")
    parser.add_argument("--seed", type=int, default=0, help="of the synthetic shop")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    print(
        f"customers {args.customers:,}, products {args.products:,}, interactions "
        f"{args.interactions:,} (load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores)",
        flush=True,
    )
    folder = tempfile.mkdtemp(prefix="kgdistill-interactions-only-")
    bolt, http = server.free_port(), server.free_port()
    while http == bolt:
        http = server.free_port()
    cfg = server.ServerConfig(instance="cf", bolt_port=bolt, http_port=http, instances_dir=folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "KGDISTILL_"))}
    env.update(server.cli_environment(cfg))
    runs = str(Path(folder) / "runs")
    steps: dict[str, Step] = {}
    try:
        shop = ["--customers", str(args.customers), "--products", str(args.products)]
        shop += ["--interactions", str(args.interactions), "--seed", str(args.seed)]
        steps["load"] = kgdistill(env, "load", "synthetic", "--mode", "cf", *shop, "--bulk")
        say("load", steps["load"])
        sets = [part for value in args.set for part in ("--set", value)]
        steps["train"] = kgdistill(env, "train", "--runs-dir", runs, *sets)
        say("train", steps["train"], f"run {steps['train'].summary['run_id']}")
        report = json.loads((Path(steps["train"].summary["path"]) / "report.json").read_text())
        steps["predict"] = kgdistill(
            env, "predict", "--write", "--k", str(args.k), "--runs-dir", runs
        )
        w = steps["predict"].summary["write"]
        say("predict", steps["predict"], f"{w['relationships_written']:,} written")
        neo4j_mb = server_peak_mb(cfg)
    finally:
        server.stop(cfg, progress=lambda m: None)
        shutil.rmtree(folder, ignore_errors=True)
    k = config_k(report.get("config") or {})
    models = report["models"]

    def figure(name: str, key: str) -> float:
        value = (models.get(name) or {}).get(key)
        return float("nan") if value is None else float(value)

    for name, entry in models.items():
        seconds, best = entry.get("train_seconds"), entry.get("best_epoch")
        trained = f"  trained {seconds:.0f} s" if seconds is not None else ""
        trained += f", best epoch {best}" if best is not None else ""
        print(
            f"  {name:<22} recall@{k} {figure(name, f'recall@{k}'):.4f}  "
            f"ndcg@{k} {figure(name, f'ndcg@{k}'):.4f}{trained}"
        )
    student = report.get("default_student") or ""

    def recall(name: str) -> float:
        return figure(name, f"recall@{k}")

    best = best_baseline(models, f"recall@{k}") or ("none", float("nan"))
    peak = max(step.peak_mb for step in steps.values())
    print(f"  Neo4j peak {neo4j_mb:,.0f} MB ({time.strftime('%Y-%m-%d')})")
    print(
        f"interactions={args.interactions} train_s={steps['train'].seconds:.1f} "
        f"predict_write_s={steps['predict'].seconds:.1f} teacher_recall{k}={recall('teacher'):.4f} "
        f"student_recall{k}={recall(student):.4f} twin_recall{k}={recall(student + '_no_kd'):.4f} "
        f"item_knn_recall{k}={recall('item_knn'):.4f} best_baseline={best[0]} "
        f"best_baseline_recall{k}={best[1]:.4f} peak_rss_mb={peak:.0f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
