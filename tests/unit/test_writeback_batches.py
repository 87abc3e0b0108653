"""Grouping prediction rows into batches of whole source nodes (no database)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgdistill.service import PredictConfig
from kgstore.cypher import CypherError
from kgstore.writeback import PredictionKind, WritebackError, group_batches


def _frame(per_customer: dict[object, int]) -> pd.DataFrame:
    rows = []
    for cid, k in per_customer.items():
        for rank in range(k, 0, -1):  # reversed on purpose: batches come out in rank order
            rows.append(
                {"customer_id": cid, "product_id": 100 + rank, "score": 1 / rank, "rank": rank}
            )
    return pd.DataFrame(rows)


def _batches(frame: pd.DataFrame, size: int, **kw: object) -> list[list[dict]]:
    return list(
        group_batches(
            frame, source_column="customer_id", target_column="product_id", batch_size=size, **kw
        )
    )


def test_a_batch_holds_whole_customers_and_about_batch_size_rows() -> None:
    frame = _frame({1: 3, 2: 3, 3: 3, 4: 3}).sample(frac=1.0, random_state=0)
    batches = _batches(frame, size=7)
    assert [[g["source"] for g in b] for b in batches] == [[1, 2], [3, 4]]
    for batch in batches:
        for group in batch:
            assert group["ranks"] == [1, 2, 3]
            assert group["ids"] == [101, 102, 103]
            assert len(group["scores"]) == 3
    every = [g["source"] for b in batches for g in b]
    assert sorted(every) == [1, 2, 3, 4] and len(every) == len(set(every))


def test_a_customer_larger_than_the_batch_is_not_split() -> None:
    batches = _batches(_frame({1: 2, 2: 5, 3: 1}), size=3)
    assert [[(g["source"], len(g["ids"])) for g in b] for b in batches] == [
        [(1, 2)],
        [(2, 5)],
        [(3, 1)],
    ]


def test_ids_and_numbers_become_plain_python_values() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": np.array([7, 7], dtype=np.int64),
            "product_id": np.array([1, 2], dtype=np.int64),
            "score": np.array([0.5, 0.25], dtype=np.float32),
            "rank": np.array([1, 2], dtype=np.int32),
        }
    )
    (batch,) = _batches(frame, size=10)
    group = batch[0]
    assert type(group["source"]) is int
    assert all(type(v) is int for v in group["ids"] + group["ranks"])
    assert group["scores"] == [0.5, 0.25] and all(type(v) is float for v in group["scores"])


def test_each_target_keeps_its_own_score_and_rank_whatever_the_row_order() -> None:
    rng = np.random.default_rng(3)
    rows = [
        {"customer_id": f"c{c}", "product_id": f"p{rng.integers(1000)}-{r}", "rank": r}
        for c in range(40)
        for r in range(1, 1 + int(rng.integers(1, 6)))
    ]
    frame = pd.DataFrame(rows).assign(score=rng.random(len(rows))).sample(frac=1.0, random_state=1)
    expected = {(r.customer_id, r.product_id): (r.score, r.rank) for r in frame.itertuples()}
    got = {}
    for batch in _batches(frame, size=7):
        for g in batch:
            assert g["ranks"] == sorted(g["ranks"])
            for target, score, rank in zip(g["ids"], g["scores"], g["ranks"], strict=True):
                got[(g["source"], target)] = (score, rank)
    assert got == expected


def test_numpy_scalars_in_an_object_column_become_plain_values() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series([np.int64(7), np.int64(7)], dtype=object),
            "product_id": pd.Series([np.int64(1), "x"], dtype=object),
            "score": [0.5, 0.25],
            "rank": [1, 2],
        }
    )
    ((group,),) = _batches(frame, size=10)
    assert type(group["source"]) is int and group["ids"] == [1, "x"]
    assert type(group["ids"][0]) is int


def test_string_and_int_ids_stay_apart() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", 1, "a"],
            "product_id": [1, 1, 2],
            "score": [1, 1, 0.5],
            "rank": [1, 1, 2],
        }
    )
    (batch,) = _batches(frame, size=10)
    assert sorted((str(g["source"]), len(g["ids"])) for g in batch) == [("1", 1), ("a", 2)]


def test_named_sources_without_rows_get_an_empty_replacement() -> None:
    (batch,) = _batches(_frame({1: 2}), size=10, sources=[1, 2])
    assert [(g["source"], len(g["ids"])) for g in batch] == [(1, 2), (2, 0)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["score"]), "lack columns"),
        (lambda f: f.assign(score=[np.nan, 1.0]), "not a finite number"),
        (lambda f: f.assign(rank=[0, 1]), "integer >= 1"),
        (lambda f: f.assign(rank=[1.5, 2]), "integer >= 1"),
        (lambda f: f.assign(rank=[1, 1]), "rank 1 twice"),
        (lambda f: f.assign(product_id=[5, 5]), "target 5 twice"),
        (lambda f: f.assign(customer_id=[None, 1]), "empty id"),
    ],
)
def test_bad_rows_are_refused_with_the_reason(change, message: str) -> None:
    frame = change(_frame({1: 2}))
    with pytest.raises(WritebackError, match=message):
        _batches(frame, size=10)


def test_kinds_check_their_identifiers() -> None:
    assert PredictConfig().recommendations() == PredictionKind("Customer", "Product", "RECOMMENDED")
    assert PredictConfig().categories().relationship == "PREDICTED_CATEGORY"
    with pytest.raises(CypherError):
        PredictConfig(relationship="RECOMMENDED]->() DETACH DELETE (")
    with pytest.raises(ValueError):
        PredictConfig(k=0)


def test_the_shortlist_is_a_setting_and_never_negative() -> None:
    from kgdistill.config import load_config

    assert PredictConfig().shortlist is None  # max(10 k, 200), distill.predict decides
    config = load_config(environ={"KGDISTILL_PREDICT__SHORTLIST": "0"})
    assert config.predict.shortlist == 0  # exact: every pair scored
    with pytest.raises(ValueError, match="shortlist must be >= 0"):
        PredictConfig(shortlist=-1)
