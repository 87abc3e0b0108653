"""Load sources into Neo4j: parse and validate everything first, then write in batches.

A load is two steps. A source (:mod:`kgstore.sources`) turns its input into a
:class:`~kgstore.sources.plan.LoadPlan`, raising :class:`LoadError` (file, line,
reason) before anything is written. :func:`write_plan` then checks that every
relationship's ends are known (in this load or already in the database),
applies the schema, and writes the plan with ``UNWIND $rows`` statements from
``cypher/load/``, one managed transaction per batch. Every statement MERGEs on
the business id and sets only what changed, so loading the same data again
creates and sets nothing.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm import tqdm

from kgstore.connection import QueryRunner
from kgstore.cypher import statement
from kgstore.sources.plan import LoadError, LoadPlan
from kgstore.writeback import CATEGORIES, RECOMMENDATIONS

__all__ = [
    "LoadConfig",
    "LoadError",
    "LoadSummary",
    "apply_schema",
    "load_csv",
    "load_ecomm",
    "load_synthetic",
    "prepare_plan",
    "synthetic_plan",
    "write_plan",
]

UNKNOWN_SAMPLE = 5
SYNTHETIC_MODES = ("features", "cf")  # load_synthetic's kinds of shop
# The relationship types predictions are written as: no interaction may take them.
PREDICTION_TYPES = (RECOMMENDATIONS.relationship, CATEGORIES.relationship)


@dataclass(frozen=True)
class LoadConfig:
    """The ``[load]`` section: how loads write."""

    batch_size: int = 10_000  # rows per UNWIND transaction (5k-20k measured best here)
    on_unknown: Literal["error", "skip"] = "error"  # relationships whose ends are unknown
    # Interactions are written by this many concurrent transactions, each with its own
    # customers (2 on a 2-core machine: about 25% more relationships per second)
    workers: int = 2

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {self.batch_size}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, not {self.workers}")
        if self.on_unknown not in ("error", "skip"):
            raise ValueError(f"on_unknown must be 'error' or 'skip', not {self.on_unknown!r}")


@dataclass
class LoadSummary:
    source: str
    rows_read: int
    nodes_created: int = 0
    relationships_created: int = 0
    relationships_deleted: int = 0
    properties_set: int = 0
    plan: dict[str, int] = field(default_factory=dict)  # what the source held
    skipped_unknown: int = 0
    unknown_sample: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interaction_seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    @property
    def rels_per_s(self) -> float:
        """Interaction rows written per second of interaction writing."""
        n = self.plan.get("interactions", 0)
        return n / self.interaction_seconds if self.interaction_seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rows_per_s": round(self.rows_per_s),
            "rels_per_s": round(self.rels_per_s),
        }

    def lines(self) -> list[str]:
        p = self.plan
        out = [
            f"Loaded {self.source}",
            f"  read:     {self.rows_read:,} source rows -> {p.get('customers', 0):,} customers, "
            f"{p.get('products', 0):,} products, {p.get('categories', 0):,} categories, "
            f"{p.get('brands', 0):,} brands, {p.get('interactions', 0):,} interactions "
            f"(count sum {p.get('interaction_count_sum', 0):,})",
            f"  created:  {self.nodes_created:,} nodes, {self.relationships_created:,} "
            f"relationships; {self.properties_set:,} properties set",
        ]
        if self.relationships_deleted:
            out.append(f"  replaced: {self.relationships_deleted:,} old category/brand links")
        if self.skipped_unknown:
            out.append(
                f"  skipped:  {self.skipped_unknown:,} interactions with unknown ends "
                f"(e.g. {', '.join(self.unknown_sample)})"
            )
        out.append(
            f"  time:     {self.seconds:.1f}s, {self.rows_per_s:,.0f} rows/s; "
            f"interactions {self.rels_per_s:,.0f} rels/s"
        )
        out += [f"  note:     {note}" for note in self.notes]
        return out


def apply_schema(runner: QueryRunner) -> None:
    """Create the constraints and indexes of ``cypher/schema/`` (idempotent: IF NOT EXISTS)."""
    text = statement("schema/create_constraints")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    for part in body.split(";"):
        if part.strip():
            runner.write(part.strip())
    # Let the new indexes come online before MERGEs rely on them.
    runner.write("CALL db.awaitIndexes(300)")


def _find(runner: QueryRunner, name: str, ids: Sequence[Any], chunk: int = 20_000) -> set[Any]:
    found: set[Any] = set()
    for start in range(0, len(ids), chunk):
        value = runner.read_value(statement(name), ids=list(ids[start : start + chunk]))
        found.update(value or [])
    return found


def _check_ends(
    runner: QueryRunner, plan: LoadPlan, config: LoadConfig, summary: LoadSummary
) -> None:
    """Report relationships whose ends are neither in this load nor in the database."""
    problems: list[str] = []
    frame = plan.interactions
    unknown_customers: set[Any] = set()
    unknown_products: set[Any] = set()
    if len(frame):
        loaded = {row["id"] for row in plan.customers}
        missing = [c for c in frame["customer"].unique().tolist() if c not in loaded]
        unknown_customers = set(missing) - _find(runner, "load/find_customers", missing)
        loaded = {row["id"] for row in plan.products}
        missing = [p for p in frame["product"].unique().tolist() if p not in loaded]
        unknown_products = set(missing) - _find(runner, "load/find_products", missing)
    bad = frame["customer"].isin(unknown_customers) | frame["product"].isin(unknown_products)
    n_bad = int(bad.sum())
    if n_bad:
        sample = [
            f"customer {c!r} -{t}-> product {p!r}"
            for c, p, t in frame.loc[bad, ["customer", "product", "type"]]
            .head(UNKNOWN_SAMPLE)
            .itertuples(index=False)
        ]
        problems.append(
            f"{n_bad:,} interactions name {len(unknown_customers):,} unknown customers and "
            f"{len(unknown_products):,} unknown products (neither in this load nor in the "
            f"database), e.g. {'; '.join(sample)}"
        )
    loaded = {row["id"] for row in plan.categories}
    missing = [r["parent"] for r in plan.subcategories if r["parent"] not in loaded]
    unknown_parents = set(missing) - _find(runner, "load/find_categories", missing)
    bad_links = [r for r in plan.subcategories if r["parent"] in unknown_parents]
    if bad_links:
        problems.append(
            f"{len(bad_links):,} categories name unknown parents, e.g. "
            + "; ".join(f"{r['id']!r} -> {r['parent']!r}" for r in bad_links[:UNKNOWN_SAMPLE])
        )
    if not problems:
        return
    if config.on_unknown == "error":
        raise LoadError(
            f"{plan.source}: " + "; ".join(problems) + ". Nothing was loaded; load the missing "
            "nodes first, or skip these relationships with --skip-unknown "
            "(load.on_unknown = 'skip')."
        )
    if n_bad:
        plan.interactions = frame.loc[~bad].reset_index(drop=True)
        summary.skipped_unknown = n_bad
        summary.unknown_sample = sample
    if bad_links:
        plan.subcategories = [r for r in plan.subcategories if r["parent"] not in unknown_parents]
        summary.notes.append(f"skipped {len(bad_links):,} SUBCATEGORY_OF links to unknown parents")


def _row_streams(
    query: str, rows: Sequence[dict[str, Any]], batch_size: int, workers: int, order: str | None
) -> list[list[tuple[str, dict[str, Any], int]]]:
    """``UNWIND $rows`` transactions for :meth:`QueryRunner.write_streams`: rows split
    between ``workers`` streams by their ``id`` (each node is written by one stream only),
    each batch listed in one global order of ``row[order]`` when ``order`` names the
    shared end of a link, so writers lock it in the same order and never deadlock."""
    stream_of = pd.factorize(pd.Series([row["id"] for row in rows], dtype=object))[0] % workers
    rank = pd.factorize(pd.Series([row[order] for row in rows], dtype=object))[0] if order else None
    streams: list[list[tuple[str, dict[str, Any], int]]] = []
    for k in range(workers):
        mine = np.flatnonzero(stream_of == k)
        batches = []
        for start in range(0, len(mine), batch_size):
            chosen = mine[start : start + batch_size]
            if rank is not None:
                chosen = chosen[np.argsort(rank[chosen], kind="stable")]
            batches.append((query, {"rows": [rows[i] for i in chosen]}, len(chosen)))
        if batches:
            streams.append(batches)
    return streams


def _interaction_streams(
    frame: pd.DataFrame, batch_size: int, workers: int
) -> list[_InteractionBatches]:
    """Interaction transactions for :meth:`QueryRunner.write_streams`, one stream per worker.

    Why this shape: creating a relationship locks both of its end nodes until commit.
    The streams hold disjoint customers, so concurrent transactions can only meet on
    products, and every batch lists its rows in one global product order, so they take
    those locks in the same order: they may wait for each other, but never deadlock.
    Each batch's parameters are built when its turn comes, not all up front.
    """
    products = pd.factorize(frame["product"])[0]
    stream_of = pd.factorize(frame["customer"])[0] % workers
    streams = [
        _InteractionBatches(frame, np.flatnonzero(stream_of == k), products, batch_size)
        for k in range(workers)
    ]
    return [stream for stream in streams if len(stream.rows)]


class _InteractionBatches:
    """One writer's interactions (``rows`` of ``frame``), by type, ``batch_size`` at a time,
    each batch in ``order``; iterable again, and lazy, so only one batch's parameters are
    ever held."""

    def __init__(
        self, frame: pd.DataFrame, rows: np.ndarray, order: np.ndarray, batch_size: int
    ) -> None:
        self.frame, self.rows, self.order, self.batch_size = frame, rows, order, batch_size

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any], int]]:
        types = self.frame["type"].to_numpy()[self.rows]
        columns = {
            name: self.frame[column].to_numpy()
            for name, column in (
                ("customers", "customer"),
                ("products", "product"),
                ("days", "day"),
                ("counts", "count"),
            )
        }
        for rel_type in sorted(set(types.tolist())):
            query = statement("load/merge_interactions", rel_type=str(rel_type))
            part = self.rows[types == rel_type]
            for start in range(0, len(part), self.batch_size):
                chosen = part[start : start + self.batch_size]
                chosen = chosen[np.argsort(self.order[chosen], kind="stable")]
                params = {name: values[chosen].tolist() for name, values in columns.items()}
                yield query, params, len(chosen)


def prepare_plan(
    runner: QueryRunner,
    plan: LoadPlan,
    config: LoadConfig,
    reserved_types: Collection[str] = PREDICTION_TYPES,
) -> LoadSummary:
    """The checks every load makes before its first write (values, then ends unknown to
    both the plan and the database), and the summary they start; completes ``plan``.
    Shared by :func:`write_plan` and the bulk first load (:mod:`kgstore.bulk`)."""
    plan.check_values(reserved_types)
    plan.complete()
    summary = LoadSummary(source=plan.source, rows_read=plan.rows_read, notes=list(plan.notes))
    _check_ends(runner, plan, config, summary)
    summary.plan = plan.counts()
    return summary


def write_plan(
    runner: QueryRunner,
    plan: LoadPlan,
    config: LoadConfig | None = None,
    *,
    progress: bool = True,
    reserved_types: Collection[str] = PREDICTION_TYPES,
) -> LoadSummary:
    """Write a validated plan: value and unknown-end checks, schema, then nodes, links,
    interactions. ``reserved_types``: relationship types no interaction may take."""
    config = config or LoadConfig()
    began = time.monotonic()
    summary = prepare_plan(runner, plan, config, reserved_types)
    apply_schema(runner)

    # (label, statement, rows, how concurrent writers stay apart): node merges split
    # by id; product links also list each batch in one category/brand order (the
    # shared end); category links run alone, since a category can be either end.
    steps: list[tuple[str, str, Sequence[dict[str, Any]], str | None]] = [
        ("categories", "load/merge_categories", plan.categories, ""),
        ("subcategories", "load/link_subcategories", plan.subcategories, None),
        ("brands", "load/merge_brands", plan.brands, ""),
        ("products", "load/merge_products", plan.products, ""),
        (
            "product categories",
            "load/link_product_categories",
            plan.product_categories,
            "category",
        ),
        ("product brands", "load/link_product_brands", plan.product_brands, "brand"),
        ("customers", "load/merge_customers", plan.customers, ""),
    ]
    frame = plan.interactions
    total = sum(len(step[2]) for step in steps) + len(frame)
    with tqdm(total=total, unit="rows", unit_scale=True, disable=not progress, desc="load") as bar:
        for label, name, rows, order in steps:
            if not rows:
                continue
            bar.set_postfix_str(label)
            workers = config.workers if order is not None else 1
            streams = _row_streams(statement(name), rows, config.batch_size, workers, order)
            _count(summary, runner.write_streams(streams, on_batch=bar.update))
        if len(frame):
            bar.set_postfix_str(f"interactions, {config.workers} at once")
            t0 = time.monotonic()
            batches = _interaction_streams(frame, config.batch_size, config.workers)
            _count(summary, runner.write_streams(batches, on_batch=bar.update))
            summary.interaction_seconds = time.monotonic() - t0
    summary.seconds = time.monotonic() - began
    return summary


def _count(summary: LoadSummary, counters: dict[str, int]) -> None:
    summary.nodes_created += counters.get("nodes_created", 0)
    summary.relationships_created += counters.get("relationships_created", 0)
    summary.relationships_deleted += counters.get("relationships_deleted", 0)
    summary.properties_set += counters.get("properties_set", 0)


# -- the three sources, each one call -----------------------------------------------
def load_ecomm(
    runner: QueryRunner,
    path: str | Path | None = None,
    config: LoadConfig | None = None,
    *,
    progress: bool = True,
    reserved_types: Collection[str] = PREDICTION_TYPES,
) -> LoadSummary:
    """Load the EComm sample: the bundled copy, or ``path`` (a directory or a .tar.gz)."""
    from kgstore.sources.ecomm import read_ecomm

    plan = read_ecomm(path)
    return write_plan(runner, plan, config, progress=progress, reserved_types=reserved_types)


def load_csv(
    runner: QueryRunner,
    directory: str | Path,
    schema: str | Path | None = None,
    config: LoadConfig | None = None,
    *,
    progress: bool = True,
    reserved_types: Collection[str] = PREDICTION_TYPES,
) -> LoadSummary:
    """Load a directory in the CSV interchange format (docs/csv-format.md)."""
    from kgstore.sources.csv_files import read_csv_dir

    plan = read_csv_dir(directory, schema, reserved_types=reserved_types)
    return write_plan(runner, plan, config, progress=progress, reserved_types=reserved_types)


def load_synthetic(
    runner: QueryRunner,
    customers: int,
    products: int,
    interactions: int,
    seed: int = 0,
    config: LoadConfig | None = None,
    *,
    mode: str = "features",
    progress: bool = True,
    reserved_types: Collection[str] = PREDICTION_TYPES,
) -> LoadSummary:
    """Generate a synthetic shop (:mod:`kgstore.sources.synthetic`) and load it.

    ``mode``: ``features`` (categories, brands, prices, customer features) or ``cf``
    (ids and interactions only, drawn from latent factors).
    """
    plan = synthetic_plan(customers, products, interactions, seed, mode)
    return write_plan(runner, plan, config, progress=progress, reserved_types=reserved_types)


def synthetic_plan(
    customers: int, products: int, interactions: int, seed: int = 0, mode: str = "features"
) -> LoadPlan:
    """The plan :func:`load_synthetic` writes (``mode``: one of :data:`SYNTHETIC_MODES`)."""
    from kgstore.sources.synthetic import generate, generate_cf

    if mode not in SYNTHETIC_MODES:
        raise ValueError(f"mode must be one of {', '.join(SYNTHETIC_MODES)}, got {mode!r}")
    make = generate_cf if mode == "cf" else generate
    return make(customers=customers, products=products, interactions=interactions, seed=seed)
