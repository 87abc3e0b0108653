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


def rank_rows(
    scores: np.ndarray,
    positives: list[np.ndarray],
    k: int = 20,
    exclude: list[np.ndarray] | None = None,
) -> tuple[list[float], list[float], list[float]]:
    """Per-customer recall@K, NDCG@K and reciprocal rank (see :func:`ranking_metrics`);
    customers with no positive left are skipped."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    recalls: list[float] = []
    ndcgs: list[float] = []
    rrs: list[float] = []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for row, pos in enumerate(positives):
        pos = np.unique(np.asarray(pos, np.int64))
        if exclude is not None and len(exclude[row]):
            ex = np.unique(np.asarray(exclude[row], np.int64))
            scores[row, ex] = -np.inf
            pos = np.setdiff1d(pos, ex)
        if len(pos) == 0:
            continue
        s = scores[row]
        # rank of a positive = 1 + number of products scored strictly higher (ties favour it)
        ranks = 1 + (s[None, :] > s[pos][:, None]).sum(axis=1)
        hits = np.sort(ranks[ranks <= k])
        recalls.append(len(hits) / len(pos))
        ideal = discounts[: min(k, len(pos))].sum()
        ndcgs.append(float(discounts[hits - 1].sum() / ideal) if len(hits) else 0.0)
        rrs.append(1.0 / float(ranks.min()))
    return recalls, ndcgs, rrs


def ranking_metrics(
    scores: np.ndarray,
    positives: list[np.ndarray],
    k: int = 20,
    exclude: list[np.ndarray] | None = None,
) -> dict[str, float]:
    """Recall@K, NDCG@K and MRR of full rankings, averaged over customers (rows).

    ``scores`` [C, P]: every product scored for each of C customers; ``positives[c]``:
    the product columns that customer interacted with; ``exclude[c]``: columns to drop
    from the ranking (e.g. products seen in training), positives among them included.
    Recall@K = |top-K ∩ pos| / |pos|; NDCG@K = sum over hits at rank r of 1/log2(r+1),
    divided by the ideal sum over min(K, |pos|) ranks; MRR = 1 / rank of the first positive.
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
