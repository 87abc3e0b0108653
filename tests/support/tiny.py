"""Small synthetic GraphFrames with a planted signal, generated in the tests' own process."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kgframe import INTERACTION_TYPES, GraphFrame


def four_node_frame() -> GraphFrame:
    """One customer, one product, one category (with no parent), one brand; two interactions."""
    return GraphFrame(
        customers=pd.DataFrame({"id": [7], "gender": [1], "income": [100.0], "stages": [[1, 3]]}),
        products=pd.DataFrame({"id": [42], "price": [9.5], "category": [0], "brand": [0]}),
        categories=pd.DataFrame({"id": [5], "level": [1], "parent": [-1]}),
        brands=pd.DataFrame({"id": [11]}),
        interactions=pd.DataFrame(
            {
                "customer": [0, 0],
                "product": [0, 0],
                "type": ["CLICKED", "BOUGHT"],
                "day": [20190610, 20190611],
                "count": [2, 1],
            }
        ),
    )


def planted_frame(
    *,
    customers: int = 40,
    products: int = 120,
    categories: int = 4,
    days: int = 4,
    per_day: int = 6,
    seed: int = 0,
) -> GraphFrame:
    """Customer ``c`` likes category ``c % categories``; each day each active customer
    interacts with ``per_day`` products, 80% of them from its category. Prices differ by
    category, so a product's category is learnable from price and from who buys it."""
    rng = np.random.default_rng(seed)
    cat_of = np.arange(products) % categories
    price = np.exp(1.0 + cat_of + rng.normal(0, 0.2, products))
    rows = []
    for d in range(days):
        for c in range(customers):
            favourite = c % categories
            for _ in range(per_day):
                pool = (
                    np.nonzero(cat_of == favourite)[0]
                    if rng.random() < 0.8
                    else np.arange(products)
                )
                p = int(rng.choice(pool))
                rows.append((c, p, INTERACTION_TYPES[int(rng.integers(0, 4))], 20190610 + d, 1))
    inter = pd.DataFrame(rows, columns=["customer", "product", "type", "day", "count"])
    inter = inter.groupby(["customer", "product", "type", "day"], as_index=False)["count"].sum()
    return GraphFrame(
        customers=pd.DataFrame(
            {
                "id": [f"c{i}" for i in range(customers)],
                "gender": rng.integers(0, 2, customers),
                "income": rng.normal(1000, 100, customers),
                "stages": [[int(s)] for s in rng.integers(1, 4, customers)],
            }
        ),
        products=pd.DataFrame(
            {"id": 1000 + np.arange(products), "price": price, "category": cat_of, "brand": -1}
        ),
        categories=pd.DataFrame(
            {
                "id": [*(100 + np.arange(categories)), 99],
                "level": [2] * categories + [1],
                "parent": [categories] * categories + [-1],
            }
        ),
        brands=pd.DataFrame({"id": [1, 2]}),
        interactions=inter,
    )


def planted_pairs(frame: GraphFrame, seed: int = 1, n: int = 200) -> pd.DataFrame:
    """Labelled eval pairs for :func:`planted_frame` in the EComm layout: positives in the
    customer's favourite category, negatives outside it; splits 1 and 2."""
    rng = np.random.default_rng(seed)
    n_cat = len(frame.categories) - 1
    cat_of = frame.products["category"].to_numpy()
    rows = []
    for i in range(n):
        c = int(rng.integers(0, frame.num_customers))
        label = i % 2
        fav = c % n_cat
        pool = np.nonzero((cat_of == fav) if label else (cat_of != fav))[0]
        p = int(rng.choice(pool))
        rows.append(
            (frame.customers["id"][c], int(frame.products["id"][p]), label, 1 + (i // 2) % 2)
        )
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "label", "split"])
