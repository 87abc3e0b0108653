"""The distillation evaluation on the real EComm files, with small settings."""

import json
from dataclasses import replace

import pytest
import torch
from sklearn.metrics import roc_auc_score

from distill.artifact import load_artifact
from distill.config import (
    STUDENT_NAMES,
    EvalConfig,
    KDConfig,
    RunConfig,
    StudentConfig,
    TaskConfig,
    TeacherConfig,
    TrainConfig,
)
from distill.evaluate import evaluate_link_prediction, read_eval_pairs
from distill.predict import Scorer
from kgstore.sources.ecomm import ecomm_dir, read_ecomm_frame

pytestmark = pytest.mark.e2e

MODEL_KEYS = {
    "popular",
    "item_knn",
    "category",
    "teacher",
    "student_gat",
    "student_sage",
    "student_mlp",
    "student_gat_no_kd",
    "student_sage_no_kd",
    "student_mlp_no_kd",
}
METRIC_KEYS = {
    "params",
    "bytes",
    "latency_ms_100k",
    "auc",
    "ap",
    "recall@20",
    "ndcg@20",
    "mrr",
    "cold_start",
    "per_seed",
}


@pytest.fixture(scope="module")
def ecomm():
    root = ecomm_dir()
    return read_ecomm_frame(root), read_eval_pairs(root / "ecomm_edge_val_lr_train_test.txt")


def test_ecomm_frame_matches_the_readme(ecomm):
    frame, pairs = ecomm
    summary = frame.summary()
    assert summary["interactions"] == 80_943
    assert summary["interaction_count_sum"] == 85_213
    assert (summary["categories"], summary["brands"]) == (402, 67)
    test = pairs.loc[pairs["split"] == 2]
    assert test["label"].value_counts().to_dict() == {1: 2334, 0: 2334}


def test_small_evaluation_on_ecomm(ecomm, tmp_path):
    frame, pairs = ecomm
    small = StudentConfig(hidden=16, heads=2, epochs=12, lr=0.02)
    config = RunConfig(
        teacher=TeacherConfig(hidden=32, heads=2, epochs=16, lr=0.01),
        student_gat=replace(small, kind="gat", customer_id_dim=0),
        student_sage=replace(small, kind="sage", customer_id_dim=0),
        student_mlp=replace(small, kind="mlp"),
        kd=KDConfig(candidates_per_pair=1.0),
        task=TaskConfig(snapshots=1),
        train=TrainConfig(progress=False, patience=100, eval_every=4),
        eval=EvalConfig(
            seeds=(0,),
            students=STUDENT_NAMES,
            rank_customers=40,
            latency_pairs=20_000,
            latency_runs=2,
        ),
    )
    result = evaluate_link_prediction(frame, pairs, config, tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    models = report["models"]
    assert set(models) == MODEL_KEYS
    assert report["default_student"] in models
    for name, entry in models.items():
        assert set(entry) >= METRIC_KEYS, name
        assert entry["cold_start"]["n"] == report["data"]["test_cold_pairs"] > 0
    for name in MODEL_KEYS - {"popular", "item_knn", "category", "teacher"}:
        assert 0.0 <= models[name]["agreement"] <= 1.0
        assert len(models[name]["per_seed"]) == 1
    # the dataset README's category heuristic (0.740) with a popularity tie-break: the
    # data and the split are read right
    assert models["category"]["auc"] == pytest.approx(0.731, abs=0.003)
    assert models["teacher"]["auc"] > 0.70
    assert models["teacher"]["params"] > models["student_mlp"]["params"]
    assert (tmp_path / "report.md").read_text().count("| student_") == 6
    assert (tmp_path / "quality_vs_cost.png").stat().st_size > 1000

    # every artifact loads with weights_only=True and scores test pairs like in the report
    for name, path in result.artifacts.items():
        raw = torch.load(path, weights_only=True)
        assert raw["name"] == name
    student = load_artifact(result.artifacts["student_mlp"])
    test = pairs.loc[pairs["split"] == 2]
    scores = Scorer(student, frame).score_pairs(
        test["customer_id"].tolist(), test["product_id"].tolist()
    )
    saved = student.metrics["auc"]
    best_seed_auc = roc_auc_score(test["label"], scores["score"])
    assert best_seed_auc == pytest.approx(saved, abs=1e-6)
