"""Ranking grids cell by cell against matrix products, side by side in one run.

    .venv/bin/python bench/rank_grid.py [--customers 70679 --products 24915
        --interactions 652514 --rank 2000 --seed 0]

Evaluation (every customer with a positive), the structural weight's calibration (2,000
validation customers) and the teacher's shortlists score grids of a chunk of customers
by every product (:meth:`distill.models.PairDecoder.rank_grid_of`). The ``dot`` decoder
computes them by matrix products; :meth:`~distill.models.PairDecoder.grid_by_cells`
is the cell-by-cell way it replaced (each representation copied once per cell), kept
for the ``mlp`` decoder. This bench builds the interaction-only shop of issue 13 in
memory (``bench/predict_speed.py``'s ``cf_frame``, no Neo4j) with the default
structural vectors, the default teacher and default student (fresh weights: the time
does not depend on them; the rank head's prior drawn at random so that it counts),
embeds every node once, then ranks ``--rank`` customers in chunks of
:data:`distill.evaluate.RANK_CHUNK` both ways, alternating chunk by chunk so that both
see the same machine. Per model it prints both times, the speed-up, the largest
difference between the two grids and the share of customers whose top 20 (seen
products left out) is the same. The last line reads
``products=P customers=C teacher_cells_s=X teacher_matmul_s=X student_cells_s=X
student_matmul_s=X``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from torch_geometric.data import HeteroData

from bench.predict_speed import cf_frame
from distill.artifact import build_model
from distill.config import RunConfig
from distill.data import FeatureEncoder, History, build_graph
from distill.evaluate import RANK_CHUNK
from distill.models import LinkPredictor


def one_model(
    name: str, model: LinkPredictor, graph: HeteroData, history: History, rows: np.ndarray
) -> dict[str, float]:
    """Rank ``rows`` both ways; both grids' times, their largest difference and top-20
    agreement."""
    model.eval()
    dec = model.decoder
    with torch.no_grad():
        if dec.prior is not None:
            dec.prior.weight.normal_(0.0, 0.1)
        (h_c, s_c), (h_p, s_p) = (dec.split(z) for z in model.embeddings(graph))
        cos = None if s_c is None or s_p is None else s_c @ s_p.T
        seconds = {"cells": 0.0, "matmul": 0.0}
        diff, same, k = 0.0, 0, 20
        exclude = history.seen_columns(rows)
        for start in range(0, len(rows), RANK_CHUNK):
            chunk = torch.as_tensor(rows[start : start + RANK_CHUNK])
            f = history.pair_features_grid(chunk.numpy())
            f = f.reshape(-1, f.shape[-1])
            began = time.perf_counter()
            cells = dec.grid_by_cells(h_c[chunk], h_p, f)
            if cos is not None:
                cells = cells + dec.rank_struct_weight() * cos[chunk]
            seconds["cells"] += time.perf_counter() - began
            began = time.perf_counter()
            fast = dec.rank_grid_of(h_c[chunk], h_p, f, None if s_c is None else s_c[chunk], s_p)
            seconds["matmul"] += time.perf_counter() - began
            diff = max(diff, float((fast - cells).abs().max()))
            for i, seen in enumerate(exclude[start : start + RANK_CHUNK]):
                a, b = fast[i].clone(), cells[i].clone()
                a[torch.as_tensor(seen, dtype=torch.long)] = -np.inf
                b[torch.as_tensor(seen, dtype=torch.long)] = -np.inf
                same += set(a.topk(k).indices.tolist()) == set(b.topk(k).indices.tolist())
    print(
        f"{name}: cells {seconds['cells']:.2f} s, matmul {seconds['matmul']:.2f} s "
        f"({seconds['cells'] / max(seconds['matmul'], 1e-9):.1f}x), largest difference "
        f"{diff:.2e}, same top {k} for {same}/{len(rows)} customers",
        flush=True,
    )
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=70_679)
    parser.add_argument("--products", type=int, default=24_915)
    parser.add_argument("--interactions", type=int, default=652_514)
    parser.add_argument("--rank", type=int, default=2_000, help="customers ranked (2,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    config = RunConfig()
    frame = cf_frame(args.customers, args.products, args.interactions, args.seed)
    encoder = FeatureEncoder.fit(frame, config.structure.encoder_settings())
    graph = build_graph(frame, encoder)
    history = History.from_frame(frame)
    rows = np.sort(
        np.random.default_rng(args.seed).choice(
            frame.num_customers, min(args.rank, frame.num_customers), replace=False
        )
    )
    torch.manual_seed(args.seed)
    figures: dict[str, dict[str, float]] = {}
    for name, spec in (
        ("teacher", config.teacher.spec()),
        ("student", config.student(config.eval.default_student).spec()),
    ):
        model = build_model(spec, encoder, frame.num_customers, frame.num_products)
        figures[name] = one_model(name, model, graph, history, rows)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(
        f"products={frame.num_products} customers={len(rows)} "
        f"teacher_cells_s={figures['teacher']['cells']:.2f} "
        f"teacher_matmul_s={figures['teacher']['matmul']:.2f} "
        f"student_cells_s={figures['student']['cells']:.2f} "
        f"student_matmul_s={figures['student']['matmul']:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
