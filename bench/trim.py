"""A mini-batch step's message passing trimmed to each layer's hops, against all of it.

    .venv/bin/python bench/trim.py [--interactions 1000000] [--steps 6] [--batch-size 4096]

Builds the interaction-only synthetic shop (customers = N/25, products = N/100, as
``bench/scale.py``; in memory, no Neo4j) with the structural vectors on, and the
default teacher (GAT, 96 wide, 4 heads, two layers). Samples ``--steps`` batches of
``--batch-size`` training pairs from the last snapshot (``[train] fanouts``, the
default [15, 10]), then times the encoder's forward and backward pass on each, one
thread, alternating: ``trimmed`` (the subgraph as the sampler returns it: each layer
passes messages over the hops its output reaches the seeds by,
:func:`distill.models._trim`) and ``whole`` (the same subgraph without its hop
counts: every layer over every edge, as before). Prints the first batch's nodes and
edges per hop, the largest difference between the two passes' seed rows in eval
mode (0: the same result), and the median seconds per step of each (the first step
of each left out). The last line reads ``interactions=N trimmed_s_per_step=X
whole_s_per_step=X speedup=X``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from torch_geometric.data import HeteroData

from bench.predict_speed import cf_frame
from distill.artifact import build_model
from distill.config import KDConfig, RunConfig, TaskConfig, TeacherConfig, TrainConfig
from distill.data import FeatureEncoder
from distill.sampling import NeighborSampler
from distill.tasks import link_snapshots
from distill.train import graph_sides


def whole(sub: HeteroData) -> HeteroData:
    """``sub`` without its hop counts: a model then passes messages over all of it."""
    sub = sub.clone()
    for t in sub.node_types:
        del sub[t].hop_nodes
    for et in sub.edge_types:
        del sub[et].hop_edges
    return sub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=TrainConfig().batch_size)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    n = args.interactions
    frame = cf_frame(n // 25, n // 100, n, 0)
    encoder = FeatureEncoder.fit(frame, RunConfig().structure.encoder_settings())
    kd = KDConfig(candidates_per_pair=0)
    snap = link_snapshots(frame, encoder, TaskConfig(), kd, np.random.default_rng(0))[-1]
    model = build_model(TeacherConfig().spec(), encoder, frame.num_customers, frame.num_products)
    fanouts = list(TrainConfig().fanouts)
    sampler = NeighborSampler(snap.graph, fanouts, torch.Generator().manual_seed(0))
    pairs, draw = snap.pairs, torch.Generator().manual_seed(1)
    subs = []
    for _ in range(args.steps):
        batch = torch.randperm(len(pairs), generator=draw)[: args.batch_size]
        seeds = {
            "customer": torch.unique(pairs.customers[batch]),
            "product": torch.unique(pairs.products[batch]),
        }
        subs.append(sampler.sample(seeds))
    first = subs[0]
    print(f"interactions={n:,}: customers {frame.num_customers:,}, products {frame.num_products:,}")
    for t in ("customer", "product"):
        print(f"  {t} nodes per hop (seeds first): {first[t].hop_nodes}")
    for et in first.edge_types:
        if sum(first[et].hop_edges):
            print(f"  {et[1]} edges per hop: {first[et].hop_edges}")
    model.eval()
    with torch.no_grad():
        a, b = graph_sides(model, first), graph_sides(model, whole(first))
    diff = max(float((x.h - y.h).abs().max()) for x, y in zip(a, b, strict=True))
    print(f"  eval mode, largest difference between the two passes' seed rows: {diff:.3g}")
    model.train()

    def step(sub: HeteroData) -> float:
        began = time.perf_counter()
        c, p = graph_sides(model, sub)
        (c.h.sum() + p.h.sum()).backward()
        model.zero_grad()
        return time.perf_counter() - began

    times: dict[str, list[float]] = {"trimmed": [], "whole": []}
    for sub in subs:
        times["trimmed"].append(step(sub))
        times["whole"].append(step(whole(sub)))
    trimmed = statistics.median(times["trimmed"][1:] or times["trimmed"])
    untrimmed = statistics.median(times["whole"][1:] or times["whole"])
    print(
        f"interactions={n} trimmed_s_per_step={trimmed:.3f} whole_s_per_step={untrimmed:.3f} "
        f"speedup={untrimmed / trimmed:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
