"""`kgdistill compress`, `export` and `tune` on a run trained from a real Neo4j."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from distill.artifact import load_artifact
from distill.config import RunConfig
from distill.data import PAIR_FEATURES
from kgdistill.cli import main
from kgdistill.config import load_config
from kgstore.connection import Neo4jSettings, QueryRunner
from tests.support.small_run import SMALL, point_cli_at, train_small_run

pytestmark = pytest.mark.neo4j


@pytest.fixture
def run(graph: QueryRunner, neo4j_settings: Neo4jSettings, tmp_path: Path, monkeypatch):
    """A run trained with small settings on a synthetic shop (no labelled pairs: the last
    day is held out), and the CLI pointed at the same Neo4j."""
    point_cli_at(neo4j_settings, monkeypatch)
    return train_small_run(graph, tmp_path / "run", tmp_path / "runs")


def test_compress_adds_an_int8_model_measured_like_the_run(run, capsys):
    assert main(["compress", "--run", str(run.path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "student_mlp_int8"
    report = json.loads(run.report_path.read_text())
    entry = report["models"]["student_mlp_int8"]
    assert entry["bytes"] < entry["source_bytes"] / 2
    # the run's frame and configuration were rebuilt: the source scores as it did in the run
    source = load_artifact(run.artifact("student_mlp"))
    assert entry["source_auc"] == pytest.approx(source.metrics["auc"], abs=1e-9)
    # a row of its own (marked " !" when it does not beat the run's best baseline)
    rows = (run.path / "report.md").read_text().splitlines()
    assert any(row.startswith("| student_mlp_int8 ") for row in rows)
    raw = torch.load(run.artifact("student_mlp_int8"), weights_only=True)
    assert raw["packed"].dtype == torch.uint8


def test_export_writes_onnx_and_its_inputs(run, tmp_path, capsys):
    onnx_path, npz = tmp_path / "student.onnx", tmp_path / "student.npz"
    args = ["export", "--format", "onnx", "--run", str(run.path), "--out", str(onnx_path)]
    assert main([*args, "--features", str(npz), "--catalogue", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the structural vectors (on by default) come last, after the pair features
    assert out["inputs"][-3:] == ["pair", "customer_struct", "product_struct"]
    assert onnx_path.stat().st_size > 1000
    tables = np.load(npz)
    assert len(tables["customer_ids"]) == tables["customer_num"].shape[0] == 80
    assert tables["customer_struct"].shape == (80, RunConfig().structure.dim)
    # the catalogue read from Neo4j, built in: it ranks as the split model fed its z_p
    assert out["catalogue_onnx"] == str(tmp_path / "student.catalogue.onnx")
    sessions = [
        ort.InferenceSession(out[key], providers=["CPUExecutionProvider"])
        for key in ("products_onnx", "customer_onnx", "catalogue_onnx")
    ]
    products, customer, catalogue = sessions
    (z_p,) = products.run(["z_p"], {i.name: tables[i.name] for i in products.get_inputs()})
    n_p = len(tables["product_ids"])
    pair = np.zeros((1, n_p, len(PAIR_FEATURES)), np.float32)  # a newcomer's history
    feed = {i.name: tables[i.name][:1] for i in catalogue.get_inputs() if i.name != "pair"}
    (got,) = catalogue.run(["rank"], {**feed, "pair": pair})
    (want,) = customer.run(["rank"], {**feed, "pair": pair, "z_p": z_p})
    assert got.shape == (1, n_p) and np.abs(got - want).max() <= 1e-4


def test_tune_writes_the_best_settings(run, tmp_path, capsys):
    out = tmp_path / "tuned.toml"
    storage = tmp_path / "tune.sqlite3"
    args = ["tune", "--run", str(run.path), "--trials", "2", "--storage", str(storage)]
    assert main([*args, "--out", str(out), "--json", *SMALL]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trials"] == 2 and result["val_split"] == 1
    assert result["best_val_auc"] >= result["default_val_auc"]
    tuned = load_config(out, environ={})
    assert tuned.student_mlp.hidden == result["best"]["hidden"]
    assert storage.stat().st_size > 0
