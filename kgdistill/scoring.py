"""Scoring with a trained run's model against the graph as it is now.

:class:`StudentScorer` is the sync's default scorer (``sync.scorer``) and what
``kgdistill predict`` and ``kgdistill score`` use: it loads a model of a run
(``predict.model``, default the run's default student) and scores customers
against a fresh extraction of the graph, so products added since training are
scored from their features (category, brand, price) and interactions added
since training count in the pair features.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kgdistill import pipeline
from kgdistill.config import Config
from kgdistill.runs import DEFAULT_RUNS_DIR, Run, find_run
from kgframe import GraphFrame, normalize_id
from kgstore.connection import QueryRunner

if TYPE_CHECKING:
    from distill.artifact import LoadedModel


class ScoreError(ValueError):
    """Pairs or customers the model cannot score; the message names them."""


class StudentScorer:
    """A run's model, scoring against the current graph (see the module docstring).

    Satisfies :class:`kgdistill.sync.Scorer`: ``name`` is the model's name,
    ``version`` the training run's id.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        run: str | None = None,
        model: str | None = None,
        runs_dir: Path = DEFAULT_RUNS_DIR,
        say: Callable[[str], None] = lambda _m: None,
    ) -> None:
        from distill.artifact import load_artifact  # torch: only when a model is used

        self.config = config or Config()
        self.run: Run = find_run(run or self.config.predict.run or None, runs_dir)
        self.name = self.run.resolve_model(model or self.config.predict.model)
        self.version = self.run.run_id
        self.loaded: LoadedModel = load_artifact(self.run.artifact(self.name))
        self.say = say
        self._scorer: Any = None
        self._frame: GraphFrame | None = None

    @classmethod
    def from_config(cls, config: Config) -> StudentScorer:
        return cls(config)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.loaded.metrics)

    def bind(self, frame: GraphFrame) -> None:
        """Score against ``frame`` (else the first call extracts the graph)."""
        from distill.predict import Scorer

        self._frame = frame
        self._scorer = Scorer(self.loaded, frame)

    def frame(self, runner: QueryRunner) -> GraphFrame:
        if self._frame is None:
            self.bind(pipeline.extract(runner, self.config, None, self.say))
        assert self._frame is not None
        return self._frame

    def top_k(
        self,
        runner: QueryRunner,
        customer_ids: Sequence[Any] | None,
        k: int,
        *,
        exclude_seen: bool = True,
        min_score: float | None = None,
        progress: bool = False,
    ) -> pd.DataFrame:
        """``customer_id, product_id, score, rank`` for each customer (None: every one).
        Customers not in the graph get no rows."""
        frame = self.frame(runner)
        ids: list[Any] | None = None
        if customer_ids is not None:
            known = frame.customer_index()
            ids = [c for c in (normalize_id(v) for v in customer_ids) if c in known]
        result: pd.DataFrame = self._scorer.top_k(
            ids, k=k, exclude_seen=exclude_seen, threshold=min_score, progress=progress
        )
        return result

    def score_pairs(
        self, runner: QueryRunner, customer_ids: Sequence[Any], product_ids: Sequence[Any]
    ) -> pd.DataFrame:
        """``customer_id, product_id, score`` per pair, in order. Ids that are nowhere in
        the graph are a :class:`ScoreError` naming the first few."""
        self.frame(runner)
        try:
            result: pd.DataFrame = self._scorer.score_pairs(customer_ids, product_ids)
        except KeyError as exc:  # distill names the unknown ids (the first ten)
            raise ScoreError(f"{exc.args[0]} are not in the graph; load them first") from None
        return result


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
