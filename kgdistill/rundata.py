"""A trained run's inputs, again: for the commands that work on a run after training
(``compress``, ``export``, ``tune``).

A run records the day its graph ended (``config.json``: ``until``), the configuration it
trained with and the labelled pairs it was evaluated on (``eval_pairs.tsv``). From those
and the graph in Neo4j this module rebuilds what the run trained on, so a model added to
the run later is measured on the same pairs, the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from distill.config import RunConfig
from distill.report import write_report
from kgdistill import pipeline
from kgdistill.config import Config
from kgdistill.runs import Run
from kgdistill.settings import build
from kgstore.connection import QueryRunner
from kgstore.graphframe import GraphFrame

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


def training_frame(frame: GraphFrame, pairs: pd.DataFrame) -> GraphFrame:
    """The frame the run's models trained on. A run without labelled pairs held out the
    graph's last day (:func:`kgdistill.pipeline.holdout_pairs`): then every positive pair
    is an interaction of that day, and the models trained on the days before it. With
    labelled pairs (EComm) the positives lie after the graph and the frame is as it is."""
    inter = frame.interactions
    if inter.empty:
        return frame
    days = np.sort(inter["day"].unique())
    if len(days) < 2:
        return frame
    last = inter.loc[inter["day"] == days[-1]]
    c_ids = frame.customers["id"].to_numpy(dtype=object)
    p_ids = frame.products["id"].to_numpy(dtype=object)
    last_pairs = set(
        zip(
            c_ids[last["customer"].to_numpy()].tolist(),
            p_ids[last["product"].to_numpy()].tolist(),
            strict=True,
        )
    )
    positives = pairs.loc[pairs["label"] == 1]
    held_out = all(
        (c, p) in last_pairs
        for c, p in zip(positives["customer_id"], positives["product_id"], strict=True)
    )
    return frame.until(int(days[-2])) if held_out else frame


def run_data(
    runner: QueryRunner, config: Config, run: Run, say: Callable[[str], None]
) -> tuple[GraphFrame, pd.DataFrame]:
    """The run's training frame (extracted from Neo4j up to the run's day) and its pairs."""
    frame = pipeline.extract(runner, config, pipeline.run_until(run), say)
    pairs = pipeline.read_pairs(run.path / pipeline.EVAL_PAIRS_FILE)
    recorded, train_until = pipeline.run_train_until(run)
    if recorded:
        return (frame.until(train_until) if train_until is not None else frame), pairs
    return training_frame(frame, pairs), pairs


def add_model(run: Run, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Put one more model into the run's report (``report.json``, ``report.md``, the PNG)."""
    report = run.report()
    report["models"][name] = entry
    write_report(report, run.path)
    return report
