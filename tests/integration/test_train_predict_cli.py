"""The learning commands on a real Neo4j: train, models list, score, predict --write,
run --csv on exports in the documented format, and sync with the trained student."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from kgdistill.cli import main
from kgstore import ingest
from kgstore.connection import QueryRunner

# Small settings: one seed, the graph-free student only, a few epochs.
FAST = [
    "--set",
    "eval.seeds=0",
    "--set",
    "eval.students=student_mlp",
    "--set",
    "teacher.epochs=3",
    "--set",
    "student_mlp.epochs=4",
    "--set",
    "eval.latency_runs=1",
    "--set",
    "eval.latency_pairs=2000",
    "--set",
    "eval.rank_customers=20",
]
METRICS = {"params", "bytes", "latency_ms_100k", "auc", "ap", "recall@20", "ndcg@20", "mrr"}


@pytest.fixture
def cli(graph: QueryRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``cli(*args) -> (exit code, stdout, stderr)`` in-process, in a fresh directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEO4J_URI", graph.settings.uri)
    monkeypatch.setenv("NEO4J_USER", graph.settings.user)
    monkeypatch.setenv("NEO4J_PASSWORD", graph.settings.password)
    monkeypatch.setenv("KGDISTILL_SYNC__OVERLAP_S", "0")

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _recommendations(graph: QueryRunner) -> pd.DataFrame:
    rows = graph.read(
        "MATCH (c:Customer)-[r:RECOMMENDED]->(p:Product) "
        "RETURN c.id AS customer, p.id AS product, r.rank AS rank, r.score AS score, "
        "r.run_id AS run_id, r.model AS model"
    )
    return pd.DataFrame(rows, columns=["customer", "product", "rank", "score", "run_id", "model"])


def _check_top_k(graph: QueryRunner, recs: pd.DataFrame, k: int) -> None:
    customers = graph.read_value("MATCH (c:Customer) RETURN count(c) AS n")
    assert recs["customer"].nunique() == customers
    for _, group in recs.groupby("customer"):
        group = group.sort_values("rank")
        assert group["rank"].tolist() == list(range(1, k + 1))
        assert (np.diff(group["score"].to_numpy()) <= 1e-9).all()
    interacted = graph.read_value(
        "MATCH (c:Customer)-[:RECOMMENDED]->(p:Product) "
        "WHERE EXISTS { (c)-[:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT]->(p) } RETURN count(*) AS n"
    )
    assert interacted == 0, "recommended products the customer already interacted with"


def test_train_then_list_score_and_predict(
    graph: QueryRunner, cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest.load_synthetic(graph, 60, 400, 4_000, seed=1, progress=False)

    code, out, err = cli("train", *FAST, "--json", capsys=capsys)
    assert code == 0, err
    summary = json.loads(out)
    run_dir = Path(summary["path"])
    report = json.loads((run_dir / "report.json").read_text())
    assert set(report["models"]) == {
        "popular",
        "item_knn",
        "category",
        "teacher",
        "student_mlp",
        "student_mlp_no_kd",
    }
    assert report["default_student"] == "student_mlp"
    for name in ("teacher", "student_mlp", "student_mlp_no_kd"):
        entry = report["models"][name]
        assert set(entry) >= METRICS, name
        assert 0.0 <= entry["auc"] <= 1.0 and entry["params"] > 0 and entry["bytes"] > 0
        assert len(entry["per_seed"]) == 1
        assert entry["minibatch"] is False, name  # 4,000 interactions: full batch
    assert report["models"]["teacher"]["params"] > report["models"]["student_mlp"]["params"]
    for name in ("report.md", "quality_vs_cost.png", "eval_pairs.tsv", "config.json"):
        assert (run_dir / name).is_file(), name
    assert Path((tmp_path / "runs" / "LATEST").read_text().strip()) == run_dir.resolve()

    code, out, err = cli("models", "list", "--json", capsys=capsys)
    assert code == 0, err
    listed = {e["model"]: e for e in json.loads(out)}
    assert set(listed) == {"teacher", "student_mlp", "student_mlp_no_kd"}
    assert listed["student_mlp"]["default"] and listed["student_mlp"]["latest"]
    assert listed["student_mlp"]["bytes"] < listed["teacher"]["bytes"]

    # score: the held-out test pairs, through the CSV interface a user has.
    pairs = pd.read_csv(
        run_dir / "eval_pairs.tsv",
        sep="\t",
        header=None,
        names=["customer_id", "product_id", "label", "split"],
    )
    test = pairs[pairs["split"] == 2]
    test.to_csv(tmp_path / "pairs.csv", index=False)
    code, out, err = cli(
        "score", "--pairs", "pairs.csv", "--out", "scored.csv", "--model", "student", capsys=capsys
    )
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert list(scored.columns) == ["customer_id", "product_id", "label", "split", "score"]
    assert len(scored) == len(test) and scored["score"].between(0, 1).all()
    assert scored["score"].nunique() > 1
    assert roc_auc_score(scored["label"], scored["score"]) > 0.5

    pd.DataFrame({"customer_id": [1, "nobody"], "product_id": [1, 2]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    code, _, err = cli("score", "--pairs", "bad.csv", "--out", "x.csv", capsys=capsys)
    assert code == 1 and "'nobody'" in err and "customer" in err
    assert not (tmp_path / "x.csv").exists()
    code, _, err = cli(
        "score", "--pairs", "pairs.csv", "--out", "x.csv", "--model", "nope", capsys=capsys
    )
    assert code == 1 and "no model 'nope'" in err and "student_mlp" in err

    code, out, err = cli("predict", "--write", "-k", "5", "--json", capsys=capsys)
    assert code == 0, err
    first = json.loads(out)
    # where the time went: every step booked once, none negative
    assert set(first["seconds"]) == {"prepare", "score", "hand_off", "finish"}
    assert min(first["seconds"].values()) >= 0 and first["seconds"]["score"] > 0
    recs = _recommendations(graph)
    _check_top_k(graph, recs, 5)
    assert set(recs["model"]) == {"student_mlp"}
    assert set(recs["run_id"]) == {first["write"]["run_id"]}

    # float32 cheap scores, as the index's: this quickly trained student scores most
    # products 1.0, and a cheap score of the other precision breaks those ties otherwise
    float32 = ["--set", "predict.cheap_precision=float32"]
    code, out, err = cli("predict", "--write", "-k", "5", *float32, "--json", capsys=capsys)
    assert code == 0, err
    second = json.loads(out)
    again = _recommendations(graph)
    _check_top_k(graph, again, 5)
    assert len(again) == len(recs)
    assert set(again["run_id"]) == {second["write"]["run_id"]} != {first["write"]["run_id"]}
    runs = graph.read_value("MATCH (m:ModelRun) RETURN count(m) AS n")
    assert runs == 2

    # The approximate index, every list searched: the same top K as the exact shortlist.
    index = ["--set", "predict.index=faiss", "--set", "predict.index_probes=1000"]
    code, out, err = cli("predict", "--write", "-k", "5", *index, "--json", capsys=capsys)
    assert code == 0, err
    indexed = _recommendations(graph)
    _check_top_k(graph, indexed, 5)
    key = ["customer", "product", "rank"]
    assert (
        indexed[key].sort_values(key).values.tolist() == again[key].sort_values(key).values.tolist()
    )
    assert set(indexed["run_id"]) == {json.loads(out)["write"]["run_id"]}

    # A write for every customer is what a sync catches up to: nothing left to rescore.
    code, out, err = cli("sync", "--json", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["status"] == "nothing to do"


def test_train_in_mini_batches_with_the_default_structure_then_predict(
    graph: QueryRunner, cli, capsys: pytest.CaptureFixture[str]
) -> None:
    """What ``[train] minibatch = "auto"`` does on a shop of 500,000 interactions or more,
    forced on a small one, with the default settings otherwise (structural vectors on):
    train, then predict --write. It failed at the teacher's first batch while the
    sampled subgraphs lacked the nodes' structural vectors."""
    ingest.load_synthetic(graph, 60, 400, 4_000, seed=3, progress=False)
    mini = ["--set", "train.minibatch=on", "--set", "train.batch_size=512"]
    code, out, err = cli("train", *FAST, *mini, "--json", capsys=capsys)
    assert code == 0, err
    run_dir = Path(json.loads(out)["path"])
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert config["train"]["minibatch"] == "on" and config["structure"]["dim"] > 0
    report = json.loads((run_dir / "report.json").read_text())
    for name in ("teacher", "student_mlp", "student_mlp_no_kd"):
        assert 0.0 <= report["models"][name]["auc"] <= 1.0, name
        # the report says how each model trained (nothing did before it failed here)
        assert report["models"][name]["minibatch"] is True, name
        assert all(seed["minibatch"] is True for seed in report["models"][name]["per_seed"])
    assert report["peak_rss_mb"] > 100  # this process's peak, in MB
    code, out, err = cli("predict", "--write", "-k", "5", "--json", capsys=capsys)
    assert code == 0, err
    _check_top_k(graph, _recommendations(graph), 5)


