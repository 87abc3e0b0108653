"""What changed since a watermark, and which customers must be rescored because of it.

The policy (the sync rescores the union, see :class:`ChangeSet`):

- customers with new interactions (``loaded_at`` after the watermark): their
  history changed;
- customers created or changed (``updated_at``): their features changed;
- for products created or changed (``updated_at``): not every customer (too
  much for a big shop) but the customers whose *recent* interactions (within
  ``recent_days`` of the latest interaction day) share a category with a
  changed product, most engaged first, plus the customers currently
  recommended a changed product (their scores are stale), together at most
  ``product_audience_cap``. Customers beyond the cap pick new products up at
  their next rescoring (their own next interaction, or a full run);
- with no watermark yet (the first sync): every customer.

Windows are ``(since - overlap, until]`` in database time: the overlap catches
rows a loader stamped just before the previous sync's watermark but committed
after it; rescoring a customer twice is harmless (write-back is idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from kgframe import INTERACTION_TYPES
from kgstore.connection import QueryRunner
from kgstore.cypher import statement

__all__ = ["ChangeSet", "ensure_change_indexes", "find_changes", "shift_day"]


@dataclass(frozen=True)
class ChangeSet:
    since: datetime | None  # None: the first sync, every customer
    until: datetime
    new_interactions: tuple[Any, ...] = ()  # customers with interactions loaded in the window
    changed_customers: tuple[Any, ...] = ()
    changed_products: tuple[Any, ...] = ()
    product_audience: tuple[Any, ...] = ()  # customers rescored for the changed products
    all_customers: tuple[Any, ...] = field(default=(), repr=False)  # only when since is None

    @property
    def full(self) -> bool:
        return self.since is None

    @property
    def customers(self) -> list[Any]:
        """Every customer to rescore, each once, in a stable order."""
        pools: Iterable[Any] = (
            self.all_customers
            if self.full
            else (*self.new_interactions, *self.changed_customers, *self.product_audience)
        )
        return sorted(set(pools), key=lambda v: (type(v).__name__, v))

    def counts(self) -> dict[str, int]:
        kinds = ("new_interactions", "changed_customers", "changed_products", "product_audience")
        counts = {kind: len(getattr(self, kind)) for kind in kinds}
        counts["customers"] = len(self.customers)
        return counts


def shift_day(day: int, days: int) -> int:
    """``YYYYMMDD`` moved by ``days`` (negative: back)."""
    moved = date(day // 10000, day // 100 % 100, day % 100) + timedelta(days=days)
    return moved.year * 10000 + moved.month * 100 + moved.day


def ensure_change_indexes(runner: QueryRunner) -> None:
    """Range indexes on ``loaded_at`` and ``updated_at`` (idempotent)."""
    for rel in INTERACTION_TYPES:
        runner.write(statement("sync/index_interaction_loaded_at", rel=rel))
    for label in ("Customer", "Product"):
        runner.write(statement("sync/index_updated_at", label=label))


def find_changes(
    runner: QueryRunner,
    since: datetime | None,
    until: datetime,
    *,
    overlap: timedelta = timedelta(0),
    recent_days: int = 30,
    product_audience_cap: int = 10_000,
    relationship: str = "RECOMMENDED",
) -> ChangeSet:
    """The changes in ``(since - overlap, until]`` and the customers they affect."""
    if since is None:
        ids = [row["id"] for row in runner.read(statement("sync/all_customers"))]
        return ChangeSet(since=None, until=until, all_customers=tuple(ids))
    window = {"since": since - overlap, "until": until}
    interacted, latest_day = _new_interactions(runner, window)
    customers = [row["id"] for row in runner.read(statement("sync/changed_customers"), **window)]
    products = [row["id"] for row in runner.read(statement("sync/changed_products"), **window)]
    audience: list[Any] = []
    if products and product_audience_cap > 0:
        if latest_day is None:
            latest_day = _latest_day(runner)
        audience = _product_audience(
            runner, products, latest_day, recent_days, product_audience_cap, relationship
        )
    return ChangeSet(
        since=since,
        until=until,
        new_interactions=tuple(sorted(interacted, key=lambda v: (type(v).__name__, v))),
        changed_customers=tuple(customers),
        changed_products=tuple(products),
        product_audience=tuple(audience),
    )


def _new_interactions(runner: QueryRunner, window: dict[str, Any]) -> tuple[set[Any], int | None]:
    """The customers with interactions loaded in ``window``, and the latest day among those."""
    interacted: set[Any] = set()
    latest_day: int | None = None
    for rel in INTERACTION_TYPES:
        query = statement("sync/customers_with_new_interactions", rel=rel)
        for row in runner.read(query, **window):
            interacted.add(row["id"])
            if row["day"] is not None:
                latest_day = max(latest_day or 0, int(row["day"]))
    return interacted, latest_day


def _latest_day(runner: QueryRunner) -> int | None:
    """The latest interaction day in the whole graph (None: no interactions)."""
    days = [runner.read_value(statement("sync/latest_day", rel=rel)) for rel in INTERACTION_TYPES]
    return max((int(d) for d in days if d is not None), default=None)


def _product_audience(
    runner: QueryRunner,
    products: list[Any],
    latest_day: int | None,
    recent_days: int,
    cap: int,
    relationship: str,
) -> list[Any]:
    """Recent customers of the changed products' categories, most engaged first, then the
    customers recommended a changed product, together at most ``cap``."""
    audience: list[Any] = []
    if latest_day is not None:
        rows = runner.read(
            statement("sync/product_audience"),
            product_ids=products,
            since_day=shift_day(latest_day, -recent_days),
            cap=cap,
        )
        audience = [row["id"] for row in rows]
    if len(audience) < cap:
        rows = runner.read(
            statement("sync/recommended_customers", rel=relationship),
            product_ids=products,
            cap=cap,
        )
        have = set(audience)
        for row in rows:
            if len(audience) >= cap:
                break
            if row["id"] not in have:
                have.add(row["id"])
                audience.append(row["id"])
    return audience
