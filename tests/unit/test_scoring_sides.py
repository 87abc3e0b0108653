"""Scoring a snapshot's pairs and ranking its validation customers read each node's
structural vector from the graph (half precision, never appended to its row): the
same logits, recall and calibrated weight as through :meth:`LinkPredictor.embeddings`,
whose rows carry the vectors in float32."""

from __future__ import annotations

import numpy as np
import torch

from distill.artifact import build_model
from distill.config import KDConfig, StructureConfig, StudentConfig, TaskConfig
from distill.data import FeatureEncoder
from distill.metrics import rank_rows
from distill.tasks import link_snapshots
from distill.train import (
    RANK_CALIBRATION_K,
    RANK_SCALES,
    _ValRanking,
    calibrate_rank_structure,
    score_snapshot,
    teacher_shortlist,
)
from tests.support.tiny import planted_frame


def _setup():
    frame = planted_frame()
    enc = FeatureEncoder.fit(frame, StructureConfig(dim=32).encoder_settings())
    rng = np.random.default_rng(0)
    snaps = link_snapshots(
        frame, enc, TaskConfig(snapshots=2), KDConfig(candidates_per_pair=0), rng
    )
    spec = StudentConfig(kind="mlp", hidden=8, customer_id_dim=4, product_id_dim=4).spec()
    torch.manual_seed(0)
    model = build_model(spec, enc, frame.num_customers, frame.num_products).eval()
    assert model.decoder.struct_dim == 32
    with torch.no_grad():  # a cosine weight that matters, so a missing cosine shows
        model.decoder.struct_weight.fill_(3.0)
    return model, snaps[1]


def _grid(model, val, rows: np.ndarray) -> np.ndarray:
    f = val.history.pair_features_grid(rows)
    with torch.no_grad():
        z_c, z_p = model.embeddings(val.graph)
        return model.decoder.rank_grid(z_c[rows], z_p, f.reshape(-1, f.shape[-1])).numpy()


def test_pair_logits_are_those_of_the_appended_rows(monkeypatch) -> None:
    import distill.train as train_module

    model, val = _setup()
    # many batches of each size, the last ones short
    monkeypatch.setattr(train_module, "SCORE_BATCH", 11)
    monkeypatch.setattr(train_module, "COSINE_BATCH", 7)
    assert len(val.pairs) % 11 and len(val.pairs) % 7
    assert val.graph["customer"].struct.dtype == torch.float16
    pairs = val.pairs
    with torch.no_grad():
        z_c, z_p = model.embeddings(val.graph)
        expected = model.decoder(z_c[pairs.customers], z_p[pairs.products], pairs.features)
        # without the cosine the logits differ: the comparison below can fail
        h_c, h_p = model.learnt(val.graph)
        bare = model.decoder.logit_of(
            h_c[pairs.customers], h_p[pairs.products], pairs.features, torch.zeros(len(pairs))
        )
    assert not torch.allclose(bare, expected, atol=1e-3)
    torch.testing.assert_close(score_snapshot(model, val), expected, rtol=1e-6, atol=1e-6)


def test_validation_recall_and_calibration_match_the_appended_rows() -> None:
    model, val = _setup()
    ranking = _ValRanking.of(val)
    grid = _grid(model, val, ranking.customers)
    by_hand = rank_rows(grid, ranking.positives, RANK_CALIBRATION_K, ranking.exclude)[0]
    assert ranking.recall(model, val, RANK_CALIBRATION_K) == float(np.mean(by_hand))

    # the scale calibration picks what the same grids, built from the appended rows, pick
    decoder = model.decoder
    decoder.rank_struct_scale.fill_(1.0)
    at_one = _grid(model, val, ranking.customers)
    with torch.no_grad():
        z_c, z_p = model.embeddings(val.graph)
        s_c, s_p = decoder.split(z_c)[1], decoder.split(z_p)[1]
        cosine = (decoder.struct_weight * (s_c[ranking.customers] @ s_p.T)).numpy()
    recalls = {
        m: float(
            np.mean(
                rank_rows(
                    at_one + (m - 1.0) * cosine,
                    ranking.positives,
                    RANK_CALIBRATION_K,
                    ranking.exclude,
                )[0]
            )
        )
        for m in RANK_SCALES
    }
    best = max(RANK_SCALES, key=lambda m: (recalls[m], -m))
    assert calibrate_rank_structure(model, val) == best


def test_a_shortlist_is_the_top_of_the_appended_rows_ranking() -> None:
    model, val = _setup()
    short = teacher_shortlist(model, val, 5)
    assert short is not None
    customers = np.flatnonzero(short.rows >= 0)
    grid = torch.as_tensor(_grid(model, val, customers))
    for i, seen in enumerate(val.history.seen_columns(customers)):
        grid[i, torch.as_tensor(seen, dtype=torch.long)] = float("-inf")
    want = grid.topk(5, dim=1)
    rows = short.rows[customers]
    torch.testing.assert_close(short.logits[rows], want.values, rtol=1e-6, atol=1e-6)
