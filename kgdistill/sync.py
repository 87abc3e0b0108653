"""The batch sync job: rescore the customers affected by what changed since the last run.

One run (:func:`run_sync`):

1. take the lock (``kgstore.writeback``; :class:`~kgstore.writeback.LockHeld` if
   another sync holds it), read the watermark, and note the database time ``until``;
2. find the changes in ``(watermark, until]`` and the customers they affect
   (:mod:`kgstore.changes` documents the policy);
3. score those customers in chunks with the application's :class:`SyncScorer` and
   write each chunk back (``kgstore.writeback``), renewing the lock between chunks;
4. only then advance the watermark to ``until``, and release the lock.

A run that dies anywhere before step 4 leaves the watermark where it was, so the
next run finds the same changes (and any new ones) and rescores them under a new
run id; write-back replaces each customer's recommendations whole, so nothing is
duplicated. ``dry_run`` does steps 2-3 without writing (no lock either) and
reports what would change.

Predictions written outside a sync (``kgdistill predict --write``, ``kgdistill run``)
keep one rule with it, :class:`kgstore.writeback.BesideSync`: they write under
the sync's lock, and the watermark is never later than the time the graph was read for any
recommendation written. Before its first write such a run moves the watermark back
to its graph-read time ``as_of`` when it is later (a sync ran while it scored: the
run is about to overwrite that sync's fresher results); after writing every customer
it sets the watermark to ``as_of``. So whatever changed after a recommendation was
scored is rescored by the next sync, also when the writer dies mid-write (it has
already moved the watermark back) or is paused past the lock's expiry (each write
transaction renews the lock inside it and stops once the lock has passed on:
:func:`kgstore.writeback.fence`). Syncs fence their own writes the same way.
"""

from __future__ import annotations

import contextlib
import importlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from kgdistill.service import PredictConfig
from kgstore import writeback
from kgstore.changes import ChangeSet, ensure_change_indexes, find_changes
from kgstore.connection import QueryRunner
from kgstore.cypher import statement
from kgstore.extract import db_now
from kgstore.writeback import RunInfo, WriteSummary, finish_run, start_run, write_rows

__all__ = [
    "ScorerError",
    "SyncConfig",
    "SyncResult",
    "SyncScorer",
    "load_scorer",
    "run_sync",
]


@runtime_checkable
class SyncScorer(Protocol):
    """What the sync needs from a model (``sync.scorer``, a plug-in point): a name, a
    version, and top-K per customer. The default, :class:`kgdistill.service.TrainedModel`,
    answers with the trained model's :meth:`distill.predict.Scorer.top_k`; another model
    (e.g. ``tests/support/scorers.py``) implements the same call.

    ``top_k`` reads what it needs through ``runner`` (features, candidates) and
    returns one row per recommendation with columns ``customer_id, product_id,
    score, rank`` (rank 1 best, at most ``k`` per customer), leaving out products
    the customer interacted with when ``exclude_seen`` and scores below
    ``min_score`` when given. It must be able to score products that are new
    since it was trained (from their features). A customer it cannot score gets
    no rows: their old recommendations are removed.
    """

    name: str
    version: str

    def top_k(
        self,
        runner: QueryRunner,
        customer_ids: Sequence[Any],
        k: int,
        *,
        exclude_seen: bool = True,
        min_score: float | None = None,
    ) -> pd.DataFrame: ...


class ScorerError(ValueError):
    """The configured scorer cannot be loaded or returned unusable rows."""


