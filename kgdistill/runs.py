"""Run directories: where a training run keeps its models, report and configuration.

Layout (``runs/`` under the current directory unless ``--out``/``--runs-dir``)::

    runs/<run_id>/report.json     metrics of every model (see distill.report)
    runs/<run_id>/report.md       the same as a table
    runs/<run_id>/quality_vs_cost.png  quality against latency and size
    runs/<run_id>/config.json     the configuration the run used
    runs/<run_id>/models/<name>.pt  artifacts: weights + config + encoder + metrics
    runs/LATEST                   the id of the newest complete run

A run is complete when its report.json exists; ``LATEST`` is written last.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_RUNS_DIR = Path("runs")


class RunNotFoundError(FileNotFoundError):
    """No trained run where one was expected; the message says what to do."""


def new_run_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Run:
    run_id: str
    path: Path

    @property
    def report_path(self) -> Path:
        return self.path / "report.json"

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    def artifact(self, model: str) -> Path:
        return self.models_dir / f"{model}.pt"

    def report(self) -> dict[str, Any]:
        try:
            report = json.loads(self.report_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunNotFoundError(f"run {self.run_id} at {self.path} has no report.json") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunNotFoundError(
                f"{self.report_path}: not a readable run report ({exc}); train again"
            ) from None
        if not isinstance(report, dict):
            raise RunNotFoundError(f"{self.report_path}: not a run report (not a JSON object)")
        return dict(report)

    def resolve_model(self, name: str) -> str:
        """``student`` means the run's default student; other names must have an artifact."""
        report = self.report()
        if name == "student":
            name = str(report.get("default_student", ""))
        if not self.artifact(name).is_file():
            available = sorted(p.stem for p in self.models_dir.glob("*.pt"))
            raise RunNotFoundError(
                f"run {self.run_id} has no model {name!r}; available: {', '.join(available)} "
                "(or 'student' for the default student)"
            )
        return name


def create_run(runs_dir: Path = DEFAULT_RUNS_DIR, out: Path | None = None) -> Run:
    """A fresh run directory: ``out`` when given, else ``runs_dir/<new id>``."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "models").mkdir(exist_ok=True)
        return Run(out.name, out)
    run_id = new_run_id()
    path = runs_dir / run_id
    (path / "models").mkdir(parents=True)
    return Run(run_id, path)


def mark_latest(run: Run, runs_dir: Path = DEFAULT_RUNS_DIR) -> None:
    runs_dir.mkdir(parents=True, exist_ok=True)
    (runs_dir / "LATEST").write_text(str(run.path.resolve()) + "\n", encoding="utf-8")


def find_run(run: str | None = None, runs_dir: Path = DEFAULT_RUNS_DIR) -> Run:
    """The run ``run`` names (an id under runs_dir, or a path), else the latest complete one."""
    if run:
        candidate = Path(run)
        path = candidate if candidate.is_dir() else runs_dir / run
        if not (path / "report.json").is_file():
            raise RunNotFoundError(f"no trained run {run!r} (looked for {path / 'report.json'})")
        return Run(path.name, path)
    latest = runs_dir / "LATEST"
    if latest.is_file():
        path = Path(latest.read_text(encoding="utf-8").strip())
        if (path / "report.json").is_file():
            return Run(path.name, path)
    complete = sorted((p for p in runs_dir.glob("*/report.json")), key=lambda p: p.stat().st_mtime)
    if not complete:
        raise RunNotFoundError(
            f"no trained run under {runs_dir.resolve()}: run `kgdistill train` (or "
            "`kgdistill run`) first, or pass --run DIR"
        )
    return Run(complete[-1].parent.name, complete[-1].parent)


def list_runs(runs_dir: Path = DEFAULT_RUNS_DIR) -> list[Run]:
    runs = [Run(p.parent.name, p.parent) for p in runs_dir.glob("*/report.json")]
    return sorted(runs, key=lambda r: r.report_path.stat().st_mtime)
