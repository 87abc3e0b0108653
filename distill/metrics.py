"""Quality, agreement and cost of a model: AUC, AP, Recall@K, NDCG@K, MRR, latency, size."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC; NaN when only one class is present."""
    labels = np.asarray(labels)
    if labels.min() == labels.max():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    labels = np.asarray(labels)
    if labels.max() == 0:
        return float("nan")
    return float(average_precision_score(labels, scores))


def _columns(values: np.ndarray | None, width: int, what: str, row: int) -> np.ndarray:
    """Sorted unique int64 columns, each checked to lie in 0..width-1."""
    cols = np.unique(np.asarray(values if values is not None else [], dtype=np.int64))
    if len(cols) and (cols[0] < 0 or cols[-1] >= width):
        bad = cols[0] if cols[0] < 0 else cols[-1]
        raise ValueError(f"{what}[{row}] holds column {bad}, outside 0..{width - 1}")
    return cols


def _tie_counts(live: np.ndarray, pos_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each positive score: items scored strictly higher (g) and items scored equal,
    the positive itself included (e). One sort of the row, then two binary searches.

    Shapes: ``live`` [P'] (the row without excluded items), ``pos_scores`` [n] ->
    (g [n], e [n]) int64.
    """
    ordered = np.sort(live)
    higher_or_equal_end = np.searchsorted(ordered, pos_scores, side="right")
    equal_start = np.searchsorted(ordered, pos_scores, side="left")
    return len(ordered) - higher_or_equal_end, higher_or_equal_end - equal_start


def _expected_reciprocal_rank(g: int, e: int, m: int) -> float:
    """E[1 / rank of the first positive] when the m best positives tie with e - m other
    items right below g items scored higher, every order of the tie equally likely (exact).

    The first positive's place X in the tie is the smallest of m places drawn without
    replacement from 1..e: P(X = 1) = m / e, P(X = j + 1) / P(X = j) = (e - j - m + 1) / (e - j),
    and E = sum over j = 1..e - m + 1 of P(X = j) / (g + j). For m = e it is 1 / (g + 1).
    """
    j = np.arange(1, e - m + 2, dtype=np.float64)
    ratios = (e - j[:-1] - m + 1) / (e - j[:-1])
    probs = (m / e) * np.concatenate(([1.0], np.cumprod(ratios)))
    return float((probs / (g + j)).sum())


def _row_metrics(
    row: np.ndarray, pos: np.ndarray, excluded: np.ndarray, k: int, gains: np.ndarray
) -> tuple[float, float, float]:
    """Expected recall@K, NDCG@K and reciprocal rank of one row (see :func:`ranking_metrics`).

    Shapes: ``row`` [P] float64; ``pos`` [n >= 1] and ``excluded`` [x] sorted unique columns,
    disjoint; ``gains`` [K + 1] with ``gains[n]`` = sum of 1/log2(r + 1) for r = 1..n.
    """
    live = row
    if len(excluded):
        keep = np.ones(len(row), dtype=bool)
        keep[excluded] = False
        live = row[keep]
    if np.isnan(live).any():
        nan = np.isnan(row)
        nan[excluded] = False
        bad = np.flatnonzero(nan)
        raise ValueError(
            f"scores hold NaN at {len(bad)} column(s) not excluded (first: {bad[:5].tolist()}):"
            " a model that outputs NaN is broken; fix it, or set those scores to -inf to rank"
            " them last"
        )
    pos_scores = row[pos]
    g, e = _tie_counts(live, pos_scores)
    hits = np.clip((k - g) / e, 0.0, 1.0)
    dcg = (gains[np.minimum(g + e, k)] - gains[np.minimum(g, k)]) / e
    best = int(np.argmax(pos_scores))
    tied_best = int((pos_scores == pos_scores[best]).sum())
    rr = _expected_reciprocal_rank(int(g[best]), int(e[best]), tied_best)
    return float(hits.sum() / len(pos)), float(dcg.sum() / gains[min(k, len(pos))]), rr


def rank_rows(
    scores: np.ndarray,
    positives: list[np.ndarray],
    k: int = 20,
    exclude: list[np.ndarray] | None = None,
) -> tuple[list[float], list[float], list[float]]:
    """Per-row expected recall@K, NDCG@K and reciprocal rank, ties at their expected value
    (formulas in :func:`ranking_metrics`). Rows with no positive left are skipped.

    Shapes: ``scores`` [C, P]; ``positives`` and ``exclude`` C arrays of columns each ->
    three lists of equal length <= C. Raises ``ValueError`` on NaN among the scores that
    are not excluded, on a column outside 0..P-1, and when the lengths disagree.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(positives) != scores.shape[0]:
        raise ValueError(
            f"scores must be [C, P] with one positives array per row; got shape "
            f"{scores.shape} and {len(positives)} positives arrays"
        )
    if exclude is not None and len(exclude) != len(positives):
        raise ValueError(f"exclude has {len(exclude)} arrays for {len(positives)} rows")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n_p = scores.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    gains = np.concatenate(([0.0], np.cumsum(discounts)))
    recalls: list[float] = []
    ndcgs: list[float] = []
    rrs: list[float] = []
    for row, pos in enumerate(positives):
        ex = _columns(exclude[row] if exclude is not None else None, n_p, "exclude", row)
        pos = np.setdiff1d(_columns(pos, n_p, "positives", row), ex, assume_unique=True)
        if len(pos) == 0:
            continue
        recall, ndcg, rr = _row_metrics(scores[row], pos, ex, k, gains)
        recalls.append(recall)
        ndcgs.append(ndcg)
        rrs.append(rr)
    return recalls, ndcgs, rrs


def ranking_metrics(
    scores: np.ndarray,
    positives: list[np.ndarray],
    k: int = 20,
    exclude: list[np.ndarray] | None = None,
) -> dict[str, float]:
    """Recall@K, NDCG@K and MRR of full rankings, averaged over customers (rows), each tie
    counted at its expected value under a uniformly random order of the tied items.

    ``scores`` [C, P]: every product scored for each of C customers; ``positives[c]``: the
    product columns that customer interacted with (a column listed twice counts once);
    ``exclude[c]``: columns dropped from the ranking (e.g. products seen in training), as if
    absent, positives among them included. A row with no positive left is skipped; NaN
    among the scores not excluded is an error (``ValueError``), never a silent rank.

    For a positive with g items scored strictly higher and e scored equal (itself included),
    its rank is uniform on g+1..g+e, so with D(n) = sum over r = 1..n of 1/log2(r + 1):

    - E[hit@K] = clip((K - g) / e, 0, 1); Recall@K = sum of E[hit@K] / |pos|.
    - E[gain] = (D(min(g + e, K)) - D(min(g, K))) / e; NDCG@K = sum of E[gain] /
      D(min(K, |pos|)).
    - MRR: the exact E[1 / rank] of the first positive (see ``_expected_reciprocal_rank``).

    Both stay in [0, 1]: every order of the ties gives DCG <= D(min(K, |pos|)) (the
    positives hold distinct ranks and 1/log2(r + 1) falls with r) and at most min(K, |pos|)
    hits, and an expectation is an average of such orders. All P scores tied (K <= P):
    Recall@K = K/P.
    """
    recalls, ndcgs, rrs = rank_rows(scores, positives, k, exclude)
    if not recalls:
        return {f"recall@{k}": float("nan"), f"ndcg@{k}": float("nan"), "mrr": float("nan")}
    return {
        f"recall@{k}": float(np.mean(recalls)),
        f"ndcg@{k}": float(np.mean(ndcgs)),
        "mrr": float(np.mean(rrs)),
    }


def agreement(
    teacher_scores: np.ndarray, student_scores: np.ndarray, threshold: float = 0.0
) -> float:
    """Share of pairs on which teacher and student predict the same class
    (logit above ``threshold`` = interaction)."""
    t = np.asarray(teacher_scores) > threshold
    s = np.asarray(student_scores) > threshold
    return float((t == s).mean())


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the weights as stored on disk."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def median_latency_ms(run: Callable[[], object], runs: int = 5, warmup: int = 1) -> float:
    """Median wall time in ms of ``run()`` over ``runs`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))