def _write_exports(directory: Path, rng: np.random.Generator) -> None:
    """A shop's exports in the documented format, shaped unlike anything else in the tests:
    string ids, a string and a list feature, ISO datetimes, text interaction types."""
    directory.mkdir()
    customers = [f"cust-{i:03d}" for i in range(40)]
    products = [f"sku-{i:04d}" for i in range(150)]
    pd.DataFrame(
        {
            "customer_id": customers,
            "segment": rng.choice(["gold", "silver", "bronze"], len(customers)),
            "age": rng.integers(18, 80, len(customers)),
            "interests": [";".join(map(str, rng.choice(9, 2, replace=False))) for _ in customers],
        }
    ).to_csv(directory / "customers.csv", index=False)
    pd.DataFrame(
        {"category_id": ["shoes", "shirts", "hats", "bags"], "parent_id": ["", "", "", ""]}
    ).to_csv(directory / "categories.csv", index=False)
    pd.DataFrame(
        {
            "product_id": products,
            "category_id": rng.choice(["shoes", "shirts", "hats", "bags"], len(products)),
            "brand_id": rng.choice(["acme", "zenith", ""], len(products)),
            "price": np.round(rng.lognormal(3, 1, len(products)), 2),
            "colour": rng.choice(["red", "blue", "black"], len(products)),
        }
    ).to_csv(directory / "products.csv", index=False)
    n = 1_500
    days = rng.integers(1, 8, n)
    pd.DataFrame(
        {
            "customer_id": rng.choice(customers, n),
            "product_id": rng.choice(products, n, p=_zipf(len(products))),
            "type": rng.choice(["view", "cart", "buy"], n, p=[0.8, 0.15, 0.05]),
            "timestamp": [f"2025-06-{d:02d}T{d + 8:02d}:30:00Z" for d in days],
        }
    ).to_csv(directory / "interactions.csv", index=False)


