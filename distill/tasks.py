"""Tasks: what is predicted, from which graph, with which pairs or nodes.

Link prediction ("customer will interact with product") is trained on temporal
snapshots: for each of the last few days ``d`` of the frame, the graph and the pair
features use only interactions before ``d``, the positives are the (customer,
product) pairs of day ``d`` (of the configured target types) and the negatives are
sampled for the same customers. That is the shape of the evaluation (the EComm test
pairs come from the day after the training window), and it keeps the pair features
honest: a training pair never sees its own interaction.

Every snapshot also carries unlabelled candidate pairs that only the teacher labels
(soft targets); :func:`prediction_snapshot` adds candidates on the full graph, the
one the student will be evaluated on, without any labels.

Node classification (e.g. a product's category when it is listed without one)
reuses the graph and the same losses: :func:`product_category_task`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from distill.config import KDConfig, TaskConfig
from distill.data import FeatureEncoder, History, build_graph
from kgframe import GraphFrame

IGNORE = -100  # label of an unlabelled candidate pair (ignored by the hard loss)


@dataclass
class PairBatch:
    """Pairs on one graph. ``labels``: 1 / 0, or :data:`IGNORE` for candidates.

    Shapes: customers, products, labels [N] int64; features [N, F] float32.
    """

    customers: Tensor
    products: Tensor
    labels: Tensor
    features: Tensor

    def __len__(self) -> int:
        return int(self.customers.numel())


@dataclass
class Snapshot:
    """One graph, its history, and the pairs scored on it. ``cosines``: the pairs'
    structural cosines from the graph's vectors, kept by
    :func:`distill.train.snapshot_cosines` the first time a model asks (every model of a
    run trains on the same snapshots)."""

    graph: HeteroData
    history: History
    pairs: PairBatch
    before_day: int | None
    cosines: Tensor | None = field(default=None, init=False, repr=False, compare=False)


def target_days(frame: GraphFrame, count: int) -> list[int]:
    days = sorted(int(d) for d in frame.interactions["day"].unique())
    if count < 1 or len(days) < 2:
        raise ValueError(f"need >= 1 snapshot and >= 2 days of interactions, got {len(days)} days")
    return days[max(1, len(days) - count) :]


def make_pairs(
    history: History, customers: np.ndarray, products: np.ndarray, labels: np.ndarray
) -> PairBatch:
    return PairBatch(
        customers=torch.tensor(np.asarray(customers, np.int64)),
        products=torch.tensor(np.asarray(products, np.int64)),
        labels=torch.tensor(np.asarray(labels, np.int64)),
        features=history.pair_features(customers, products),
    )


def sample_negatives(
    customers: np.ndarray,
    positive_keys: np.ndarray,
    pool: np.ndarray,
    num_products: int,
    rng: np.random.Generator,
    tries: int = 5,
) -> np.ndarray:
    """For each customer, a product from ``pool`` (uniform over the pool's entries, so a
    pool with repeats is popularity-weighted) that is not one of its positives."""
    products = pool[rng.integers(0, len(pool), len(customers))]
    for _ in range(tries):
        clash = np.isin(customers * num_products + products, positive_keys)
        if not clash.any():
            break
        products[clash] = pool[rng.integers(0, len(pool), int(clash.sum()))]
    return products


def link_snapshots(
    frame: GraphFrame,
    encoder: FeatureEncoder,
    task: TaskConfig,
    kd: KDConfig,
    rng: np.random.Generator,
) -> list[Snapshot]:
    """Labelled snapshots (positives, negatives, then unlabelled candidates) for training."""
    inter = frame.interactions
    snapshots = []
    n_p = frame.num_products
    for day in target_days(frame, task.snapshots):
        today = inter.loc[(inter["day"].to_numpy() == day) & inter["type"].isin(task.target_types)]
        keys = np.unique(
            today["customer"].to_numpy(np.int64) * n_p + today["product"].to_numpy(np.int64)
        )
        pos_c, pos_p = keys // n_p, keys % n_p
        if task.negatives == "popularity":
            pool = pos_p
        elif task.negatives == "uniform":
            pool = np.arange(n_p)
        else:
            raise ValueError(f"negatives must be 'popularity' or 'uniform', got {task.negatives!r}")
        neg_c = np.repeat(pos_c, task.negatives_per_positive)
        neg_p = sample_negatives(neg_c, keys, pool, n_p, rng)
        cand_c, cand_p = _candidates(
            pos_c,
            pos_p,
            n_p,
            round(kd.candidates_per_pair * (len(keys) + len(neg_c))),
            kd.candidate_sampling,
            rng,
        )
        history = History.from_frame(frame, before_day=day)
        customers = np.concatenate([pos_c, neg_c, cand_c])
        products = np.concatenate([pos_p, neg_p, cand_p])
        labels = np.concatenate(
            [np.ones(len(pos_c)), np.zeros(len(neg_c)), np.full(len(cand_c), IGNORE)]
        ).astype(np.int64)
        snapshots.append(
            Snapshot(
                graph=build_graph(frame, encoder, before_day=day),
                history=history,
                pairs=make_pairs(history, customers, products, labels),
                before_day=day,
            )
        )
    return snapshots


def _candidates(
    customer_pool: np.ndarray,
    product_pool: np.ndarray,
    num_products: int,
    count: int,
    sampling: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` unlabelled pairs: customers from ``customer_pool``; products uniform over
    the catalogue, from ``product_pool`` (popularity), or half and half (``mixed``)."""
    if count <= 0 or len(customer_pool) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    customers = customer_pool[rng.integers(0, len(customer_pool), count)]
    uniform = rng.integers(0, num_products, count)
    popular = product_pool[rng.integers(0, len(product_pool), count)]
    if sampling == "uniform":
        products = uniform
    elif sampling == "popularity":
        products = popular
    elif sampling == "mixed":
        products = np.where(rng.random(count) < 0.5, uniform, popular)
    else:
        raise ValueError(f"candidate_sampling must be mixed|uniform|popularity, got {sampling!r}")
    return customers.astype(np.int64), products.astype(np.int64)


