"""Float32 against int8 (and pruned) graph-free students on EComm, in one run.

    .venv/bin/python bench/compress_ecomm.py [--prune 0.3 0.5] [--seed 0]

Trains the teacher and the default distilled MLP student (one seed) as a run does, then
compresses the student and prints bytes on disk, test AUC (split 2), latency for
100,000 pairs, and the ONNX export's agreement and onnxruntime latency, side by side.
Reads ``$KGDISTILL_ECOMM_DIR`` (default /work/shared/datasets/ecomm).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.artifact import LoadedModel
from distill.compress import compress_and_evaluate
from distill.config import RunConfig
from distill.evaluate import (
    Distillation,
    EvalContext,
    evaluate_model,
    link_model,
    loaded_model,
    prepare,
    read_eval_pairs,
    train_model,
    train_teacher,
)
from distill.export import edge_tables, export_onnx, onnx_feed
from distill.metrics import median_latency_ms
from distill.predict import Scorer
from distill.quantize import Compression
from kgstore.sources.ecomm import ecomm_dir, read_ecomm_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prune", type=float, nargs="*", default=[0.3, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    torch.set_num_threads(1)
    frame = read_ecomm_frame()
    pairs = read_eval_pairs(ecomm_dir() / "ecomm_edge_val_lr_train_test.txt")
    base = RunConfig()
    config = replace(base, train=replace(base.train, progress=False, seed=args.seed))
    ctx = prepare(frame, pairs, config)
    source, teacher = _train(ctx, config)
    print(
        f"trained teacher and student_mlp (seed {args.seed}) in {time.perf_counter() - start:.0f}s"
    )
    _compressed_table(ctx, pairs, config, source, teacher, args.prune)
    _onnx(ctx, pairs, source)
    print(f"wall time {time.perf_counter() - start:.0f}s")


def _train(ctx: EvalContext, config: RunConfig) -> tuple[LoadedModel, LoadedModel]:
    """The teacher and the default student distilled from it (no listwise term, no id
    refresh), as artifacts would hold them."""
    teacher = link_model(train_teacher(ctx, config, refresh=False))
    distil = Distillation.of(ctx, teacher)
    s_cfg = config.student_mlp
    student = train_model(
        ctx,
        s_cfg,
        config.train,
        snapshots=distil.snapshots,
        teacher_logits=distil.logits,
        kd=config.kd,
    )
    source = loaded_model("student_mlp", link_model(student), s_cfg.spec(), ctx)
    return source, loaded_model("teacher", teacher, config.teacher.spec(), ctx)


def _compressed_table(
    ctx: EvalContext,
    pairs: pd.DataFrame,
    config: RunConfig,
    source: LoadedModel,
    teacher: LoadedModel,
    prune: list[float],
) -> None:
    rows = []
    for compression in [Compression(0.0, "int8")] + [Compression(p, "int8") for p in prune]:
        result = compress_and_evaluate(ctx.frame, pairs, config, source, compression, teacher)
        rows.append((result.loaded.name, result.entry))
    source_entry = rows[0][1]
    float_entry = evaluate_model(ctx, source.model, latency_runs=config.eval.latency_runs).as_dict()
    print(
        f"\n| model | bytes | share of float32 | test AUC | AUC change | non-zero weights "
        f"| ms / 100k pairs |\n|---|---|---|---|---|---|---|\n"
        f"| student_mlp (float32) | {source_entry['source_bytes']:,} | 1.000 "
        f"| {float_entry['auc']:.4f} | - | {int(source_entry['params']):,} "
        f"| {float_entry['latency_ms_100k']:.1f} |"
    )
    for name, e in rows:
        print(
            f"| {name} | {e['bytes']:,} | {e['bytes'] / e['source_bytes']:.3f} | {e['auc']:.4f} "
            f"| {e['auc'] - e['source_auc']:+.4f} | {e['nonzero']:,} | {e['latency_ms_100k']:.1f} |"
        )


def _onnx(ctx: EvalContext, pairs: pd.DataFrame, source: LoadedModel) -> None:
    """The float32 student, scored by onnxruntime from the exported tables."""
    import onnxruntime as ort

    scorer = Scorer(source, ctx.frame)
    tables = edge_tables(scorer)
    feed = onnx_feed(scorer, tables, ctx.latency_customers, ctx.latency_products)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(source, Path(tmp) / "student.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        onnx_size = path.stat().st_size
    (onnx_scores,) = session.run(["score"], feed)
    test = pairs.loc[pairs["split"] == 2].head(1000)
    torch_scores = scorer.score_pairs(test["customer_id"].tolist(), test["product_id"].tolist())
    c1, p1 = scorer.rows(test["customer_id"].tolist(), test["product_id"].tolist())
    (s1,) = session.run(["score"], onnx_feed(scorer, tables, c1, p1))
    diff = float(np.abs(s1 - torch_scores["score"].to_numpy()).max())
    ms = median_latency_ms(lambda: session.run(["score"], feed), runs=5)
    print(
        f"\nONNX ({onnx_size:,} bytes): max |score diff| against PyTorch on 1,000 test pairs "
        f"{diff:.2e}; onnxruntime (1 thread) scores 100,000 encoded pairs in {ms:.1f} ms "
        f"(mean score {float(onnx_scores.mean()):.4f})"
    )


if __name__ == "__main__":
    main()
