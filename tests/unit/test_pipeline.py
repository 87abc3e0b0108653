"""The held-out evaluation for shops without labelled pairs, and the summary table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kgdistill import pipeline, summary
from tests.support.tiny import four_node_frame, planted_frame


def test_holdout_pairs_hold_out_the_last_day() -> None:
    frame = planted_frame(customers=30, products=90, days=4)
    train_frame, pairs = pipeline.holdout_pairs(frame, seed=3)
    last = frame.interactions["day"].max()
    assert train_frame.interactions["day"].max() < last
    assert len(train_frame.interactions) == int((frame.interactions["day"] < last).sum())
    day = frame.interactions.loc[frame.interactions["day"] == last]
    c_ids = frame.customers["id"].to_numpy()
    p_ids = frame.products["id"].to_numpy()
    truth = set(zip(c_ids[day["customer"]], p_ids[day["product"]], strict=True))
    positives = pairs[pairs["label"] == 1]
    negatives = pairs[pairs["label"] == 0]
    got = set(zip(positives["customer_id"], positives["product_id"], strict=True))
    assert got == truth and len(positives) == len(truth)
    assert len(negatives) == len(positives)
    # A negative is never one of that day's pairs, and belongs to a customer of that day.
    assert not set(zip(negatives["customer_id"], negatives["product_id"], strict=True)) & truth
    assert set(negatives["customer_id"]) <= set(positives["customer_id"])
    # Splits: 1 and 2 only, by customer (never one customer in both), both labels in each.
    assert set(pairs["split"]) == {1, 2}
    per_customer = pairs.groupby("customer_id")["split"].nunique()
    assert (per_customer == 1).all()
    for split in (1, 2):
        assert set(pairs.loc[pairs["split"] == split, "label"]) == {0, 1}


def test_holdout_needs_two_days() -> None:
    frame = four_node_frame()
    frame = frame.until(int(frame.interactions["day"].min()))
    with pytest.raises(pipeline.PipelineError, match="one day"):
        pipeline.holdout_pairs(frame)


def test_holdout_is_seeded() -> None:
    frame = planted_frame(customers=20, products=60)
    a = pipeline.holdout_pairs(frame, seed=1)[1]
    b = pipeline.holdout_pairs(frame, seed=1)[1]
    c = pipeline.holdout_pairs(frame, seed=2)[1]
    assert a.equals(b) and not a.equals(c)


def test_the_summary_compares_each_model_with_the_teacher() -> None:
    report = {
        "default_student": "student_mlp",
        "models": {
            "heuristic": {"auc": 0.74, "ap": 0.71, "latency_ms_100k": math.nan, "params": 0},
            "teacher": {
                "auc": 0.82,
                "params": 280_000,
                "bytes": 1_100_000,
                "latency_ms_100k": 250.0,
            },
            "student_mlp": {
                "auc": 0.83,
                "params": 28_000,
                "bytes": 110_000,
                "latency_ms_100k": 25.0,
            },
        },
    }
    rows = {r["model"]: r for r in summary.rows(report)}
    assert rows["student_mlp"]["smaller"] == pytest.approx(10.0)
    assert rows["student_mlp"]["speedup"] == pytest.approx(10.0)
    assert rows["student_mlp"]["default"] and not rows["teacher"]["default"]
    assert rows["heuristic"]["speedup"] is None and rows["heuristic"]["params"] is None
    text = summary.table(report)
    assert "nan" not in text.lower()
    line = next(x for x in text.splitlines() if x.startswith("student_mlp *"))
    assert "10.0x" in line and "0.8300" in line and "107.4 KB" in line
    # learned models first; an old report's heuristic row is a baseline, listed last
    assert [x.split()[0] for x in text.splitlines()[2:5]] == ["teacher", "student_mlp", "heuristic"]
    assert "heuristic (baseline)" in text and rows["heuristic"]["baseline"]
    assert np.isfinite(rows["teacher"]["speedup"])
