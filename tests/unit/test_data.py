"""Feature encoder and graph construction on a 4-node graph and a small planted graph."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from distill.data import (
    EDGE_TYPES,
    PAIR_FEATURES,
    CustomerCells,
    FeatureEncoder,
    History,
    build_graph,
    day_number,
)
from kgframe import GraphFrame
from tests.support.tiny import four_node_frame, planted_frame


def test_encoder_on_four_node_graph():
    frame = four_node_frame()
    enc = FeatureEncoder.fit(frame)
    kinds = {s["column"]: s["kind"] for s in enc.specs["customer"]}
    assert kinds == {"gender": "cat", "income": "num", "stages": "multi"}
    x_num, x_cat = enc.encode("customer", frame.customers)
    # income standardised (one row: 0), stages {1, 3} multi-hot over vocab [1, 3]
    assert x_num.tolist() == [[0.0, 1.0, 1.0]]
    assert x_cat.tolist() == [[1]]  # gender 1 is the first vocabulary entry (0 = unknown)
    p_num, p_cat = enc.encode("product", frame.products, frame)
    assert p_cat.tolist() == [[1, 1]]  # category id 5 and brand id 11, both known
    assert p_num.shape == (1, 1)

    graph = build_graph(frame, enc)
    assert set(graph.edge_types) == set(EDGE_TYPES)
    inter = graph["customer", "interacted", "product"]
    assert inter.edge_index.tolist() == [[0], [0]]  # two interaction rows, one edge
    # edge_attr: log1p(count) per type (CLICKED 2, BOUGHT 1), then recency-weighted count
    assert inter.edge_attr[0, 0].item() == pytest.approx(np.log1p(2.0))
    assert inter.edge_attr[0, 3].item() == pytest.approx(np.log1p(1.0))
    assert bool(graph["product"].seen[0]) and bool(graph["customer"].seen[0])


def test_encoder_round_trips_through_json_and_encodes_new_rows():
    frame = planted_frame()
    enc = FeatureEncoder.fit(frame)
    again = FeatureEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    a = enc.encode("product", frame.products, frame)
    b = again.encode("product", frame.products, frame)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    # a product that arrived later, with an unseen brand: known category, unknown brand (0)
    new = pd.DataFrame({"id": [99999], "price": [12.0], "category": [1], "brand": [-1]})
    num, cat = again.encode("product", new, frame)
    assert cat.tolist() == [[2, 0]]
    assert torch.isfinite(num).all()


def test_before_day_hides_later_interactions():
    frame = planted_frame(days=3)
    enc = FeatureEncoder.fit(frame)
    full = build_graph(frame, enc)
    early = build_graph(frame, enc, before_day=20190611)
    n_full = full["customer", "interacted", "product"].edge_index.size(1)
    n_early = early["customer", "interacted", "product"].edge_index.size(1)
    assert 0 < n_early < n_full
    expected = frame.interactions.loc[frame.interactions["day"] < 20190611]
    assert n_early == len(expected.drop_duplicates(["customer", "product"]))


def test_pair_features_grid_matches_pairwise_lookup():
    frame = planted_frame()
    history = History.from_frame(frame, before_day=20190613)
    customers = np.array([0, 3, 7])
    grid = history.pair_features_grid(customers)
    assert grid.shape == (3, frame.num_products, len(PAIR_FEATURES))
    c = np.repeat(customers, frame.num_products)
    p = np.tile(np.arange(frame.num_products), len(customers))
    flat = history.pair_features(c, p).reshape(grid.shape)
    assert torch.equal(grid, flat)  # the same float32 values, not only close
    # a repeated pair has a non-zero repeat feature, a pair never seen has zero
    inter = frame.interactions.loc[frame.interactions["day"] < 20190613]
    seen = set(zip(inter["customer"], inter["product"], strict=True))
    for j, cust in enumerate(customers):
        for prod in range(5):
            assert bool(grid[j, prod, :5].sum() > 0) == ((cust, prod) in seen)


def test_a_fitted_encoder_encodes_a_grown_graph_at_its_own_widths():
    """A run's encoder on the shop after it changed (issue 16): new categories, brands and
    customers, a column no node has any more, a column it never saw, unseen values."""
    frame = four_node_frame()
    enc = FeatureEncoder.fit(frame)
    grown = GraphFrame(
        # "stages" is gone (no node has it); customer 8 has no features; gender 2 is new
        customers=pd.DataFrame({"id": [7, 8, 9], "gender": [1, None, 2], "income": [1, None, 3]}),
        products=pd.DataFrame(
            {
                "id": [42, 43, 44],
                "price": [9.5, None, 20.0],
                "category": [0, 1, -1],  # 1: category 6, unknown to the encoder
                "brand": [0, 1, 1],  # 1: brand 12, unknown too
                "colour": ["red", "blue", None],  # never seen: ignored
            }
        ),
        categories=pd.DataFrame({"id": [5, 6], "level": [1, 3], "parent": [-1, 0]}),
        brands=pd.DataFrame({"id": [11, 12]}),
        interactions=frame.interactions,
    )
    for node_type, table in (
        ("customer", grown.customers),
        ("product", grown.products),
        ("category", grown.categories),
        ("brand", grown.brands),
    ):
        x_num, x_cat = enc.encode(node_type, table, grown)
        assert x_num.shape == (len(table), enc.num_dim(node_type)), node_type
        assert torch.isfinite(x_num).all(), node_type
        cards = torch.tensor(enc.cat_cardinalities(node_type))
        assert ((x_cat >= 0) & (x_cat < cards)).all(), node_type
    c_num, c_cat = enc.encode("customer", grown.customers)
    assert c_cat[:, 0].tolist() == [1, 0, 0]  # gender 1 known; missing and 2 unknown
    assert c_num[:, 1:].sum().item() == 0.0  # no stages for anyone
    _, p_cat = enc.encode("product", grown.products, grown)
    assert p_cat.tolist() == [[1, 1], [0, 0], [0, 0]]
    _, k_cat = enc.encode("category", grown.categories)
    assert k_cat[:, 0].tolist() == [1, 0]


def test_day_number_counts_real_days_and_keeps_order_and_repeats() -> None:
    days = np.array([20200301, 20191030, 20200229, 20191030, 20191231])
    got = day_number(days)
    assert got.dtype == np.int64 and got.shape == (5,)
    # 2020 is a leap year: 29 February is the day before 1 March
    assert got[0] - got[2] == 1 and got[1] == got[3] and got[4] - got[1] == 62
    assert got[1] == (np.datetime64("2019-10-30") - np.datetime64("1970-01-01")).astype(int)
    assert day_number(20191030).tolist() == [got[1]]
    assert day_number(np.array([], np.int64)).shape == (0,)


def test_customer_cells_read_as_the_dense_table_they_replace() -> None:
    rng = np.random.default_rng(3)
    shape = (50, 7)
    customers = rng.integers(0, shape[0], 400)
    groups = rng.integers(0, shape[1], 400)
    weights = [rng.random(400), rng.integers(1, 4, 400).astype(float)]
    dense = np.zeros((*shape, 2))
    for j, w in enumerate(weights):
        np.add.at(dense[..., j], (customers, groups), w)
    cells = CustomerCells.count(customers, groups, weights, shape)
    assert len(cells.keys) == len(set(zip(customers.tolist(), groups.tolist(), strict=True)))
    rows = np.array([0, 49, 3, 3, 17])
    for j in range(2):
        # the same sums in the same order: equal to the bit
        assert np.array_equal(cells.rows(rows, j), dense[rows, :, j])
        assert np.array_equal(cells.rows(np.arange(shape[0]), j), dense[..., j])
    c, g = rng.integers(0, shape[0], 300), rng.integers(0, shape[1], 300)
    assert np.array_equal(cells.at(c, g), dense[c, g])
    dropped = cells.without_group(6)
    assert np.array_equal(dropped.rows(rows, 0)[:, :6], dense[rows, :6, 0])
    assert not dropped.rows(np.arange(shape[0]), 0)[:, 6].any()
    empty = CustomerCells.count(customers[:0], groups[:0], [weights[0][:0]], shape)
    assert not empty.at(c, g).any() and not empty.rows(rows).any()


def test_history_holds_only_the_category_cells_customers_touched() -> None:
    """Dense, each history held [customers, categories + 1] tables (2.4 GB at 200,000
    customers and 402 categories); the pair features read the same values as before:
    log1p of each customer's counts in the product's category, recency-weighted, as a
    share of its activity, and in its brand (none for the unknown brand)."""
    frame = planted_frame(customers=200, products=2000, categories=400, days=3, per_day=5)
    frame.products["brand"] = np.arange(frame.num_products) % 3 - 1  # -1: unknown
    frame.interactions["count"] = 1 + np.arange(len(frame.interactions)) % 3
    history = History.from_frame(frame)
    inter = frame.interactions
    c = inter["customer"].to_numpy(np.int64)
    cat = frame.products["category"].to_numpy(np.int64)[inter["product"].to_numpy()]
    touched = len(set(zip(c.tolist(), cat.tolist(), strict=True)))
    held = history.customer_category
    assert len(held.keys) == touched
    dense_bytes = held.shape[0] * held.shape[1] * 8 * 2
    assert held.keys.nbytes + held.values.nbytes < dense_bytes / 5
    # the tables as they were held dense, from the history's per-pair counts
    keys = history.pair_keys
    pc, pp = keys // history.num_products, keys % history.num_products
    counts = history.pair_values[:, :-1].sum(axis=1)
    cc = np.zeros(held.shape)
    np.add.at(cc, (pc, history.product_category[pp]), counts)
    ccr = np.zeros(held.shape)
    np.add.at(ccr, (pc, history.product_category[pp]), history.pair_values[:, -1])
    cb = np.zeros(history.customer_brand.shape)
    np.add.at(cb, (pc, history.product_brand[pp]), counts)
    cb[:, -1] = 0.0
    share = cc / np.maximum(history.customer_activity, 1.0)[:, None] * 10.0
    rng = np.random.default_rng(0)
    qc = rng.integers(0, frame.num_customers, 500)
    qp = np.concatenate([pp[:250], rng.integers(0, frame.num_products, 250)])
    qc[:250] = pc[:250]  # pairs with history, and mostly pairs without
    got = history.pair_features(qc, qp).numpy()
    at = len(PAIR_FEATURES) - 8  # customer_category is the first after the pair counts
    qk, qb = history.product_category[qp], history.product_brand[qp]
    for j, table in enumerate((cc, ccr, share)):
        assert np.allclose(got[:, at + j], np.log1p(table[qc, qk]), atol=1e-6)
    assert np.allclose(got[:, at + 3], np.log1p(cb[qc, qb]), atol=1e-6)
    assert got[:, at + 3].any() and got[:, at].any()
    grid = history.pair_features_grid(qc[:3]).numpy()
    assert np.array_equal(
        grid[np.arange(3)[:, None], qp[None, :20]],
        history.pair_features(np.repeat(qc[:3], 20), np.tile(qp[:20], 3))
        .numpy()
        .reshape(3, 20, -1),
    )
    for customer in qc[:3]:
        one = history.catalogue_features(int(customer))
        assert np.array_equal(one, history.pair_features_grid(np.array([customer]))[0].numpy())
    dense = history.lookup_tables()
    assert np.array_equal(dense["cc"], np.log1p(cc).astype(np.float32))
