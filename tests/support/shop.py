"""Small shops built with parameterised Cypher that follows the graph model the loaders write.

``(:Customer {id, updated_at})``, ``(:Product {id, price, updated_at})``,
``(:Category {id, level, updated_at})``, ``(:Brand {id, updated_at})``,
``IN_CATEGORY``, ``SUBCATEGORY_OF``, ``MADE_BY``, and interactions
``CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT {day, count, loaded_at}``. Timestamps
are set explicitly (``loaded_at``/``updated_at``), as the loaders set them on
create, so a test can place data before or after a sync's watermark.

The standard shop (:func:`build_shop`): categories 10..13 under root 1; product
``1000 + i`` sits in category ``10 + i % 4``, brand ``500 + i % 3``, price
``10 + i``; customer ``c`` (1..n) interacts with three products of category
``10 + c % 4`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kgstore.connection import QueryRunner

PAST = datetime(2026, 1, 2, tzinfo=UTC)  # when the standard shop was "loaded"
LEAVES = (10, 11, 12, 13)

_SCHEMA = (
    "CREATE CONSTRAINT IF NOT EXISTS FOR (n:Customer) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT IF NOT EXISTS FOR (n:Product) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT IF NOT EXISTS FOR (n:Category) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT IF NOT EXISTS FOR (n:Brand) REQUIRE n.id IS UNIQUE",
)

_CATEGORIES = """
UNWIND $rows AS row
MERGE (c:Category {id: row.id})
ON CREATE SET c.level = row.level, c.updated_at = $at
WITH c, row WHERE row.parent IS NOT NULL
MATCH (parent:Category {id: row.parent})
MERGE (c)-[:SUBCATEGORY_OF]->(parent)
"""

_PRODUCTS = """
UNWIND $rows AS row
MERGE (p:Product {id: row.id})
ON CREATE SET p.price = row.price, p.updated_at = $at
MERGE (b:Brand {id: row.brand})
ON CREATE SET b.updated_at = $at
MERGE (p)-[:MADE_BY]->(b)
WITH p, row
MATCH (c:Category {id: row.category})
MERGE (p)-[:IN_CATEGORY]->(c)
"""

_CUSTOMERS = """
UNWIND $rows AS row
MERGE (c:Customer {id: row.id})
ON CREATE SET c.gender = row.gender, c.updated_at = $at
"""

# One statement per interaction type: relationship types cannot be parameters.
_INTERACTIONS = """
UNWIND $rows AS row
MATCH (c:Customer {id: row.customer}), (p:Product {id: row.product})
MERGE (c)-[i:%s {day: row.day}]->(p)
ON CREATE SET i.count = row.count, i.loaded_at = $at
"""

TYPES = ("CLICKED", "FAVORITED", "ADDED_TO_CART", "BOUGHT")


def create_schema(runner: QueryRunner) -> None:
    for text in _SCHEMA:
        runner.write(text)


def add_categories(runner: QueryRunner, rows: Sequence[dict[str, Any]], at: datetime) -> None:
    runner.write(_CATEGORIES, rows=list(rows), at=at)


def add_products(runner: QueryRunner, rows: Sequence[dict[str, Any]], at: datetime) -> None:
    """rows: {id, price, category, brand}"""
    runner.write_batches(_PRODUCTS, rows, batch_size=2000, params={"at": at})


def add_customers(runner: QueryRunner, ids: Sequence[Any], at: datetime) -> None:
    rows = [{"id": cid, "gender": cid % 2 if isinstance(cid, int) else 0} for cid in ids]
    runner.write_batches(_CUSTOMERS, rows, batch_size=5000, params={"at": at})


def add_interactions(runner: QueryRunner, rows: Sequence[dict[str, Any]], at: datetime) -> None:
    """rows: {customer, product, type, day, count}"""
    for kind in TYPES:
        chosen = [r for r in rows if r["type"] == kind]
        if chosen:
            runner.write_batches(_INTERACTIONS % kind, chosen, batch_size=5000, params={"at": at})


def change_product_price(runner: QueryRunner, product_id: Any, price: float, at: datetime) -> None:
    runner.write(
        "MATCH (p:Product {id: $id}) SET p.price = $price, p.updated_at = $at",
        id=product_id,
        price=price,
        at=at,
    )


def build_shop(
    runner: QueryRunner,
    customers: int = 40,
    products: int = 40,
    at: datetime = PAST,
    day: int = 20260101,
) -> None:
    """The standard shop described in the module docstring."""
    create_schema(runner)
    add_categories(runner, [{"id": 1, "level": 1, "parent": None}], at)
    add_categories(runner, [{"id": c, "level": 2, "parent": 1} for c in LEAVES], at)
    add_products(
        runner,
        [
            {"id": 1000 + i, "price": 10.0 + i, "category": LEAVES[i % 4], "brand": 500 + i % 3}
            for i in range(products)
        ],
        at,
    )
    ids = list(range(1, customers + 1))
    add_customers(runner, ids, at)
    by_category = {
        leaf: [1000 + i for i in range(products) if i % 4 == k] for k, leaf in enumerate(LEAVES)
    }
    rows = []
    for cid in ids:
        pool = by_category[LEAVES[cid % 4]]
        for n in range(3):
            product = pool[(cid + n) % len(pool)]
            rows.append(
                {
                    "customer": cid,
                    "product": product,
                    "type": "BOUGHT" if n == 0 else "CLICKED",
                    "day": day,
                    "count": 1 + n,
                }
            )
    add_interactions(runner, rows, at)