def prediction_snapshot(
    frame: GraphFrame,
    encoder: FeatureEncoder,
    kd: KDConfig,
    count: int,
    rng: np.random.Generator,
) -> Snapshot:
    """Unlabelled candidates on the full graph (the one predictions are made on):
    customers weighted by recent activity, products as in :func:`_candidates` with
    recent interactions as the popularity pool."""
    inter = frame.interactions
    recent_days = sorted(inter["day"].unique())[-2:]
    recent = inter.loc[inter["day"].isin(recent_days)]
    cust_pool = recent["customer"].to_numpy(np.int64)
    prod_pool = recent["product"].to_numpy(np.int64)
    if len(cust_pool) == 0:
        cust_pool = np.arange(frame.num_customers)
        prod_pool = np.arange(frame.num_products)
    c, p = _candidates(cust_pool, prod_pool, frame.num_products, count, kd.candidate_sampling, rng)
    history = History.from_frame(frame)
    return Snapshot(
        graph=build_graph(frame, encoder),
        history=history,
        pairs=make_pairs(history, c, p, np.full(len(c), IGNORE, np.int64)),
        before_day=None,
    )


# -- node classification ------------------------------------------------------------


@dataclass
class NodeTask:
    """Classify one node type. ``labels`` [N] int64 (-1 unknown); masks [N] bool."""

    graph: HeteroData
    node_type: str
    labels: Tensor
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    num_classes: int


def product_category_task(
    frame: GraphFrame,
    encoder: FeatureEncoder,
    *,
    hidden_fraction: float = 0.3,
    rng: np.random.Generator,
) -> NodeTask:
    """Predict a product's leaf category from everything but its category.

    A random ``hidden_fraction`` of the categorised products lose their category (the
    feature and the ``in_category`` edge) and become the labelled set, split 60/20/20
    into train/val/test; the rest keep theirs and give context through the graph.
    """
    category = frame.products["category"].to_numpy(np.int64)
    known = np.nonzero(category >= 0)[0]
    hidden = rng.permutation(known)[: max(3, int(len(known) * hidden_fraction))]
    products = frame.products.copy()
    products.loc[hidden, "category"] = -1
    masked = GraphFrame(
        frame.customers, products, frame.categories, frame.brands, frame.interactions
    )
    n = frame.num_products
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    cut1, cut2 = int(0.6 * len(hidden)), int(0.8 * len(hidden))
    for mask, rows in zip(masks, (hidden[:cut1], hidden[cut1:cut2], hidden[cut2:]), strict=True):
        mask[torch.as_tensor(rows, dtype=torch.long)] = True
    return NodeTask(
        graph=build_graph(masked, encoder),
        node_type="product",
        labels=torch.tensor(np.array(category, np.int64)),
        train_mask=masks[0],
        val_mask=masks[1],
        test_mask=masks[2],
        num_classes=len(frame.categories),
    )


def ids_to_rows(index: pd.Index, ids: Sequence[Any] | np.ndarray, what: str) -> np.ndarray:
    """Business ids -> rows; unknown ids raise a KeyError naming them."""
    rows = index.get_indexer(list(ids))
    if (rows < 0).any():
        missing = [ids[i] for i in np.nonzero(rows < 0)[0][:10]]
        raise KeyError(f"unknown {what} ids (first {len(missing)}): {missing}")
    return rows.astype(np.int64)
