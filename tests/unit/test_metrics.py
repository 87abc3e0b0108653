"""Metrics against sklearn, hand values and brute force over tie orders."""

import itertools
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
    rank_rows,
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


def _d(n: int) -> float:
    """D(n) = sum over r = 1..n of 1/log2(r + 1)."""
    return sum(1 / math.log2(r + 1) for r in range(1, n + 1))


def test_all_tied_scores_give_recall_k_over_p_not_one():
    # The report once showed Recall@20 1.0 and NDCG@20 1.1264 for a heuristic whose scores
    # all tied. Ten products, three positives, K = 4: each positive lands in the top 4 with
    # probability 4/10, and each of ranks 1..10 is equally likely.
    got = ranking_metrics(np.zeros((1, 10)), [np.array([2, 5, 7])], k=4)
    assert got["recall@4"] == pytest.approx(4 / 10, rel=1e-15)  # (0.4 * 3) / 3 rounds
    assert ranking_metrics(np.ones((1, 8)), [np.array([3])], k=2)["recall@2"] == 2 / 8
    assert got["ndcg@4"] == pytest.approx(3 * _d(4) / 10 / _d(3))
    # first of 3 positives among 10 tied: P(first at j) = C(10 - j, 2) / C(10, 3)
    mrr = sum(math.comb(10 - j, 2) / math.comb(10, 3) / j for j in range(1, 9))
    assert got["mrr"] == pytest.approx(mrr)


def test_one_positive_tied_with_three_others_at_the_top():
    # ranks 1..4 equally likely: in the top 2 half the time
    scores = np.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]])
    got = ranking_metrics(scores, [np.array([2])], k=2)
    assert got["recall@2"] == 0.5
    assert got["ndcg@2"] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert got["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)


def test_a_tie_below_better_items_counts_only_its_share_of_the_top_k():
    # product 0 above; positive 3 tied with 1 and 2 for ranks 2..4; K = 3 -> 2 of 3 places
    scores = np.array([[5.0, 2.0, 2.0, 2.0, 1.0]])
    got = ranking_metrics(scores, [np.array([3])], k=3)
    assert got["recall@3"] == pytest.approx(2 / 3)
    assert got["ndcg@3"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 3)
    assert got["mrr"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3)


def test_a_positive_listed_twice_counts_once():
    scores = np.array([[0.9, 0.1, 0.8, 0.3]])
    once = ranking_metrics(scores, [np.array([2, 3])], k=2)
    assert ranking_metrics(scores, [np.array([3, 2, 2, 3])], k=2) == once


def test_rows_without_positives_are_skipped():
    scores = np.array([[0.9, 0.1, 0.8, 0.3], [0.0, 0.0, 0.0, 0.0]])
    recalls, ndcgs, rrs = rank_rows(scores, [np.array([], np.int64), np.array([1])], k=2)
    assert recalls == [0.5] and ndcgs == [pytest.approx(1 / 4 * (1 + 1 / math.log2(3)))]
    assert rrs == [pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)]
    empty = ranking_metrics(scores, [np.array([]), np.array([0])], k=2, exclude=[[], [0]])
    assert all(math.isnan(v) for v in empty.values())
    assert all(math.isnan(v) for v in ranking_metrics(np.zeros((0, 3)), [], k=2).values())


