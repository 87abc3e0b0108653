"""The default graph-free student on EComm: int8 at a quarter of the size for at most
0.005 AUC on test split 2, and ONNX scores equal to PyTorch's on 1,000 test pairs."""

from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest

from distill.artifact import load_artifact, save_artifact
from distill.compress import compress_and_evaluate
from distill.config import EvalConfig, RunConfig
from distill.evaluate import link_model, loaded_model, prepare, read_eval_pairs, train_model
from distill.export import edge_tables, export_onnx
from distill.metrics import auc
from distill.predict import Scorer
from distill.quantize import Compression
from kgstore.sources.ecomm import ecomm_dir, read_ecomm_frame

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def student():
    """The default MLP student (its configured epochs, one seed; no teacher: the
    architecture, and so the sizes, are those of the distilled one)."""
    root = ecomm_dir()  # the bundled copy unless KGDISTILL_ECOMM_DIR names another
    frame = read_ecomm_frame(root)
    pairs = read_eval_pairs(root / "ecomm_edge_val_lr_train_test.txt")
    base = RunConfig()
    config = replace(
        base,
        train=replace(base.train, progress=False),
        eval=EvalConfig(rank_customers=40, latency_pairs=20_000, latency_runs=2),
    )
    ctx = prepare(frame, pairs, config)
    s_cfg = config.student_mlp
    trained = train_model(ctx, s_cfg, config.train)
    loaded = loaded_model("student_mlp", link_model(trained), s_cfg.spec(), ctx)
    return frame, pairs, config, loaded


def test_int8_student_is_a_quarter_the_size_for_at_most_0005_auc(student, tmp_path):
    frame, pairs, config, loaded = student
    result = compress_and_evaluate(frame, pairs, config, loaded, Compression(0.0, "int8"))
    entry = result.entry
    assert entry["source_auc"] > 0.78  # a trained student, not noise
    assert entry["bytes"] <= entry["source_bytes"] / 4
    assert entry["auc"] >= entry["source_auc"] - 0.005
    # what was measured is what is saved and loaded back
    path = save_artifact(tmp_path / "student_mlp_int8.pt", result.loaded)
    again = load_artifact(path)
    test = pairs.loc[pairs["split"] == 2]
    scores = Scorer(again, frame).score_pairs(
        test["customer_id"].tolist(), test["product_id"].tolist()
    )
    assert auc(test["label"].to_numpy(), scores["score"].to_numpy()) == pytest.approx(
        entry["auc"], abs=1e-6
    )


def test_onnx_export_scores_1000_test_pairs_like_pytorch(student, tmp_path):
    frame, pairs, _, loaded = student
    test = pairs.loc[pairs["split"] == 2].head(1000)
    scorer = Scorer(loaded, frame)
    expected = scorer.score_pairs(test["customer_id"].tolist(), test["product_id"].tolist())
    c, p = scorer.rows(test["customer_id"].tolist(), test["product_id"].tolist())
    t = edge_tables(scorer)
    session = ort.InferenceSession(
        str(export_onnx(loaded, tmp_path / "student.onnx")), providers=["CPUExecutionProvider"]
    )
    feed = {
        "customer_num": t["customer_num"][c],
        "customer_cat": t["customer_cat"][c],
        "customer_id": t["customer_id"][c],
        "product_num": t["product_num"][p],
        "product_cat": t["product_cat"][p],
        "product_id": t["product_id"][p],
        "pair": scorer.history.pair_features(c, p).numpy(),
    }
    if loaded.model.decoder.struct_dim:  # the structural vectors, on by default
        feed["customer_struct"] = t["customer_struct"][c]
        feed["product_struct"] = t["product_struct"][p]
    assert [i.name for i in session.get_inputs()] == list(feed)
    (score,) = session.run(["score"], feed)
    assert score.dtype == np.float32 and len(score) == 1000
    assert np.abs(score - expected["score"].to_numpy()).max() <= 1e-4
