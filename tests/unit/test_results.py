"""Typed results serialise to report.json's shape, in its key order, and read it back."""

from __future__ import annotations

import json
import math

from distill.results import ColdStart, Cost, ModelResult, Quality, Report, Training


def _quality(auc: float) -> Quality:
    return Quality(10, auc, 0.5, 0.3, 0.2, 0.1, ColdStart(0.6, 0.4, 3))


def _report() -> Report:
    teacher = ModelResult(
        _quality(0.9), cost=Cost(5000, 20000, 40.0), training=Training(0.8, 6, 2.0)
    )
    teacher.per_seed = [ModelResult(teacher.quality, cost=teacher.cost, training=teacher.training)]
    seeds = [
        ModelResult(_quality(a), agreement=0.7, seed=s, training=Training(0.75, e, 1.0))
        for s, (a, e) in enumerate([(0.8, 4), (0.6, 5)])
    ]
    student = ModelResult.mean(seeds, Cost(500, 2000, 4.0))
    popular = ModelResult(_quality(0.5), cost=Cost(0, 0, math.nan), per_seed=[])
    return Report(
        models={"teacher": teacher, "student_mlp": student, "popular": popular},
        default_student="student_mlp",
        config={"eval": {"k": 10, "seeds": [0, 1]}},
        data={"test_pairs": 40},
        seconds=12.0,
    )


def test_entries_keep_the_key_order_report_json_has():
    models = _report().as_dict()["models"]
    quality = ["auc", "ap", "recall@10", "ndcg@10", "mrr", "cold_start"]
    training = ["val_auc", "best_epoch", "train_seconds"]
    cost = ["params", "bytes", "latency_ms_100k"]
    assert list(models["teacher"]) == [*quality, *cost, *training, "per_seed"]
    assert list(models["teacher"]["per_seed"][0]) == [*quality, *cost, *training]
    assert list(models["student_mlp"]) == [*quality, "agreement", *training, *cost, "per_seed"]
    seed = models["student_mlp"]["per_seed"][1]
    assert list(seed) == [*quality, "agreement", "seed", *training]
    assert list(models["popular"]) == [*quality, *cost, "per_seed"]


def test_a_student_entry_is_the_mean_of_its_seeds_at_the_best_seeds_cost():
    entry = _report().as_dict()["models"]["student_mlp"]
    assert entry["auc"] == 0.7 and entry["best_epoch"] == 4.5
    assert isinstance(entry["best_epoch"], float)
    assert entry["cold_start"] == {"auc": 0.6, "ap": 0.4, "n": 3}
    assert entry["params"] == 500 and [s["seed"] for s in entry["per_seed"]] == [0, 1]


def test_a_report_reads_back_to_the_same_json():
    text = json.dumps(_report().as_dict())
    assert json.dumps(Report.from_dict(json.loads(text)).as_dict()) == text


def test_figures_an_old_report_lacks_read_as_none():
    old = {"models": {"teacher": {"auc": 0.8, "recall@20": 0.3}}, "config": {}}
    teacher = Report.from_dict(old).models["teacher"]
    assert teacher.quality.auc == 0.8 and teacher.quality.recall == 0.3
    assert teacher.quality.mrr is None and teacher.cost is None and teacher.training is None


def test_how_a_model_trained_and_the_peak_memory_read_back_and_old_reports_lack_them():
    report = _report()
    report.peak_rss_mb = 2048
    report.models["teacher"].training = Training(0.8, 6, 2.0, True)
    seeds = report.models["student_mlp"].per_seed or []
    for seed in seeds:
        assert seed.training is not None
        seed.training.minibatch = False
    report.models["student_mlp"] = ModelResult.mean(seeds, Cost(500, 2000, 4.0))
    out = report.as_dict()
    assert out["peak_rss_mb"] == 2048
    assert out["models"]["teacher"]["minibatch"] is True
    assert out["models"]["student_mlp"]["minibatch"] is False
    back = Report.from_dict(json.loads(json.dumps(out)))
    assert back.peak_rss_mb == 2048 and json.dumps(back.as_dict()) == json.dumps(out)
    # a report written before either was recorded keeps its shape
    old = _report().as_dict()
    assert "peak_rss_mb" not in old and "minibatch" not in old["models"]["teacher"]
