"""The report and the summary: metric keys follow eval.k; learned models against baselines."""

from __future__ import annotations

import math
from typing import Any

from distill.report import beats_baselines, markdown, markdown_table, model_names, report_k
from kgdistill import summary


def _report(k: int | None = 20, **recalls: float) -> dict[str, Any]:
    """A report whose models have only Recall@K and NDCG@K (= Recall / 2) and a size."""
    models: dict[str, Any] = {}
    for name, recall in recalls.items():
        learned = not name.startswith(("popular", "item_knn", "category", "heuristic"))
        models[name] = {
            "auc": 0.7,
            f"recall@{k or 20}": recall,
            f"ndcg@{k or 20}": recall / 2,
            "params": 1000 if learned else 0,
            "bytes": 4000 if learned else 0,
            "latency_ms_100k": 10.0 if learned else math.nan,
        }
    config = {"eval": {"k": k, "seeds": [0, 1]}} if k is not None else {}
    return {"default_student": "student_mlp", "config": config, "models": models}


def test_metric_keys_follow_the_configured_k():
    report = _report(10, teacher=0.5, student_mlp=0.45, popular=0.2)
    assert report_k(report) == 10
    rows = {r["model"]: r for r in summary.rows(report)}
    assert rows["teacher"]["recall@10"] == 0.5 and rows["teacher"]["ndcg@10"] == 0.25
    assert "recall@20" not in rows["teacher"] and "ndcg@20" not in rows["teacher"]
    text = summary.table(report)
    assert "R@10" in text.splitlines()[0] and "NDCG@10" in text.splitlines()[0]
    assert "R@20" not in text and "0.4500" in text
    head = markdown_table(report).splitlines()[0]
    assert "recall@10" in head and "ndcg@10" in head and "@20" not in head


def test_learned_models_that_do_not_beat_the_best_baseline_are_marked():
    report = _report(
        20,
        category=0.35,
        teacher=0.5,
        student_mlp=0.3,
        student_mlp_no_kd=0.4,  # equal to the best baseline: does not beat it
        popular=0.2,
        item_knn=0.4,
    )
    beats = beats_baselines(report)
    assert beats == {
        "teacher": True,
        "student_mlp": False,
        "student_mlp_no_kd": False,
        "popular": None,
        "item_knn": None,
        "category": None,
    }
    rows = summary.rows(report)
    assert [r["model"] for r in rows] == list(beats)  # learned first, registry order after
    assert [r["baseline"] for r in rows] == [False] * 3 + [True] * 3
    assert [r["beats_baselines"] for r in rows] == list(beats.values())
    lines = summary.table(report).splitlines()
    assert lines[2].split()[0] == "teacher" and "!" not in lines[2]
    assert lines[3].startswith("student_mlp * !") and lines[4].startswith("student_mlp_no_kd !")
    assert [line.split()[:2] for line in lines[5:8]] == [
        ["popular", "(baseline)"],
        ["item_knn", "(baseline)"],
        ["category", "(baseline)"],
    ]
    assert lines[-1] == "! Recall@20 not above the best baseline's (item_knn: 0.4000)."
    md = markdown(report)
    assert "| student_mlp (default) ! |" in md and "| item_knn (baseline) |" in md
    assert "! Recall@20 not above the best baseline's (item_knn: 0.4000)." in md


def test_no_mark_when_every_model_beats_the_baselines_or_there_are_none():
    report = _report(5, teacher=0.5, student_mlp=0.45, category=0.3)
    assert set(beats_baselines(report).values()) == {True, None}
    assert "!" not in summary.table(report) and "!" not in markdown_table(report)
    alone = _report(5, teacher=0.5, student_mlp=0.45)
    assert all(r["beats_baselines"] is None for r in summary.rows(alone))
    assert "!" not in summary.table(alone)
    # a missing or NaN recall is not a verdict
    unknown = _report(5, teacher=math.nan, popular=0.1)
    assert beats_baselines(unknown)["teacher"] is None


def test_an_old_report_with_a_heuristic_row_still_renders():
    # no config.eval.k (K = 20), and the category baseline under its old name
    report = _report(None, heuristic=0.4, teacher=0.5, student_mlp=0.38)
    assert report_k(report) == 20 and model_names(report["models"])[-1] == "heuristic"
    rows = {r["model"]: r for r in summary.rows(report)}
    assert rows["heuristic"]["baseline"] and rows["heuristic"]["beats_baselines"] is None
    assert rows["student_mlp"]["beats_baselines"] is False and rows["student_mlp"]["recall@20"]
    text = summary.table(report)
    assert "nan" not in text.lower() and "heuristic (baseline)" in text
    assert text.splitlines()[-1] == "! Recall@20 not above the best baseline's (heuristic: 0.4000)."
    assert "| heuristic (baseline) |" in markdown(report)


def test_the_students_line_says_one_seed_or_the_mean_of_several():
    report = _report(20, teacher=0.5, student_mlp=0.45)
    for seeds, said in (([0], "students: seed 0;"), ([0, 1, 2], "mean of seeds [0, 1, 2]")):
        report["config"]["eval"]["seeds"] = seeds
        assert said in summary.table(report)
        assert said.split(":")[-1].strip(" ;") in markdown(report)
    assert "mean of seeds [0]" not in summary.table({**report, "config": {"eval": {"seeds": [0]}}})
