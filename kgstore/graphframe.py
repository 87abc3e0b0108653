"""GraphFrame: the graph as plain column arrays, the hand-off from kgstore to distill.

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

    def summary(self) -> dict[str, int]:
        return {
            "customers": self.num_customers,
            "products": self.num_products,
            "categories": len(self.categories),
            "brands": len(self.brands),
            "interactions": len(self.interactions),
            "interaction_count_sum": int(self.interactions["count"].sum()),
        }
