"""Memory of the teacher's whole-graph inference: in one pass against a slice at a time.

    .venv/bin/python bench/inference_memory.py [--interactions 1000000]

What validation, distillation's teacher logits and ``predict`` ask of a GNN: every
node's representation over a whole graph, no gradients. A pass over all edges at once
holds each relation's messages (a GAT's are several times ``edges x hidden`` floats);
past :data:`distill.models.INFERENCE_EDGES` edges :class:`distill.models.HeteroGNN`
passes them a slice of destination nodes at a time. This bench shows what that saves.

The shop is ``bench/scale.py``'s size rule (customers = N/25, products = N/100, N
interactions) built in memory as ``load synthetic --mode cf`` reads back (ids only, no
Neo4j), its graph over every interaction, with the structural vectors ``train`` fits by
default, and the default teacher (untrained: memory and time do not depend on the
weights). Two fresh processes, one after the other, so each peak is its own:
``whole`` (the budget raised past the graph's edges: one pass, as before) and
``sliced`` (the default budget). Each prints its resident memory with the data built,
the pass's own peak (the kernel's high-water mark, reset before it) and its seconds.
The last line reads ``interactions=N edges=E whole_s=X sliced_s=X whole_peak_mb=X
sliced_peak_mb=X whole_extra_mb=X sliced_extra_mb=X max_abs_diff=X`` (extra: the
pass's peak above the memory held before it; max_abs_diff: between the two passes'
customer and product representations, the first 20,000 rows of each).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.predict_speed import cf_frame
from bench.student_memory import _memory_mb, _reset_peak

ROWS = 20_000  # representations sent back to compare the two passes


def one_pass(args: argparse.Namespace, mode: str, out: Any) -> None:
    """Build the graph and the teacher, then one inference pass in ``mode``."""
    import torch

    from distill import models
    from distill.artifact import build_model
    from distill.config import RunConfig
    from distill.data import FeatureEncoder, build_graph

    torch.set_num_threads(args.threads)
    n = args.interactions
    config = RunConfig()
    frame = cf_frame(max(n // 25, 1), max(n // 100, 1), n, args.seed)
    encoder = FeatureEncoder.fit(frame, config.structure.encoder_settings())
    graph = build_graph(frame, encoder)
    torch.manual_seed(0)
    teacher = build_model(config.teacher.spec(), encoder, frame.num_customers, frame.num_products)
    teacher.eval()
    edges = sum(graph[et].edge_index.size(1) for et in graph.edge_types)
    if mode == "whole":
        models.INFERENCE_EDGES = edges + 1
    before, _ = _memory_mb()
    _reset_peak()
    began = time.perf_counter()
    with torch.no_grad():
        z_c, z_p = teacher.embeddings(graph)
    seconds = time.perf_counter() - began
    _, peak = _memory_mb()
    print(
        f"{mode}: {edges:,} edges, resident {before:.0f} MB with the data; the pass "
        f"{seconds:.1f} s, peak {peak:.0f} MB ({peak - before:.0f} MB above)",
        flush=True,
    )
    out.send(
        {
            "edges": edges,
            "s": seconds,
            "peak_mb": peak,
            "extra_mb": peak - before,
            "z_c": z_c[:ROWS].clone(),
            "z_p": z_p[:ROWS].clone(),
        }
    )


def run(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """``one_pass`` in a fresh process (spawned: nothing inherited from this one)."""
    context = mp.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=one_pass, args=(args, mode, send))
    process.start()
    figures: dict[str, Any] = receive.recv()
    process.join()
    if process.exitcode:
        raise SystemExit(f"the {mode} pass failed (exit code {process.exitcode})")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    whole, sliced = run(args, "whole"), run(args, "sliced")
    diff = max(
        float((whole[k] - sliced[k]).abs().max()) for k in ("z_c", "z_p") if whole[k].numel()
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(
        f"interactions={args.interactions} edges={whole['edges']} whole_s={whole['s']:.1f} "
        f"sliced_s={sliced['s']:.1f} whole_peak_mb={whole['peak_mb']:.0f} "
        f"sliced_peak_mb={sliced['peak_mb']:.0f} whole_extra_mb={whole['extra_mb']:.0f} "
        f"sliced_extra_mb={sliced['extra_mb']:.0f} max_abs_diff={diff:.2e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
