"""A run trained with small settings on a synthetic shop in a real Neo4j, for the tests of
the commands that take a run (`compress`, `export`, `tune`, `score`, `sync`, ...)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from distill.artifact import Run
from distill.config import EvalConfig, KDConfig, StudentConfig, TaskConfig, TeacherConfig
from kgdistill import pipeline
from kgdistill.config import load_config
from kgstore.connection import Neo4jSettings, QueryRunner
from kgstore.ingest import write_plan
from kgstore.sources.synthetic import generate

# CLI flags that keep a command which trains (tune) as small as the run
SMALL = [
    "--set",
    "student_mlp.epochs=4",
    "--set",
    "task.snapshots=1",
    "--set",
    "kd.candidates_per_pair=1.0",
]


def point_cli_at(settings: Neo4jSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI, run in-process, talks to the test's Neo4j."""
    monkeypatch.setenv("NEO4J_URI", settings.uri)
    monkeypatch.setenv("NEO4J_USER", settings.user)
    monkeypatch.setenv("NEO4J_PASSWORD", settings.password)
    if settings.database:
        monkeypatch.setenv("NEO4J_DATABASE", settings.database)


def train_small_run(graph: QueryRunner, out: Path, runs_dir: Path) -> Run:
    """Synthetic shop ids 1..80 (customers) and 1..150 (products) over 10 days from
    2019-06-10, trained with small settings (no labelled pairs: the last day is held out);
    ``runs_dir/LATEST`` points at the run."""
    write_plan(graph, generate(customers=80, products=150, interactions=2_000, seed=3))
    base = load_config(environ={})
    small = StudentConfig(kind="mlp", hidden=8, customer_id_dim=4, epochs=4)
    config = replace(
        base,
        teacher=TeacherConfig(hidden=8, heads=2, layers=1, epochs=4, customer_id_dim=4),
        student_mlp=small,
        kd=KDConfig(candidates_per_pair=1.0),
        task=TaskConfig(snapshots=1),
        eval=EvalConfig(
            seeds=(0,),
            students=("student_mlp",),
            rank_customers=10,
            latency_pairs=500,
            latency_runs=1,
        ),
    )
    result = pipeline.train(
        graph, config, out=out, runs_dir=runs_dir, progress=False, say=lambda m: None
    )
    return result.run
