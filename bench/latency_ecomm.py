"""Serving latency on EComm: one customer's top 20, and 100,000 pairs; teacher vs MLP student.

    .venv/bin/python bench/latency_ecomm.py [--runs 21] [--threads 1] [--customers 200]

Builds the default teacher and the default (graph-free MLP) student for the bundled
EComm graph and times, in one process and side by side, what `kgdistill train`
reports as ``latency_ms_100k`` (the same 100,000 random pairs, the same function,
median of ``--runs``), then the MLP student's parts: the pair features from the
interaction history, the product tower over every product, the customer tower, and
the decoder. Weights are freshly initialised: scoring time does not depend on their
values, only on the architecture.

The headline: one customer's top 20 over the whole catalogue (products the customer
interacted with left out), median over ``--customers`` customers, the three
interleaved customer by customer, one thread each:

- teacher: its message passing over the whole graph (to rank every product it needs
  every product's representation, and so the 2-hop neighbourhoods of all of them:
  in practice the whole graph; they change with every interaction, so nothing is
  cached), then its decoder's ranking logit over every product with the pair
  features from the history lookups;
- student, pair model: the graph-free student's pair-scoring ONNX model as
  ``kgdistill export`` writes it (:func:`distill.export.export_onnx`, ``--out FILE``)
  in onnxruntime, fed from the edge tables (:func:`distill.export.onnx_feed`: the
  customer's and every product's encoded features, the pair features), sorted by its
  ``rank`` output; it runs the product tower over every product for every request;
- student, split: the two files ``kgdistill export`` writes beside it
  (:func:`distill.export.export_split`): ``STEM.products.onnx`` gives every product's
  representation (it depends on product features only, so it runs once per catalogue
  version; its time is printed apart), then per request ``STEM.customer.onnx`` runs
  the customer tower once and the decoder's ranking logit over the catalogue, from
  the customer's edge-table rows and its pair features (computed per request from
  the history, :meth:`distill.data.History.catalogue_features`). Its top 20 is
  checked against the pair model's;
- student, catalogue built in: ``STEM.catalogue.onnx``
  (:func:`distill.export.export_catalogue`, ``kgdistill export --catalogue``), the
  split's customer side with the catalogue's product representations stored in the
  file, so onnxruntime lays them out for its matrix product once, when the session
  loads, not on every request; the same inputs but ``z_p``. Its top 20 is checked too.

The teacher takes its pair features from the same function. The last line reads
``teacher_top20_ms=X student_onnx_top20_ms=Y faster=Zx`` (Y: the student with the
catalogue built in); the line before it, the 100,000-pair figures ``teacher_ms=N
student_ms=N faster=Nx``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from distill.artifact import LoadedModel, build_model
from distill.config import RunConfig
from distill.data import FeatureEncoder, History, build_graph
from distill.export import (
    edge_tables,
    export_catalogue,
    export_onnx,
    export_split,
    node_input_names,
    onnx_feed,
)
from distill.metrics import median_latency_ms
from distill.predict import (
    Scorer,
    _embed_needed,
    _seen_positions,
    scoring_logits,
)
from kgframe import GraphFrame
from kgstore.sources.ecomm import read_ecomm_frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs per figure (median)")
    parser.add_argument("--threads", type=int, default=RunConfig().train.threads)
    parser.add_argument("--customers", type=int, default=200, help="top 20s timed (median)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    frame = read_ecomm_frame()
    config = RunConfig()
    encoder = FeatureEncoder.fit(frame, config.structure.encoder_settings())  # as train fits it
    graph = build_graph(frame, encoder)
    history = History.from_frame(frame)
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
    top = _top20_ms(teacher, student, encoder, frame, args)
    print(f"ms for one customer's top 20 over {n_p:,} products, median of {args.customers}:")
    print(f"  teacher: message passing over the whole graph + decoder {top['teacher']:9.1f}")
    print(
        f"  student, ONNX as exported (every product's tower per request) {top['student']:6.2f}"
        f"  = {top['teacher'] / top['student']:.0f}x faster"
    )
    print(
        f"  student, ONNX split as exported (STEM.customer.onnx; pair features included) "
        f"{top['split']:6.2f}  = {top['teacher'] / top['split']:.0f}x faster"
    )
    print(
        f"    its product side (STEM.products.onnx over {n_p:,} products, once per "
        f"catalogue version, not per request) {top['products']:6.2f}"
    )
    print(
        f"  student, ONNX with the catalogue built in (STEM.catalogue.onnx; pair features "
        f"included) {top['catalogue']:6.2f}  = {top['teacher'] / top['catalogue']:.0f}x faster"
    )
    print(
        f"teacher_top20_ms={top['teacher']:.1f} student_onnx_top20_ms={top['catalogue']:.2f} "
        f"faster={top['teacher'] / top['catalogue']:.0f}x"
    )
    return 0


def _top20_ms(
    teacher: Any,
    student: Any,
    encoder: FeatureEncoder,
    frame: GraphFrame,
    args: argparse.Namespace,
) -> dict[str, float]:
    """Median ms of one customer's top 20 (interleaved, customer by customer): the
    teacher with its message passing; and the student as ``kgdistill export`` writes it
    (:func:`distill.export.export_onnx`, :func:`distill.export.export_split`), in
    onnxruntime: the pair model, every product's tower run per request, and the split
    model, its product side run once per catalogue (also timed, under ``products``).
    The two ONNX students' top 20s are checked to agree."""
    import onnxruntime

    config = RunConfig()
    ids = frame.customers["id"].tolist(), frame.products["id"].tolist()
    spec = config.student(config.eval.default_student).spec()
    scorer = Scorer(LoadedModel("student", student, spec, encoder, *ids), frame)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(scorer.loaded, Path(tmp) / "student.onnx")
        tables = edge_tables(scorer)
        built = export_catalogue(scorer.loaded, path, tables)
        whole, products, customer, catalogue = (
            onnxruntime.InferenceSession(str(p), options)
            for p in (path, *export_split(scorer.loaded, path), built)
        )
    graph, history, n_p = scorer.graph, scorer.history, frame.num_products
    everything = np.arange(n_p)
    product_feed = {name: tables[name] for name in node_input_names(scorer.loaded, "product")}
    z_p: list[np.ndarray] = []

    def product_side(row: int) -> None:  # once per catalogue version, not per request
        z_p[:] = products.run(["z_p"], product_feed)

    def top20(rank: np.ndarray, row: int) -> np.ndarray:
        _, seen = _seen_positions(history.pair_keys, np.array([row]), n_p)
        rank[seen] = -np.inf
        best = np.argpartition(-rank, 20)[:20]
        return best[np.argsort(-rank[best])]

    def with_student(row: int) -> np.ndarray:
        feed = onnx_feed(scorer, tables, np.full(n_p, row), everything)
        return top20(whole.run(["rank"], feed)[0], row)

    customer_names = node_input_names(scorer.loaded, "customer")

    def with_split(row: int) -> np.ndarray:
        feed = {name: tables[name][row : row + 1] for name in customer_names}
        feed |= {"z_p": z_p[0], "pair": history.catalogue_features(row)[None]}
        return top20(customer.run(["rank"], feed)[0][0], row)

    def with_catalogue(row: int) -> np.ndarray:
        feed = {name: tables[name][row : row + 1] for name in customer_names}
        feed["pair"] = history.catalogue_features(row)[None]
        return top20(catalogue.run(["rank"], feed)[0][0], row)

    def with_teacher(row: int) -> np.ndarray:
        with torch.no_grad():
            z_c, z_p = teacher.embeddings(graph)
            f = torch.from_numpy(history.catalogue_features(row))
            rank = teacher.decoder.rank(z_c[row].expand(n_p, -1), z_p, f)
        return top20(rank.numpy(), row)

    runs = {
        "teacher": with_teacher,
        "student": with_student,
        "products": product_side,
        "split": with_split,
        "catalogue": with_catalogue,
    }
    rows = np.random.default_rng(7).choice(frame.num_customers, args.customers, replace=False)
    for row in rows[:3].tolist():  # warm-up (the first run allocates), and the check
        rank = [run(row) for run in runs.values()]
        for name, got in (("split", rank[3]), ("catalogue", rank[4])):
            if not np.array_equal(rank[1], got):
                raise AssertionError(f"{name} ONNX top 20 differs for row {row}")
    times: dict[str, list[float]] = {name: [] for name in runs}
    for row in rows.tolist():
        for name, run in runs.items():
            began = time.perf_counter()
            run(row)
            times[name].append((time.perf_counter() - began) * 1000.0)
    return {name: statistics.median(values) for name, values in times.items()}


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
