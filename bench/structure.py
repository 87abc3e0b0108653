"""Structural vectors (FastRP, ``[structure]``) on and off, side by side on one split.

    .venv/bin/python bench/structure.py [--datasets ecomm synthetic_cf ecomm_nofeatures]
        [--seeds 0] [--dims 0 1024] [--weights 1 1 1 1] [--normalization -0.5]
        [--interactions 500000]

No database: EComm is read from the bundled files as extraction would give it
(:func:`kgstore.sources.ecomm.read_ecomm_frame`), the synthetic interaction-only shop
is generated in memory as ``load synthetic --mode cf`` writes it. For each dataset and
each ``--dims`` (0: off), in this one process, the default configuration trains the
teacher and the default student with and without distillation and the baselines are
fitted (:func:`distill.evaluate.evaluate_link_prediction`, as ``bench/quality.py``
does); first the FastRP vectors alone, scored by their cosine, as GDS's FastRP +
cosine route scores them. Every table uses the same split, customers and exclusions.
Each dataset and setting ends with one line:

    dataset=NAME structure_dim=D fastrp_recall20=R teacher_recall20=R
    student_recall20=R twin_recall20=R teacher_auc=A student_auc=A student_ap=A
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.predict_speed import cf_frame
from distill.config import RunConfig
from distill.evaluate import evaluate_link_prediction, prepare, quality
from distill.results import Quality
from distill.structure import fastrp
from kgdistill import pipeline, summary
from kgframe import GraphFrame
from kgstore.sources.ecomm import read_ecomm_frame

DATASETS = ("ecomm", "synthetic_cf", "ecomm_nofeatures")


def without_features(frame: GraphFrame) -> GraphFrame:
    """Ids and interactions only, as extraction reads back a shop loaded without any
    feature, category or brand (``bench/quality.py``'s ``ecomm_nofeatures``)."""
    none = np.full(frame.num_products, -1, np.int64)
    return GraphFrame(
        customers=frame.customers[["id"]],
        products=pd.DataFrame(
            {
                "id": frame.products["id"],
                "price": np.full(frame.num_products, np.nan),
                "category": none,
                "brand": none,
            }
        ),
        categories=pd.DataFrame({"id": [], "level": [], "parent": []}),
        brands=pd.DataFrame({"id": []}),
        interactions=frame.interactions,
    )


def dataset(name: str, interactions: int) -> tuple[GraphFrame, pd.DataFrame]:
    if name == "synthetic_cf":
        n = interactions
        return pipeline.holdout_pairs(cf_frame(max(n // 25, 1), max(n // 100, 1), n, seed=0))
    frame = read_ecomm_frame()
    if name == "ecomm_nofeatures":
        frame = without_features(frame)
    return frame, pipeline.read_pairs(pipeline.ecomm_pairs())


def cosine_only(frame: GraphFrame, pairs: pd.DataFrame, config: RunConfig) -> Quality:
    """The FastRP vectors alone: cosine of customer and product (GDS's FastRP + cosine)."""
    ctx = prepare(frame, pairs, config)
    s = config.structure
    z_c, z_p = fastrp(frame, **s.encoder_settings())
    tp = ctx.test.pairs
    scores = np.einsum("nd,nd->n", z_c[tp.customers.numpy()], z_p[tp.products.numpy()])
    return quality(ctx, scores, lambda rows: z_c[rows] @ z_p.T, config.eval.k)


def run(name: str, frame: GraphFrame, pairs: pd.DataFrame, config: RunConfig) -> str:
    began = time.monotonic()
    dim = config.structure.dim
    cosine = cosine_only(frame, pairs, config) if dim else None
    result = evaluate_link_prediction(frame, pairs, config, None)
    print(f"== {name}, structure dim {dim} ({time.monotonic() - began:.0f}s)")
    print(summary.table(result.report))
    models = result.results.models
    k = config.eval.k
    student = config.eval.default_student

    def fig(model: str, what: str) -> str:
        entry = models.get(model)
        return "nan" if entry is None else f"{getattr(entry.quality, what):.4f}"

    return (
        f"dataset={name} structure_dim={dim} "
        f"fastrp_recall{k}={cosine.recall if cosine else float('nan'):.4f} "
        f"teacher_recall{k}={fig('teacher', 'recall')} "
        f"student_recall{k}={fig(student, 'recall')} "
        f"twin_recall{k}={fig(student + '_no_kd', 'recall')} "
        f"teacher_auc={fig('teacher', 'auc')} student_auc={fig(student, 'auc')} "
        f"student_ap={fig(student, 'ap')}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=["ecomm"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--dims", type=int, nargs="+", default=[0, RunConfig().structure.dim], help="0: off"
    )
    parser.add_argument(
        "--weights", type=float, nargs="+", default=None, help="default: [structure]'s"
    )
    parser.add_argument("--normalization", type=float, default=None, help="default: [structure]'s")
    parser.add_argument("--interactions", type=int, default=500_000, help="of the synthetic shop")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    args = parser.parse_args(argv)
    lines = []
    for name in args.datasets:
        frame, pairs = dataset(name, args.interactions)
        for dim in args.dims:
            base = RunConfig()
            config = replace(
                base,
                structure=replace(
                    base.structure,
                    dim=dim,
                    weights=tuple(args.weights or base.structure.weights),
                    normalization=(
                        base.structure.normalization
                        if args.normalization is None
                        else args.normalization
                    ),
                ),
                train=replace(base.train, progress=args.progress),
                eval=replace(base.eval, seeds=tuple(args.seeds)),
            )
            lines.append(run(name, frame, pairs, config))
            print(lines[-1], flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
