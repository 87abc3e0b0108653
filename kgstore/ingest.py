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
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from kgstore.connection import QueryRunner
from kgstore.cypher import statement
from kgstore.sources.plan import LoadError, LoadPlan

__all__ = [
    "LoadConfig",
    "LoadError",
    "LoadSummary",
    "apply_schema",
    "load_csv",
    "load_ecomm",
    "load_synthetic",
    "write_plan",
]

UNKNOWN_SAMPLE = 5


@dataclass(frozen=True)
class LoadConfig:
    """The ``[load]`` section: how loads write."""

    batch_size: int = 10_000  # rows per UNWIND transaction (5k-20k measured best here)
    on_unknown: Literal["error", "skip"] = "error"  # relationships whose ends are unknown

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {self.batch_size}")
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


def _interaction_rows(frame: Any) -> Iterable[dict[str, Any]]:
    return (
        {"customer": c, "product": p, "day": d, "count": n}
        for c, p, d, n in zip(
            frame["customer"].tolist(),
            frame["product"].tolist(),
            frame["day"].tolist(),
            frame["count"].tolist(),
            strict=True,
        )
    )


def write_plan(
    runner: QueryRunner,
    plan: LoadPlan,
    config: LoadConfig | None = None,
    *,
    progress: bool = True,
) -> LoadSummary:
    """Write a validated plan: unknown-end check, schema, then nodes, links, interactions."""
    config = config or LoadConfig()
    began = time.monotonic()
    plan.complete()
    summary = LoadSummary(source=plan.source, rows_read=plan.rows_read, notes=list(plan.notes))
    _check_ends(runner, plan, config, summary)
    summary.plan = plan.counts()
    apply_schema(runner)

    steps: list[tuple[str, str, dict[str, str], Sequence[dict[str, Any]] | Iterable[Any], int]] = [
        ("categories", "load/merge_categories", {}, plan.categories, len(plan.categories)),
        (
            "subcategories",
            "load/link_subcategories",
            {},
            plan.subcategories,
            len(plan.subcategories),
        ),
        ("brands", "load/merge_brands", {}, plan.brands, len(plan.brands)),
        ("products", "load/merge_products", {}, plan.products, len(plan.products)),
        (
            "product categories",
            "load/link_product_categories",
            {},
            plan.product_categories,
            len(plan.product_categories),
        ),
        (
            "product brands",
            "load/link_product_brands",
            {},
            plan.product_brands,
            len(plan.product_brands),
        ),
        ("customers", "load/merge_customers", {}, plan.customers, len(plan.customers)),
    ]
    frame = plan.interactions
    for rel_type, part in frame.groupby("type", sort=True) if len(frame) else []:
        steps.append(
            (
                str(rel_type),
                "load/merge_interactions",
                {"rel_type": str(rel_type)},
                _interaction_rows(part),
                len(part),
            )
        )
    total = sum(step[4] for step in steps)
    with tqdm(total=total, unit="rows", unit_scale=True, disable=not progress, desc="load") as bar:
        for label, name, identifiers, rows, size in steps:
            if not size:
                continue
            bar.set_postfix_str(label)
            t0 = time.monotonic()
            counters = runner.write_batches(
                statement(name, **identifiers),
                rows,
                batch_size=config.batch_size,
                on_batch=bar.update,
            )
            if name == "load/merge_interactions":
                summary.interaction_seconds += time.monotonic() - t0
            summary.nodes_created += counters.get("nodes_created", 0)
            summary.relationships_created += counters.get("relationships_created", 0)
            summary.relationships_deleted += counters.get("relationships_deleted", 0)
            summary.properties_set += counters.get("properties_set", 0)
    summary.seconds = time.monotonic() - began
    return summary


# -- the three sources, each one call -----------------------------------------------
def load_ecomm(
    runner: QueryRunner,
    path: str | Path | None = None,
    config: LoadConfig | None = None,
    *,
    progress: bool = True,
) -> LoadSummary:
    """Load the EComm sample: the bundled copy, or ``path`` (a directory or a .tar.gz)."""
    from kgstore.sources.ecomm import read_ecomm

    return write_plan(runner, read_ecomm(path), config, progress=progress)


def load_csv(
    runner: QueryRunner,
    directory: str | Path,
    schema: str | Path | None = None,
    config: LoadConfig | None = None,
    *,
    progress: bool = True,
) -> LoadSummary:
    """Load a directory in the CSV interchange format (docs/csv-format.md)."""
    from kgstore.sources.csv_files import read_csv_dir

    return write_plan(runner, read_csv_dir(directory, schema), config, progress=progress)


def load_synthetic(
    runner: QueryRunner,
    customers: int,
    products: int,
    interactions: int,
    seed: int = 0,
    config: LoadConfig | None = None,
    *,
    progress: bool = True,
) -> LoadSummary:
    """Generate a believable shop (:mod:`kgstore.sources.synthetic`) and load it."""
    from kgstore.sources.synthetic import generate

    plan = generate(customers=customers, products=products, interactions=interactions, seed=seed)
    return write_plan(runner, plan, config, progress=progress)
