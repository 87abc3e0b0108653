"""Write predictions back into Neo4j as scored relationships.

Top-K recommendations become ``(:Customer)-[:RECOMMENDED]->(:Product)``, node
classifications ``(:Product)-[:PREDICTED_CATEGORY]->(:Category)``; both carry
``{score, rank, model, model_version, run_id, scored_at}`` and both go through
the same machinery, generic over source label, target label and relationship
type (a :class:`PredictionKind`, from configuration, each name identifier-checked).

The contract (DESIGN.md, "Write-back contract"):

- Rows are grouped by source node and batched so that a batch holds whole
  sources; each batch is one ``UNWIND`` in one managed (retried) transaction
  (``cypher/writeback/replace_predictions.cypher``).
- That transaction deletes the source's predictions of the same kind from other
  runs and writes this run's, so every committed state of a source is fully old or
  fully new, never with none or with two runs mixed. (Neo4j reads are
  read-committed: a traversal running exactly while a batch commits can see part
  of it; that torn view is transient, and the integration crash test tells it
  from a committed one.)
- Rerunning a run id writes nothing twice: a source whose predictions already are
  exactly this run's targets is skipped; any other source is replaced whole (its
  old relationships deleted, this run's created). After a crash, a rerun of the
  same run writes only the sources the crash left on the old run. (A rerun with
  the same targets but other scores keeps the first scores: a run id names one
  set of predictions.)
- A ``(:ModelRun {run_id})`` node records lineage: ``status`` is ``writing``
  while the run writes, then ``complete`` (or ``failed``).

The caller hands over rows already top-K'd and filtered: the model side
excludes seen products and applies score thresholds.

The sync's state lives here too, on one ``(:SyncState {name})`` node: a watermark
and a lock, because predictions are written under them (:class:`BesideSync`).

The watermark is the database time up to which changes have been rescored; it
moves only after a sync succeeds. The lock keeps two syncs from running at
once: it is taken in one write transaction (``cypher/sync/acquire_lock.cypher``
takes the node's write lock before it checks), carries a holder
(``host:pid:nonce``) and an expiry, and is renewed while a sync works. A holder
that crashed stops blocking once its lock expires, or at once when the next
sync runs on the same host and sees the holder's process is gone.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from kgstore.connection import QueryRunner
from kgstore.cypher import check_identifier, statement

__all__ = [
    "CATEGORIES",
    "RECOMMENDATIONS",
    "BesideSync",
    "LockHeld",
    "LockLost",
    "PredictionKind",
    "PredictionWriter",
    "RunInfo",
    "SyncState",
    "WriteSummary",
    "WritebackError",
    "acquire_lock",
    "advance_watermark",
    "check_free",
    "ensure_schema",
    "fence",
    "finish_run",
    "group_batches",
    "holder_is_dead",
    "mark_interrupted",
    "new_holder",
    "read_state",
    "release_lock",
    "renew_lock",
    "rewind_watermark",
    "start_run",
    "write_predictions",
    "write_rows",
]


class WritebackError(ValueError):
    """Rows that cannot be written as given; the message names the column or source id."""


@dataclass(frozen=True)
class PredictionKind:
    """Which relationship a prediction becomes: ``(:source)-[:relationship]->(:target)``,
    and the columns of the prediction rows that hold the source and target ids."""

    source_label: str
    target_label: str
    relationship: str
    source_column: str = "customer_id"
    target_column: str = "product_id"

    def __post_init__(self) -> None:
        check_identifier(self.source_label, "source label")
        check_identifier(self.target_label, "target label")
        check_identifier(self.relationship, "relationship type")

    def identifiers(self) -> dict[str, str]:
        return {
            "source": self.source_label,
            "target": self.target_label,
            "rel": self.relationship,
        }


# The two kinds the application writes, under their default names.
RECOMMENDATIONS = PredictionKind("Customer", "Product", "RECOMMENDED")
CATEGORIES = PredictionKind(
    "Product", "Category", "PREDICTED_CATEGORY", "product_id", "category_id"
)


@dataclass(frozen=True)
class RunInfo:
    """Lineage stamped on every relationship of one run and on its ``(:ModelRun)`` node."""

    run_id: str
    model: str
    model_version: str
    scored_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.run_id:
            raise WritebackError("run_id must not be empty")
        if self.scored_at.tzinfo is None:
            raise WritebackError("scored_at must carry a time zone (e.g. datetime.now(UTC))")


@dataclass(frozen=True)
class WriteSummary:
    """What one write-back did. ``rows`` counts relationships asked for; ``written`` those
    created (zero when a run is rerun), ``deleted`` those of earlier runs replaced."""

    run_id: str
    relationship: str
    sources: int
    rows: int
    relationships_written: int
    relationships_deleted: int
    missing_sources: int
    missing_targets: int
    batches: int
    seconds: float

    @property
    def rels_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rels_per_s": round(self.rels_per_s, 1)}

    def line(self) -> str:
        text = (
            f"{self.relationship} run {self.run_id}: {self.sources} sources, "
            f"{self.relationships_written} written, {self.relationships_deleted} replaced, "
            f"{self.rows} rows in {self.seconds:.1f}s ({self.rels_per_s:,.0f} rels/s)"
        )
        if self.missing_sources or self.missing_targets:
            text += (
                f"; not in the graph: {self.missing_sources} sources, "
                f"{self.missing_targets} targets"
            )
        return text


def ensure_schema(runner: QueryRunner, kind: PredictionKind) -> None:
    """Uniqueness constraints the write-back relies on (idempotent)."""
    runner.write(statement("writeback/constraint_model_run"))
    for label in (kind.source_label, kind.target_label):
        runner.write(statement("writeback/constraint_node_id", label=label))


def _plain(value: Any) -> Any:
    """A driver-friendly id: numpy scalars become Python ints/strs."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def group_batches(
    frame: pd.DataFrame,
    *,
    source_column: str,
    target_column: str,
    batch_size: int,
    sources: Sequence[Any] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Group rows by source and yield batches of whole sources, about ``batch_size`` rows each.

    Each batch is ``[{source, ids: [...], scores: [...], ranks: [...]}, ...]``, a
    source's targets in rank order. A source is never split across batches (a source
    with more rows than ``batch_size`` gets a batch of its own). ``sources`` names
    sources to replace even when they have no rows: their old predictions are removed.

    Raises :class:`WritebackError` for missing columns, empty ids, non-finite scores,
    ranks below 1, or a source with a target or a rank twice.
    """
    if batch_size < 1:
        raise WritebackError("batch_size must be >= 1")
    data, scores, ranks = _checked_rows(frame, source_column, target_column)
    groups = _source_groups(data.assign(_rank=ranks, _score=scores), source_column, target_column)
    seen = {group["source"] for group in groups}
    for extra in sources or ():
        extra = _plain(extra)
        if extra not in seen:
            seen.add(extra)
            groups.append({"source": extra, "ids": [], "scores": [], "ranks": []})
    yield from _packed(groups, batch_size)


def _checked_rows(
    frame: pd.DataFrame, source_column: str, target_column: str
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The four columns, finite scores and integer ranks >= 1, or a :class:`WritebackError`."""
    needed = [source_column, target_column, "score", "rank"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise WritebackError(
            f"prediction rows lack columns {missing}; expected {needed} "
            f"(have {list(frame.columns)})"
        )
    data = frame[needed]
    if data[[source_column, target_column]].isna().any().any():
        bad = data[data[[source_column, target_column]].isna().any(axis=1)].iloc[0]
        raise WritebackError(f"empty id in prediction rows: {bad.to_dict()}")
    scores = pd.to_numeric(data["score"], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(scores).all():
        at = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise WritebackError(
            f"score of source {_plain(data[source_column].iloc[at])!r} is not a finite number"
        )
    ranks = pd.to_numeric(data["rank"], errors="coerce")
    bad_rank = (ranks.isna() | (ranks < 1) | (ranks != ranks.round())).to_numpy()
    if bad_rank.any():
        at = int(np.flatnonzero(bad_rank)[0])
        raise WritebackError(
            f"rank of source {_plain(data[source_column].iloc[at])!r} must be an integer >= 1"
        )
    pairs = (([source_column, target_column], "target"), ([source_column, "rank"], "rank"))
    for key, what in pairs:
        dup = data.duplicated(subset=key)
        if dup.any():
            source = _plain(data.loc[dup, source_column].iloc[0])
            value = _plain(data.loc[dup, key[1]].iloc[0])
            raise WritebackError(f"source {source!r} has {what} {value!r} twice")
    return data, scores, ranks.astype(np.int64).to_numpy()


def _source_groups(
    data: pd.DataFrame, source_column: str, target_column: str
) -> list[dict[str, Any]]:
    """``{source, ids, scores, ranks}`` per source of checked rows (``_rank``, ``_score``),
    rank order.

    Parallel lists per source rather than a map per row: the rows of a whole run (4
    million at 5,000,000 interactions) cost a Python dict each to build and one to send,
    where a source costs one and its lists are slices."""
    column = data[source_column]
    if _mixed(column):  # a stable sort by type, then value, keeps int and str ids apart
        column = column.map(lambda v: (type(v).__name__, v))
    order = data.assign(_key=column).sort_values(["_key", "_rank"], kind="stable")
    src = order[source_column].to_numpy()
    tgt = _plain_list(order[target_column])
    sc = order["_score"].astype(float).tolist()
    rk = order["_rank"].astype(np.int64).tolist()
    starts = [0, *(np.flatnonzero(src[1:] != src[:-1]) + 1).tolist()]
    stops = [*starts[1:], len(src)]
    return [
        {"source": _plain(src[a]), "ids": tgt[a:b], "scores": sc[a:b], "ranks": rk[a:b]}
        for a, b in zip(starts, stops, strict=True)
        if b > a
    ]


def _mixed(column: pd.Series) -> bool:
    """Whether ``column`` may hold ids of more than one type (int and str)."""
    if column.dtype != object:
        return False
    return pd.api.types.infer_dtype(column, skipna=False) not in ("string", "integer")


def _plain_list(column: pd.Series) -> list[Any]:
    """``column``'s values as driver-friendly Python values (:func:`_plain`)."""
    values = column.tolist()  # plain already, but for numpy scalars in an object column
    if column.dtype == object and pd.api.types.infer_dtype(column, skipna=False) != "string":
        values = [_plain(v) for v in values]
    return values


def _packed(groups: list[dict[str, Any]], batch_size: int) -> Iterator[list[dict[str, Any]]]:
    """Whole groups into batches of about ``batch_size`` targets (an empty group counts one)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for group in groups:
        n = max(len(group["ids"]), 1)
        if batch and size + n > batch_size:
            yield batch
            batch, size = [], 0
        batch.append(group)
        size += n
    if batch:
        yield batch


def check_free(runner: QueryRunner, kind: PredictionKind) -> None:
    """Raise :class:`WritebackError` when relationships of ``kind`` exist that no prediction
    run wrote (e.g. interactions loaded under that name): writing would delete them."""
    row = runner.read_record(statement("writeback/find_foreign_relationship", **kind.identifiers()))
    if row:
        raise WritebackError(
            f"the graph holds {kind.relationship} relationships that are not predictions "
            f"(e.g. {kind.source_label} {row['source']!r} -> {kind.target_label} "
            f"{row['target']!r}, properties {sorted(row['keys'])}); writing predictions "
            "would delete them. Set predict.relationship (or predict.category_relationship) "
            "to another name; nothing was written"
        )


def start_run(runner: QueryRunner, run: RunInfo, kind: PredictionKind) -> None:
    """Check the relationship name is the predictions' own, ensure the schema and record the
    run as ``writing`` (call before :func:`write_rows`)."""
    check_free(runner, kind)
    ensure_schema(runner, kind)
    mark_interrupted(runner, kind, run.run_id)
    runner.write(
        statement("writeback/merge_model_run"),
        run_id=run.run_id,
        model=run.model,
        model_version=run.model_version,
        metrics=json.dumps(dict(run.metrics), sort_keys=True, default=str),
        kind=kind.relationship,
        writer=new_holder(),
    )


def mark_interrupted(runner: QueryRunner, kind: PredictionKind, run_id: str) -> list[str]:
    """Mark other runs of ``kind`` still 'writing' whose writer process is gone (it ran on
    this host and its pid no longer exists) as 'interrupted'; returns their ids. A run
    written from another host stays 'writing': from here its writer's fate is unknown."""
    rows = runner.read(statement("writeback/writing_runs"), kind=kind.relationship, run_id=run_id)
    dead = [r["run_id"] for r in rows if r["writer"] and holder_is_dead(r["writer"])]
    for dead_id in dead:
        runner.write(statement("writeback/mark_interrupted"), run_id=dead_id, by=run_id)
    return dead


def finish_run(
    runner: QueryRunner, run_id: str, status: str, summary: WriteSummary | None = None
) -> None:
    """Mark the run ``complete`` or ``failed`` with what it wrote."""
    runner.write(
        statement("writeback/set_model_run_status"),
        run_id=run_id,
        status=status,
        sources=summary.sources if summary else 0,
        relationships=summary.rows - summary.missing_targets if summary else 0,
    )


def write_rows(
    runner: QueryRunner,
    frame: pd.DataFrame,
    run: RunInfo,
    kind: PredictionKind,
    *,
    batch_size: int = 10_000,
    sources: Sequence[Any] | None = None,
    progress: bool = True,
    fence: Callable[[Any], None] | None = None,
    workers: int = 1,
) -> WriteSummary:
    """Write ``frame`` (``kind``'s source and target columns, score, rank) as ``kind``
    relationships of ``run``, one transaction per batch of whole sources, ``workers``
    transactions at once (:class:`PredictionWriter`); does not touch the
    ``(:ModelRun)`` node.

    ``sources`` lists source ids to replace even when ``frame`` has no rows for them
    (their old predictions are removed). ``fence(tx)`` runs last in every batch's
    transaction and may raise to stop the write, rolling that batch back (e.g. :func:`fence`).
    """
    batches = list(_batches(frame, kind, batch_size, sources))
    query = statement("writeback/replace_predictions", **kind.identifiers())
    params = {
        "run_id": run.run_id,
        "model": run.model,
        "model_version": run.model_version,
        "scored_at": run.scored_at,
    }
    totals = dict.fromkeys(("sources", "linked", "asked", "created", "deleted", "given"), 0)
    began = time.monotonic()
    bar = tqdm(
        total=len(frame),
        unit="rel",
        unit_scale=True,
        desc=f"writing {kind.relationship}",
        disable=not progress,
        leave=False,
    )
    if workers < 1:
        raise ValueError(f"workers must be >= 1, not {workers}")

    failed = threading.Event()  # once a batch fails, no other starts

    def send(batch: list[dict[str, Any]]) -> Any:
        if failed.is_set():
            return None
        try:
            return runner.write_tx(_replace_batch(query, {**params, "rows": batch}, fence))
        except BaseException:
            failed.set()
            raise

    pool = ThreadPoolExecutor(workers, thread_name_prefix="kgdistill-write")
    try:
        with bar:
            for batch, result in zip(batches, pool.map(send, batches), strict=True):
                totals["given"] += len(batch)
                for key in ("sources", "linked", "asked", "created", "deleted"):
                    totals[key] += result[key]
                bar.update(sum(len(g["ids"]) for g in batch))
    finally:  # after a failure, the batches not started are not written
        pool.shutdown(wait=True, cancel_futures=True)
    return WriteSummary(
        run_id=run.run_id,
        relationship=kind.relationship,
        sources=totals["sources"],
        rows=len(frame),
        relationships_written=totals["created"],
        relationships_deleted=totals["deleted"],
        missing_sources=totals["given"] - totals["sources"],
        missing_targets=totals["asked"] - totals["linked"],
        batches=len(batches),
        seconds=time.monotonic() - began,
    )


def _batches(
    frame: pd.DataFrame,
    kind: PredictionKind,
    batch_size: int,
    sources: Sequence[Any] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    return group_batches(
        frame,
        source_column=kind.source_column,
        target_column=kind.target_column,
        batch_size=batch_size,
        sources=sources,
    )


def write_predictions(
    runner: QueryRunner,
    frame: pd.DataFrame,
    run: RunInfo,
    kind: PredictionKind = RECOMMENDATIONS,
    *,
    batch_size: int = 10_000,
    sources: Sequence[Any] | None = None,
    progress: bool = True,
    fence: Callable[[Any], None] | None = None,
    beside_sync: BesideSync | None = None,
    workers: int = 1,
) -> WriteSummary:
    """One whole run, for recommendations and category predictions alike:
    :func:`start_run`, :func:`write_rows`, :func:`finish_run` (a
    :class:`PredictionWriter` given one block).

    Rows are validated before anything is written. If writing fails the run is
    marked ``failed`` (when the database still answers) and the error re-raised;
    rerunning the same ``run.run_id`` completes it. ``sources`` lists sources to
    replace even without rows (e.g. customers none of whose scores passed the
    threshold: their old recommendations are removed); ``fence`` as in :func:`write_rows`.
    With ``beside_sync`` the run is written under the sync's lock and keeps its
    watermark right (:class:`BesideSync`). ``workers`` batches are written concurrently
    (:class:`PredictionWriter`).
    """
    # Validate everything up front: a bad row must not leave half a run behind.
    batches = list(_batches(frame, kind, batch_size, sources))
    writer = PredictionWriter(
        runner,
        run,
        kind,
        batch_size=batch_size,
        progress=progress,
        fence=fence,
        beside_sync=beside_sync,
        workers=workers,
    )
    with writer:
        writer.write_batches(batches, len(frame))
        return writer.finish()


class PredictionWriter:
    """One run written block by block, each block's write overlapping the caller's work
    on the next (``kgdistill predict`` scores the next customers meanwhile)::

        with PredictionWriter(runner, run, kind, beside_sync=...) as writer:
            for block in blocks:
                writer.write(block)
            summary = writer.finish(sources=everyone)

    Entering records the run as ``writing`` (:func:`start_run`), with ``beside_sync``
    under the sync's lock (:class:`BesideSync`). :meth:`write` validates a block's rows
    (a bad row raises before that block is written), waits until earlier blocks have
    fewer than ``workers`` batches left, and queues its batches (whole sources each) to
    ``workers`` background threads, each batch one transaction; then it returns, and
    scoring goes on meanwhile (with one worker: one block in flight at a time).
    Concurrent batches hold disjoint sources and meet only on targets; a deadlock or other
    transient error there is retried by the driver, and a retried batch is idempotent.
    :meth:`finish` writes the ``sources`` no block had (their old predictions go), waits
    and marks the run ``complete``. Leaving the ``with`` by an exception waits for the
    blocks in flight and marks the run ``failed``; rerunning the run id completes it (the
    contract above: every source is replaced whole in one transaction).
    """

    def __init__(
        self,
        runner: QueryRunner,
        run: RunInfo,
        kind: PredictionKind = RECOMMENDATIONS,
        *,
        batch_size: int = 10_000,
        progress: bool = True,
        fence: Callable[[Any], None] | None = None,
        beside_sync: BesideSync | None = None,
        workers: int = 1,
    ) -> None:
        if fence is not None and beside_sync is not None:
            raise ValueError("pass fence or beside_sync, not both (beside_sync brings its own)")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        self.runner, self.run, self.kind, self.batch_size = runner, run, kind, batch_size
        self._fence, self._sync, self._workers = fence, beside_sync, workers
        self._holder: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: collections.deque[Future[None]] = collections.deque()
        self._count = threading.Lock()  # the totals, updated by the writing threads
        self._failed = threading.Event()  # once a batch fails, no other starts
        self._seen: set[Any] = set()
        self._totals = dict.fromkeys(("sources", "linked", "asked", "created", "deleted"), 0)
        self._rows = self._given = self._batches = 0
        self._query = statement("writeback/replace_predictions", **kind.identifiers())
        self._params = {
            "run_id": run.run_id,
            "model": run.model,
            "model_version": run.model_version,
            "scored_at": run.scored_at,
        }
        self._bar = tqdm(
            unit="rel",
            unit_scale=True,
            desc=f"writing {kind.relationship}",
            disable=not progress,
            leave=False,
        )
        self._began = time.monotonic()
        self._finished = False

    def __enter__(self) -> PredictionWriter:
        sync = self._sync
        if sync is not None:
            self._holder = new_holder()
            acquire_lock(
                self.runner, sync.name, self._holder, sync.lock_ttl_s, wait_s=sync.lock_ttl_s
            )
        try:
            if sync is not None and self._holder is not None:
                rewind_watermark(self.runner, sync.name, self._holder, sync.as_of, self.run.run_id)
                self._fence = fence(sync.name, self._holder, sync.lock_ttl_s)
            start_run(self.runner, self.run, self.kind)
        except BaseException:
            self._release()
            raise
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="kgdistill-write")
        self._began = time.monotonic()
        return self

    def write(self, frame: pd.DataFrame, sources: Sequence[Any] | None = None) -> None:
        """Validate ``frame``'s rows (and ``sources`` to replace without rows), then write
        them in the background once the previous block is written."""
        self.write_batches(list(_batches(frame, self.kind, self.batch_size, sources)), len(frame))

    def write_batches(self, batches: list[list[dict[str, Any]]], rows: int) -> None:
        """Batches of :func:`group_batches`, holding ``rows`` rows, written in the background."""
        if self._pool is None:
            raise RuntimeError("PredictionWriter.write outside its `with` block")
        self._seen.update(group["source"] for batch in batches for group in batch)
        # Earlier blocks may keep workers - 1 batches going; this block's all join them.
        while len(self._pending) >= self._workers:
            self._pending.popleft().result()  # a failed batch raises here
        self._rows += rows
        self._pending.extend(self._pool.submit(self._send, batch) for batch in batches)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        """One batch in one transaction; skipped once a batch has failed."""
        if self._failed.is_set():
            return
        params = {**self._params, "rows": batch}
        try:
            result = self.runner.write_tx(_replace_batch(self._query, params, self._fence))
        except BaseException:
            self._failed.set()
            raise
        with self._count:
            self._given += len(batch)
            self._batches += 1
            for key in self._totals:
                self._totals[key] += result[key]
        self._bar.update(sum(len(group["ids"]) for group in batch))

    def _wait(self) -> None:
        """Every queued batch ended; the first failure raised (after a failure, the
        batches not yet started were skipped, see :meth:`_send`)."""
        pending, self._pending = list(self._pending), collections.deque()
        futures_wait(pending)
        for future in pending:
            future.result()

    def finish(self, sources: Sequence[Any] | None = None) -> WriteSummary:
        """Replace the ``sources`` no block had, wait for every write and mark the run
        ``complete``; with ``beside_sync``'s ``every_source`` the watermark ends at its
        ``as_of``."""
        extra = [s for s in sources or () if _plain(s) not in self._seen]
        if extra:
            none = pd.DataFrame(columns=[self.kind.source_column, self.kind.target_column])
            self.write(none.assign(score=[], rank=[]), sources=extra)
        self._wait()
        t = self._totals
        summary = WriteSummary(
            run_id=self.run.run_id,
            relationship=self.kind.relationship,
            sources=t["sources"],
            rows=self._rows,
            relationships_written=t["created"],
            relationships_deleted=t["deleted"],
            missing_sources=self._given - t["sources"],
            missing_targets=t["asked"] - t["linked"],
            batches=self._batches,
            seconds=time.monotonic() - self._began,
        )
        finish_run(self.runner, self.run.run_id, "complete", summary)
        sync, holder = self._sync, self._holder
        if sync is not None and holder is not None and sync.every_source:
            advance_watermark(
                self.runner, sync.name, holder, sync.as_of, self.run.run_id, summary.sources
            )
        self._finished = True
        return summary

    def __exit__(self, *exc: object) -> None:
        try:
            if not self._finished:
                with contextlib.suppress(Exception):
                    self._wait()
                with contextlib.suppress(Exception):
                    finish_run(self.runner, self.run.run_id, "failed")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._bar.close()
            self._release()

    def _release(self) -> None:
        if self._sync is not None and self._holder is not None:
            with contextlib.suppress(Exception):
                release_lock(self.runner, self._sync.name, self._holder)
            self._holder = None


def _replace_batch(
    query: str, params: dict[str, Any], fence: Callable[[Any], None] | None = None
) -> Any:
    """The transaction function writing ``params["rows"]`` (a batch of
    :func:`group_batches`) with ``replace_predictions``: the batch's target ids once
    (``targets``) and each row's positions among them (``pos``) added."""
    targets: dict[Any, int] = {}
    rows = [
        {**row, "pos": [targets.setdefault(t, len(targets)) for t in row["ids"]]}
        for row in params["rows"]
    ]
    params = {**params, "rows": rows, "targets": list(targets)}

    def work(tx: Any) -> dict[str, int]:
        result = tx.run(query, params)
        record = result.single(strict=True)
        counters = result.consume().counters
        if fence is not None:  # last, so that its lock is held only while committing
            fence(tx)
        return {
            "sources": int(record["sources"]),
            "linked": int(record["linked"] or 0),
            "asked": int(record["asked"] or 0),
            "created": int(counters.relationships_created),
            "deleted": int(counters.relationships_deleted),
        }

    return work


# The sync's state: watermark and lock.


class LockHeld(RuntimeError):
    """Another sync holds the lock."""

    def __init__(self, name: str, holder: str, expires: datetime | None) -> None:
        until = f" until {expires.isoformat(timespec='seconds')}" if expires else ""
        super().__init__(
            f"another sync holds the lock '{name}' ({holder}{until}); "
            "try again later, or wait for it with --wait"
        )
        self.name = name
        self.holder = holder
        self.expires = expires


class LockLost(RuntimeError):
    """The lock expired and another sync took it while this one worked."""


@dataclass(frozen=True)
class SyncState:
    name: str
    watermark: datetime | None = None
    last_run_id: str | None = None
    last_success_at: datetime | None = None
    last_rescored: int | None = None
    lock_holder: str | None = None
    lock_expires: datetime | None = None


def _native(value: Any) -> Any:
    return value.to_native() if hasattr(value, "to_native") else value


def new_holder() -> str:
    """``host:pid:nonce``: who holds the lock, readable in the graph and in messages."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True only when ``holder`` ran on this host and its process is gone."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def read_state(runner: QueryRunner, name: str) -> SyncState:
    rows = runner.read(statement("sync/read_state"), name=name)
    if not rows:
        return SyncState(name=name)
    row = {key: _native(value) for key, value in rows[0].items()}
    row.pop("now", None)
    return SyncState(name=name, **row)


def acquire_lock(
    runner: QueryRunner,
    name: str,
    holder: str,
    ttl_s: float,
    *,
    wait_s: float | None = None,
    poll_s: float = 2.0,
) -> SyncState:
    """Take the lock or raise :class:`LockHeld`; with ``wait_s``, keep trying that long.

    Returns the state as it was when the lock was taken (its watermark included).
    """
    runner.write(statement("sync/constraint_sync_state"))
    deadline = None if wait_s is None else time.monotonic() + wait_s
    stale: str | None = None
    while True:
        row = runner.write_tx(_acquire(name, holder, ttl_s, stale))
        if row["acquired"]:
            return read_state(runner, name)
        current = str(row["holder"])
        if stale != current and holder_is_dead(current):
            stale = current  # take it over at once, but only if it still holds it
            continue
        if deadline is None or time.monotonic() >= deadline:
            raise LockHeld(name, current, _native(row["expires"]))
        time.sleep(max(0.05, min(poll_s, deadline - time.monotonic())))


def _acquire(name: str, holder: str, ttl_s: float, stale: str | None) -> Any:
    query = statement("sync/acquire_lock")

    def work(tx: Any) -> dict[str, Any]:
        record = tx.run(
            query, name=name, holder=holder, ttl_ms=int(ttl_s * 1000), stale_holder=stale
        ).single(strict=True)
        return dict(record.data())

    return work


def _write(runner: QueryRunner, which: str, /, **params: Any) -> list[dict[str, Any]]:
    """The rows statement ``which`` returns, run in one managed write transaction."""
    query = statement(which)
    rows: list[dict[str, Any]] = runner.write_tx(lambda tx: tx.run(query, **params).data())
    return rows


def renew_lock(runner: QueryRunner, name: str, holder: str, ttl_s: float) -> None:
    """Extend the lock; raises :class:`LockLost` when it is no longer ours."""
    if not _write(runner, "sync/renew_lock", name=name, holder=holder, ttl_ms=int(ttl_s * 1000)):
        raise LockLost(
            f"the sync lock '{name}' expired and another sync took it; this run stops without "
            "advancing the watermark (raise sync.lock_ttl_s if runs take longer)"
        )


def fence(name: str, holder: str, ttl_s: float) -> Callable[[Any], None]:
    """A check that ends each write transaction: renew the lock inside it, or raise
    :class:`LockLost` (and the transaction's writes roll back). Renewing writes the
    SyncState node, so the transaction holds that node's write lock until it commits: no
    other sync can take the lock over in between, and a writer that was paused past the
    lock's expiry writes nothing more. Run last, the check holds that lock only while its
    transaction commits, so concurrent writers of one run do not queue behind each other."""
    query = statement("sync/renew_lock")

    def check(tx: Any) -> None:
        if not tx.run(query, name=name, holder=holder, ttl_ms=int(ttl_s * 1000)).data():
            raise LockLost(
                f"the sync lock '{name}' passed to another holder while this run was writing; "
                "it stops here (the next sync rescores what it left)"
            )

    return check


def rewind_watermark(
    runner: QueryRunner, name: str, holder: str, watermark: datetime, run_id: str
) -> bool:
    """Move the watermark back to ``watermark`` if it is later (while we hold the lock)."""
    rows = _write(
        runner,
        "sync/rewind_watermark",
        name=name,
        holder=holder,
        watermark=watermark,
        run_id=run_id,
    )
    return bool(rows and rows[0]["rewound"])


def release_lock(runner: QueryRunner, name: str, holder: str) -> bool:
    rows = _write(runner, "sync/release_lock", name=name, holder=holder)
    return bool(rows and rows[0]["released"])


def advance_watermark(
    runner: QueryRunner, name: str, holder: str, watermark: datetime, run_id: str, rescored: int
) -> None:
    """Move the watermark after a successful sync; raises :class:`LockLost` if not ours."""
    rows = _write(
        runner,
        "sync/advance_watermark",
        name=name,
        holder=holder,
        watermark=watermark,
        run_id=run_id,
        rescored=rescored,
    )
    if not rows or not rows[0]["advanced"]:
        raise LockLost(
            f"the sync lock '{name}' is no longer ours; the watermark stays where it was"
        )


@dataclass(frozen=True)
class BesideSync:
    """Write predictions beside the sync ``name``: under its lock, scored from the graph
    as read at database time ``as_of`` (the rule in :mod:`kgdistill.sync`'s docstring).

    Before the first write the watermark moves back to ``as_of`` when it is later; with
    ``every_source`` (every customer is written) it ends at ``as_of``. The lock is waited
    for up to ``lock_ttl_s`` (then :class:`LockHeld`) and fences each write transaction.
    """

    name: str
    lock_ttl_s: float
    as_of: datetime
    every_source: bool = False
