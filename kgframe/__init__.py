"""GraphFrame: the graph as plain column arrays, the hand-off from kgstore to distill.

It lives in its own package, which imports neither kgstore nor distill, so that
both sides share it and distill depends on no database package.

A GraphFrame is what extraction returns and what training consumes. It holds
no torch tensors and no database handles: pandas frames whose row order is the
node index used everywhere downstream, plus the maps between business ids (the
``id`` property in Neo4j) and those row indices.

Tables and their columns
------------------------
customers     id, then feature columns (for EComm: gender, age_level, education,
              career, income, stages; ``stages`` holds a list of ints per row)
products      id, price (float, NaN when unknown), category (row index into
              ``categories`` or -1), brand (row index into ``brands`` or -1),
              then any further feature columns
categories    id, level (int, NaN when unknown), parent (row index or -1)
brands        id
interactions  customer (row index), product (row index), type (relationship
              type, e.g. "CLICKED"), day (int YYYYMMDD), count (int >= 1)

Business ids are ints when the source text is a plain integer, else strings
(see :func:`normalize_id`), so ``22479`` from one file and ``"22479"`` from
another name the same node.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

INTERACTION_TYPES: tuple[str, ...] = ("CLICKED", "FAVORITED", "ADDED_TO_CART", "BOUGHT")

# ASCII digits only (``\d`` also matches full-width ones), at most 18: always an int64.
_INT_RE = re.compile(r"[+-]?[0-9]{1,18}", re.ASCII)


def normalize_id(value: Any) -> int | str:
    """Return the canonical business id: an int for integer text, else the stripped string.

    Raises ValueError for an empty id.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"id must not be a boolean: {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    text = str(value).strip()
    if not text:
        raise ValueError("empty id")
    if _INT_RE.fullmatch(text):
        return int(text)
    return text


@dataclass
class GraphFrame:
    """The graph as column arrays; row order is the node index. See the module docstring."""

    customers: pd.DataFrame
    products: pd.DataFrame
    categories: pd.DataFrame
    brands: pd.DataFrame
    interactions: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("customers", "products", "categories", "brands"):
            table = getattr(self, name)
            if "id" not in table.columns:
                raise ValueError(f"GraphFrame.{name} needs an 'id' column")
            setattr(self, name, table.reset_index(drop=True))
        missing = {"customer", "product", "type", "day", "count"} - set(self.interactions.columns)
        if missing:
            raise ValueError(f"GraphFrame.interactions lacks columns {sorted(missing)}")
        # Not inplace=True: pandas 3.1 deprecates it (filterwarnings=error would fail).
        self.interactions = self.interactions.reset_index(drop=True)

    # -- id maps -------------------------------------------------------------
    def customer_index(self) -> pd.Index:
        """Business id -> row: ``frame.customer_index().get_indexer(ids)`` (-1 where unknown)."""
        return pd.Index(self.customers["id"].tolist())

    def product_index(self) -> pd.Index:
        return pd.Index(self.products["id"].tolist())

    def category_index(self) -> pd.Index:
        return pd.Index(self.categories["id"].tolist())

    @property
    def num_customers(self) -> int:
        return len(self.customers)

    @property
    def num_products(self) -> int:
        return len(self.products)

    def until(self, day: int | None) -> GraphFrame:
        """A copy without interactions after ``day`` (YYYYMMDD); nodes are kept."""
        if day is None:
            return self
        keep = self.interactions["day"].to_numpy() <= int(day)
        return GraphFrame(
            self.customers,
            self.products,
            self.categories,
            self.brands,
            self.interactions.loc[keep].reset_index(drop=True),
            dict(self.meta, until=int(day)),
        )

    def with_nodes(
        self,
        customers: Sequence[Any],
        products: Sequence[Any],
        categories: Sequence[Any],
        brands: Sequence[Any],
    ) -> GraphFrame:
        """A copy holding exactly these nodes (business ids), in this order, e.g. the ones
        a trained model knows: references to other categories and brands become -1 and
        interactions with other customers or products are left out.

        Raises KeyError naming ids that are not in this frame (the first ten).
        """
        rows = {
            "customers": _rows_of(self.customers, customers, "customer"),
            "products": _rows_of(self.products, products, "product"),
            "categories": _rows_of(self.categories, categories, "category"),
            "brands": _rows_of(self.brands, brands, "brand"),
        }
        moved = {name: _new_rows(len(getattr(self, name)), kept) for name, kept in rows.items()}
        product_table = self.products.iloc[rows["products"]].copy()
        product_table["category"] = _through(moved["categories"], product_table["category"])
        product_table["brand"] = _through(moved["brands"], product_table["brand"])
        category_table = self.categories.iloc[rows["categories"]].copy()
        if "parent" in category_table.columns:
            category_table["parent"] = _through(moved["categories"], category_table["parent"])
        inter = self.interactions.copy()
        inter["customer"] = _through(moved["customers"], inter["customer"])
        inter["product"] = _through(moved["products"], inter["product"])
        keep = (inter["customer"].to_numpy() >= 0) & (inter["product"].to_numpy() >= 0)
        return GraphFrame(
            self.customers.iloc[rows["customers"]],
            product_table,
            category_table,
            self.brands.iloc[rows["brands"]],
            inter.loc[keep],
            dict(self.meta),
        )

    def summary(self) -> dict[str, int]:
        return {
            "customers": self.num_customers,
            "products": self.num_products,
            "categories": len(self.categories),
            "brands": len(self.brands),
            "interactions": len(self.interactions),
            "interaction_count_sum": int(self.interactions["count"].sum()),
        }


def _rows_of(table: pd.DataFrame, ids: Sequence[Any], what: str) -> np.ndarray:
    """Rows of ``ids`` in ``table``; KeyError naming the ids it lacks (the first ten)."""
    rows = pd.Index(table["id"].tolist()).get_indexer(list(ids))
    if (rows < 0).any():
        missing = [ids[i] for i in np.nonzero(rows < 0)[0][:10]]
        raise KeyError(f"{int((rows < 0).sum())} {what} ids are not in the graph: {missing}")
    return rows.astype(np.int64)


def _new_rows(size: int, kept: np.ndarray) -> np.ndarray:
    """old row -> new row (its position in ``kept``), -1 for rows not kept."""
    moved = np.full(size, -1, np.int64)
    moved[kept] = np.arange(len(kept))
    return moved


def _through(moved: np.ndarray, rows: pd.Series) -> np.ndarray:
    """Row references (-1 or NaN: none) mapped through :func:`_new_rows`."""
    old = pd.to_numeric(rows, errors="coerce").fillna(-1).to_numpy(np.int64)
    inside = (old >= 0) & (old < len(moved))
    new = np.full(len(old), -1, np.int64)
    new[inside] = moved[old[inside]]
    return new
