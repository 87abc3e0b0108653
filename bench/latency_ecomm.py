"""Where the time goes when scoring 100,000 EComm pairs: the teacher against the MLP student.

    .venv/bin/python bench/latency_ecomm.py [--runs 21] [--threads 1]

Builds the default teacher and the default (graph-free MLP) student for the bundled
EComm graph and times, in one process and side by side, what `kgdistill train`
reports as ``latency_ms_100k`` (the same 100,000 random pairs, the same function,
median of ``--runs``), then the MLP student's parts: the pair features from the
interaction history, the product tower over every product, the customer tower, and
the decoder. Weights are freshly initialised: scoring time does not depend on their
values, only on the architecture. The last line reads
``teacher_ms=N student_ms=N faster=Nx`` .
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from distill.artifact import build_model
from distill.config import RunConfig
from distill.data import FeatureEncoder, History, build_graph
from distill.metrics import median_latency_ms
from distill.predict import _embed_needed, scoring_logits
from kgstore.sources.ecomm import read_ecomm_frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs per figure (median)")
    parser.add_argument("--threads", type=int, default=RunConfig().train.threads)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    frame = read_ecomm_frame()
    encoder = FeatureEncoder.fit(frame)
    graph = build_graph(frame, encoder)
    history = History.from_frame(frame)
    config = RunConfig()
    rng = np.random.default_rng(12345)  # as distill.evaluate draws its latency pairs
    customers = rng.integers(0, frame.num_customers, config.eval.latency_pairs)
    products = rng.integers(0, frame.num_products, config.eval.latency_pairs)
    n_c, n_p = frame.num_customers, frame.num_products

    def model(spec: dict[str, object]) -> torch.nn.Module:
        return build_model(spec, encoder, n_c, n_p).eval()

    teacher = model(config.teacher.spec())
    student = model(config.student(config.eval.default_student).spec())

    def time_ms(run: object) -> float:
        return median_latency_ms(run, runs=args.runs)  # type: ignore[arg-type]

    # Interleaved, so both see the same machine.
    teacher_ms = time_ms(lambda: scoring_logits(teacher, graph, history, customers, products))
    student_ms = time_ms(lambda: scoring_logits(student, graph, history, customers, products))
    parts = _student_parts(student, graph, history, customers, products, time_ms)
    teacher_again = time_ms(lambda: scoring_logits(teacher, graph, history, customers, products))

    pairs = f"{config.eval.latency_pairs:,} pairs"
    print(f"ms to score {pairs}, median of {args.runs}, {args.threads} thread(s):")
    print(
        f"  teacher                {teacher_ms:8.1f}  (again after the parts: {teacher_again:.1f})"
    )
    print(
        f"  student ({config.eval.default_student})  {student_ms:8.1f}  "
        f"= {teacher_ms / student_ms:.1f}x faster"
    )
    for name, ms in parts.items():
        print(f"    {name:44s} {ms:6.1f}")
    need = min(teacher_ms, teacher_again) / 50
    print(f"  50x faster than the teacher would need the student at {need:.1f} ms")
    print(
        f"teacher_ms={teacher_ms:.1f} student_ms={student_ms:.1f} "
        f"faster={teacher_ms / student_ms:.1f}x"
    )
    return 0


def _student_parts(
    student: Any,
    graph: Any,
    history: History,
    customers: np.ndarray,
    products: np.ndarray,
    time_ms: Callable[[object], float],
) -> dict[str, float]:
    """Milliseconds of each part of the student's scoring: pair features, the two towers
    (with the gather of the pairs' rows) and the decoder."""
    c, p = torch.as_tensor(customers), torch.as_tensor(products)
    n_c, n_p = graph["customer"].num_nodes, graph["product"].num_nodes
    with torch.no_grad():
        parts = {
            "pair features (history lookups)": time_ms(
                lambda: history.pair_features(customers, products)
            ),
            f"product tower ({n_p:,} products) + gather": time_ms(
                lambda: _embed_needed(student.encoder, graph, "product", p)
            ),
            f"customer tower ({n_c:,} customers) + gather": time_ms(
                lambda: _embed_needed(student.encoder, graph, "customer", c)
            ),
        }
        z_c = _embed_needed(student.encoder, graph, "customer", c)
        z_p = _embed_needed(student.encoder, graph, "product", p)
        f = history.pair_features(customers, products)
        parts["decoder (dot product + pair MLP)"] = time_ms(lambda: student.decoder(z_c, z_p, f))
    return parts


if __name__ == "__main__":
    sys.exit(main())
