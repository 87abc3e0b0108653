"""Full-batch against mini-batch training of the teacher, side by side in one run.

    .venv/bin/python bench/minibatch.py [--customers 70679 --products 24915
        --interactions 652514 --epochs 2 --batch-size 4096 --fanouts 15 10
        --pretrain-epochs 2 --seed 0 --modes off on]

Builds the interaction-only synthetic shop of issue 13 (:func:`generate_cf`, ids only,
as ``bench/predict_speed.py`` does, no Neo4j) and its link snapshots (the default
task's two training days, then one validation day and one test day), and trains the
default teacher (``TeacherConfig()``: GAT, 96 wide, 4 heads, 64-wide id embeddings) for
``--epochs`` epochs twice, each in a fresh process started the same way (so each
one's peak resident memory is its own): ``[train] minibatch = "off"`` (one step per
epoch over the whole graph), then ``"on"`` (``--batch-size`` pairs per step, the
subgraph of ``--fanouts`` neighbours per node, relation and hop). Both pre-train the
id embeddings the same way, ``--pretrain-epochs`` passes (not timed; fewer than the
default 20 to keep the run short on a shared machine); neither refreshes them after
the loop.

Per mode it prints: seconds per epoch (the loop's time less its one validation, over
the epochs), the process's resident memory once the data is built and its peak
(``ru_maxrss``, training included), the validation AUC, and the test AUC (scored full
batch, as both modes score). The last line reads
``interactions=N full_s_per_epoch=X mini_s_per_epoch=X full_peak_rss_mb=X
mini_peak_rss_mb=X full_test_auc=X mini_test_auc=X`` (when both ``--modes`` ran).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import psutil
import torch

from bench.predict_speed import cf_frame
from distill.artifact import build_model
from distill.config import KDConfig, TaskConfig, TeacherConfig, TrainConfig
from distill.data import FeatureEncoder
from distill.metrics import auc
from distill.tasks import Snapshot, link_snapshots
from distill.train import score_snapshot, train_link_model


def _auc(model: Any, snap: Snapshot) -> tuple[float, float]:
    """Its AUC on ``snap`` and the seconds the scoring took."""
    began = time.perf_counter()
    value = auc(snap.pairs.labels.numpy(), score_snapshot(model, snap).numpy())
    return value, time.perf_counter() - began


def one_mode(args: argparse.Namespace, mode: str, out: Any) -> None:
    """Build the shop and train the teacher in ``mode``; send the figures to ``out``."""
    torch.set_num_threads(args.threads)
    frame = cf_frame(args.customers, args.products, args.interactions, args.seed)
    encoder = FeatureEncoder.fit(frame)
    kd = KDConfig(candidates_per_pair=0)  # a teacher: labelled pairs only
    snaps = link_snapshots(frame, encoder, TaskConfig(snapshots=4), kd, np.random.default_rng(0))
    config = replace(TeacherConfig(), epochs=args.epochs)
    model = build_model(config.spec(), encoder, frame.num_customers, frame.num_products)
    train = TrainConfig(
        seed=args.seed,
        progress=False,
        eval_every=args.epochs,
        patience=args.epochs,
        refresh_epochs=0,
        pretrain_epochs=args.pretrain_epochs,
        minibatch=mode,
        fanouts=tuple(args.fanouts),
        batch_size=args.batch_size,
        threads=args.threads,
    )
    data_mb = psutil.Process().memory_info().rss / 2**20
    result = train_link_model(
        model,
        snaps[:2],
        snaps[2],
        lr=config.lr,
        weight_decay=config.weight_decay,
        epochs=args.epochs,
        train=train,
    )
    val, val_s = _auc(model, snaps[2])
    test, _ = _auc(model, snaps[3])
    out.send(
        {
            "mode": mode,
            "minibatch": result.minibatch,
            "pairs": sum(len(s.pairs) for s in snaps[:2]),
            "edges": snaps[1].graph["customer", "interacted", "product"].edge_index.size(1),
            "s_per_epoch": (result.seconds - val_s) / result.epochs_run,
            "data_rss_mb": data_mb,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "val_auc": val,
            "test_auc": test,
        }
    )


def run(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """``one_mode`` in a fresh process (spawned: nothing inherited from this one)."""
    context = mp.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=one_mode, args=(args, mode, send))
    process.start()
    figures: dict[str, Any] = receive.recv()
    process.join()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=70_679)
    parser.add_argument("--products", type=int, default=24_915)
    parser.add_argument("--interactions", type=int, default=652_514)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=TrainConfig().batch_size)
    parser.add_argument("--fanouts", type=int, nargs="+", default=list(TrainConfig().fanouts))
    parser.add_argument("--pretrain-epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", choices=("off", "on"), default=["off", "on"])
    parser.add_argument("--threads", type=int, default=TrainConfig().threads)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    figures = {}
    for mode in args.modes:
        f = figures[mode] = run(args, mode)
        print(
            f"minibatch={mode}: {f['pairs']:,} training pairs, {f['edges']:,} interactions in "
            f"the last training graph; {f['s_per_epoch']:.1f} s/epoch, resident "
            f"{f['data_rss_mb']:.0f} MB with the data, peak {f['peak_rss_mb']:.0f} MB; "
            f"val AUC {f['val_auc']:.4f}, test AUC {f['test_auc']:.4f}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if len(figures) < 2:
        return 0
    full, mini = figures["off"], figures["on"]
    print(
        f"interactions={args.interactions} full_s_per_epoch={full['s_per_epoch']:.2f} "
        f"mini_s_per_epoch={mini['s_per_epoch']:.2f} "
        f"full_peak_rss_mb={full['peak_rss_mb']:.0f} mini_peak_rss_mb={mini['peak_rss_mb']:.0f} "
        f"full_test_auc={full['test_auc']:.4f} mini_test_auc={mini['test_auc']:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