@dataclass(frozen=True)
class SyncConfig:
    """The ``[sync]`` section."""

    name: str = "default"  # one watermark and lock per name
    # "module:attribute": a SyncScorer, or a class/callable returning one (a class with
    # ``from_config(config)`` gets the command's configuration). The default scores with
    # the trained run's model (predict.run, predict.model).
    scorer: str = "kgdistill.service:TrainedModel"
    lock_ttl_s: float = 900.0  # a crashed holder blocks at most this long
    overlap_s: float = 60.0  # look this far before the watermark (late commits)
    recent_days: int = 30  # "recent" interactions for new products' audience
    product_audience_cap: int = 10_000  # most customers rescored for changed products
    chunk_size: int = 2_000  # customers scored and written per step

    def __post_init__(self) -> None:
        if self.lock_ttl_s <= 0:
            raise ValueError("lock_ttl_s must be > 0")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        if self.overlap_s < 0 or self.recent_days < 0 or self.product_audience_cap < 0:
            raise ValueError("overlap_s, recent_days and product_audience_cap must be >= 0")


@dataclass(frozen=True)
class SyncResult:
    """One run's outcome; :meth:`line` is the one summary line a run logs."""

    status: str  # "ok", "nothing to do", "dry run"
    name: str
    run_id: str | None
    rescored: int
    changes: dict[str, int]
    watermark_from: datetime | None
    watermark_to: datetime | None
    seconds: float
    written: int = 0
    deleted: int = 0
    full: bool = False
    would_change: int = 0  # dry run: customers whose recommendations would differ
    would_add: int = 0
    would_remove: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)  # dry run: a few diffs

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("watermark_from", "watermark_to"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        out["seconds"] = round(self.seconds, 2)
        return out

    def line(self) -> str:
        since = self.watermark_from.isoformat(timespec="seconds") if self.watermark_from else None
        until = self.watermark_to.isoformat(timespec="seconds") if self.watermark_to else "-"
        c = self.changes
        what = (
            "first run: every customer"
            if self.full
            else f"{c.get('new_interactions', 0)} with new interactions, "
            f"{c.get('changed_customers', 0)} changed customers, "
            f"{c.get('changed_products', 0)} changed products reaching "
            f"{c.get('product_audience', 0)} customers"
        )
        text = f"sync {self.name}: {self.status}; rescored {self.rescored} customers ({what})"
        if self.status == "dry run":
            text = (
                f"sync {self.name}: dry run; would rescore {self.rescored} customers ({what}); "
                f"{self.would_change} would change: +{self.would_add} -{self.would_remove} "
                "recommendations; nothing written"
            )
        elif self.run_id:
            text += f"; run {self.run_id}: {self.written} written, {self.deleted} replaced"
        return f"{text}; watermark {since or 'none'} -> {until}; {self.seconds:.1f}s"


# Scorers that moved: a configuration written for an earlier release keeps working.
MOVED_SCORERS = {"kgdistill.scoring:StudentScorer": "kgdistill.service:TrainedModel"}


def load_scorer(spec: str, config: Any = None) -> SyncScorer:
    """``"package.module:attribute"``: a SyncScorer instance, or a class/callable returning one.

    A target with a ``from_config`` attribute is built with ``from_config(config)``.
    """
    module_name, sep, attr = MOVED_SCORERS.get(spec, spec).partition(":")
    if not sep or not module_name or not attr:
        raise ScorerError(
            f"scorer {spec!r}: expected 'package.module:attribute' (set sync.scorer or --scorer)"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ScorerError(f"scorer {spec!r}: cannot import {module_name}: {exc}") from exc
    try:
        target = getattr(module, attr)
    except AttributeError:
        raise ScorerError(f"scorer {spec!r}: {module_name} has no attribute {attr!r}") from None
    # A class satisfies the protocol's attribute check too: instantiate classes and factories.
    make = isinstance(target, type) or (callable(target) and not isinstance(target, SyncScorer))
    if make and config is not None and hasattr(target, "from_config"):
        scorer = target.from_config(config)
    else:
        scorer = target() if make else target
    if not isinstance(scorer, SyncScorer):
        raise ScorerError(
            f"scorer {spec!r} is not a Scorer: it needs name, version and top_k(runner, "
            "customer_ids, k, exclude_seen=..., min_score=...)"
        )
    return scorer


def new_run_id(scorer: SyncScorer, now: datetime) -> str:
    return f"sync-{scorer.name}-{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _scored(
    scorer: SyncScorer, runner: QueryRunner, ids: Sequence[Any], predict: PredictConfig
) -> pd.DataFrame:
    frame = scorer.top_k(
        runner, ids, predict.k, exclude_seen=predict.exclude_seen, min_score=predict.min_score
    )
    needed = {"customer_id", "product_id", "score", "rank"}
    if not isinstance(frame, pd.DataFrame) or not needed <= set(frame.columns):
        raise ScorerError(
            f"scorer {scorer.name} returned {type(frame).__name__} without columns {sorted(needed)}"
        )
    asked = set(ids)
    stray = frame[~frame["customer_id"].isin(asked)]
    if len(stray):
        raise ScorerError(
            f"scorer {scorer.name} returned customer {stray.iloc[0]['customer_id']!r}, "
            "which it was not asked to score"
        )
    return frame[frame["rank"] <= predict.k]


def run_sync(
    runner: QueryRunner,
    scorer: SyncScorer,
    *,
    predict: PredictConfig | None = None,
    sync: SyncConfig | None = None,
    dry_run: bool = False,
    wait_s: float | None = None,
    progress: bool = True,
    on_chunk: Callable[[int], None] | None = None,
) -> SyncResult:
    """One sync (see the module docstring). Raises ``LockHeld`` when another sync runs
    (after ``wait_s`` seconds of trying, when given)."""
    predict = predict or PredictConfig()
    sync = sync or SyncConfig()
    began = time.monotonic()
    if dry_run:
        state = writeback.read_state(runner, sync.name)
        return _dry_run(runner, scorer, predict, sync, state, began)
    holder = writeback.new_holder()
    state = writeback.acquire_lock(runner, sync.name, holder, sync.lock_ttl_s, wait_s=wait_s)
    try:
        ensure_change_indexes(runner)
        until = db_now(runner)
        changes = _changes(runner, state.watermark, until, predict, sync)
        customers = changes.customers
        run_id = None
        written = deleted = 0
        if customers:
            now = datetime.now(UTC)
            run = RunInfo(
                run_id=new_run_id(scorer, now),
                model=scorer.name,
                model_version=str(scorer.version),
                scored_at=now,
                metrics={"sync": sync.name, **changes.counts()},
            )
            run_id = run.run_id
            total = _rescore(
                runner, scorer, run, customers, predict, sync, holder, progress, on_chunk
            )
            written, deleted = total.relationships_written, total.relationships_deleted
        writeback.advance_watermark(runner, sync.name, holder, until, run_id or "", len(customers))
    finally:
        # If this fails the lock expires after lock_ttl_s; never hide the original error.
        with contextlib.suppress(Exception):
            writeback.release_lock(runner, sync.name, holder)
    return _result(
        "ok" if customers else "nothing to do",
        sync,
        changes,
        state,
        until,
        began,
        run_id=run_id,
        written=written,
        deleted=deleted,
    )


def _rescore(
    runner: QueryRunner,
    scorer: SyncScorer,
    run: RunInfo,
    customers: Sequence[Any],
    predict: PredictConfig,
    sync: SyncConfig,
    holder: str,
    progress: bool,
    on_chunk: Callable[[int], None] | None,
) -> WriteSummary:
    """Score and write ``customers`` chunk by chunk as ``run``, under the lock ``holder``
    holds (renewed between chunks, checked inside every write transaction)."""
    kind = predict.recommendations()
    start_run(runner, run, kind)
    total: WriteSummary | None = None
    try:
        for chunk in _chunks(customers, sync.chunk_size):
            frame = _scored(scorer, runner, chunk, predict)
            summary = write_rows(
                runner,
                frame,
                run,
                kind,
                batch_size=predict.batch_size,
                sources=chunk,
                workers=predict.write_workers,
                progress=progress,
                fence=writeback.fence(sync.name, holder, sync.lock_ttl_s),
            )
            total = _add(total, summary)
            writeback.renew_lock(runner, sync.name, holder, sync.lock_ttl_s)
            if on_chunk:
                on_chunk(len(chunk))
    except BaseException:
        # The database may be what failed; then the run stays 'writing' (until the next
        # run sees its writer is gone and marks it 'interrupted').
        with contextlib.suppress(Exception):
            finish_run(runner, run.run_id, "failed", total)
        raise
    finish_run(runner, run.run_id, "complete", total)
    assert total is not None  # customers is not empty
    return total


def _changes(
    runner: QueryRunner,
    since: datetime | None,
    until: datetime,
    predict: PredictConfig,
    sync: SyncConfig,
) -> ChangeSet:
    return find_changes(
        runner,
        since,
        until,
        overlap=timedelta(seconds=sync.overlap_s),
        recent_days=sync.recent_days,
        product_audience_cap=sync.product_audience_cap,
        relationship=predict.relationship,
    )


def _result(
    status: str,
    sync: SyncConfig,
    changes: ChangeSet,
    state: writeback.SyncState,
    until: datetime,
    began: float,
    **more: Any,
) -> SyncResult:
    return SyncResult(
        status=status,
        name=sync.name,
        run_id=more.pop("run_id", None),
        rescored=len(changes.customers),
        changes=changes.counts(),
        watermark_from=state.watermark,
        watermark_to=until,
        seconds=time.monotonic() - began,
        full=changes.full,
        **more,
    )


def _add(total: WriteSummary | None, more: WriteSummary) -> WriteSummary:
    if total is None:
        return more
    return WriteSummary(
        run_id=more.run_id,
        relationship=more.relationship,
        sources=total.sources + more.sources,
        rows=total.rows + more.rows,
        relationships_written=total.relationships_written + more.relationships_written,
        relationships_deleted=total.relationships_deleted + more.relationships_deleted,
        missing_sources=total.missing_sources + more.missing_sources,
        missing_targets=total.missing_targets + more.missing_targets,
        batches=total.batches + more.batches,
        seconds=total.seconds + more.seconds,
    )


def _dry_run(
    runner: QueryRunner,
    scorer: SyncScorer,
    predict: PredictConfig,
    sync: SyncConfig,
    state: writeback.SyncState,
    began: float,
) -> SyncResult:
    until = db_now(runner)
    changes = _changes(runner, state.watermark, until, predict, sync)
    customers = changes.customers
    query = statement("sync/current_recommendations", rel=predict.relationship)
    changed = added = removed = 0
    examples: list[dict[str, Any]] = []
    for chunk in _chunks(customers, sync.chunk_size):
        frame = _scored(scorer, runner, chunk, predict)
        new: dict[Any, set[Any]] = {}
        for cid, pid in zip(
            frame["customer_id"].tolist(), frame["product_id"].tolist(), strict=True
        ):
            new.setdefault(cid, set()).add(pid)
        old: dict[Any, set[Any]] = {}
        for row in runner.read(query, ids=list(chunk)):
            old.setdefault(row["customer_id"], set()).add(row["product_id"])
        for cid in chunk:
            plus = new.get(cid, set()) - old.get(cid, set())
            minus = old.get(cid, set()) - new.get(cid, set())
            if plus or minus:
                changed += 1
                added += len(plus)
                removed += len(minus)
                if len(examples) < 10:
                    examples.append(
                        {
                            "customer_id": cid,
                            "add": sorted(plus, key=str),
                            "remove": sorted(minus, key=str),
                        }
                    )
    return _result(
        "dry run",
        sync,
        changes,
        state,
        until,
        began,
        would_change=changed,
        would_add=added,
        would_remove=removed,
        examples=examples,
    )
