"""The steps the commands share: extract, pick the evaluation pairs, train and evaluate
into a run directory, and load a run's model with the graph it scores against.

Everything here takes an open :class:`~kgstore.connection.QueryRunner` and a
:class:`~kgdistill.config.Config`; the commands add flags, progress and output.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distill.artifact import DEFAULT_RUNS_DIR, Run, create_run, mark_latest
from kgdistill.config import Config
from kgdistill.settings import to_dict
from kgframe import GraphFrame
from kgstore.connection import QueryRunner
from kgstore.extract import read_graph

EVAL_PAIRS_FILE = "eval_pairs.tsv"
CONFIG_FILE = "config.json"


class PipelineError(ValueError):
    """Input the pipeline cannot use (an empty graph, pairs naming unknown ids)."""


def extract(
    runner: QueryRunner,
    config: Config,
    until: int | None = None,
    say: Callable[[str], None] = print,
) -> GraphFrame:
    """The graph in Neo4j as a GraphFrame, interactions after ``until`` left out
    (:func:`kgstore.extract.read_graph` with the ``[extract]`` settings)."""
    return read_graph(runner, config.extract, until=until, say=say)


def ecomm_pairs() -> Path:
    """The bundled EComm evaluation pairs (``ecomm_edge_val_lr_train_test.txt``)."""
    from kgstore.sources.ecomm import pairs_file

    return pairs_file()


def read_pairs(path: str | Path) -> pd.DataFrame:
    from distill.evaluate import read_eval_pairs

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"evaluation pairs {path} do not exist")
    try:
        return read_eval_pairs(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise PipelineError(f"{path}: {exc}") from None


def holdout_pairs(frame: GraphFrame, seed: int = 0) -> tuple[GraphFrame, pd.DataFrame]:
    """For a shop without labelled pairs: hold out the last day.

    Returns the frame without the last day's interactions (what the models train on)
    and labelled pairs: each (customer, product) of the last day is a positive, matched
    by one negative for the same customer drawn by product popularity on that day (as
    EComm's test negatives are). Customers are split half into validation (split 1)
    and half into test (split 2).
    """
    inter = frame.interactions
    days = np.sort(inter["day"].unique())
    if len(days) < 2:
        raise PipelineError(
            "the graph's interactions span one day; a held-out evaluation needs two or more "
            "(or pass --eval-pairs FILE)"
        )
    last = int(days[-1])
    target = inter.loc[inter["day"] == last, ["customer", "product"]].drop_duplicates()
    rng = np.random.default_rng(seed)
    pos_c = target["customer"].to_numpy()
    pos_p = target["product"].to_numpy()
    positives = set(zip(pos_c.tolist(), pos_p.tolist(), strict=True))
    neg_p = rng.choice(pos_p, size=len(pos_p))
    clash = np.array(
        [(c, p) in positives for c, p in zip(pos_c.tolist(), neg_p.tolist(), strict=True)],
        dtype=bool,
    )
    for i in np.nonzero(clash)[0]:
        for _ in range(20):
            neg_p[i] = rng.integers(0, frame.num_products)
            if (int(pos_c[i]), int(neg_p[i])) not in positives:
                break
    customers = np.unique(pos_c)
    split_of = dict(zip(customers.tolist(), rng.permutation(len(customers)) % 2 + 1, strict=True))
    c_ids = frame.customers["id"].to_numpy(dtype=object)
    p_ids = frame.products["id"].to_numpy(dtype=object)
    split = np.array([split_of[c] for c in pos_c.tolist()], dtype=np.int64)
    pairs = pd.DataFrame(
        {
            "customer_id": np.concatenate([c_ids[pos_c], c_ids[pos_c]]),
            "product_id": np.concatenate([p_ids[pos_p], p_ids[neg_p]]),
            "label": np.repeat(np.array([1, 0], dtype=np.int64), len(pos_c)),
            "split": np.concatenate([split, split]),
        }
    )
    before = int(days[-2])
    return frame.until(before), pairs


def write_pairs(pairs: pd.DataFrame, path: Path) -> None:
    pairs[["customer_id", "product_id", "label", "split"]].to_csv(
        path, sep="\t", header=False, index=False
    )


@dataclass
class TrainResult:
    run: Run
    report: dict[str, Any]
    seconds: float
    frame: GraphFrame


def train(
    runner: QueryRunner,
    config: Config,
    *,
    until: int | None = None,
    pairs_path: str | Path | None = None,
    out: str | Path | None = None,
    runs_dir: Path = DEFAULT_RUNS_DIR,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> TrainResult:
    """Extract, train the teacher and every student (with and without distillation),
    evaluate them on the same pairs and write the run directory; ``runs/LATEST`` last."""
    from distill.evaluate import evaluate_link_prediction

    began = time.perf_counter()
    frame = extract(runner, config, until, say)
    train_frame, pairs = _train_frame_and_pairs(frame, config, pairs_path, say)
    run = create_run(runs_dir, Path(out) if out is not None else None)
    # the last day the models trained on (a held-out last day is after it)
    train_until = train_frame.meta.get("until") if train_frame is not frame else until
    recorded = {"config": to_dict(config), "until": until, "train_until": train_until}
    (run.path / CONFIG_FILE).write_text(json.dumps(recorded, indent=2) + "\n", encoding="utf-8")
    write_pairs(pairs, run.path / EVAL_PAIRS_FILE)
    run_config = config.run_config()
    run_config = replace(run_config, train=replace(run_config.train, progress=progress))
    try:
        result = evaluate_link_prediction(train_frame, pairs, run_config, run.path)
    except (KeyError, ValueError) as exc:
        message = str(exc).strip("'\"")
        raise PipelineError(f"cannot train on this graph and these pairs: {message}") from exc
    report = dict(result.report)
    report["run_id"] = run.run_id
    report["until"] = until
    run.report_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    mark_latest(run, runs_dir)
    return TrainResult(run, report, time.perf_counter() - began, frame)


def _train_frame_and_pairs(
    frame: GraphFrame,
    config: Config,
    pairs_path: str | Path | None,
    say: Callable[[str], None],
) -> tuple[GraphFrame, pd.DataFrame]:
    """What the models train on and the labelled pairs they are evaluated on: ``frame``
    and the pairs file when given, else the frame without its last day and that day's pairs."""
    if pairs_path is not None:
        pairs = read_pairs(pairs_path)
        train_frame = frame
        say(
            f"evaluating on {pairs_path} (validation split {config.eval.val_split}, "
            f"test split {config.eval.test_split})"
        )
    else:
        train_frame, pairs = holdout_pairs(frame, config.train.seed)
        say(
            f"no labelled pairs given: holding out the last day ({len(pairs) // 2:,} positive "
            "pairs, as many popularity-drawn negatives; half validation, half test)"
        )
    days = train_frame.interactions["day"].nunique()
    if days < 2:
        raise PipelineError(
            f"the models would train on {days} day(s) of interactions; they need at least 2 "
            "(temporal snapshots: the graph before a day predicts that day)"
            + ("" if pairs_path is not None else ", plus the held-out last day")
        )
    return train_frame, pairs


def run_train_until(run: Run) -> tuple[bool, int | None]:
    """``(recorded, day)``: the last day a run's models trained on, when its config.json
    records it (runs from before it did: ``(False, None)``)."""
    path = run.path / CONFIG_FILE
    if not path.is_file():
        return False, None
    recorded = json.loads(path.read_text(encoding="utf-8"))
    if "train_until" not in recorded:
        return False, None
    value = recorded["train_until"]
    return True, int(value) if value is not None else None


def run_until(run: Run) -> int | None:
    """The ``--until`` day a run was trained with (None: the whole graph)."""
    path = run.path / CONFIG_FILE
    if not path.is_file():
        return None
    value = json.loads(path.read_text(encoding="utf-8")).get("until")
    return int(value) if value is not None else None
