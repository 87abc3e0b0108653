"""Build a GraphFrame straight from the EComm files, standing in for kgstore extraction.

Reads the EComm copy bundled in ``data/ecomm`` (override with ``KGDISTILL_ECOMM_DIR``).
Kept deliberately small: pandas only, no torch, the same columns that
``kgframe`` documents.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from kgframe import INTERACTION_TYPES, GraphFrame

TOP_CATEGORY_ID = 33


def ecomm_dir() -> Path:
    if os.environ.get("KGDISTILL_ECOMM_DIR"):
        return Path(os.environ["KGDISTILL_ECOMM_DIR"])
    from kgstore.sources.ecomm import bundled_dir

    return bundled_dir()


def _read(path: Path, names: list[str]) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, names=names, dtype=str, keep_default_na=False)


def read_ecomm_frame(directory: Path | str | None = None) -> GraphFrame:
    """The EComm sample as a GraphFrame (customers, products, 402 categories, 67 brands)."""
    root = Path(directory) if directory is not None else ecomm_dir()
    users = _read(
        root / "ecomm_user_feature.txt",
        ["id", "gender", "age_level", "education", "career", "income", "stages"],
    )
    customers = pd.DataFrame(
        {
            "id": users["id"].astype(np.int64),
            "gender": users["gender"].astype(np.int64),
            "age_level": users["age_level"].astype(np.int64),
            "education": users["education"].astype(np.int64),
            "career": users["career"].astype(np.int64),
            "income": users["income"].astype(np.float64),
            "stages": [[int(s) for s in v.split(",") if s.strip()] for v in users["stages"]],
        }
    )

    items = _read(
        root / "ecomm_item_feature.txt", ["id", "top_category", "category", "brand", "price"]
    )
    leaf_ids = sorted(items["category"].astype(np.int64).unique().tolist())
    categories = pd.DataFrame(
        {
            "id": [*leaf_ids, TOP_CATEGORY_ID],
            "level": [2] * len(leaf_ids) + [1],
            "parent": [len(leaf_ids)] * len(leaf_ids) + [-1],
        }
    )
    brand_ids = sorted(b for b in items["brand"].astype(np.int64).unique().tolist() if b != 0)
    brands = pd.DataFrame({"id": brand_ids})

    item_brand = items["brand"].astype(np.int64)
    products = pd.DataFrame(
        {
            "id": items["id"].astype(np.int64),
            "price": items["price"].astype(np.float64),
            "category": pd.Index(leaf_ids).get_indexer(items["category"].astype(np.int64)),
            "brand": np.where(item_brand == 0, -1, pd.Index(brand_ids).get_indexer(item_brand)),
        }
    )

    edges = _read(root / "ecomm_edge_train.txt", ["customer", "product", "type", "day"])
    edges = edges.astype(np.int64)
    grouped = (
        edges.groupby(["customer", "product", "type", "day"], sort=True)
        .size()
        .rename("count")
        .reset_index()
    )
    customer_rows = pd.Index(customers["id"]).get_indexer(grouped["customer"])
    product_rows = pd.Index(products["id"]).get_indexer(grouped["product"])
    if (customer_rows < 0).any() or (product_rows < 0).any():
        raise ValueError(f"{root}: interactions name customers or products without a feature row")
    interactions = pd.DataFrame(
        {
            "customer": customer_rows,
            "product": product_rows,
            "type": [INTERACTION_TYPES[t - 1] for t in grouped["type"]],
            "day": grouped["day"].astype(np.int64),
            "count": grouped["count"].astype(np.int64),
        }
    )
    return GraphFrame(customers, products, categories, brands, interactions, {"source": str(root)})
