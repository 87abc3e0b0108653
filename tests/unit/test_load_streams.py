"""How a load is split into concurrent write streams (kgstore.ingest)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgstore.ingest import _interaction_streams, _row_streams


def _frame(n: int = 2_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer": [f"c{i}" for i in rng.integers(0, 97, n)],
            "product": rng.integers(0, 500, n) * 7,  # ids whose order differs from codes
            "type": rng.choice(["BOUGHT", "CLICKED"], n),
            "day": rng.integers(1, 11, n),
            "count": rng.integers(1, 5, n),
        }
    )


def _rows(streams: list) -> list[list[tuple]]:
    out = []
    for stream in streams:
        rows = []
        for query, params, n in stream:
            assert n == len(params["customers"])
            kind = "BOUGHT" if "`BOUGHT`" in query else "CLICKED"
            assert f"`{kind}`" in query
            rows += [
                (c, p, kind, d, k)
                for c, p, d, k in zip(
                    params["customers"],
                    params["products"],
                    params["days"],
                    params["counts"],
                    strict=True,
                )
            ]
        out.append(rows)
    return out


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_every_row_once_customers_disjoint(workers: int) -> None:
    frame = _frame()
    streams = _interaction_streams(frame, batch_size=128, workers=workers)
    assert len(streams) == workers
    per_stream = _rows(streams)
    everything = sorted(r for rows in per_stream for r in rows)
    assert everything == sorted(
        frame[["customer", "product", "type", "day", "count"]].itertuples(index=False, name=None)
    )
    customers = [{r[0] for r in rows} for rows in per_stream]
    for i in range(workers):
        for j in range(i + 1, workers):
            assert not customers[i] & customers[j]
    assert all(n <= 128 for stream in streams for _, _, n in stream)


def test_each_batch_lists_products_in_one_global_order() -> None:
    frame = _frame()
    order = {p: i for i, p in enumerate(pd.unique(frame["product"]))}
    streams = _interaction_streams(frame, batch_size=100, workers=2)
    for stream in streams:
        for _, params, _ in stream:
            positions = [order[p] for p in params["products"]]
            assert positions == sorted(positions)


def test_fewer_customers_than_workers_gives_fewer_streams() -> None:
    frame = _frame().assign(customer="only")
    streams = _interaction_streams(frame, batch_size=10_000, workers=4)
    assert len(streams) == 1


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_node_rows_split_by_id_and_links_ordered_by_their_shared_end(workers: int) -> None:
    rng = np.random.default_rng(1)
    rows = [
        {"id": f"p{i}" if i % 2 else i, "category": int(rng.integers(0, 40)) * 3}
        for i in range(1_000)
    ]
    order = {c: i for i, c in enumerate(pd.unique(pd.Series([r["category"] for r in rows])))}
    streams = _row_streams("Q", rows, batch_size=64, workers=workers, order="category")
    assert len(streams) == workers
    seen: list[list[object]] = []
    for stream in streams:
        ids = []
        for query, params, n in stream:
            assert query == "Q" and n == len(params["rows"]) <= 64
            positions = [order[r["category"]] for r in params["rows"]]
            assert positions == sorted(positions)
            ids += [r["id"] for r in params["rows"]]
        seen.append(ids)
    flat = [i for ids in seen for i in ids]
    assert sorted(map(str, flat)) == sorted(str(r["id"]) for r in rows)
    assert len(flat) == len(set(map(str, flat)))  # every row once, so one stream per node


def test_node_rows_without_an_order_keep_their_order_within_a_stream() -> None:
    rows = [{"id": i} for i in range(10)]
    (stream,) = _row_streams("Q", rows, batch_size=4, workers=1, order=None)
    assert [[r["id"] for r in params["rows"]] for _, params, _ in stream] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9],
    ]
