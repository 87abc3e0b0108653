"""The teacher with and without id embeddings, on one split, baselines beside it.

    .venv/bin/python bench/teacher_ids.py [--datasets ecomm synthetic_cf]
        [--ids 64 0] [--ids-in-encoder false] [--interactions 200000] [--seed 0]

No database: the shops are read or generated as ``bench/structure.py`` does (EComm from
the bundled files, test split 2 and validation split 1; the interaction-only shop in
memory, its last day held out). For each dataset and each ``--ids`` width (customer
and product id embeddings of that width; 0: none, the teacher ranks from features,
structural vectors and message passing alone) and each ``--ids-in-encoder`` setting
(``true``: the id embeddings also enter the GAT's input; ``false``, the default: they
reach the decoder's matrix-factorisation term only; moot without ids) the default
teacher is trained alone
(no students) and scored as every report scores it. Issue 11 asks the EComm teacher for
AUC >= 0.82 and AP >= 0.83, and on an interaction-only shop for Recall@20 >= 1.1x
item-kNN's. One line per dataset and width, after the baseline rows:

    dataset=NAME ids=W ids_in_encoder=B teacher_auc=A teacher_ap=A teacher_recall20=R
        val_auc=A seconds=S  (one line)
    dataset=NAME baseline=NAME recall20=R auc=A
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.structure import dataset
from distill.config import RunConfig
from distill.evaluate import _model_result, baseline_results, link_model, prepare, train_teacher

DATASETS = ("ecomm", "synthetic_cf", "ecomm_nofeatures")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=["ecomm"])
    parser.add_argument("--ids", type=int, nargs="+", default=[64, 0], help="id widths")
    parser.add_argument(
        "--ids-in-encoder", nargs="+", choices=["true", "false"], default=None, help="settings"
    )
    parser.add_argument("--interactions", type=int, default=200_000, help="synthetic shop")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args(argv)
    base = RunConfig()
    torch.set_num_threads(base.train.threads)
    train = replace(base.train, seed=args.seed, progress=False)
    k = base.eval.k
    config = replace(base, train=train)
    for name in args.datasets:
        frame, pairs = dataset(name, args.interactions)
        ctx = prepare(frame, pairs, config)  # the teacher's id widths change nothing here
        if not args.no_baselines:
            for label, result in baseline_results(ctx, k).items():
                q = result.quality
                print(f"dataset={name} baseline={label} recall{k}={q.recall:.4f} auc={q.auc:.4f}")
        settings = [v == "true" for v in args.ids_in_encoder or []]
        settings = settings or [base.teacher.ids_in_encoder]
        for width, inside in [(w, b) for w in args.ids for b in (settings if w else [False])]:
            teacher = replace(
                base.teacher, customer_id_dim=width, product_id_dim=width, ids_in_encoder=inside
            )
            began = time.perf_counter()
            trained = train_teacher(ctx, replace(config, teacher=teacher))
            q = _model_result(ctx, link_model(trained), k, None).quality
            print(
                f"dataset={name} ids={width} ids_in_encoder={str(inside).lower()} "
                f"teacher_auc={q.auc:.4f} teacher_ap={q.ap:.4f} "
                f"teacher_recall{k}={q.recall:.4f} val_auc={trained.best_val:.4f} "
                f"seconds={time.perf_counter() - began:.0f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
