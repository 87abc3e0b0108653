"""Every error of the CLI ends in one line naming the problem, exit status 1, no traceback
and no secret: broken model files, bad query parameters, credentials in NEO4J_URI, the
server dying mid-write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kgdistill import server
from kgdistill.server import settings_from_env
from kgstore.connection import QueryRunner
from tests.conftest import managed_test_server

pytestmark = pytest.mark.neo4j


def _kg(runner: QueryRunner, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    settings = runner.settings
    environ = dict(
        os.environ,
        NEO4J_URI=settings.uri,
        NEO4J_USER=settings.user,
        NEO4J_PASSWORD=settings.password,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "kgdistill", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The single stderr line of a failed command (asserting there is exactly one)."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"kgdistill {command}: error: "), lines[0]
    return lines[0]


def _runs(root: Path) -> Path:
    """Three runs whose default student's file is broken: garbage, truncated, wrong format."""
    good = root / "source.pt"
    torch.save({"format": "kgdistill-model/1", "weights": torch.zeros(1000)}, good)
    broken = {
        "garbage": b"\x00not a model at all" * 10,
        "truncated": good.read_bytes()[:200],
        "wrong": None,
    }
    runs = root / "runs"
    for name, data in broken.items():
        models = runs / name / "models"
        models.mkdir(parents=True)
        (runs / name / "report.json").write_text(
            json.dumps({"default_student": "student_mlp", "models": {}})
        )
        if data is None:
            torch.save([1, 2, 3], models / "student_mlp.pt")
        else:
            (models / "student_mlp.pt").write_bytes(data)
    return runs


def test_broken_model_files_are_one_line_and_do_not_break_listing(
    graph: QueryRunner, tmp_path: Path
) -> None:
    runs = _runs(tmp_path)
    listing = _kg(graph, tmp_path, "models", "list", "--runs-dir", str(runs))
    assert listing.returncode == 0, listing.stderr
    assert "Traceback" not in listing.stderr
    assert listing.stderr.count("skipped:") == 3, listing.stderr
    for name in ("garbage", "truncated", "wrong"):
        result = _kg(graph, tmp_path, "predict", "--runs-dir", str(runs), "--run", name, "-q")
        line = one_line_error(result, "predict")
        assert f"{runs / name / 'models' / 'student_mlp.pt'}: not a" in line
    sync = _kg(graph, tmp_path, "sync", "-q", "--set", f"predict.run={runs / 'garbage'}")
    assert "not a readable kgdistill model" in one_line_error(sync, "sync")


@pytest.mark.parametrize(
    ("value", "reason"),
    [("abc", "refused its parameters"), ("-1", "refused its parameters")],
)
def test_bad_query_parameters_are_one_line(
    graph: QueryRunner, tmp_path: Path, value: str, reason: str
) -> None:
    result = _kg(
        graph,
        tmp_path,
        "query",
        "customer_recommendations",
        "--param",
        "customer_id=1",
        "--param",
        f"limit={value}",
    )
    line = one_line_error(result, "query")
    assert reason in line and "customer_recommendations" in line


def test_a_query_name_with_a_path_lists_no_other_folder(graph: QueryRunner, tmp_path: Path) -> None:
    result = _kg(graph, tmp_path, "query", "../extract/page_customers")
    line = one_line_error(result, "query")
    assert "no query" in line and "customer_recommendations" in line
    assert "page_customers," not in line and "page_products" not in line


def test_credentials_in_neo4j_uri_are_refused_and_never_shown(
    graph: QueryRunner, tmp_path: Path
) -> None:
    host = graph.settings.uri.split("://", 1)[1]
    for command in (
        ["query", "customer_recommendations", "-p", "customer_id=1"],
        ["load", "synthetic", "-q"],
    ):
        result = _kg(graph, tmp_path, *command, NEO4J_URI=f"bolt://neo4j:S3CRETVALUE@{host}")
        line = one_line_error(result, command[0])
        assert "S3CRETVALUE" not in result.stderr + result.stdout
        assert "must not carry a user or password" in line
    assert graph.read_value("MATCH (n) RETURN count(n)") == 0


def test_the_server_dying_mid_write_is_one_line(tmp_path: Path) -> None:
    cfg = managed_test_server(str(tmp_path / "servers"), "dying")
    server.start(cfg, progress=lambda m: None)
    try:
        settings = settings_from_env(cfg, environ={})
        env = dict(
            os.environ,
            NEO4J_URI=settings.uri,
            NEO4J_USER=settings.user,
            NEO4J_PASSWORD=settings.password,
            PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        )
        load = subprocess.Popen(
            [
                *(sys.executable, "-m", "kgdistill", "load", "synthetic", "--quiet"),
                *("--customers", "3000", "--products", "20000", "--interactions", "600000"),
                *("--batch-size", "2000"),
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        with QueryRunner.connect(settings) as runner:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and load.poll() is None:
                if runner.read_value("MATCH ()-[r:CLICKED]->() RETURN count(r) > 0"):
                    break
                time.sleep(0.2)
        assert load.poll() is None, "the load ended before the server could be killed"
        os.kill(int(cfg.pid_file.read_text().strip()), signal.SIGKILL)  # mid-write
        _, err = load.communicate(timeout=300)
    finally:
        server.stop(cfg, progress=lambda m: None)
    assert load.returncode == 1, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kgdistill load: error: ") and "Neo4j" in lines[0], lines[0]
    assert "rerun" in lines[0].lower()
    assert settings.password not in err
