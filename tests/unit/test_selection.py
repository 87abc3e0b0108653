"""Which weights a link model keeps: the best validation AUC, or the best validation
Recall@20 over the whole catalogue (``[teacher] select``, distill.train.selection)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from distill.artifact import build_model
from distill.config import KDConfig, StudentConfig, TaskConfig, TeacherConfig, TrainConfig
from distill.data import FeatureEncoder
from distill.metrics import rank_rows
from distill.tasks import link_snapshots
from distill.train import (
    RANK_CALIBRATION_K,
    SELECT_RECALL_CUSTOMERS,
    _val_auc,
    selection,
    train_link_model,
)
from tests.support.tiny import planted_frame


def _setup():
    frame = planted_frame()
    enc = FeatureEncoder.fit(frame)
    rng = np.random.default_rng(0)
    snaps = link_snapshots(
        frame, enc, TaskConfig(snapshots=2), KDConfig(candidates_per_pair=0), rng
    )
    spec = StudentConfig(kind="mlp", hidden=8, customer_id_dim=4, product_id_dim=4).spec()
    model = build_model(spec, enc, frame.num_customers, frame.num_products)
    return model, snaps[:1], snaps[1]


def _recall_by_hand(model, val) -> float:
    """Mean Recall@20 of every validation customer with a positive (the tiny shop has
    fewer than the sample size), seen products left out, through rank_grid."""
    pairs = val.pairs
    y = pairs.labels.numpy() == 1
    c, p = pairs.customers.numpy()[y], pairs.products.numpy()[y]
    rows = np.unique(c)
    f = val.history.pair_features_grid(rows)
    with torch.no_grad():
        z_c, z_p = model.eval().embeddings(val.graph)
        grid = model.decoder.rank_grid(z_c[rows], z_p, f.reshape(-1, f.shape[-1]))
    positives = [p[c == r] for r in rows]
    exclude = val.history.seen_columns(rows)
    return float(np.mean(rank_rows(grid.numpy(), positives, RANK_CALIBRATION_K, exclude)[0]))


def test_auto_selects_by_recall_from_enough_validation_customers() -> None:
    _, _, val = _setup()
    customers = np.unique(val.pairs.customers.numpy()[val.pairs.labels.numpy() == 1])
    assert 0 < len(customers) < SELECT_RECALL_CUSTOMERS
    assert selection("auto", val) == "auc"
    assert selection("recall", val) == "recall" and selection("auc", val) == "auc"
    many = len(customers)

    import distill.train as train_module

    try:
        train_module.SELECT_RECALL_CUSTOMERS = many
        assert selection("auto", val) == "recall"
        train_module.SELECT_RECALL_CUSTOMERS = many + 1
        assert selection("auto", val) == "auc"
    finally:
        train_module.SELECT_RECALL_CUSTOMERS = SELECT_RECALL_CUSTOMERS


@pytest.mark.parametrize("select", ["recall", "auc"])
def test_the_kept_weights_are_those_of_the_best_validation_figure(select: str) -> None:
    """Every check's figure is in the curve; the kept weights are the best check's (their
    figure, recomputed by hand, is the curve's maximum), and their validation AUC is
    reported beside it."""
    model, snaps, val = _setup()
    result = train_link_model(
        model,
        snaps,
        val,
        lr=0.05,
        weight_decay=0.0,
        epochs=12,
        train=TrainConfig(progress=False, eval_every=1, patience=100, pretrain_epochs=2),
        select=select,
    )
    assert result.selected_by == select
    figures = [value for _, _, value in result.curve]
    assert len(set(figures)) > 1  # the figure moves from check to check
    assert result.best_val == max(figures)
    assert result.best_epoch == result.curve[figures.index(max(figures))][0]
    scale = model.decoder.rank_struct_scale
    if scale is not None:  # calibrated after the loop; the loop ranked at 1.0
        scale.fill_(1.0)
    expected = _recall_by_hand(model, val) if select == "recall" else _val_auc(model, val)
    assert expected == pytest.approx(result.best_val, abs=1e-9)
    assert result.val_auc == pytest.approx(_val_auc(model, val), abs=1e-12)


def test_select_is_checked_and_the_teacher_defaults_to_auto() -> None:
    assert TeacherConfig().select == "auto"
    assert StudentConfig().select == "auc"
    with pytest.raises(ValueError, match="select"):
        replace(TeacherConfig(), select="ndcg")
