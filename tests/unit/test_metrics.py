"""Metrics against sklearn and hand values."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from distill.metrics import (
    agreement,
    auc,
    average_precision,
    count_parameters,
    median_latency_ms,
    ranking_metrics,
    state_dict_bytes,
)


def test_auc_and_ap_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    assert math.isnan(auc(np.ones(3), np.arange(3)))


def test_ranking_metrics_by_hand():
    # one customer, products scored [0.9, 0.1, 0.8, 0.3]; positives {2, 3} rank 2 and 3.
    # recall@2 = 1/2; NDCG@2 = (1/log2 3) / (1 + 1/log2 3) = 0.386853; MRR = 1/2.
    scores = np.array([[0.9, 0.1, 0.8, 0.3]])
    got = ranking_metrics(scores, [np.array([2, 3])], k=2)
    assert got["recall@2"] == pytest.approx(0.5)
    assert got["ndcg@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert got["ndcg@2"] == pytest.approx(0.386853, abs=1e-6)
    assert got["mrr"] == pytest.approx(0.5)
    # excluding product 0 (seen in training) lifts both positives one rank
    ex = ranking_metrics(scores, [np.array([2, 3])], k=2, exclude=[np.array([0])])
    assert ex["recall@2"] == pytest.approx(1.0)
    assert ex["ndcg@2"] == pytest.approx(1.0)
    assert ex["mrr"] == pytest.approx(1.0)


def test_agreement_by_hand():
    assert agreement(np.array([1.0, -1.0, 2.0, -3.0]), np.array([0.5, 0.5, 1.0, -1.0])) == 0.75


def test_size_and_latency():
    model = torch.nn.Linear(3, 2)
    assert count_parameters(model) == 8
    assert state_dict_bytes(model) > 8 * 4
    calls = []
    ms = median_latency_ms(lambda: calls.append(1), runs=3, warmup=1)
    assert len(calls) == 4 and ms >= 0.0
