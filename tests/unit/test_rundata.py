"""A run's inputs rebuilt for compress/export/tune: the training frame, the config, the report."""

import json
from types import SimpleNamespace

import pytest

from distill.artifact import create_run
from distill.data import FeatureEncoder
from kgdistill.config import load_config
from kgdistill.pipeline import CONFIG_FILE, PipelineError, holdout_pairs
from kgdistill.rundata import add_model, on_run_nodes, run_config, training_frame
from kgdistill.settings import to_dict
from tests.support.tiny import planted_frame


def _recorded(tmp_path, **fields):
    run = create_run(out=tmp_path / "run")
    (run.path / CONFIG_FILE).write_text(json.dumps({"config": {}, "until": None, **fields}))
    return run


def test_training_frame_is_cut_at_the_recorded_day(tmp_path):
    frame = planted_frame()
    trained_on, _ = holdout_pairs(frame)
    run = _recorded(tmp_path, train_until=int(trained_on.interactions["day"].max()))
    again = training_frame(run, frame)
    assert len(again.interactions) == len(trained_on.interactions) < len(frame.interactions)


def test_training_frame_keeps_the_graph_for_labelled_pairs(tmp_path):
    frame = planted_frame()
    assert training_frame(_recorded(tmp_path, train_until=None), frame) is frame


def test_a_run_that_records_no_training_day_is_a_clear_error(tmp_path):
    with pytest.raises(PipelineError, match="train it again"):
        training_frame(_recorded(tmp_path), planted_frame())


def test_run_config_is_the_one_the_run_recorded(tmp_path):
    run = create_run(out=tmp_path / "run")
    recorded = load_config(environ={"KGDISTILL_KD__ALPHA": "0.25"})
    (run.path / CONFIG_FILE).write_text(json.dumps({"config": to_dict(recorded), "until": None}))
    assert run_config(run, load_config(environ={})).kd.alpha == 0.25


def test_add_model_rewrites_the_report(tmp_path):
    run = create_run(out=tmp_path / "run")
    entry = {"auc": 0.8, "ap": 0.8, "params": 10, "bytes": 100, "latency_ms_100k": 1.0}
    run.report_path.write_text(json.dumps({"models": {"student_mlp": entry}, "seconds": 1.0}))
    add_model(run, "student_mlp_int8", {**entry, "bytes": 25})
    report = json.loads(run.report_path.read_text())
    assert report["models"]["student_mlp_int8"]["bytes"] == 25
    assert "| student_mlp_int8 |" in (run.path / "report.md").read_text()
    assert (run.path / "quality_vs_cost.png").stat().st_size > 1000


def _known(frame):
    """What a model of a run trained on ``frame`` knows (LoadedModel's node fields)."""
    return SimpleNamespace(
        customer_ids=frame.customers["id"].tolist(),
        product_ids=frame.products["id"].tolist(),
        encoder=FeatureEncoder.fit(frame),
    )


def test_on_run_nodes_is_the_trained_graph_again_after_the_shop_grew(tmp_path):
    frame = planted_frame(customers=10, products=20)
    model = _known(frame)
    grown = planted_frame(customers=12, products=25)  # more nodes, same first ids
    again = on_run_nodes(_recorded(tmp_path), grown, model)
    assert again.customers["id"].tolist() == model.customer_ids
    assert again.products["id"].tolist() == model.product_ids
    assert again.interactions["customer"].max() < 10 and again.interactions["product"].max() < 20


def test_on_run_nodes_of_a_graph_that_lost_nodes_is_one_clear_line(tmp_path):
    model = _known(planted_frame(customers=12))
    with pytest.raises(
        PipelineError, match=r"2 customer ids are not in the graph.*kgdistill train"
    ):
        on_run_nodes(_recorded(tmp_path), planted_frame(customers=10), model)
