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
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.artifact import LoadedModel, build_model
from distill.compress import compress_and_evaluate
from distill.config import RunConfig
from distill.evaluate import evaluate_model, prepare, read_eval_pairs
from distill.export import edge_tables, export_onnx
from distill.metrics import median_latency_ms
from distill.predict import Scorer
from distill.quantize import Compression
from distill.train import score_snapshot, train_link_model
from tests.support.ecomm_frame import ecomm_dir, read_ecomm_frame


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
    t_cfg, s_cfg = config.teacher, config.student_mlp
    teacher = build_model(t_cfg.spec(), ctx.encoder, frame.num_customers, frame.num_products)
    train_link_model(
        teacher, ctx.snapshots, ctx.val, lr=t_cfg.lr, weight_decay=0.0,
        epochs=t_cfg.epochs, train=config.train,
    )  # fmt: skip
    snapshots = ctx.snapshots + ([ctx.candidates] if ctx.candidates is not None else [])
    logits = [score_snapshot(teacher, s) for s in snapshots]
    spec = s_cfg.spec()
    student = build_model(spec, ctx.encoder, frame.num_customers, frame.num_products)
    train_link_model(
        student, snapshots, ctx.val, lr=s_cfg.lr, weight_decay=0.0, epochs=s_cfg.epochs,
        train=config.train, teacher_logits=logits, kd=config.kd,
    )  # fmt: skip
    source = LoadedModel(
        name="student_mlp",
        model=student,
        spec=spec,
        encoder=ctx.encoder,
        customer_ids=frame.customers["id"].tolist(),
        product_ids=frame.products["id"].tolist(),
    )
    teacher_loaded = replace(source, name="teacher", model=teacher, spec=t_cfg.spec())
    print(
        f"trained teacher and student_mlp (seed {args.seed}) in {time.perf_counter() - start:.0f}s"
    )

    rows = []
    for compression in [Compression(0.0, "int8")] + [Compression(p, "int8") for p in args.prune]:
        result = compress_and_evaluate(frame, pairs, config, source, compression, teacher_loaded)
        rows.append((result.loaded.name, result.entry))
    source_entry = rows[0][1]
    float_entry = evaluate_model(ctx, student, latency_runs=config.eval.latency_runs)
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

    # ONNX: the float32 student, scored by onnxruntime from the exported tables.
    import onnxruntime as ort

    scorer = Scorer(source, frame)
    tables = edge_tables(scorer)
    c, p = ctx.latency_customers, ctx.latency_products
    feed = {
        "customer_num": tables["customer_num"][c],
        "customer_cat": tables["customer_cat"][c],
        "customer_id": tables["customer_id"][c],
        "product_num": tables["product_num"][p],
        "product_cat": tables["product_cat"][p],
        "pair": scorer.history.pair_features(c, p).numpy(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(source, Path(tmp) / "student.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        onnx_size = path.stat().st_size
    wanted = {i.name for i in session.get_inputs()}
    feed = {k: v for k, v in feed.items() if k in wanted}
    (onnx_scores,) = session.run(["score"], feed)
    test = pairs.loc[pairs["split"] == 2].head(1000)
    torch_scores = scorer.score_pairs(test["customer_id"].tolist(), test["product_id"].tolist())
    c1, p1 = scorer.rows(test["customer_id"].tolist(), test["product_id"].tolist())
    feed1 = {
        "customer_num": tables["customer_num"][c1],
        "customer_cat": tables["customer_cat"][c1],
        "customer_id": tables["customer_id"][c1],
        "product_num": tables["product_num"][p1],
        "product_cat": tables["product_cat"][p1],
        "pair": scorer.history.pair_features(c1, p1).numpy(),
    }
    (s1,) = session.run(["score"], {k: v for k, v in feed1.items() if k in wanted})
    diff = float(np.abs(s1 - torch_scores["score"].to_numpy()).max())
    ms = median_latency_ms(lambda: session.run(["score"], feed), runs=5)
    print(
        f"\nONNX ({onnx_size:,} bytes): max |score diff| against PyTorch on 1,000 test pairs "
        f"{diff:.2e}; onnxruntime (1 thread) scores 100,000 encoded pairs in {ms:.1f} ms "
        f"(mean score {float(onnx_scores.mean()):.4f})"
    )
    print(f"wall time {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
