"""The default student distilled with and without the teacher's shortlist, its twin beside.

    .venv/bin/python bench/kd_shortlist.py [--datasets ecomm_nofeatures synthetic_cf]
        [--shortlist 20 0] [--id-shortlist 0 10] [--seeds 0 1 2] [--interactions 200000]

No database: the shops are read or generated as ``bench/structure.py`` does (EComm from
the bundled files, test split 2 and validation split 1; the interaction-only shop in
memory, its last day held out). For each dataset the default teacher is trained once;
then the default student is distilled once per ``--shortlist`` size (``[kd]
shortlist``: the teacher's top products over the whole catalogue join each customer's
candidate list in the listwise term; 0: the in-batch candidates alone) and each
``--id-shortlist`` size (``[kd] id_shortlist``: the teacher's top products per customer
join the interactions the student's id embeddings are fitted to; 0: none) and trained
without distillation (its twin), each for every seed, all scored as every report
scores them (ties at their expected rank, seen products left out). Issue 11 asks the
distilled student to beat its twin's Recall@20 on every kind of shop. Lines, after
the baseline rows (students: the mean of the seeds, then each seed's Recall@20):

    dataset=NAME baseline=NAME recall20=R auc=A
    dataset=NAME model=teacher recall20=R ndcg20=N auc=A seconds=S
    dataset=NAME model=twin recall20=R ndcg20=N auc=A seeds=[...] seconds=S
    dataset=NAME model=student shortlist=M id_shortlist=I recall20=R ndcg20=N auc=A
        seeds=[...] seconds=S  (one line)
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.structure import dataset
from distill.config import RunConfig
from distill.evaluate import (
    Distillation,
    EvalContext,
    _model_result,
    baseline_results,
    link_model,
    prepare,
    train_student,
    train_teacher,
)
from distill.models import LinkPredictor

DATASETS = ("ecomm", "synthetic_cf", "ecomm_nofeatures")


def students(
    ctx: EvalContext, config: RunConfig, seeds: list[int], distil: Distillation | None
) -> tuple[np.ndarray, list[float], float]:
    """Mean (Recall@K, NDCG@K, AUC) over ``seeds``, each seed's Recall@K, seconds."""
    began = time.perf_counter()
    name, k = config.eval.default_student, config.eval.k
    rows = []
    for seed in seeds:
        trained = train_student(ctx, config, name, seed, distil)
        q = _model_result(ctx, link_model(trained), k, None).quality
        rows.append((q.recall, q.ndcg, q.auc))
    table = np.array(rows)
    return (
        table.mean(axis=0),
        [round(float(r), 4) for r in table[:, 0]],
        time.perf_counter() - began,
    )


def quiet_config() -> RunConfig:
    """The default configuration without progress bars, torch on its threads."""
    base = RunConfig()
    torch.set_num_threads(base.train.threads)
    return replace(base, train=replace(base.train, progress=False))


def print_teacher(ctx: EvalContext, config: RunConfig, name: str) -> LinkPredictor:
    """The default teacher trained on ``ctx``, its line printed (scored as every report)."""
    k = config.eval.k
    began = time.perf_counter()
    teacher = link_model(train_teacher(ctx, config))
    q = _model_result(ctx, teacher, k, None).quality
    print(
        f"dataset={name} model=teacher recall{k}={q.recall:.4f} ndcg{k}={q.ndcg:.4f} "
        f"auc={q.auc:.4f} seconds={time.perf_counter() - began:.0f}",
        flush=True,
    )
    return teacher


def print_baselines(ctx: EvalContext, name: str, k: int) -> None:
    """One line per baseline on ``ctx``'s split: what every model figure stands beside."""
    for label, result in baseline_results(ctx, k).items():
        q = result.quality
        print(f"dataset={name} baseline={label} recall{k}={q.recall:.4f} auc={q.auc:.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS[1:]))
    parser.add_argument("--shortlist", type=int, nargs="+", default=[20, 0], help="sizes")
    parser.add_argument(
        "--id-shortlist",
        type=int,
        nargs="+",
        default=None,
        help="sizes of [kd] id_shortlist (default: config's)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--interactions", type=int, default=200_000, help="synthetic shop")
    args = parser.parse_args(argv)
    config = quiet_config()
    k = config.eval.k
    for name in args.datasets:
        frame, pairs = dataset(name, args.interactions)
        ctx = prepare(frame, pairs, config)
        print_baselines(ctx, name, k)
        teacher = print_teacher(ctx, config, name)
        mean, seeds, seconds = students(ctx, config, args.seeds, None)
        print(
            f"dataset={name} model=twin recall{k}={mean[0]:.4f} ndcg{k}={mean[1]:.4f} "
            f"auc={mean[2]:.4f} seeds={seeds} seconds={seconds:.0f}",
            flush=True,
        )
        for size in args.shortlist:
            for id_size in args.id_shortlist or [config.kd.id_shortlist]:
                distil = Distillation.of(ctx, teacher, size, id_size)
                kd = replace(config.kd, shortlist=size, id_shortlist=id_size)
                mean, seeds, seconds = students(ctx, replace(config, kd=kd), args.seeds, distil)
                print(
                    f"dataset={name} model=student shortlist={size} id_shortlist={id_size} "
                    f"recall{k}={mean[0]:.4f} ndcg{k}={mean[1]:.4f} auc={mean[2]:.4f} "
                    f"seeds={seeds} seconds={seconds:.0f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
