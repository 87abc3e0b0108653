"""The prediction service: score with a trained run's model, take the top K, write to Neo4j.

``kgdistill predict``, ``kgdistill run`` and ``kgdistill sync`` all predict through
here; the commands only parse arguments and print. The ``[predict]`` settings
(:class:`PredictConfig`) are the application's: the model side (``k``, ``model``,
``run``, ``min_score``, ``exclude_seen``) stays here, and kgstore's write functions get
only what the database needs (a :class:`~kgstore.writeback.PredictionKind`, the rows, a
batch size and the run's lineage).

The configuration from ``kgdistill predict --write`` to the write in Neo4j visits six
modules, each once, in this order:

1. ``kgdistill/cli/predict.py`` turns flags into a :class:`~kgdistill.config.Config`
   and calls :func:`predict`;
2. ``kgdistill/service.py`` (here) hands each of the next four its settings;
3. ``distill/artifact.py`` finds the run (``predict.run``) and loads its model
   (``predict.model``) into a :class:`TrainedModel`;
4. ``kgstore/extract.py`` reads the graph the model scores (``[extract]``) and the
   database time it read it at;
5. ``distill/predict.py``'s :class:`~distill.predict.Scorer` takes the top
   ``predict.k`` (``exclude_seen``, ``min_score``, ``shortlist``);
6. ``kgstore/writeback.py`` writes the rows (``predict.relationship``, labels,
   ``batch_size``) under the sync's lock (``sync.name``, ``sync.lock_ttl_s``:
   :class:`~kgstore.writeback.BesideSync`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from distill.artifact import DEFAULT_RUNS_DIR, Run, find_run
from distill.config import IndexOptions
from kgframe import GraphFrame, normalize_id
from kgstore.connection import QueryRunner
from kgstore.extract import read_graph
from kgstore.writeback import (
    BesideSync,
    PredictionKind,
    PredictionWriter,
    RunInfo,
    WriteSummary,
    write_predictions,
)

if TYPE_CHECKING:
    from distill.artifact import LoadedModel
    from distill.categorize import CategoryPredictions
    from distill.predict import Scorer
    from kgdistill.config import Config

__all__ = [
    "PredictConfig",
    "PredictResult",
    "ScoreError",
    "TrainedModel",
    "predict",
    "read_pairs_csv",
    "write_categories",
]


@dataclass(frozen=True)
class PredictConfig:
    """The ``[predict]`` section: what predictions look like and how they are written."""

    k: int = 20
    model: str = "student"  # which model of the run predicts: "student" is its default student
    run: str = ""  # a run id or directory; empty: the latest trained run
    min_score: float | None = None  # drop scores below it; None keeps all
    exclude_seen: bool = True  # leave out products a customer interacted with
    # products per customer a cheap score keeps for the exact ranking logit (None:
    # max(10 k, 200); 0: score every pair exactly, slow); see distill.predict.Scorer.top_k
    shortlist: int | None = None
    # "exact": the cheap score of every product; "faiss": of the products an
    # approximate index finds (faiss-cpu, kgdistill[ann]), for catalogues of millions;
    # index_probes: its lists searched per customer (more: slower, closer to exact);
    # index_candidates: products it finds per customer (0: 4 x the shortlist)
    index: str = "exact"
    # the cheap score's matrix products (the structural cosines, most of its width, and
    # the rest): "float32", "bfloat16" or "auto" (bfloat16 where this machine multiplies
    # in it at least 1.5x faster, as CPUs with AVX512-BF16 or AMX do). The shortlist is
    # ranked by float32 logits either way, up to exact ties (every product the cosines'
    # rounding could lift into the top K is scored again from the vectors); bfloat16's
    # three digits only move the shortlist's edge
    cheap_precision: str = "auto"
    index_probes: int = 32
    index_candidates: int = 0
    relationship: str = "RECOMMENDED"
    source_label: str = "Customer"
    target_label: str = "Product"
    category_relationship: str = "PREDICTED_CATEGORY"
    category_source_label: str = "Product"
    category_target_label: str = "Category"
    batch_size: int = 10_000  # relationships per transaction (whole sources, so about)
    # write transactions at once, each with its own customers (2 was not faster for
    # predict --write on two cores, where scoring shares them: bench/predict_write.py)
    write_workers: int = 1
    # predict --write writes each block of customers' top K while the next block is
    # scored; false: score every customer first, then write
    pipeline: bool = True
    # torch threads that score (0: torch's default, one per core)
    threads: int = 0
    # blocks of customers scored at once, each in its own thread with threads /
    # score_workers torch threads (0: one per torch thread, at most 4; 1: one block at a
    # time, every thread inside each product, slower beside a Neo4j on the same cores)
    score_workers: int = 0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, not {self.k}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, not {self.batch_size}")
        if self.write_workers < 1:
            raise ValueError(f"write_workers must be >= 1, not {self.write_workers}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: one per core), not {self.threads}")
        if self.score_workers < 0:
            raise ValueError(
                f"score_workers must be >= 0 (0: one per thread), not {self.score_workers}"
            )
        if self.shortlist is not None and self.shortlist < 0:
            raise ValueError(f"shortlist must be >= 0 (0: exact), not {self.shortlist}")
        if self.index not in ("exact", "faiss"):
            raise ValueError(f'index must be "exact" or "faiss", not {self.index!r}')
        if self.cheap_precision not in ("auto", "float32", "bfloat16"):
            raise ValueError(
                'cheap_precision must be "auto", "float32" or "bfloat16", '
                f"not {self.cheap_precision!r}"
            )
        self.index_options()
        self.recommendations()
        self.categories()

    def index_options(self) -> IndexOptions:
        """How the approximate index searches (checked even while ``index`` is exact)."""
        return IndexOptions(probes=self.index_probes, candidates=self.index_candidates)

    def recommendations(self) -> PredictionKind:
        return PredictionKind(self.source_label, self.target_label, self.relationship)

    def categories(self) -> PredictionKind:
        return PredictionKind(
            self.category_source_label,
            self.category_target_label,
            self.category_relationship,
            source_column="product_id",
            target_column="category_id",
        )


class ScoreError(ValueError):
    """Pairs or customers the model cannot score; the message names them."""


class TrainedModel:
    """A trained run's model (``predict.model``, default the run's default student),
    scoring against the graph as it is now: products added since training are scored
    from their features (category, brand, price), and interactions added since training
    count in the pair features.

    The sync's default scorer (``sync.scorer``, a :class:`kgdistill.sync.SyncScorer`):
    ``name`` is the model's name, ``version`` the training run's id.
    """

    def __init__(
        self,
        config: Config,
        *,
        run: str | None = None,
        model: str | None = None,
        runs_dir: Path = DEFAULT_RUNS_DIR,
        say: Callable[[str], None] = lambda _m: None,
    ) -> None:
        from distill.artifact import load_artifact  # torch: only when a model is used

        self.config = config
        self.run: Run = find_run(run or config.predict.run or None, runs_dir)
        self.name = self.run.resolve_model(model or config.predict.model)
        self.version = self.run.run_id
        self.loaded: LoadedModel = load_artifact(self.run.artifact(self.name))
        self.say = say
        self._scorer: Scorer | None = None
        self._frame: GraphFrame | None = None

    @classmethod
    def from_config(cls, config: Config) -> TrainedModel:
        return cls(config)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.loaded.metrics)

    def bind(self, frame: GraphFrame) -> None:
        """Score against ``frame`` (else the first call extracts the graph)."""
        import torch

        from distill.predict import Scorer

        if self.config.predict.threads:
            torch.set_num_threads(self.config.predict.threads)
        self._frame = frame
        self._scorer = Scorer(
            self.loaded, frame, cheap_precision=self.config.predict.cheap_precision
        )

    def scorer(self, runner: QueryRunner) -> Scorer:
        """The model bound to the graph (:meth:`frame`): the one that ranks and scores."""
        self.frame(runner)
        assert self._scorer is not None
        return self._scorer

    def frame(self, runner: QueryRunner) -> GraphFrame:
        if self._frame is None:
            self.bind(read_graph(runner, self.config.extract, say=self.say))
        assert self._frame is not None
        return self._frame

    def known(self, runner: QueryRunner, customer_ids: Sequence[Any]) -> list[Any]:
        """``customer_ids`` as the graph's ids (:func:`kgframe.normalize_id`), those not in
        the graph left out."""
        index = self.frame(runner).customer_index()
        return [c for c in (normalize_id(v) for v in customer_ids) if c in index]

    def top_k(
        self, runner: QueryRunner, customer_ids: Sequence[Any] | None, k: int, **options: Any
    ) -> pd.DataFrame:
        """``customer_id, product_id, score, rank`` for each customer (None: every one),
        in one frame; ``options`` as :meth:`top_k_blocks`."""
        blocks = self.top_k_blocks(runner, customer_ids, k, **options)
        return pd.concat(list(blocks), ignore_index=True)

    def top_k_blocks(
        self, runner: QueryRunner, customer_ids: Sequence[Any] | None, k: int, **options: Any
    ) -> Iterator[pd.DataFrame]:
        """:meth:`distill.predict.Scorer.top_k_blocks` (``exclude_seen``, ``min_score``,
        ``progress``) with ``predict.shortlist``, a block of customers at a time.
        Customers not in the graph get no rows."""
        ids = None if customer_ids is None else self.known(runner, customer_ids)
        predict = self.config.predict
        index = predict.index_options() if predict.index == "faiss" else None
        blocks: Iterator[pd.DataFrame] = self.scorer(runner).top_k_blocks(
            ids,
            k=k,
            shortlist=predict.shortlist,
            index=index,
            workers=predict.score_workers or None,
            **options,
        )
        return blocks

    def score_pairs(
        self, runner: QueryRunner, customer_ids: Sequence[Any], product_ids: Sequence[Any]
    ) -> pd.DataFrame:
        """``customer_id, product_id, score`` per pair, in order. Ids that are nowhere in
        the graph are a :class:`ScoreError` naming the first few."""
        scorer = self.scorer(runner)
        try:
            result = scorer.score_pairs(customer_ids, product_ids)
        except KeyError as exc:  # distill names the unknown ids (the first ten)
            raise ScoreError(f"{exc.args[0]} are not in the graph; load them first") from None
        return result


@dataclass(frozen=True)
class PredictResult:
    """What :func:`predict` did: ``top`` the rows, ``write`` what went into Neo4j."""

    model: str
    model_version: str
    customers: int
    top: pd.DataFrame
    out: str | None = None
    write: WriteSummary | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """What ``kgdistill predict --json`` prints."""
        result: dict[str, Any] = {
            "model": self.model,
            "model_version": self.model_version,
            "customers": self.customers,
            "rows": len(self.top),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }
        if self.out is not None:
            result["out"] = self.out
        if self.write is not None:
            result["write"] = self.write.as_dict()
        return result


def predict(
    runner: QueryRunner,
    config: Config,
    *,
    customers: Sequence[Any] | None = None,
    write: bool = False,
    out: str | Path | None = None,
    runs_dir: Path = DEFAULT_RUNS_DIR,
    frame: GraphFrame | None = None,
    progress: bool = True,
    say: Callable[[str], None] = lambda _m: None,
) -> PredictResult:
    """Top ``predict.k`` per customer (``customers``, else every one) with the run's
    model; with ``out`` also a CSV, with ``write`` into Neo4j
    (:class:`~kgstore.writeback.BesideSync`).

    ``frame`` is a graph just extracted (as ``kgdistill run`` does); without it the
    graph is extracted here. The result's ``seconds`` say where the time went:
    ``prepare`` (the model loaded, the graph extracted and bound), ``score`` (the top K
    computed), ``hand_off`` (each block's rows checked and grouped for the write, and any
    wait for the write of earlier blocks), ``finish`` (the rest of the write); pipelined,
    the write runs beside ``score``.
    """
    clock = _Clock()
    model = TrainedModel(config, runs_dir=runs_dir, say=say)
    if frame is None:
        frame = model.frame(runner)
    else:
        model.bind(frame)
    ids = None if customers is None else model.known(runner, customers)
    clock.lap("prepare")
    p = config.predict
    blocks = clock.timed(
        "score",
        model.top_k_blocks(
            runner, ids, p.k, exclude_seen=p.exclude_seen, min_score=p.min_score, progress=progress
        ),
    )
    written = None
    if write:
        as_of = _as_of(frame)
        top, written = _score_and_write(runner, config, model, blocks, ids, as_of, progress, clock)
    else:
        top = pd.concat(list(blocks), ignore_index=True)
    scored = int(top["customer_id"].nunique())
    say(f"{model.name} of run {model.version}: top {p.k} for {scored:,} customers")
    say(clock.line(scored))
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        top.to_csv(out, index=False, float_format="%.6f")
    if written is not None:
        say(written.line())
    return PredictResult(
        model.name,
        model.version,
        scored,
        top,
        None if out is None else str(out),
        written,
        clock.seconds,
    )


def _score_and_write(
    runner: QueryRunner,
    config: Config,
    model: TrainedModel,
    blocks: Iterator[pd.DataFrame],
    ids: list[Any] | None,
    as_of: datetime,
    progress: bool,
    clock: _Clock,
) -> tuple[pd.DataFrame, WriteSummary]:
    """Write the top K of each block of customers while the next block is scored
    (``predict.pipeline``; false: score every customer, then write), under the sync's
    lock; the rows of every block, and what the write did."""
    now = datetime.now(UTC)
    run = RunInfo(
        run_id=f"predict-{model.name}-{_stamp(now)}",
        model=model.name,
        model_version=model.version,
        scored_at=now,
        metrics=_numbers(model.metrics),
    )
    # Every customer asked for is replaced, also one whose scores all fell below
    # predict.min_score (their old recommendations go).
    everyone = model.frame(runner).customers["id"].tolist() if ids is None else ids
    pipeline = config.predict.pipeline
    if not pipeline:
        blocks = iter([pd.concat(list(blocks), ignore_index=True)])
    writer = PredictionWriter(
        runner,
        run,
        config.predict.recommendations(),
        batch_size=config.predict.batch_size,
        workers=config.predict.write_workers,
        progress=progress and not pipeline,  # pipelined, the scoring's bar shows both
        beside_sync=BesideSync(
            config.sync.name, config.sync.lock_ttl_s, as_of, every_source=ids is None
        ),
    )
    written = []
    with writer:
        clock.lap("prepare")
        for block in blocks:
            writer.write(block)
            written.append(block)
            clock.lap("hand_off")
        summary = writer.finish(sources=everyone)
        clock.lap("finish")
    return pd.concat(written, ignore_index=True), summary


class _Clock:
    """Wall seconds of predict's steps, by name: :meth:`lap` books the time since the
    last booking; :meth:`timed` books the time spent inside an iterator's ``next``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now

    def timed(self, name: str, items: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        self.lap("prepare")  # whatever came before the first item
        for item in items:
            self.lap(name)
            yield item  # the caller books its own time (or leaves it to the next item)
        self.lap(name)

    def line(self, customers: int) -> str:
        s = self.seconds
        rate = customers / s["score"] if s.get("score") else 0.0
        parts = [f"{name} {took:.1f} s" for name, took in s.items()]
        return f"time: {', '.join(parts)} (scoring {rate:,.0f} customers/s)"


def _as_of(frame: GraphFrame) -> datetime:
    """The database time ``frame`` was read at: its predictions are up to date until then."""
    as_of = frame.meta.get("as_of")
    if not isinstance(as_of, datetime):
        raise ValueError(
            "the graph to write predictions for has no database read time (meta['as_of']): "
            "extract it with kgstore.extract"
        )
    return as_of


def predict_categories(
    runner: QueryRunner,
    config: Config,
    *,
    k: int = 3,
    progress: bool = True,
    say: Callable[[str], None] = lambda _m: None,
) -> CategoryPredictions:
    """A category for each product without one: a graph teacher distilled into the MLP,
    trained now on the categorised products of the graph as it is (the top ``k``)."""
    from distill.categorize import categorize_products

    run_config = config.run_config()
    run_config = replace(run_config, train=replace(run_config.train, progress=progress))
    frame = read_graph(runner, config.extract, say=say)
    return categorize_products(frame, run_config, k=k)


def write_categories(
    runner: QueryRunner, config: Config, result: CategoryPredictions, *, progress: bool = True
) -> WriteSummary:
    """Write ``result``'s category predictions as ``predict.category_relationship``."""
    now = datetime.now(UTC)
    run_id = f"categorize-{_stamp(now)}"
    run = RunInfo(run_id, result.model, run_id, now, _numbers(result.metrics))
    return write_predictions(
        runner,
        result.predictions,
        run,
        config.predict.categories(),
        batch_size=config.predict.batch_size,
        workers=config.predict.write_workers,
        progress=progress,
    )


def _stamp(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def _numbers(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def read_pairs_csv(path: str | Path) -> pd.DataFrame:
    """``customer_id, product_id`` (plus any other columns, kept) from a CSV with a header."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pairs file {path} does not exist")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScoreError(f"{path}: cannot read as CSV: {exc}") from None
    missing = [c for c in ("customer_id", "product_id") if c not in table.columns]
    if missing:
        raise ScoreError(
            f"{path}: needs columns customer_id and product_id (header line); "
            f"missing {', '.join(missing)}; found {', '.join(table.columns) or 'none'}"
        )
    for column in ("customer_id", "product_id"):
        empty = table[column].str.strip() == ""
        if empty.any():
            line = int(np.nonzero(empty.to_numpy())[0][0]) + 2
            raise ScoreError(f"{path}:{line}: empty {column}")
    return table
