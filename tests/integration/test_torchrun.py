"""`torchrun --nproc-per-node 2 -m kgdistill train` on a small synthetic shop in the real
Neo4j (issue 13, item 5): both processes extract the graph and train, each on its
share of the pairs with the gradients averaged; only rank 0 writes the run and prints.
With the ranking loss off the two processes train what one process trains (their
shares' mean losses average to the whole batch's), so the two runs' figures agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgdistill.cli import main
from kgstore.connection import Neo4jSettings, QueryRunner
from kgstore.ingest import write_plan
from kgstore.sources.synthetic import generate
from tests.support.small_run import point_cli_at

pytestmark = pytest.mark.neo4j

ROOT = Path(__file__).resolve().parents[2]

SMALL = """\
[teacher]
hidden = 8
heads = 2
layers = 1
epochs = 4
customer_id_dim = 4

[student_mlp]
hidden = 8
customer_id_dim = 4
epochs = 4

[kd]
candidates_per_pair = 1.0

[task]
snapshots = 2

[train]
rank_loss = "none"

[eval]
seeds = [0]
students = ["student_mlp"]
rank_customers = 10
latency_pairs = 500
latency_runs = 1
"""


def _env(settings: Neo4jSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "KGDISTILL_"))}
    env |= {"NEO4J_URI": settings.uri, "NEO4J_USER": settings.user}
    env |= {"NEO4J_PASSWORD": settings.password, "PYTHONPATH": str(ROOT)}
    if settings.database:
        env["NEO4J_DATABASE"] = settings.database
    return env


def test_two_processes_train_one_run_as_one_process_does(
    graph: QueryRunner, neo4j_settings: Neo4jSettings, tmp_path: Path, monkeypatch, capsys
):
    write_plan(graph, generate(customers=80, products=150, interactions=2_000, seed=3))
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "kgdistill"]
    args = ["train", "--config", str(config), "--runs-dir", str(tmp_path / "runs"), "--json"]
    work = tmp_path / "work"  # nothing may land in the processes' own directory
    work.mkdir()
    proc = subprocess.run(
        [*command, *args, "--out", str(tmp_path / "runs" / "two")],
        cwd=work,
        env=_env(neo4j_settings),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout)  # one JSON object: rank 1 printed nothing
    assert two["path"] == str(tmp_path / "runs" / "two")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["LATEST", "two"]
    assert list(work.iterdir()) == []

    point_cli_at(neo4j_settings, monkeypatch)
    assert main([*args, "--out", str(tmp_path / "runs" / "one")]) == 0
    one = json.loads(capsys.readouterr().out)
    for name in ("teacher", "student_mlp"):
        auc = {run["path"]: _auc(run, name) for run in (one, two)}
        assert abs(auc[one["path"]] - auc[two["path"]]) <= 0.005, (name, auc)
    report = json.loads((tmp_path / "runs" / "two" / "report.json").read_text())
    assert report["run_id"] == two["run_id"] and (tmp_path / "runs/two/models").is_dir()


def _auc(run: dict, model: str) -> float:
    (row,) = [row for row in run["models"] if row["model"] == model]
    return float(row["auc"])
