"""Recommendation quality on both kinds of shop, against the baselines of the same split.

    .venv/bin/python bench/quality.py [--datasets ecomm ecomm_nofeatures synthetic_cf]
        [--seeds 0 1 2] [--interactions 500000] [--out runs/quality]
        [--set kd.id_shortlist=10 ...]

Three shops, each loaded into Neo4j with the product's own loader and read back with
its extraction (as ``kgdistill load`` and ``kgdistill train`` do):

- ``ecomm``: the bundled EComm sample with every feature; the test is split 2 of its
  labelled pairs (never trained on), validation split 1.
- ``ecomm_nofeatures``: the same interactions with ids only (no customer columns, no
  price, category or brand), the same pairs: a shop that exports only who did what.
- ``synthetic_cf``: ``load synthetic --mode cf`` (20,000 customers, 5,000 products,
  500,000 interactions; latent factors, nothing observable but the interactions);
  the held-out last day, as ``kgdistill train`` does without labelled pairs.

For each it trains, with the default configuration (changed only by ``--set
section.key=value``, as ``kgdistill train --set`` does; no kgdistill.toml or environment
is read), the teacher and the default student with and without distillation (mean
of ``--seeds``), fits the baselines (most popular, item-kNN, category affinity), and
prints the summary table. Ranking metrics leave out the products a customer interacted
with in training (as ``predict`` does) and count ties at their expected rank.
Each dataset ends with one line:

    dataset=NAME teacher_recall20=R student_recall20=R twin_recall20=R
    item_knn_recall20=R best_baseline=NAME best_baseline_recall20=R teacher_auc=A
    student_auc=A

Runs against the Neo4j that ``NEO4J_URI`` names (it must be empty; ``--wipe`` allows
deleting what is there), or else starts a private instance on free ports and removes
it at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.database import database, wipe
from distill.baselines import best_baseline
from distill.config import RunConfig
from distill.evaluate import evaluate_link_prediction
from distill.results import Report
from kgdistill import pipeline, summary
from kgdistill.config import Config
from kgdistill.settings import ConfigError, build, flag_layer
from kgframe import GraphFrame
from kgstore.connection import QueryRunner
from kgstore.extract import extract_graphframe
from kgstore.ingest import LoadConfig, write_plan
from kgstore.sources.ecomm import read_ecomm
from kgstore.sources.plan import LoadPlan
from kgstore.sources.synthetic import generate_cf

DATASETS = ("ecomm", "ecomm_nofeatures", "synthetic_cf")


def without_features(plan: LoadPlan) -> LoadPlan:
    """The same customers, products and interactions; no feature, category or brand."""
    return LoadPlan(
        source=f"{plan.source}, ids and interactions only",
        customers=[{"id": row["id"], "props": {}} for row in plan.customers],
        products=[{"id": row["id"], "props": {}} for row in plan.products],
        interactions=plan.interactions,
        rows_read=plan.rows_read,
    )


def dataset_plan(name: str, args: argparse.Namespace) -> LoadPlan:
    if name == "ecomm":
        return read_ecomm()
    if name == "ecomm_nofeatures":
        return without_features(read_ecomm())
    n = args.interactions
    return generate_cf(max(n // 25, 1), max(n // 100, 1), n, seed=0)


def frame_and_pairs(name: str, frame: GraphFrame) -> tuple[GraphFrame, pd.DataFrame]:
    if name.startswith("ecomm"):
        return frame, pipeline.read_pairs(pipeline.ecomm_pairs())
    return pipeline.holdout_pairs(frame)


def final_line(name: str, report: Report) -> str:
    k = report.k
    student = report.default_student or ""
    models = report.as_dict()["models"]
    best = best_baseline(models, f"recall@{k}") or ("none", float("nan"))

    def figure(model: str, auc: bool = False) -> str:
        entry = report.models.get(model)
        value = None if entry is None else entry.quality.auc if auc else entry.quality.recall
        return f"{value if value is not None else float('nan'):.4f}"

    return (
        f"dataset={name} teacher_recall{k}={figure('teacher')} "
        f"student_recall{k}={figure(student)} twin_recall{k}={figure(student + '_no_kd')} "
        f"item_knn_recall{k}={figure('item_knn')} best_baseline={best[0]} "
        f"best_baseline_recall{k}={best[1]:.4f} teacher_auc={figure('teacher', auc=True)} "
        f"student_auc={figure(student, auc=True)}"
    )


def bench_config(sets: list[str]) -> RunConfig:
    """The default run configuration with ``--set`` assignments applied, checked as
    ``kgdistill train --set`` checks them (an unknown key or a bad value raises)."""
    return build(Config, [("--set", flag_layer(sets))]).run_config()


def run_dataset(name: str, runner: QueryRunner, args: argparse.Namespace) -> str:
    began = time.monotonic()
    wipe(runner)
    write_plan(runner, dataset_plan(name, args), LoadConfig(), progress=not args.quiet)
    frame, pairs = frame_and_pairs(name, extract_graphframe(runner))
    print(f"== {name}: {frame.summary()} (load and extract {time.monotonic() - began:.0f}s)")
    base = bench_config(args.set)
    config = replace(
        base,
        train=replace(base.train, progress=not args.quiet),
        eval=replace(base.eval, seeds=tuple(args.seeds)),
    )
    out = Path(args.out) / name if args.out else None
    result = evaluate_link_prediction(frame, pairs, config, out)
    print(summary.table(result.report))
    line = final_line(name, result.results)
    print(f"({result.seconds:.0f}s)\n{line}\n", flush=True)
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--interactions", type=int, default=500_000, help="of the synthetic shop")
    parser.add_argument("--out", help="write each dataset's report under DIR/NAME")
    parser.add_argument("--wipe", action="store_true", help="allow wiping a non-empty NEO4J_URI")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="change one setting of the default configuration (repeatable), e.g. "
        "kd.id_shortlist=10",
    )
    args = parser.parse_args(argv)
    try:
        bench_config(args.set)  # a bad --set fails before Neo4j starts
    except ConfigError as exc:
        parser.error(str(exc))
    if args.set:
        print(f"settings changed from the defaults: {', '.join(args.set)}")
    with database("quality", allow_wipe=args.wipe) as runner:
        lines = [run_dataset(name, runner, args) for name in args.datasets]
        wipe(runner)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
