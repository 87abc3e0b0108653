"""What the structural vectors (``[structure] dim``) cost when scoring given pairs.

    .venv/bin/python bench/structure_cost.py [--dims 0 1024] [--rounds 2] [--runs 7]

On EComm (the bundled files, no database), for each ``--dims`` in turn and ``--rounds``
times interleaved (this machine is noisy), the default teacher and default student are
built untrained (the work per pair does not depend on the weights) and score the same
100,000 random pairs as the report's ms/100k column does
(:func:`distill.predict.scoring_logits`, one thread, median of ``--runs``; for the
teacher its message passing over the graph included). One line per dimension and round:

    dim=D student_ms=X teacher_ms=Y faster=Zx
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from distill.artifact import build_model
from distill.config import RunConfig
from distill.data import FeatureEncoder, History, build_graph
from distill.metrics import median_latency_ms
from distill.predict import scoring_logits
from kgstore.sources.ecomm import read_ecomm_frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dims", type=int, nargs="+", default=[0, RunConfig().structure.dim], help="0: off"
    )
    parser.add_argument("--rounds", type=int, default=2, help="each dimension, interleaved")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (median)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    frame = read_ecomm_frame()
    history = History.from_frame(frame)
    config = RunConfig()
    rng = np.random.default_rng(12345)  # as distill.evaluate draws its latency pairs
    customers = rng.integers(0, frame.num_customers, config.eval.latency_pairs)
    products = rng.integers(0, frame.num_products, config.eval.latency_pairs)
    student_spec = config.student(config.eval.default_student).spec()
    for _ in range(args.rounds):
        for dim in args.dims:
            encoder = FeatureEncoder.fit(
                frame, replace(config.structure, dim=dim).encoder_settings()
            )
            graph = build_graph(frame, encoder)
            n_c, n_p = frame.num_customers, frame.num_products
            ms = {}
            for name, spec in (("student", student_spec), ("teacher", config.teacher.spec())):
                model = build_model(spec, encoder, n_c, n_p).eval()

                def score(model: torch.nn.Module = model, graph: object = graph) -> object:
                    return scoring_logits(model, graph, history, customers, products)  # type: ignore[arg-type]

                ms[name] = median_latency_ms(score, runs=args.runs)
            print(
                f"dim={dim} student_ms={ms['student']:.1f} teacher_ms={ms['teacher']:.1f} "
                f"faster={ms['teacher'] / ms['student']:.1f}x",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
