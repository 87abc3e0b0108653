"""Baselines on a hand-made shop, scores worked out by hand; every registered one exercised."""

import math

import numpy as np
import pytest

from distill.baselines import (
    BASELINES,
    CategoryAffinity,
    Interactions,
    ItemKNN,
    Popular,
    best_baseline,
    fit_baseline,
    is_baseline,
)

R2 = 1 / math.sqrt(2)


def shop(**changes: object) -> Interactions:
    """Four customers, five products. c0 bought p0 twice and p1; c1: p0, p2; c2: p1, p2, p3;
    c3: nothing. Categories: p0, p1 in 0; p2, p4 in 1; p3 unknown. Nobody touched p4.

    Customers per product: p0 {c0, c1}, p1 {c0, c2}, p2 {c1, c2}, p3 {c2}, p4 {}; so cosine
    sim(0,1) = sim(0,2) = sim(1,2) = 1/2, sim(1,3) = sim(2,3) = 1/sqrt(2), the rest 0."""
    args: dict[str, object] = {
        "customers": [0, 0, 0, 1, 1, 2, 2, 2],
        "products": [0, 0, 1, 0, 2, 1, 2, 3],
        "num_customers": 4,
        "num_products": 5,
        "product_category": [0, 0, 1, -1, 1],
    }
    args.update(changes)
    return Interactions.from_arrays(**args)  # type: ignore[arg-type]


def test_popular_counts_interactions():
    grid = Popular.fit(shop()).score_grid([3, 0])
    assert grid.dtype == np.float64 and grid.shape == (2, 5)
    np.testing.assert_array_equal(grid, [[3, 2, 2, 1, 0]] * 2)


def test_item_knn_sums_the_similarity_of_what_the_customer_touched():
    grid = ItemKNN.fit(shop()).score_grid([0, 1, 2, 3])
    want = [
        [1 / 2, 1 / 2, 1 / 2 + 1 / 2, R2, 0],  # c0 {p0, p1}; an item is not its own neighbour
        [1 / 2, 1 / 2 + 1 / 2, 1 / 2, R2, 0],  # c1 {p0, p2}
        [1 / 2 + 1 / 2, 1 / 2 + R2, 1 / 2 + R2, R2 + R2, 0],  # c2 {p1, p2, p3}
        [0, 0, 0, 0, 0],  # c3: no history, everything ties
    ]
    np.testing.assert_allclose(grid, want, rtol=1e-12)


def test_item_knn_keeps_each_items_top_neighbours():
    # one neighbour each: p0 -> p1 (ties with p2 at 1/2: lower index), p1 -> p3, p2 -> p3,
    # p3 -> p1 (ties with p2 at 1/sqrt 2)
    knn = ItemKNN.fit(shop(), neighbours=1)
    want = np.zeros((5, 5))
    want[0, 1], want[1, 3], want[2, 3], want[3, 1] = 1 / 2, R2, R2, R2
    np.testing.assert_allclose(knn.similarity.toarray(), want, rtol=1e-12)
    np.testing.assert_allclose(knn.score_grid([0])[0], [0, 1 / 2, 0, R2, 0], rtol=1e-12)
    # tiny blocks (one item each) give the same model as one block
    small = ItemKNN.fit(shop(), neighbours=1, block_entries=1)
    np.testing.assert_array_equal(small.similarity.toarray(), knn.similarity.toarray())


def test_item_knn_ignores_counts():
    heavy = ItemKNN.fit(shop(counts=[5, 1, 1, 1, 1, 1, 1, 9]))
    np.testing.assert_array_equal(
        heavy.similarity.toarray(), ItemKNN.fit(shop()).similarity.toarray()
    )


def test_category_affinity_then_popularity():
    # affinity n(c, k): c0 {0: 3}, c1 {0: 1, 1: 1}, c2 {0: 1, 1: 1} (p3's unknown category
    # gives none). Popularity [3, 2, 2, 1, 0], max 3: tie-break pop / 4.
    grid = CategoryAffinity.fit(shop()).score_grid([0, 1, 2, 3])
    tie = np.array([3, 2, 2, 1, 0]) / 4
    want = np.array([[3, 3, 0, 0, 0], [1, 1, 1, 0, 1], [1, 1, 1, 0, 1], [0, 0, 0, 0, 0]]) + tie
    np.testing.assert_allclose(grid, want, rtol=1e-12)


def test_category_tie_break_stays_below_the_smallest_affinity_gap():
    # counts 0.5 apart: the popularity term must stay under 0.5 to never reorder affinities
    model = CategoryAffinity.fit(shop(counts=[1, 1, 1, 0.5, 1, 1, 1, 1]))  # c1's p0 half
    # affinities c0 {0: 3}, c1 {0: 0.5, 1: 1}, c2 {0: 1, 1: 1}: values {0, 0.5, 1, 3}, gap
    # 0.5; popularity [2.5, 2, 2, 1, 0], max 2.5
    np.testing.assert_allclose(model.tie_break, 0.5 * np.array([2.5, 2, 2, 1, 0]) / 3.5)
    row = model.score_grid([1])[0]  # p2 (affinity 1) still above p0 (0.5, most popular)
    assert row[2] > row[0] > row[1]


