"""The GDS-enabled Neo4j that `kgdistill peer gds` runs: OpenGDS fetched with Maven (once,
like the Neo4j jars; CI reaches Maven Central), a private instance, and the calls the
peer makes, on a tiny graph."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from kgdistill import peer, server
from kgdistill.server import settings_from_env
from kgstore import gds
from kgstore.connection import QueryRunner
from tests.conftest import managed_test_server
from tests.support.tiny import planted_frame

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

GRAPH = "tiny"


@pytest.fixture(scope="module")
def gds_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryRunner]:
    base = managed_test_server(str(tmp_path_factory.mktemp("gds")), "gds")
    jars = peer.provision_gds(base, progress=lambda m: None)
    cfg = replace(base, plugins=tuple(map(str, jars)), extra_conf=peer.GDS_CONF)
    server.start(cfg, progress=lambda m: None)
    try:
        with QueryRunner.connect(settings_from_env(cfg, environ={})) as runner:
            yield runner
    finally:
        server.stop(cfg, progress=lambda m: None)


@pytest.fixture(scope="module")
def frame():
    return planted_frame(customers=12, products=30, days=2, per_day=3)


def test_gds_answers_with_its_version(gds_runner: QueryRunner) -> None:
    assert gds.gds_version(gds_runner) == gds.GDS_VERSION


def test_projection_and_fastrp_on_a_tiny_graph(gds_runner: QueryRunner, frame) -> None:
    groups = gds.projection_groups(frame, {"Customer": {0: ("PeerC0",)}})
    sizes = gds.project(gds_runner, GRAPH, groups)
    pairs = frame.interactions[["customer", "product"]].drop_duplicates()
    n_nodes = frame.num_customers + frame.num_products + len(frame.categories) + 2
    rels = len(pairs) + frame.num_products + len(frame.categories) - 1  # brand -1: none
    assert sizes == {"nodes": n_nodes, "relationships": 2 * rels}  # undirected: both ways
    config = {"embeddingDimension": 16, "iterationWeights": [0.0, 1.0, 1.0], "randomSeed": 7}
    z_c, z_p = gds.fastrp(gds_runner, GRAPH, frame, config)
    assert z_c.shape == (frame.num_customers, 16) and z_p.shape == (frame.num_products, 16)
    assert np.abs(z_c).sum(axis=1).min() > 0  # every customer interacted: none is zero
    again, _ = gds.fastrp(gds_runner, GRAPH, frame, config)
    np.testing.assert_allclose(again, z_c, rtol=1e-5)  # seeded: the same vectors


def test_link_prediction_pipeline_scores_given_pairs(gds_runner: QueryRunner, frame) -> None:
    c, p = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2])
    marks, group = gds.pair_marks(c, p, groups=2)
    gds.project(gds_runner, GRAPH, gds.projection_groups(frame, marks))
    labels, types = gds.context_of(gds.projection_groups(frame))
    steps = {
        "fastrp": {
            "embeddingDimension": 8,
            "randomSeed": 7,
            "mutateProperty": "embedding",
            "contextNodeLabels": labels,
            "contextRelationshipTypes": types,
        },
        "split": {"testFraction": 0.2, "trainFraction": 0.3, "validationFolds": 2},
        "logistic": {},
        "forest": {"numberOfDecisionTrees": 3},
        "trials": 2,
    }
    trained = gds.train_link_prediction(gds_runner, GRAPH, "tiny_lp", steps, seed=7)
    assert trained["best"]["methodName"] in ("LogisticRegression", "RandomForest")
    said: list[str] = []
    scores, repeats = gds.predict_link_pairs(
        gds_runner, GRAPH, "tiny_lp", frame, (c, p, group), said.append
    )
    assert said[-1].startswith("predicted group 2/2")
    seen = set(zip(frame.interactions["customer"], frame.interactions["product"], strict=True))
    assert repeats == sum((a, b) in seen for a, b in zip(c, p, strict=True))
    assert ((scores > 0) & (scores <= 1)).all()
    gds.drop(gds_runner, GRAPH)


def test_a_failed_gds_call_is_one_clear_error(gds_runner: QueryRunner, frame) -> None:
    with pytest.raises(gds.GdsError, match=r"cypher/gds/stream_fastrp\.cypher failed: .*no_such"):
        gds.fastrp(gds_runner, "no_such_graph", frame, {"embeddingDimension": 8})


def test_every_gds_statement_plans_on_the_gds_server(gds_runner: QueryRunner) -> None:
    from tests.integration.test_cypher_statements import GDS, plans

    assert GDS, "no statement in cypher/gds/"
    for name in GDS:
        assert plans(gds_runner, name), name
