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

``--ratings FILE`` runs the same commands on real interactions instead: a
MovieLens-style ratings file (``user<TAB>item<TAB>rating<TAB>unix time`` per line, as
GroupLens ships ``ml-100k/u.data``), every rating one interaction of its day (ids
only, no rating value, no feature), written as ``interactions.csv`` (with
``customers.csv`` and ``products.csv`` of the ids) and loaded with ``load csv`` (not
``--bulk``), so the check the synthetic shop stands in for runs on data nobody drew
from latent factors. ``--customers``, ``--products`` and
``--interactions`` are then the file's.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from bench.scale import Step, kgdistill, server_peak_mb
from distill.baselines import Interactions, ItemKNN, Popular, best_baseline
from distill.metrics import rank_rows
from distill.results import config_k
from kgdistill import server
from kgstore.connection import QueryRunner


def say(name: str, step: Step, detail: str = "") -> None:
    print(f"  {name:<8} {step.seconds:8.1f} s  peak {step.peak_mb:7,.0f} MB  {detail}", flush=True)


def read_ratings(ratings: Path, later: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A MovieLens-style ratings file as (loaded, truth) frames of ``user``, ``item``
    (integers) and ``stamp`` (unix seconds): truth the latest ``later`` share by time."""
    rows = []
    with ratings.open(encoding="utf-8") as src:
        for number, line in enumerate(src, 1):
            cells = line.split()
            if not cells:
                continue
            if len(cells) != 4 or not all(cell.isdigit() for cell in cells):
                raise SystemExit(f"{ratings}, line {number}: expected 4 integers, got {line!r}")
            rows.append((int(cells[0]), int(cells[1]), int(cells[3])))
    frame = pd.DataFrame(rows, columns=["user", "item", "stamp"])
    frame = frame.sort_values("stamp", kind="stable")
    cut = len(frame) - round(later * len(frame))
    return frame.iloc[:cut].reset_index(drop=True), frame.iloc[cut:].reset_index(drop=True)


def ratings_csv(ratings: pd.DataFrame, out: Path) -> tuple[int, int, int]:
    """``out/`` in the CSV interchange format from ``read_ratings``'s frame: each rating
    a ``click`` of its UTC day, and the id files. Returns (customers, products, rows)."""
    out.mkdir(parents=True)
    with (out / "interactions.csv").open("w", encoding="utf-8", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["customer_id", "product_id", "type", "timestamp"])
        for user, item, stamp in ratings.itertuples(index=False):
            writer.writerow([user, item, "click", time.strftime("%Y-%m-%d", time.gmtime(stamp))])
    for name, column, ids in (
        ("customers.csv", "customer_id", ratings["user"]),
        ("products.csv", "product_id", ratings["item"]),
    ):
        lines = [column, *map(str, sorted(set(ids.tolist())))]
        (out / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ratings["user"].nunique(), ratings["item"].nunique(), len(ratings)


def read_written(cfg: server.ServerConfig) -> pd.DataFrame:
    """Every RECOMMENDED relationship ``predict --write`` wrote: customer, product, rank."""
    with QueryRunner.connect(server.settings_from_env(cfg, environ={})) as runner:
        rows = runner.read(
            "MATCH (c:Customer)-[r:RECOMMENDED]->(p:Product) "
            "RETURN c.id AS customer, p.id AS product, r.rank AS rank"
        )
    return pd.DataFrame(rows, columns=["customer", "product", "rank"])


def later_line(
    share: float, loaded: pd.DataFrame, truth: pd.DataFrame, written: pd.DataFrame, k: int
) -> str:
    """Recall@K and NDCG@K of the written top K and of two baselines fitted on what was
    loaded, against each customer's later ratings of products it had not rated."""
    users = pd.Index(sorted(loaded["user"].unique()))
    items = pd.Index(sorted(loaded["item"].unique()))
    c, p = users.get_indexer(loaded["user"]), items.get_indexer(loaded["item"])
    data = Interactions.from_arrays(c, p, num_customers=len(users), num_products=len(items))
    seen = {row: set(cols) for row, cols in pd.Series(p).groupby(c).unique().items()}
    tc, tp = users.get_indexer(truth["user"]), items.get_indexer(truth["item"])
    known = (tc >= 0) & (tp >= 0)  # a new customer or product: nothing could rank it
    later = pd.DataFrame({"c": tc[known], "p": tp[known]}).drop_duplicates()
    later = later[[q not in seen[r] for r, q in zip(later["c"], later["p"], strict=True)]]
    rows = np.sort(later["c"].unique())
    positives = [later.loc[later["c"] == r, "p"].to_numpy() for r in rows]
    exclude = [np.fromiter(seen[r], np.int64) for r in rows]
    grid = np.zeros((len(rows), len(items)))
    wc, wp = users.get_indexer(written["customer"]), items.get_indexer(written["product"])
    at = pd.Index(rows).get_indexer(wc)
    ok = (at >= 0) & (wp >= 0)
    grid[at[ok], wp[ok]] = k + 1 - written["rank"].to_numpy()[ok]
    figures = {"written": rank_rows(grid, positives, k, exclude)}
    for name, kind in (("popular", Popular), ("item_knn", ItemKNN)):
        figures[name] = rank_rows(kind.fit(data).score_grid(rows), positives, k, exclude)
    recall = " ".join(f"{n}_recall{k}={np.mean(f[0]):.4f}" for n, f in figures.items())
    ndcg = " ".join(f"{n}_ndcg{k}={np.mean(f[1]):.4f}" for n, f in figures.items())
    return f"later={share} customers={len(rows)} {recall} {ndcg}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=70_679)
    parser.add_argument("--products", type=int, default=24_915)
    parser.add_argument("--interactions", type=int, default=652_514)
    parser.add_argument("--k", type=int, default=20, help="top K written per customer")
    parser.add_argument("--seed", type=int, default=0, help="of the synthetic shop")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument(
        "--ratings", type=Path, help="a MovieLens-style ratings file to load instead (u.data)"
    )
    parser.add_argument(
        "--later",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="with --ratings: hold out the latest SHARE of the ratings as the written top "
        "K's truth",
    )
    args = parser.parse_args(argv)
    if not 0.0 <= args.later < 1.0 or (args.later and args.ratings is None):
        parser.error("--later takes a share in [0, 1) and needs --ratings")
    if args.ratings is not None and not args.ratings.is_file():
        parser.error(f"--ratings: no file {args.ratings}")
    folder = tempfile.mkdtemp(prefix="kgdistill-interactions-only-")
    truth = None
    if args.ratings is not None:
        loaded, truth = read_ratings(args.ratings, args.later)
        counts = ratings_csv(loaded, Path(folder) / "csv")
        args.customers, args.products, args.interactions = counts
    print(
        f"customers {args.customers:,}, products {args.products:,}, interactions "
        f"{args.interactions:,} (load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores)",
        flush=True,
    )
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
        if args.ratings is not None:
            steps["load"] = kgdistill(env, "load", "csv", "--dir", str(Path(folder) / "csv"))
        else:
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
        if truth is not None and len(truth):
            written = read_written(cfg)
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
    if truth is not None and len(truth):
        print(later_line(args.later, loaded, truth, written, args.k), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
