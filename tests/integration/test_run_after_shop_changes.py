"""A trained run keeps working while the shop changes (issue 16).

A run is trained on one day's graph; then a nightly export adds customers (one with no
feature columns, one whose id sorts first so every later row moves), products of a
brand and a category the run never saw, a product with a feature column the run never
saw, and interactions, some of a type extraction ignores. Every command that takes the
run must still work, and the new products must be scorable.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distill.artifact import load_artifact
from kgdistill.cli import main
from kgstore.connection import Neo4jSettings, QueryRunner
from tests.support.small_run import SMALL, point_cli_at, train_small_run

pytestmark = pytest.mark.neo4j

NEW_PRODUCTS = [0, 151, 152, 153, 154, 155]  # product 0 sorts first: every row moves
NEW_CUSTOMERS = [0, 81]  # customer 0: no feature columns at all


def _write_nightly(directory: Path) -> None:
    """New category (under the synthetic shop's top category 33) with a subcategory,
    brands 0 and 777 (never seen), customers and interactions on a day after the run."""
    directory.mkdir()
    pd.DataFrame({"category_id": [60_000_000, 60_000_001], "parent_id": [33, 60_000_000]}).to_csv(
        directory / "categories.csv", index=False
    )
    pd.DataFrame(
        {
            "product_id": NEW_PRODUCTS,
            "category_id": [60_000_001, 60_000_001, 60_000_000, 60_000_000, "", 60_000_001],
            "brand_id": [0, 0, 0, 777, 777, ""],
            "price": [19.5, 25.0, "", 44.0, 60.0, 1_000.0],
            "colour": ["red", "blue", "", "red", "", "green"],  # a column the run never saw
        }
    ).to_csv(directory / "products.csv", index=False)
    (directory / "customers.csv").write_text("customer_id\n0\n81\n")
    rows = [(c, p, "buy") for c in (0, 81, 1, 2, 3) for p in (0, 151, 5)]
    rows += [(1, 152, "wishlist"), (81, 7, "wishlist")]  # WISHLIST: not extracted
    pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "product_id": [r[1] for r in rows],
            "type": [r[2] for r in rows],
            "timestamp": ["2019-06-21T10:00:00Z"] * len(rows),
        }
    ).to_csv(directory / "interactions.csv", index=False)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, f"kgdistill {' '.join(args)}: {err}"
    assert "Traceback" not in err
    return out


def test_every_command_that_takes_a_run_works_after_the_shop_changed(
    graph: QueryRunner,
    neo4j_settings: Neo4jSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    point_cli_at(neo4j_settings, monkeypatch)
    monkeypatch.setenv("KGDISTILL_SYNC__OVERLAP_S", "0")
    monkeypatch.chdir(tmp_path)
    run = train_small_run(graph, tmp_path / "run", tmp_path / "runs")
    source = load_artifact(run.artifact("student_mlp"))
    _write_nightly(tmp_path / "nightly")
    _cli(capsys, "load", "csv", "--dir", "nightly", "-q")

    listed = json.loads(_cli(capsys, "models", "list", "--run", "run", "--json"))
    assert {e["model"] for e in listed} >= {"teacher", "student_mlp"}

    # score: new customers with new products, old customers with new products
    pairs = pd.DataFrame(
        {
            "customer_id": [0, 81, 1, 2, 0, 40],
            "product_id": [0, 151, 153, 155, 10, 154],
        }
    )
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    for model in ("student", "teacher"):
        _cli(capsys, "score", "--pairs", "pairs.csv", "--out", "scored.csv", "--model", model)
        scored = pd.read_csv(tmp_path / "scored.csv")
        assert len(scored) == len(pairs) and scored["score"].between(0, 1).all(), model

    # predict: K above the catalogue, so every new product is on an old customer's list
    _cli(capsys, "predict", "-k", "200", "--out", "top.csv", "-q")
    top = pd.read_csv(tmp_path / "top.csv")
    assert set(NEW_CUSTOMERS) <= set(top["customer_id"])
    assert set(NEW_PRODUCTS) <= set(top.loc[top["customer_id"] == 40, "product_id"])

    synced = json.loads(_cli(capsys, "sync", "-k", "5", "--json"))
    assert synced["status"] == "ok"

    # compress: the run's graph rebuilt with its own vocabulary, so the source scores as
    # it did in the run, and the compressed model joins the run's report
    out = json.loads(_cli(capsys, "compress", "--quantize", "int8", "--run", "run", "--json"))
    report = json.loads(run.report_path.read_text())
    assert out["model"] == "student_mlp_int8" and "student_mlp_int8" in report["models"]
    entry = report["models"]["student_mlp_int8"]
    assert entry["source_auc"] == pytest.approx(source.metrics["auc"], abs=1e-9)

    args = ["export", "--run", "run", "--out", "student.onnx", "--features", "student.npz"]
    exported = json.loads(_cli(capsys, *args, "--json"))
    tables = np.load(exported["features"])  # inputs for today's nodes, new ones included
    assert len(tables["customer_ids"]) == 80 + len(NEW_CUSTOMERS)

    tuned = json.loads(
        _cli(capsys, "tune", "--run", "run", "--trials", "1", "--out", "tuned.toml", "--json",
             *SMALL)
    )  # fmt: skip
    assert tuned["trials"] == 1