def _zipf(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1)
    return weights / weights.sum()


def test_run_on_unseen_csv_exports_then_sync_new_products(
    graph: QueryRunner, cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(7)
    _write_exports(tmp_path / "shop", rng)
    code, out, err = cli("run", "--csv", "shop", *FAST, "-k", "5", "--json", capsys=capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["load"]["plan"]["customers"] == 40
    assert result["load"]["plan"]["products"] == 150
    assert {m["model"] for m in result["models"]} >= {"teacher", "student_mlp"}
    assert result["write"]["customers"] == 40
    _check_top_k(graph, _recommendations(graph), 5)

    # A nightly export: 5 new products in a new category (so no customer is their
    # audience yet) and 10 interactions of 3 customers.
    nightly = tmp_path / "nightly"
    nightly.mkdir()
    new = [f"sku-new-{i}" for i in range(5)]
    pd.DataFrame(
        {
            "product_id": new,
            "category_id": ["gloves"] * 5,
            "brand_id": ["acme"] * 5,
            "price": [19.5, 25.0, 31.0, 44.0, 60.0],
            "colour": ["red"] * 5,
        }
    ).to_csv(nightly / "products.csv", index=False)
    buyers = ["cust-001", "cust-002", "cust-003"]
    pd.DataFrame(
        {
            "customer_id": [buyers[i % 3] for i in range(10)],
            "product_id": [f"sku-{i:04d}" for i in range(10)],
            "type": ["view"] * 10,
            "timestamp": ["2025-06-09T10:00:00Z"] * 10,
        }
    ).to_csv(nightly / "interactions.csv", index=False)
    code, _, err = cli("load", "csv", "--dir", "nightly", "-q", capsys=capsys)
    assert code == 0, err

    # Every product fits in K, so each rescored customer's list holds every unseen product.
    code, out, err = cli("sync", "-k", "200", "--json", capsys=capsys)
    assert code == 0, err
    synced = json.loads(out)
    assert synced["status"] == "ok"
    assert synced["rescored"] == 3 and not synced["full"], synced["changes"]
    assert synced["changes"]["changed_products"] == 5
    recs = _recommendations(graph)
    fresh = recs[recs["run_id"] == synced["run_id"]]
    assert set(buyers) <= set(fresh["customer"])
    assert set(new) <= set(fresh["product"]), "new products were not scored"
    untouched = recs[~recs["customer"].isin(fresh["customer"])]
    assert set(untouched["run_id"]) == {result["write"]["run_id"]}

    code, out, err = cli("sync", "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["status"] == "nothing to do", err


def test_predict_categories_for_products_listed_without_one(
    graph: QueryRunner, cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest.load_synthetic(graph, 60, 400, 4_000, seed=2, progress=False)
    # Eight products arrive without a category (and a few interactions each).
    drop = tmp_path / "uncategorised"
    drop.mkdir()
    new = [f"new-{i}" for i in range(8)]
    pd.DataFrame({"product_id": new, "price": np.linspace(5, 80, 8)}).to_csv(
        drop / "products.csv", index=False
    )
    customers = graph.read("MATCH (c:Customer) RETURN c.id AS id ORDER BY id LIMIT 8")
    pd.DataFrame(
        {
            "customer_id": [row["id"] for row in customers],
            "product_id": new,
            "type": ["click"] * 8,
            "timestamp": ["2024-01-05"] * 8,
        }
    ).to_csv(drop / "interactions.csv", index=False)
    code, _, err = cli("load", "csv", "--dir", "uncategorised", "-q", capsys=capsys)
    assert code == 0, err

    fast = ["--set", "teacher.epochs=6", "--set", "student_mlp.epochs=10"]
    code, out, err = cli(
        "predict", "--categories", "--write", "-k", "2", *fast, "--json", capsys=capsys
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["targets"] == 8 and result["rows"] == 16
    assert 0.0 <= result["student_accuracy"] <= 1.0
    rows = graph.read(
        "MATCH (p:Product)-[r:PREDICTED_CATEGORY]->(c:Category) "
        "RETURN p.id AS product, c.id AS category, r.rank AS rank, r.score AS score, "
        "r.run_id AS run_id ORDER BY product, rank"
    )
    table = pd.DataFrame(rows)
    assert set(table["product"]) == set(new)
    for _, group in table.groupby("product"):
        assert group["rank"].tolist() == [1, 2]
        assert group["score"].iloc[0] >= group["score"].iloc[1]
    assert table["run_id"].nunique() == 1
    categorised = graph.read_value(
        "MATCH (p:Product)-[:IN_CATEGORY]->() WHERE (p)-[:PREDICTED_CATEGORY]->() "
        "RETURN count(p) AS n"
    )
    assert categorised == 0, "a product with a category got a predicted one"


def test_train_on_too_little_history_is_one_clear_line(
    graph: QueryRunner, cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli("train", "-q", capsys=capsys)
    assert code == 1 and "load data first" in err and "Traceback" not in err
    shop = tmp_path / "two_days"
    shop.mkdir()
    (shop / "customers.csv").write_text("customer_id,segment\nc-17,gold\nc-42,silver\n")
    (shop / "products.csv").write_text("product_id,price\nsku-1,9.5\nsku-9,20\n")
    (shop / "interactions.csv").write_text(
        "customer_id,product_id,type,timestamp\n"
        "c-17,sku-1,click,2024-03-01T09:15:00Z\nc-42,sku-9,buy,2024-03-02\n"
    )
    code, _, err = cli("run", "--csv", "two_days", "-q", capsys=capsys)
    assert code == 1 and "Traceback" not in err
    assert "1 day(s) of interactions" in err and "held-out last day" in err
    assert (
        not list((tmp_path / "runs").glob("*/report.json"))
        if (tmp_path / "runs").exists()
        else True
    )
