"""Run directories: creation, LATEST, lookup and the default student (no database)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from distill.artifact import (
    RunNotFoundError,
    create_run,
    find_run,
    list_runs,
    mark_latest,
    new_run_id,
)


def _complete(run_dir: Path, default: str = "student_mlp") -> None:
    (run_dir / "report.json").write_text(json.dumps({"default_student": default, "models": {}}))
    (run_dir / "models" / f"{default}.pt").write_bytes(b"x")


def test_run_ids_sort_by_time_and_differ() -> None:
    early = new_run_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert early.startswith("20260102-030405-")
    assert new_run_id() != new_run_id()


def test_latest_and_named_runs(tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match="kgdistill train"):
        find_run(runs_dir=tmp_path)
    first = create_run(tmp_path)
    _complete(first.path)
    second = create_run(tmp_path)
    _complete(second.path, default="student_gat")
    mark_latest(first, tmp_path)
    assert find_run(runs_dir=tmp_path).run_id == first.run_id
    assert find_run(second.run_id, runs_dir=tmp_path).run_id == second.run_id
    assert find_run(str(second.path), runs_dir=tmp_path).path == second.path
    assert [r.run_id for r in list_runs(tmp_path)] == [first.run_id, second.run_id]
    with pytest.raises(RunNotFoundError, match="no trained run 'nope'"):
        find_run("nope", runs_dir=tmp_path)


def test_incomplete_run_is_not_latest(tmp_path: Path) -> None:
    done = create_run(tmp_path)
    _complete(done.path)
    create_run(tmp_path)  # crashed before its report: no report.json
    assert find_run(runs_dir=tmp_path).run_id == done.run_id


def test_student_resolves_to_the_default_student(tmp_path: Path) -> None:
    run = create_run(tmp_path, out=tmp_path / "myrun")
    _complete(run.path, default="student_sage")
    assert run.resolve_model("student") == "student_sage"
    assert run.resolve_model("student_sage") == "student_sage"
    with pytest.raises(RunNotFoundError, match="available: student_sage"):
        run.resolve_model("teacher")


class _Unread:
    """A runner that must not be used: any attribute is a test failure."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"the graph was read (runner.{name}) before the run was found")


def test_predict_names_a_missing_run_or_model_before_reading_the_graph(tmp_path: Path) -> None:
    """A run or model that is not there is the first thing ``predict`` says, before any
    query (not after minutes of extraction at shop scale)."""
    from kgdistill import service
    from kgdistill.config import Config
    from kgdistill.service import PredictConfig

    with pytest.raises(RunNotFoundError, match="kgdistill train"):
        service.predict(_Unread(), Config(), runs_dir=tmp_path)  # type: ignore[arg-type]
    run = create_run(tmp_path)
    _complete(run.path)
    mark_latest(run, tmp_path)
    config = replace(Config(), predict=PredictConfig(model="teacher"))
    with pytest.raises(RunNotFoundError, match="has no model 'teacher'"):
        service.predict(_Unread(), config, runs_dir=tmp_path)  # type: ignore[arg-type]


@pytest.mark.parametrize(("score_workers", "workers"), [(0, None), (1, 1), (3, 3)])
def test_predicts_score_workers_reach_the_scorer(
    score_workers: int, workers: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[predict] score_workers`` is the scorer's blocks at once (0: its own choice)."""
    from kgdistill.config import Config
    from kgdistill.service import PredictConfig, TrainedModel

    asked: dict[str, object] = {}

    class Scorer:
        def top_k_blocks(self, ids: object, **options: object) -> object:
            asked.update(options)
            return iter(())

    model = TrainedModel.__new__(TrainedModel)  # no run to load: only the wiring is tested
    model.config = replace(Config(), predict=PredictConfig(score_workers=score_workers))
    monkeypatch.setattr(model, "scorer", lambda runner: Scorer())
    list(model.top_k_blocks(_Unread(), None, 5))  # type: ignore[arg-type]
    assert asked["workers"] == workers and asked["k"] == 5