def test_excluded_items_leave_the_ranking_positives_among_them_included():
    # products 0 and 1 (seen in training) excluded: positive 1 dropped, and the tie of
    # positive 3 with product 0 is gone -> rank 1 of {2, 3, 4}
    scores = np.array([[0.7, 0.9, 0.2, 0.7, 0.1]])
    got = ranking_metrics(scores, [np.array([1, 3])], k=1, exclude=[np.array([0, 1, 1])])
    assert got == {"recall@1": 1.0, "ndcg@1": 1.0, "mrr": 1.0}
    # without exclusion: positive 1 at rank 1, positive 3 tied with 0 for ranks 2..3
    got = ranking_metrics(scores, [np.array([1, 3])], k=2)
    assert got["recall@2"] == pytest.approx((1 + 1 / 2) / 2)
    assert got["ndcg@2"] == pytest.approx((1 + 0.5 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert got["mrr"] == 1.0


def test_nan_scores_are_an_error_unless_excluded():
    scores = np.array([[0.5, np.nan, 0.2]])
    with pytest.raises(ValueError, match=r"NaN at 1 column\(s\).*\[1\]"):
        ranking_metrics(scores, [np.array([0])], k=2)
    got = ranking_metrics(scores, [np.array([0])], k=1, exclude=[np.array([1])])
    assert got["recall@1"] == 1.0
    # -inf is what a caller writes to rank something last: it ties with other -inf only
    inf = np.array([[-np.inf, 0.1, -np.inf, -np.inf]])
    assert ranking_metrics(inf, [np.array([0])], k=2)["recall@2"] == pytest.approx(1 / 3)


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        rank_rows(np.zeros((1, 3)), [np.array([3])])
    with pytest.raises(ValueError, match=r"exclude\[0\] holds column -1"):
        rank_rows(np.zeros((1, 3)), [np.array([0])], exclude=[np.array([-1])])
    with pytest.raises(ValueError, match="one positives array per row"):
        rank_rows(np.zeros((2, 3)), [np.array([0])])
    with pytest.raises(ValueError, match="k must be at least 1"):
        rank_rows(np.zeros((1, 3)), [np.array([0])], k=0)


def _brute_force(
    row: np.ndarray, pos: set[int], excluded: set[int], k: int
) -> tuple[float, float, float]:
    """Recall@K, NDCG@K and reciprocal rank averaged over every order of the tied items:
    each permutation of the live items is a tie-breaking priority."""
    live = np.array([i for i in range(len(row)) if i not in excluded])
    s = row[live]
    is_pos = np.isin(live, sorted(pos))
    perms = np.array(list(itertools.permutations(range(len(live)))))  # [n!, n]
    higher = s[None, :] > s[:, None]  # [i, j]: j above i
    tied_before = (s[None, :] == s[:, None])[None] & (perms[:, None, :] < perms[:, :, None])
    ranks = 1 + higher.sum(axis=1)[None, :] + tied_before.sum(axis=2)  # [n!, n]
    pos_ranks = ranks[:, is_pos]
    gain = np.where(pos_ranks <= k, 1 / np.log2(pos_ranks + 1), 0.0).sum(axis=1)
    recall = (pos_ranks <= k).sum(axis=1) / len(pos)
    ideal = _d(min(k, len(pos)))
    return recall.mean(), (gain / ideal).mean(), (1 / pos_ranks.min(axis=1)).mean()


def test_expected_metrics_equal_the_average_over_every_order_of_the_ties():
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2, 8))
        row = rng.integers(0, 3, n).astype(np.float64)  # few values: many ties
        excluded = set(rng.choice(n, int(rng.integers(0, 3)), replace=False).tolist())
        pos = set(rng.choice(n, int(rng.integers(1, n + 1)), replace=True).tolist()) - excluded
        if not pos or n - len(excluded) > 6:
            continue
        k = int(rng.integers(1, n + 2))
        recalls, ndcgs, rrs = rank_rows(
            row[None, :], [np.array(sorted(pos))], k, [np.array(sorted(excluded), np.int64)]
        )
        want = _brute_force(row, pos, excluded, k)
        assert (recalls[0], ndcgs[0], rrs[0]) == pytest.approx(want, abs=1e-12), seed


def test_metrics_stay_in_range_with_many_ties():
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        n_rows, n = int(rng.integers(1, 16)), int(rng.integers(1, 300))
        scores = rng.integers(0, int(rng.integers(1, 5)), (n_rows, n)).astype(np.float32)
        positives = [rng.integers(0, n, int(rng.integers(0, 40))) for _ in range(n_rows)]
        exclude = [rng.integers(0, n, int(rng.integers(0, 10))) for _ in range(n_rows)]
        k = int(rng.integers(1, 60))
        for values in rank_rows(scores, positives, k, exclude):
            assert all(0.0 <= v <= 1.0 + 1e-12 for v in values), seed


def test_agreement_by_hand():
    assert agreement(np.array([1.0, -1.0, 2.0, -3.0]), np.array([0.5, 0.5, 1.0, -1.0])) == 0.75


def test_size_and_latency():
    model = torch.nn.Linear(3, 2)
    assert count_parameters(model) == 8
    assert state_dict_bytes(model) > 8 * 4
    calls = []
    ms = median_latency_ms(lambda: calls.append(1), runs=3, warmup=1)
    assert len(calls) == 4 and ms >= 0.0
