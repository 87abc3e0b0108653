"""A trained run's inputs, again: for the commands that work on a run after training
(``compress``, ``export``, ``tune``).

A run records the day its graph ended (``config.json``: ``until``), the configuration it
trained with and the labelled pairs it was evaluated on (``eval_pairs.tsv``); its models
record the nodes and vocabularies they know (customer and product ids, the feature
encoder). From those and the graph in Neo4j this module rebuilds what the run trained on,
so a model added to the run later is measured on the same pairs, the same way, however
the shop has grown since: customers, products, categories and brands that arrived after
training are left out, and the run's nodes keep the rows their id embeddings belong to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from distill.artifact import Run
from distill.config import RunConfig
from distill.report import write_report
from kgdistill import pipeline
from kgdistill.config import Config
from kgdistill.settings import build
from kgframe import GraphFrame
from kgstore.connection import QueryRunner

if TYPE_CHECKING:
    from distill.artifact import LoadedModel

LEARNING_SECTIONS = (
    "teacher",
    "student_gat",
    "student_sage",
    "student_mlp",
    "kd",
    "task",
    "train",
    "eval",
)


def run_config(run: Run, fallback: Config) -> RunConfig:
    """The learning configuration the run trained with (``fallback``'s when the run did not
    record one)."""
    path = run.path / pipeline.CONFIG_FILE
    if not path.is_file():
        return fallback.run_config()
    recorded = json.loads(path.read_text(encoding="utf-8")).get("config") or {}
    learning = {k: v for k, v in recorded.items() if k in LEARNING_SECTIONS}
    return build(Config, [(str(path), learning)]).run_config()


def training_frame(run: Run, frame: GraphFrame) -> GraphFrame:
    """The frame the run's models trained on: ``frame`` up to the last day the run
    recorded in its config.json (a run without labelled pairs held out the day after)."""
    recorded, train_until = pipeline.run_train_until(run)
    if not recorded:
        raise pipeline.PipelineError(
            f"run {run.run_id} does not record the day its models trained up to "
            f"({run.path / pipeline.CONFIG_FILE}); train it again with `kgdistill train`"
        )
    return frame.until(train_until) if train_until is not None else frame


def on_run_nodes(run: Run, frame: GraphFrame, model: LoadedModel) -> GraphFrame:
    """``frame`` with exactly the nodes ``model`` (a model of ``run``) trained on, in its
    rows: the ids it embeds, the categories and brands its encoder knows."""
    try:
        return frame.with_nodes(
            model.customer_ids,
            model.product_ids,
            model.encoder.category_ids,
            model.encoder.brand_ids,
        )
    except KeyError as exc:
        raise pipeline.PipelineError(
            f"cannot rebuild the graph run {run.run_id} trained on: {exc.args[0]} any more "
            "(deleted since?); train a new run with `kgdistill train`"
        ) from None


def run_data(
    runner: QueryRunner,
    config: Config,
    run: Run,
    model: LoadedModel,
    say: Callable[[str], None],
) -> tuple[GraphFrame, pd.DataFrame]:
    """The run's training frame (extracted from Neo4j up to the run's day, on the nodes
    ``model`` of the run knows: :func:`on_run_nodes`) and its pairs."""
    frame = pipeline.extract(runner, config, pipeline.run_until(run), say)
    pairs = pipeline.read_pairs(run.path / pipeline.EVAL_PAIRS_FILE)
    return on_run_nodes(run, training_frame(run, frame), model), pairs


def add_model(run: Run, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Put one more model into the run's report (``report.json``, ``report.md``, the PNG)."""
    report = run.report()
    report["models"][name] = entry
    write_report(report, run.path)
    return report
