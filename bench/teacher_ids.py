"""The teacher with and without id embeddings, on one split, baselines beside it.

    .venv/bin/python bench/teacher_ids.py [--datasets ecomm synthetic_cf]
        [--ids 64 0] [--ids-in-encoder false] [--mf-dropout 0 0.5]
        [--interactions 200000] [--seeds 0 1 2]

No database: the shops are read or generated as ``bench/structure.py`` does (EComm from
the bundled files, test split 2 and validation split 1; the interaction-only shop in
memory, its last day held out). For each dataset and each ``--ids`` width (customer
and product id embeddings of that width; 0: none, the teacher ranks from features,
structural vectors and message passing alone) and each ``--ids-in-encoder`` setting
(``true``: the id embeddings also enter the GAT's input; ``false``, the default: they
reach the decoder's matrix-factorisation term only; moot without ids), each
``--mf-dropout`` share (of training pairs whose score leaves the matrix-factorisation
term out; moot without ids) and each seed, the default teacher is trained alone (no
students) and scored as every report scores it. Issue 11 asks the EComm teacher for
AUC >= 0.82 and AP >= 0.83, and on an interaction-only shop for Recall@20 >= 1.1x
item-kNN's. One line per dataset and width, after the baseline rows:

    dataset=NAME seed=S ids=W ids_in_encoder=B mf_dropout=P teacher_auc=A teacher_ap=A
        teacher_recall20=R val_auc=A best_epoch=E epochs_run=E seconds=S  (one line)
    dataset=NAME seed=S baseline=NAME recall20=R auc=A

and, with more than one seed, the mean over seeds of each setting:

    dataset=NAME mean_of=N ids=W ids_in_encoder=B mf_dropout=P teacher_auc=A teacher_ap=A
        teacher_recall20=R  (one line)
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
    parser.add_argument(
        "--mf-dropout", type=float, nargs="+", default=None, help="shares (default: config's)"
    )
    parser.add_argument("--interactions", type=int, default=200_000, help="synthetic shop")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args(argv)
    base = RunConfig()
    torch.set_num_threads(base.train.threads)
    k = base.eval.k
    settings = [v == "true" for v in args.ids_in_encoder or []] or [base.teacher.ids_in_encoder]
    shares = args.mf_dropout or [base.teacher.mf_dropout]
    grid = [
        (width, inside, share)
        for width in args.ids
        for inside in (settings if width else [False])
        for share in (shares if width else [0.0])
    ]
    for name in args.datasets:
        sums: dict[tuple[int, bool, float], list[float]] = {}
        for seed in args.seeds:
            config = replace(base, train=replace(base.train, seed=seed, progress=False))
            frame, pairs = dataset(name, args.interactions)
            ctx = prepare(frame, pairs, config)  # the teacher's settings change nothing here
            if not args.no_baselines:
                for label, result in baseline_results(ctx, k).items():
                    q = result.quality
                    print(
                        f"dataset={name} seed={seed} baseline={label} "
                        f"recall{k}={q.recall:.4f} auc={q.auc:.4f}"
                    )
            for width, inside, share in grid:
                teacher = replace(
                    base.teacher,
                    customer_id_dim=width,
                    product_id_dim=width,
                    ids_in_encoder=inside,
                    mf_dropout=share,
                )
                began = time.perf_counter()
                trained = train_teacher(ctx, replace(config, teacher=teacher))
                q = _model_result(ctx, link_model(trained), k, None).quality
                total = sums.setdefault((width, inside, share), [0.0, 0.0, 0.0])
                for i, value in enumerate((q.auc, q.ap, q.recall)):
                    total[i] += value
                print(
                    f"dataset={name} seed={seed} ids={width} ids_in_encoder={str(inside).lower()} "
                    f"mf_dropout={share:g} teacher_auc={q.auc:.4f} teacher_ap={q.ap:.4f} "
                    f"teacher_recall{k}={q.recall:.4f} val_auc={trained.best_val:.4f} "
                    f"best_epoch={trained.best_epoch} epochs_run={trained.epochs_run} "
                    f"seconds={time.perf_counter() - began:.0f}",
                    flush=True,
                )
        if len(args.seeds) > 1:
            n = len(args.seeds)
            for (width, inside, share), (auc, ap, recall) in sums.items():
                print(
                    f"dataset={name} mean_of={n} ids={width} ids_in_encoder={str(inside).lower()} "
                    f"mf_dropout={share:g} teacher_auc={auc / n:.4f} teacher_ap={ap / n:.4f} "
                    f"teacher_recall{k}={recall / n:.4f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