def test_counts_weigh_like_repeated_rows():
    # c0's two rows of p0 as one row counted twice
    weighted = shop(
        customers=[0, 0, 1, 1, 2, 2, 2],
        products=[0, 1, 0, 2, 1, 2, 3],
        counts=[2, 1, 1, 1, 1, 1, 1],
    )
    rows = [0, 1, 2, 3]
    for name in BASELINES:
        a, b = fit_baseline(name, weighted), fit_baseline(name, shop())
        np.testing.assert_allclose(a.score_grid(rows), b.score_grid(rows), err_msg=name)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_scores_pairs_as_its_grid(name):
    model = fit_baseline(name, shop())
    assert model.name == name and is_baseline(name)
    grid = model.score_grid(np.arange(4))
    c, p = np.meshgrid(np.arange(4), np.arange(5), indexing="ij")
    pairs = model.score_pairs(c.ravel(), p.ravel())
    assert pairs.dtype == np.float64 and pairs.shape == (20,)
    np.testing.assert_array_equal(pairs, grid.ravel())
    assert model.score_grid(np.array([], np.int64)).shape == (0, 5)
    assert model.score_pairs([], []).shape == (0,)
    assert model.score_pairs([2], [3]) == grid[2, 3]  # p3: unknown category only
    with pytest.raises(IndexError, match=r"customer 4 is outside 0\.\.3"):
        model.score_grid([4])
    with pytest.raises(IndexError, match="product -1"):
        model.score_pairs([0], [-1])
    with pytest.raises(TypeError, match="no option"):
        fit_baseline(name, shop(), shrink=3)


def test_every_registered_baseline_has_a_hand_checked_test():
    hand_checked = {"popular", "item_knn", "category"}  # the tests above
    assert set(BASELINES) == hand_checked


def test_an_empty_history_scores_zero_or_ties():
    empty = shop(customers=[], products=[])
    for name in BASELINES:
        grid = fit_baseline(name, empty).score_grid([0, 1])
        np.testing.assert_array_equal(grid, np.zeros((2, 5)), err_msg=name)


def test_from_history_matches_what_the_history_counted():
    from distill.data import History
    from tests.support.tiny import planted_frame

    frame = planted_frame(customers=12, products=30)
    frame.products.loc[[3, 4], "category"] = -1  # two products of unknown category
    history = History.from_frame(frame)
    data = Interactions.from_history(history)
    assert data.num_customers == 12 and data.num_products == 30
    assert (data.product_category[[3, 4]] == -1).all()
    np.testing.assert_allclose(data.popularity(), history.product_popularity)
    rows = np.arange(12)
    known = data.product_category >= 0
    affinity = history.customer_category.rows(rows)[:, history.product_category]
    got = CategoryAffinity.fit(data).score_grid(rows)
    np.testing.assert_array_equal(np.floor(got[:, known]), affinity[:, known])
    np.testing.assert_array_equal(np.floor(got[:, ~known]), 0)


def test_interactions_refuse_bad_input():
    with pytest.raises(ValueError, match="3 customers, 2 products"):
        Interactions.from_arrays([0, 1, 1], [0, 1], num_customers=2, num_products=2)
    with pytest.raises(ValueError, match="non-negative"):
        Interactions.from_arrays([0], [0], num_customers=1, num_products=1, counts=[-1])
    with pytest.raises(ValueError, match=r"product_category must be \[2\]"):
        Interactions.from_arrays([0], [0], num_customers=1, num_products=2, product_category=[0])
    with pytest.raises(IndexError, match="product 2"):
        Interactions.from_arrays([0], [2], num_customers=1, num_products=2)
    with pytest.raises(KeyError, match="registered: popular, item_knn, category"):
        fit_baseline("random", shop())
    with pytest.raises(ValueError, match="neighbours"):
        ItemKNN.fit(shop(), neighbours=0)


def test_best_baseline_picks_the_highest_finite_baseline_row():
    results = {
        "teacher": {"recall@20": 0.9},  # not a baseline
        "popular": {"recall@20": 0.2},
        "item_knn": {"recall@20": math.nan},
        "category": {"recall@20": 0.3},
        "heuristic": {"recall@20": 0.25},  # an old report's category row
    }
    assert best_baseline(results, "recall@20") == ("category", 0.3)
    assert best_baseline({"heuristic": {"auc": 0.74}}, "auc") == ("heuristic", 0.74)
    assert best_baseline(results, "ndcg@20") is None
    assert best_baseline({"teacher": {"auc": 0.8}}, "auc") is None
    assert not is_baseline("student_mlp")
