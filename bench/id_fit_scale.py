"""The id tables' fit at shop sizes: Adam on the rows a batch touches against Adam on
every row, side by side in one run.

    .venv/bin/python bench/id_fit_scale.py [--interactions 1000000 5000000] [--epochs 1]
        [--threads 1]

:func:`distill.train.pretrain_ids` fits a model's customer and product id tables to the
graph's interactions, ``[train] pretrain_batch`` (1,024) interactions per step. With
``[train] pretrain_adam = "dense"`` every step moves every row of both tables (Adam
moves untouched rows on their moments), so a step costs the tables' size and an epoch
grows with interactions times customers; with ``"rows"`` a step moves
the rows its batch touched, and an epoch grows with the interactions alone.

For each size: the interaction-only synthetic shop of ``load synthetic --mode cf``
(customers = N/25, products = N/100, as ``bench/scale.py`` sizes its shop), the
default teacher's id tables (64 columns each), and ``--epochs`` epochs of the fit
from the same start with each Adam, one after the other, each one's seconds per
epoch as it ends; then one line per size:

    interactions=N customers=C rows_s_per_epoch=X dense_s_per_epoch=Y ratio=Z
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from torch_geometric.data import HeteroData

from bench.predict_speed import cf_frame
from distill.artifact import build_model
from distill.config import TeacherConfig, TrainConfig
from distill.data import INTERACTION_EDGE, FeatureEncoder
from distill.train import pretrain_ids


def one_size(n: int, epochs: int) -> dict[str, float]:
    frame = cf_frame(max(n // 25, 1), max(n // 100, 1), n, seed=0)
    encoder = FeatureEncoder.fit(frame)
    graph = HeteroData()
    inter = frame.interactions
    edges = np.stack([inter["customer"].to_numpy(np.int64), inter["product"].to_numpy(np.int64)])
    graph[INTERACTION_EDGE].edge_index = torch.from_numpy(edges)
    torch.manual_seed(0)
    model = build_model(TeacherConfig().spec(), encoder, frame.num_customers, frame.num_products)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    seconds = {}
    for adam in ("rows", "dense"):
        model.load_state_dict(start)
        train = replace(TrainConfig(progress=False), pretrain_adam=adam)
        began = time.perf_counter()
        pretrain_ids(model, graph, train, epochs)
        seconds[adam] = (time.perf_counter() - began) / epochs
        print(f"  {adam}: {seconds[adam]:.1f} s per epoch", flush=True)
    return {"customers": frame.num_customers, **seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--epochs", type=int, default=1, help="of the fit, per Adam")
    parser.add_argument("--threads", type=int, default=TrainConfig().threads)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for n in args.interactions:
        print(f"{n:,} interactions:", flush=True)
        f = one_size(n, args.epochs)
        print(
            f"interactions={n} customers={f['customers']} rows_s_per_epoch={f['rows']:.1f} "
            f"dense_s_per_epoch={f['dense']:.1f} ratio={f['dense'] / f['rows']:.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
