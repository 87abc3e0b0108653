"""The teacher's weights kept by validation AUC against validation Recall@20, one run.

    .venv/bin/python bench/teacher_select.py [--datasets interactions_only ecomm]
        [--interactions 500000] [--seed 0]

No database: the shops are read or generated as ``bench/id_fit_structure.py`` does
(``interactions_only``: the 70,679-customer, 24,915-product, 652,514-interaction
stand-in of ``bench/interactions_only.py``, in memory; ``ecomm``: the bundled files,
validation split 1, test split 2; ``synthetic_cf``: ``--interactions`` of the
interaction-only shop). For each dataset the default teacher trains once through all
its ``[teacher] epochs`` (no early stop), and at every validation check both figures
are taken on the same weights: validation AUC and validation Recall@20 (the seeded
sample of up to 2,000 validation customers that ``select = "recall"`` ranks, the whole
catalogue, seen products left out). For each way of choosing, the check the training
loop would keep is found by its own early stopping (``[train] patience``), and those
weights are finished as training finishes a teacher (the id embeddings fitted again on
the test graph, the ranking's cosine weight calibrated) and scored as every report
scores (ties at their expected rank, seen products left out), after the split's
baseline rows. Lines:

    dataset=NAME baseline=NAME recall20=R auc=A
    dataset=NAME epoch=E val_auc=A val_recall20=R
    dataset=NAME select=auc|recall best_epoch=E stops_at=E recall20=R ndcg20=N auc=A
        ap=A  (one line)
    dataset=NAME auto=auc|recall validation_customers=N train_s=S

``auto`` is what ``[teacher] select = "auto"`` (the default) chooses on that split;
``stops_at``: the epoch early stopping ends that loop at (its training time is about
``train_s`` times ``stops_at`` over the epochs run).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.id_fit_structure import DATASETS, _shop
from bench.kd_shortlist import print_baselines, quiet_config
from distill import train as training
from distill.artifact import build_model
from distill.evaluate import _model_result, prepare
from distill.models import LinkPredictor
from distill.tasks import Snapshot


def kept(checks: list[tuple[int, float]], patience: int, every: int) -> tuple[int, int]:
    """The epoch ``distill.train.fit`` keeps given its checks' (epoch, figure), and the
    epoch it stops at (its early stopping: ``patience`` epochs without a better one)."""
    best, best_epoch, since = -1.0, 0, 0
    for epoch, value in checks:
        if value > best:
            best, best_epoch, since = value, epoch, 0
        else:
            since += every
            if since >= patience:
                return best_epoch, epoch
    return best_epoch, checks[-1][0]


class Checks:
    """``on_eval`` of the teacher's loop: at each check, its validation AUC (the loop's
    figure), its validation Recall@K on the same weights, and those weights."""

    def __init__(self, name: str, k: int, model: LinkPredictor, val: Snapshot) -> None:
        self.name, self.k, self.model, self.val = name, k, model, val
        self.ranking = training._ValRanking.of(val)
        self.aucs: list[tuple[int, float]] = []
        self.recalls: list[tuple[int, float]] = []
        self.states: dict[int, dict[str, Any]] = {}

    def __call__(self, epoch: int, auc: float) -> None:
        recall = self.ranking.recall(self.model, self.val, training.RANK_CALIBRATION_K)
        self.aucs.append((epoch, auc))
        self.recalls.append((epoch, recall))
        self.states[epoch] = copy.deepcopy(self.model.state_dict())
        print(
            f"dataset={self.name} epoch={epoch} val_auc={auc:.4f} val_recall{self.k}={recall:.4f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", choices=DATASETS, default=["interactions_only", "ecomm"]
    )
    parser.add_argument("--interactions", type=int, default=500_000, help="synthetic_cf")
    parser.add_argument("--seed", type=int, default=0, help="the teacher's")
    args = parser.parse_args(argv)
    config = quiet_config()
    k = config.eval.k
    teacher_config = replace(config.teacher, select="auc")
    # every epoch run: the choices are made below from the checks
    loop = replace(config.train, seed=args.seed, patience=teacher_config.epochs + 1)
    for name in args.datasets:
        frame, pairs = _shop(name, args.interactions)
        ctx = prepare(frame, pairs, config)
        print_baselines(ctx, name, k)
        model = build_model(
            teacher_config.spec(), ctx.encoder, ctx.frame.num_customers, ctx.frame.num_products
        )
        checks = Checks(name, k, model, ctx.val)
        began = time.perf_counter()
        result = training.train_link_model(
            model,
            ctx.snapshots,
            ctx.val,
            lr=teacher_config.lr,
            weight_decay=teacher_config.weight_decay,
            epochs=teacher_config.epochs,
            train=loop,
            select="auc",
            desc="teacher",
            on_eval=checks,
        )
        seconds = time.perf_counter() - began
        for select, figures in (("auc", checks.aucs), ("recall", checks.recalls)):
            epoch, stops = kept(figures, config.train.patience, loop.eval_every)
            model.load_state_dict(checks.states[epoch])
            training.pretrain_ids(model, ctx.test.graph, loop, loop.refresh_epochs)
            model.eval()
            training.calibrate_rank_structure(model, ctx.val)
            q = _model_result(ctx, model, k, None).quality
            print(
                f"dataset={name} select={select} best_epoch={epoch} stops_at={stops} "
                f"recall{k}={q.recall:.4f} ndcg{k}={q.ndcg:.4f} auc={q.auc:.4f} ap={q.ap:.4f}",
                flush=True,
            )
        customers = training.validation_customers(ctx.val)
        print(
            f"dataset={name} auto={training.selection('auto', ctx.val)} "
            f"validation_customers={len(customers)} train_s={seconds:.0f} "
            f"epochs_run={result.epochs_run}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
