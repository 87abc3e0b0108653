"""A real, simple scorer for tests: category affinity read from the graph.

It stands in for the distilled student (not for the database): it reads each
customer's interactions and every product's category and price through the
QueryRunner, and scores ``affinity(customer, category of product) / (1 + log1p(price) / 10)``.
Like the graph-free MLP student, it scores products that arrived after any
training (they only need a category and a price), so new products can appear.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd

from kgstore.connection import QueryRunner

WEIGHTS = {"CLICKED": 1.0, "FAVORITED": 2.0, "ADDED_TO_CART": 3.0, "BOUGHT": 4.0}

_INTERACTIONS = """
UNWIND $ids AS cid
MATCH (c:Customer {id: cid})-[i:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT]->(p:Product)
OPTIONAL MATCH (p)-[:IN_CATEGORY]->(cat:Category)
RETURN c.id AS customer_id, p.id AS product_id, cat.id AS category_id,
       type(i) AS type, coalesce(i.count, 1) AS count
"""

_PRODUCTS = """
MATCH (p:Product)-[:IN_CATEGORY]->(cat:Category)
RETURN p.id AS product_id, cat.id AS category_id, coalesce(p.price, 0.0) AS price
"""


class CategoryAffinityScorer:
    """``fail_after``: raise after scoring that many customers (a model that dies mid-run)."""

    name = "category-affinity"
    version = "1"

    def __init__(self, fail_after: int | None = None) -> None:
        self.fail_after = fail_after
        self.scored: list[Any] = []

    def top_k(
        self,
        runner: QueryRunner,
        customer_ids: Sequence[Any],
        k: int,
        *,
        exclude_seen: bool = True,
        min_score: float | None = None,
    ) -> pd.DataFrame:
        if self.fail_after is not None and len(self.scored) + len(customer_ids) > self.fail_after:
            raise RuntimeError("scorer failed on purpose (test)")
        self.scored.extend(customer_ids)
        seen = pd.DataFrame(
            runner.read(_INTERACTIONS, ids=list(customer_ids)),
            columns=["customer_id", "product_id", "category_id", "type", "count"],
        )
        products = pd.DataFrame(
            runner.read(_PRODUCTS), columns=["product_id", "category_id", "price"]
        )
        products["damp"] = 1.0 + products["price"].map(lambda p: math.log1p(max(p, 0.0))) / 10
        rows: list[dict[str, Any]] = []
        for cid in customer_ids:
            mine = seen[seen["customer_id"] == cid]
            weight = mine["type"].map(WEIGHTS).fillna(1.0) * mine["count"]
            affinity = weight.groupby(mine["category_id"]).sum()
            if affinity.empty:
                continue
            affinity = affinity / affinity.sum()
            cand = products[products["category_id"].isin(affinity.index)].copy()
            if exclude_seen:
                cand = cand[~cand["product_id"].isin(set(mine["product_id"]))]
            cand["score"] = cand["category_id"].map(affinity) / cand["damp"]
            if min_score is not None:
                cand = cand[cand["score"] >= min_score]
            cand = cand.sort_values(["score", "product_id"], ascending=[False, True]).head(k)
            for rank, (pid, score) in enumerate(
                zip(cand["product_id"], cand["score"], strict=True), 1
            ):
                rows.append(
                    {"customer_id": cid, "product_id": pid, "score": float(score), "rank": rank}
                )
        return pd.DataFrame(rows, columns=["customer_id", "product_id", "score", "rank"])


def failing_scorer() -> CategoryAffinityScorer:
    """A scorer that fails at once (``--scorer tests.support.scorers:failing_scorer``)."""
    return CategoryAffinityScorer(fail_after=0)


class StallingScorer(CategoryAffinityScorer):
    """Scores the first chunk, then stalls (up to ten minutes) until the process is killed.

    A test that kills the sync once the first chunk is written can then never find it
    already finished, however slow or fast the machine (a fixed sleep per chunk could).
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def top_k(
        self, runner: QueryRunner, customer_ids: Sequence[Any], k: int, **kw: Any
    ) -> pd.DataFrame:
        self.calls += 1
        if self.calls > 1:
            time.sleep(600)
            raise RuntimeError("StallingScorer: nobody killed this sync")
        return super().top_k(runner, customer_ids, k, **kw)


def stalling_scorer() -> StallingScorer:
    return StallingScorer()
