"""Extract the graph from Neo4j into a :class:`~kgframe.GraphFrame`.

Statements live in ``cypher/extract/``; they return columns, and this module
turns them into the GraphFrame's tables (see its docstring). Extraction pages
through the graph with keyset paging on the indexed ``id`` (``WHERE n.id >
$after ORDER BY n.id LIMIT $page``), so no single query result has to hold the
graph. Integer and string ids are paged in two passes because Cypher compares
only like types. Interactions come per page of customers, as one record of
column lists per page, which keeps the driver's per-record cost out of the loop.

:func:`read_graph` is what the application calls: the extraction, a clear error when
there is nothing to learn from or score, and one line saying what was read. Every
frame records in ``meta["as_of"]`` the database's time read before its first page: a
change after that time may be missing from the frame, so predictions scored from it
count as up to date only until then (the sync's watermark rule).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from kgframe import INTERACTION_TYPES, GraphFrame
from kgstore.connection import QueryRunner
from kgstore.cypher import check_identifier, statement

__all__ = ["EmptyGraphError", "ExtractConfig", "db_now", "extract_graphframe", "read_graph"]

# Keyset starting points: below every int id, and below every (non-empty) string id.
_STARTS: tuple[int | str, ...] = (-(2**63), "")
_NO_CUT = 99_991_231
# Properties that are bookkeeping, not features.
_HIDDEN = {"id", "updated_at"}
_CUSTOMER_ORDER = ("gender", "age_level", "education", "career", "income", "stages")


@dataclass(frozen=True)
class ExtractConfig:
    """The ``[extract]`` section."""

    page_size: int = 50_000  # nodes per page, and about this many interactions per page
    interaction_types: tuple[str, ...] = INTERACTION_TYPES

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ValueError(f"page_size must be >= 1, not {self.page_size}")
        for name in self.interaction_types:
            check_identifier(name, "interaction type")


class EmptyGraphError(ValueError):
    """No customers, products or interactions to learn from or score."""


def db_now(runner: QueryRunner) -> datetime:
    """The database's clock (not this machine's), which watermarks compare against."""
    value = runner.read_value(statement("sync/now"))
    now: datetime = value.to_native() if hasattr(value, "to_native") else value
    return now


def read_graph(
    runner: QueryRunner,
    config: ExtractConfig | None = None,
    *,
    until: int | None = None,
    say: Callable[[str], None] = print,
) -> GraphFrame:
    """:func:`extract_graphframe`, refusing a graph without customers, products or
    interactions (:class:`EmptyGraphError`, saying how to load some), and saying what
    it read."""
    began = time.perf_counter()
    frame = extract_graphframe(runner, until=until, config=config)
    sizes = frame.summary()
    if not sizes.get("customers") or not sizes.get("products") or not sizes.get("interactions"):
        raise EmptyGraphError(
            f"the graph has {sizes.get('customers', 0)} customers, {sizes.get('products', 0)} "
            f"products and {sizes.get('interactions', 0)} interactions"
            + (f" up to day {until}" if until else "")
            + ": load data first (`kgdistill load ecomm`, `load csv --dir DIR`)"
        )
    say(
        f"extracted {sizes['customers']:,} customers, {sizes['products']:,} products, "
        f"{sizes['interactions']:,} interactions ({time.perf_counter() - began:.1f}s)"
    )
    return frame


def _pages(runner: QueryRunner, name: str, page: int) -> dict[str, list[Any]]:
    """Every page of a node statement, columns concatenated (see the module docstring)."""
    query = statement(name)
    out: dict[str, list[Any]] = {}
    for after in _STARTS:
        while True:
            cols = runner.read_record(query, after=after, page=page, hidden=sorted(_HIDDEN)) or {}
            ids = cols.get("id", [])
            for key, values in cols.items():
                out.setdefault(key, []).extend(values)
            if len(ids) < page:
                break
            after = ids[-1]
    return out


def _features(
    keys: list[list[str]], values: list[list[Any]], first: tuple[str, ...] = ()
) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(
        [dict(zip(k, v, strict=True)) for k, v in zip(keys, values, strict=True)]
    )
    known = [c for c in first if c in frame.columns]
    return frame[known + sorted(c for c in frame.columns if c not in known)]


def _index_of(ids: pd.Index, values: list[Any]) -> np.ndarray:
    if not values:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(ids.get_indexer(pd.Index(values, dtype=object)), dtype=np.int64)


def _ids(values: list[Any]) -> pd.Series:
    return pd.Series(values, dtype=object)


def extract_graphframe(
    runner: QueryRunner,
    *,
    until: int | None = None,
    config: ExtractConfig | None = None,
) -> GraphFrame:
    """The whole graph as a GraphFrame; interactions after day ``until`` (YYYYMMDD) left out."""
    config = config or ExtractConfig()
    page = config.page_size
    began = time.monotonic()
    as_of = db_now(runner)  # before the first page

    cols = _pages(runner, "extract/page_categories", page)
    categories = pd.DataFrame({"id": _ids(cols["id"])})
    levels = pd.Series([link[0] for link in cols["links"]], dtype=float)
    categories["level"] = levels.astype(np.int64) if levels.notna().all() else levels
    category_ids = pd.Index(cols["id"], dtype=object)
    categories["parent"] = _index_of(category_ids, [link[1] for link in cols["links"]])

    cols = _pages(runner, "extract/page_brands", page)
    brands = pd.DataFrame({"id": _ids(cols["id"])})
    brand_ids = pd.Index(cols["id"], dtype=object)

    cols = _pages(runner, "extract/page_products", page)
    features = _features(cols["keys"], cols["values"], ("price",))
    products = pd.DataFrame({"id": _ids(cols["id"])})
    products["price"] = (
        pd.to_numeric(features.pop("price"), errors="coerce").astype(float)
        if "price" in features
        else np.full(len(products), np.nan)
    )
    products["category"] = _index_of(category_ids, [link[0] for link in cols["links"]])
    products["brand"] = _index_of(brand_ids, [link[1] for link in cols["links"]])
    products = pd.concat([products, features], axis=1)

    cols = _pages(runner, "extract/page_customers", page)
    customers = pd.concat(
        [
            pd.DataFrame({"id": _ids(cols["id"])}),
            _features(cols["keys"], cols["values"], _CUSTOMER_ORDER),
        ],
        axis=1,
    )

    interactions = _interactions(runner, customers, products, until, config)
    return GraphFrame(
        customers=customers,
        products=products,
        categories=categories,
        brands=brands,
        interactions=interactions,
        meta={
            "source": runner.settings.describe(),
            "until": until,
            "page_size": page,
            "seconds": round(time.monotonic() - began, 3),
            "as_of": as_of,
        },
    )


def _interactions(
    runner: QueryRunner,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    until: int | None,
    config: ExtractConfig,
) -> pd.DataFrame:
    query = statement("extract/page_interactions")
    columns: dict[str, list[Any]] = {k: [] for k in ("customer", "product", "type", "day", "count")}
    target = config.page_size
    # Customers per page adapts so that a page holds about page_size interactions.
    per_page = max(1, min(target, target // 20 or 1))
    for after in _STARTS:
        while True:
            record = runner.read_record(
                query,
                after=after,
                customers=per_page,
                types=list(config.interaction_types),
                until=_NO_CUT if until is None else int(until),
            )
            if not record:
                break
            for key in columns:
                columns[key].extend(record[key])
            after = record["last_id"]
            n = len(record["customer"])
            rate = max(n, 1) / per_page
            per_page = int(np.clip(target / rate, 1, max(target, 1)))
    customer_index = pd.Index(customers["id"].tolist(), dtype=object)
    product_index = pd.Index(products["id"].tolist(), dtype=object)
    frame = pd.DataFrame(
        {
            "customer": _index_of(customer_index, columns["customer"]),
            "product": _index_of(product_index, columns["product"]),
            "type": pd.Series(columns["type"], dtype=object),
            "day": np.asarray(columns["day"], dtype=np.int64),
            "count": np.asarray(columns["count"], dtype=np.int64),
        }
    )
    # A node deleted between pages would leave -1 here; such rows cannot be used.
    keep = (frame["customer"].to_numpy() >= 0) & (frame["product"].to_numpy() >= 0)
    # A customer's relationships come in the store's order, which depends on how they
    # were written (a bulk import's is not the same twice): sorted, the same graph is
    # the same frame, and so the same held-out pairs and the same figures
    order = ["customer", "product", "day", "type", "count"]
    return frame.loc[keep].sort_values(order, kind="stable").reset_index(drop=True)
