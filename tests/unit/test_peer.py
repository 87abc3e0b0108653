"""`kgdistill peer gds` without a server: GDS's provisioning, the projection's columns,
GDS's vectors scored as kgdistill's models are, and the printed table and final line."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from distill import peer as routes
from distill.artifact import Run
from distill.config import EvalConfig, KDConfig, RunConfig, TaskConfig, TrainConfig
from distill.evaluate import prepare
from distill.metrics import auc
from kgdistill import peer
from kgdistill.server import Neo4jServerError, ServerConfig
from kgstore import gds
from tests.support.tiny import four_node_frame, planted_frame, planted_pairs

# A fake Maven: copies "jars" named in $FAKE_JARS into -DoutputDirectory, counting calls.
FAKE_MVN = (
    'for a in "$@"; do case "$a" in -DoutputDirectory=*) d="${a#-DoutputDirectory=}";; esac; '
    'done\necho call >> "$FAKE_CALLS"\nmkdir -p "$d"\n'
    'for j in $FAKE_JARS; do echo PK > "$d/$j"; done\nexit ${FAKE_RC:-0}\n'
)


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mvn").write_text("#!/bin/sh\n" + FAKE_MVN)
    (bin_dir / "mvn").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls"))
    return tmp_path / "calls"


def test_maven_command_names_the_gds_pom_and_version(tmp_path: Path) -> None:
    cmd = peer.maven_command("mvn", "2.13.9", tmp_path / "lib")
    assert cmd[cmd.index("-f") + 1].endswith("neo4j/gds-pom.xml")
    assert "-Dgds.version=2.13.9" in cmd
    assert f"-DoutputDirectory={tmp_path / 'lib'}" in cmd
    assert "dependency:copy-dependencies" in cmd


def test_gds_is_fetched_once_into_the_cache_beside_neo4j(
    tmp_path: Path, fake_mvn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_JARS", "proc-2.13.9.jar opengds-extension-2.13.9.jar")
    cfg = ServerConfig(home=str(tmp_path / "cache"))
    said: list[str] = []
    jars = peer.provision_gds(cfg, progress=said.append)
    assert [j.name for j in jars] == ["opengds-extension-2.13.9.jar", "proc-2.13.9.jar"]
    assert jars[0].parent == tmp_path / "cache" / "neo4j" / "gds" / "2.13.9" / "lib"
    assert (jars[0].parent / ".complete").is_file()
    assert "Fetching Graph Data Science 2.13.9" in said[0]
    assert peer.provision_gds(cfg, progress=said.append) == jars  # offline: Maven not called
    assert fake_mvn.read_text().count("call") == 1


def test_a_failed_fetch_leaves_no_cache(
    tmp_path: Path, fake_mvn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_JARS", "proc-2.13.9.jar")
    monkeypatch.setenv("FAKE_RC", "1")
    cfg = ServerConfig(home=str(tmp_path / "cache"))
    with pytest.raises(Neo4jServerError, match=r"could not fetch Graph Data Science 2\.13\.9"):
        peer.provision_gds(cfg, progress=lambda m: None)
    assert not peer.gds_lib_dir(cfg).exists()
    assert list(peer.gds_lib_dir(cfg).parent.glob("lib.partial-*")) == []


def test_marked_nodes_come_first_with_their_labels() -> None:
    groups = gds.projection_groups(four_node_frame(), {"Customer": {0: ("PeerC0",)}})
    assert groups[0]["source"] == ["Customer", "PeerC0"] and groups[0]["src"] == [0]
    assert gds.context_of(groups) == (["Brand", "Category"], ["IN_CATEGORY", "MADE_BY"])


def test_pair_marks_group_customers_with_the_products_of_their_pairs() -> None:
    c = np.array([5, 5, 7, 9, 9])
    p = np.array([1, 2, 1, 3, 4])
    marks, group = gds.pair_marks(c, p, groups=2)
    assert group.tolist() == [0, 0, 1, 0, 0]  # customers 5, 7, 9 dealt round robin
    assert marks["Customer"] == {5: ("PeerC0",), 7: ("PeerC1",), 9: ("PeerC0",)}
    assert marks["Product"] == {
        1: ("PeerP0", "PeerP1"),
        2: ("PeerP0",),
        3: ("PeerP0",),
        4: ("PeerP0",),
    }
    # every pair is among its group's customers x products
    for i in range(len(c)):
        assert f"PeerC{group[i]}" in marks["Customer"][c[i]]
        assert f"PeerP{group[i]}" in marks["Product"][p[i]]


def test_gds_instance_is_private_with_the_jars_as_plugins(tmp_path: Path) -> None:
    jar = tmp_path / "proc-2.13.9.jar"
    base = ServerConfig(home=str(tmp_path))
    cfg = peer.gds_server_config(base, [jar])
    assert cfg.instance == "gds-peer" and cfg.home == base.home
    assert cfg.bolt_port not in (7687, cfg.http_port)
    assert cfg.plugins == (str(jar),)
    assert cfg.extra_conf == ("dbms.security.procedures.unrestricted=gds.*",)


def test_projection_merges_interactions_and_keeps_every_node() -> None:
    frame = four_node_frame()  # customer 0 clicked and bought product 0: one relationship
    groups = {
        (g["source"][0], g["type"], (g["target"] or g["source"])[0]): g
        for g in gds.projection_groups(frame)
    }
    # ids: customers from 0, products after them, then categories, then brands
    assert groups[("Customer", "INTERACTED", "Product")]["src"] == [0]
    assert groups[("Customer", "INTERACTED", "Product")]["tgt"] == [1]
    assert groups[("Product", "IN_CATEGORY", "Category")]["tgt"] == [2]
    assert groups[("Product", "MADE_BY", "Brand")]["tgt"] == [3]
    assert groups[("Category", "SUBCATEGORY_OF", "Category")]["src"] == []  # no parent
    for label, node_id in (("Customer", 0), ("Product", 1), ("Category", 2), ("Brand", 3)):
        assert groups[(label, "NONE", label)] == {
            "source": [label],
            "target": [],
            "type": "NONE",
            "src": [node_id],
            "tgt": [],
        }


@pytest.fixture(scope="module")
def ctx():
    frame = planted_frame()
    config = RunConfig(
        kd=KDConfig(candidates_per_pair=0.0),
        task=TaskConfig(snapshots=1),
        train=TrainConfig(progress=False),
        eval=EvalConfig(rank_customers=10),
    )
    return prepare(frame, planted_pairs(frame), config)


def test_cosine_of_hand_made_vectors() -> None:
    z_c = np.array([[1.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    z_p = np.array([[2.0, 0.0], [0.0, 5.0]])
    scores = routes.cosine_scores(z_c, z_p, np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 0]))
    np.testing.assert_allclose(scores, [1.0, 0.0, 0.6, 0.8, 0.0])


def _perfect_vectors(ctx) -> tuple[np.ndarray, np.ndarray]:
    """Products one-hot; a customer is the sum of its positive test products."""
    n_c, n_p = ctx.frame.num_customers, ctx.frame.num_products
    z_p = np.eye(n_p)
    z_c = np.zeros((n_c, n_p))
    pairs = ctx.test.pairs
    for c, p, y in zip(
        pairs.customers.tolist(), pairs.products.tolist(), pairs.labels.tolist(), strict=True
    ):
        z_c[c, p] += y
    return z_c, z_p


def test_cosine_route_scores_and_ranks_like_kgdistill(ctx) -> None:
    z_c, z_p = _perfect_vectors(ctx)
    result = routes.cosine_route(ctx, z_c, z_p, k=20)
    assert result["auc"] == 1.0 and result["ap"] == 1.0
    assert result["recall@20"] == 1.0 and result["ndcg@20"] == 1.0
    # random vectors: the same AUC as the metric on the pair scores directly
    rng = np.random.default_rng(0)
    z_c, z_p = rng.normal(size=z_c.shape), rng.normal(size=z_p.shape)
    pairs = ctx.test.pairs
    expected = auc(
        pairs.labels.numpy(),
        routes.cosine_scores(z_c, z_p, pairs.customers.numpy(), pairs.products.numpy()),
    )
    result = routes.cosine_route(ctx, z_c, z_p, k=20)
    assert result["auc"] == pytest.approx(expected)
    assert 0.0 <= result["recall@20"] <= 1.0


def test_validation_recall_ranks_the_validation_positives_not_the_test_ones(ctx) -> None:
    """Vectors that know the validation positives exactly rank them all in the top 20
    (recall 1); vectors that know only the test positives do worse on validation. Seen
    products are left out, so a validation positive the customer already had is not
    counted against the vectors."""
    n_c, n_p = ctx.frame.num_customers, ctx.frame.num_products
    pairs = ctx.val.pairs
    z_c = np.zeros((n_c, n_p))
    for c, p, y in zip(
        pairs.customers.tolist(), pairs.products.tolist(), pairs.labels.tolist(), strict=True
    ):
        z_c[c, p] += y
    z_p = np.eye(n_p)
    assert routes.validation_cosine_recall(ctx, z_c, z_p, k=20) == 1.0
    test_c, test_p = _perfect_vectors(ctx)
    assert routes.validation_cosine_recall(ctx, test_c, test_p, k=20) < 1.0


def test_logistic_route_grid_matches_its_pair_scores(ctx) -> None:
    rng = np.random.default_rng(1)
    n_c, n_p = ctx.frame.num_customers, ctx.frame.num_products
    cat = ctx.frame.products["category"].to_numpy()
    z_p = np.eye(4)[cat] + rng.normal(0, 0.1, (n_p, 4))
    z_c = np.eye(4)[np.arange(n_c) % 4] + rng.normal(0, 0.1, (n_c, 4))  # planted favourites
    w, b = routes.fit_hadamard_logistic(ctx, z_c, z_p)
    result = routes.logistic_route(ctx, z_c, z_p, k=20)
    assert result["auc"] > 0.95  # favourites are what the planted pairs label
    row = int(ctx.rank_customers[0])
    grid = (z_c[[row]] * w) @ z_p.T + b
    np.testing.assert_allclose(grid[0, :3], (z_c[row] * z_p[:3]) @ w + b)


def test_table_and_final_line() -> None:
    rows = [
        peer.PeerRow("GDS FastRP + cosine", 0.76, 0.805, 0.05, 0.03, 40.0, "chosen on split 1"),
        peer.PeerRow("GDS FastRP + logistic regression", 0.777, 0.815, 0.08, math.nan, 41.0),
    ]
    student = peer.PeerRow("kgdistill mlp", 0.81234, 0.84, 0.12345, 0.07, 120.0)
    table = peer.format_table([*rows, student], k=20).splitlines()
    assert table[0] == "| model | AUC | AP | Recall@20 | NDCG@20 | wall s | note |"
    assert (
        table[2]
        == "| GDS FastRP + cosine | 0.760 | 0.805 | 0.050 | 0.030 | 40 | chosen on split 1 |"
    )
    assert "| n/a |" in table[3]
    assert peer.final_line(rows, student) == (
        "gds_best_auc=0.7770 gds_best_recall20=0.0800 "
        "kgdistill_student_auc=0.8123 kgdistill_student_recall20=0.1235"
    )


def test_kgdistill_rows_come_from_the_runs_report(tmp_path: Path) -> None:
    entry = {"auc": 0.8, "ap": 0.82, "recall@20": 0.1, "ndcg@20": 0.05, "train_seconds": 30.0}
    report = {
        "default_student": "mlp",
        "models": {
            "teacher": {**entry, "auc": 0.79},
            "mlp": {**entry, "per_seed": [{}, {}, {}]},
            "popular": entry,
        },
    }
    (tmp_path / "report.json").write_text(json.dumps(report))
    rows = peer.kgdistill_rows(Run("r1", tmp_path), k=20)
    assert [r.name for r in rows] == ["kgdistill teacher", "kgdistill mlp"]
    assert rows[0].auc == 0.79 and rows[1].recall == 0.1 and rows[1].seconds == 30.0
    assert "3 seeds" in rows[1].note
