"""The product end to end on EComm and a real Neo4j, as a user runs it: load the bundled
data, `kgdistill train --eval ecomm`, score split 2 with `kgdistill score` and compute AUC
from its output, `kgdistill predict --write`, and check what Neo4j holds.

Settings are the defaults except: the graph-free student only (the default student),
three seeds (the default is one; the distilled student is compared with its twin on
their mean, as the demo shows it) and a 100-customer ranking sample, to keep the suite's
time in bounds. The issue's full comparison (three students, three seeds) is
bench/train_ecomm.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from distill.artifact import load_artifact
from kgdistill.cli import main
from kgstore.connection import QueryRunner

pytestmark = pytest.mark.e2e

SETTINGS = [
    *("--set", "eval.students=student_mlp"),
    *("--set", "eval.seeds=0,1,2"),
    *("--set", "eval.rank_customers=100"),
]


def test_load_train_score_and_write_back_ecomm(
    graph: QueryRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEO4J_URI", graph.settings.uri)
    monkeypatch.setenv("NEO4J_USER", graph.settings.user)
    monkeypatch.setenv("NEO4J_PASSWORD", graph.settings.password)

    def cli(*args: str) -> str:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    loaded = json.loads(cli("load", "ecomm", "--json"))
    assert loaded["plan"]["customers"] == 1_500 and loaded["plan"]["products"] == 36_224

    trained = json.loads(cli("train", "--eval", "ecomm", *SETTINGS, "--json"))
    run = Path(trained["path"])
    report = json.loads((run / "report.json").read_text())
    models = report["models"]
    teacher, student, no_kd = models["teacher"], models["student_mlp"], models["student_mlp_no_kd"]
    # The dataset README's category heuristic (AUC 0.740), here with a popularity
    # tie-break that costs it a little on popularity-drawn negatives: the data and the
    # split are read right.
    assert models["category"]["auc"] == pytest.approx(0.731, abs=0.003)
    assert teacher["auc"] >= 0.76 and teacher["ap"] >= 0.76, teacher
    assert student["auc"] >= teacher["auc"] - 0.01
    assert teacher["params"] >= 10 * student["params"]
    assert student["latency_ms_100k"] < teacher["latency_ms_100k"]
    assert len(student["per_seed"]) == 3
    assert student["auc"] > no_kd["auc"], "distillation did not help the default student"
    # the written top K: well above the best baseline's (honest ties, seen left out)
    best_baseline = max(models[name]["recall@20"] for name in ("popular", "item_knn", "category"))
    assert student["recall@20"] >= 1.5 * best_baseline, (student["recall@20"], best_baseline)

    # What the owner does: score split 2 through the CLI, compute AUC and AP.
    pairs = pd.read_csv(
        run / "eval_pairs.tsv",
        sep="\t",
        header=None,
        names=["customer_id", "product_id", "label", "split"],
    )
    test = pairs[pairs["split"] == 2]
    assert test["label"].value_counts().to_dict() == {1: 2334, 0: 2334}
    test[["customer_id", "product_id"]].to_csv(tmp_path / "split2.csv", index=False)
    cli("score", "--model", "student", "--pairs", "split2.csv", "--out", "scored.csv")
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert (scored["customer_id"].to_numpy() == test["customer_id"].to_numpy()).all()
    auc = roc_auc_score(test["label"], scored["score"])
    ap = average_precision_score(test["label"], scored["score"])
    saved = load_artifact(run / "models" / "student_mlp.pt").metrics
    assert auc == pytest.approx(saved["auc"], abs=1e-4)  # the same model, the same numbers
    assert ap == pytest.approx(saved["ap"], abs=1e-4)
    assert auc >= teacher["auc"] - 0.01

    written = json.loads(cli("predict", "--write", "--json"))
    assert written["customers"] == 1_500
    counts = graph.read(
        "MATCH (c:Customer) OPTIONAL MATCH (c)-[r:RECOMMENDED]->() "
        "WITH c, count(r) AS n, collect(r.rank) AS ranks, collect(r.score) AS scores "
        "RETURN n, ranks, scores"
    )
    assert {row["n"] for row in counts} == {20}
    for row in counts[:200]:
        order = np.argsort(row["ranks"])
        assert sorted(row["ranks"]) == list(range(1, 21))
        assert (np.diff(np.asarray(row["scores"])[order]) <= 1e-9).all()
