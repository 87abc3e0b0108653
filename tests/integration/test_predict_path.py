"""The predict command's path through the code: from the CLI to the write in Neo4j it
visits six modules, each once and in order (CLI, service, model loading, graph read,
scoring, database write), and none of them calls back into one before it.

Traced with :func:`sys.setprofile` while ``kgdistill predict --write`` runs in-process
on a small trained run in a real Neo4j: every call from one of kgdistill's modules into
another, from the CLI's call into the service on, is an edge. Modules that only carry
data or plumbing (the GraphFrame, the configuration dataclasses, the driver wrapper,
the Cypher loader, the model classes) are not steps of the path; the test lists them,
so a new module on the path fails it. A lambda or nested function that a caller hands
down (the CLI's ``say``, which prints progress) runs the caller's code without being a
step back: such calls are listed apart and must be few.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from kgdistill.cli import main
from kgstore.connection import QueryRunner
from tests.support.small_run import point_cli_at, train_small_run

PATH = (
    "kgdistill.cli.predict",
    "kgdistill.service",
    "distill.artifact",
    "kgstore.extract",
    "distill.predict",
    "kgstore.writeback",
)
# Called along the way, but not steps: data types, configuration, plumbing, and the
# model code that the loading and scoring steps use.
HELPERS = {
    "kgframe",
    "kgdistill.config",
    "kgdistill.settings",
    "kgdistill.sync",  # SyncConfig, a section of the configuration
    "kgdistill.cli",
    "kgdistill.cli.common",
    "kgdistill.server",
    "kgstore.connection",
    "kgstore.cypher",
    "distill.config",
    "distill.data",
    "distill.models",
    "distill.quantize",
    "distill.losses",
    "distill.ranking",
}
OURS = ("kgdistill", "distill", "kgstore", "kgframe")


def _module(frame: FrameType | None) -> str:
    return "" if frame is None else str(frame.f_globals.get("__name__", ""))


@contextmanager
def _calls() -> Iterator[list[tuple[str, str, bool]]]:
    """(caller module, callee module, callee is a callback) for each call between two of
    our modules, from the
    CLI's call into the service on (before it, the CLI builds the configuration, whose
    sections check themselves where they are defined)."""
    edges: list[tuple[str, str, bool]] = []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call":
            return
        callee, caller = _module(frame), _module(frame.f_back)
        if not edges and (caller, callee) != PATH[:2]:
            return
        if callee != caller and callee.startswith(OURS) and caller.startswith(OURS):
            name = frame.f_code.co_qualname  # a dataclass's generated __init__ is no callback
            nested = "<locals>" in name and not name.startswith("__create_fn__")
            edges.append((caller, callee, "<lambda>" in name or nested))

    sys.setprofile(profile)
    try:
        yield edges
    finally:
        sys.setprofile(None)


def test_predict_write_visits_six_modules_in_order(
    graph: QueryRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    train_small_run(graph, tmp_path / "run", tmp_path / "runs")
    point_cli_at(graph.settings, monkeypatch)
    monkeypatch.setenv("KGDISTILL_SYNC__OVERLAP_S", "0")
    argv = ["predict", "--write", "-k", "5", "--runs-dir", str(tmp_path / "runs"), "-q"]
    with _calls() as edges:
        code = main(argv)
    assert code == 0, capsys.readouterr().err
    assert graph.read_value("MATCH ()-[r:RECOMMENDED]->() RETURN count(r) AS n") == 80 * 5

    calls = [(a, b) for a, b, callback in edges if not callback]
    steps = [m for call in calls for m in call if m in PATH]
    order = list(dict.fromkeys(steps))  # first visits, in order
    assert order == list(PATH), order
    back = [(a, b) for a, b in calls if a in PATH and b in PATH and PATH.index(b) < PATH.index(a)]
    assert back == [], f"calls back up the path: {sorted(set(back))}"
    # Below the CLI, each step is entered from the service (the CLI enters the service)
    # and from nowhere else: no step calls the next one behind the service's back.
    entered = {(a, b) for a, b in calls if b in PATH and a in PATH}
    expected = {PATH[:2]} | {("kgdistill.service", m) for m in PATH[2:]}
    assert entered == expected, sorted(entered)
    others = {b for a, b in calls if a in PATH and b not in PATH} - HELPERS
    assert others == set(), f"modules on the path that are not steps or helpers: {others}"
    # Callbacks: only the CLI's progress printer, handed to the service and the extraction.
    callbacks = {(a, b) for a, b, callback in edges if callback and b in PATH}
    assert callbacks <= {
        ("kgdistill.service", "kgdistill.cli.predict"),
        ("kgstore.extract", "kgdistill.cli.predict"),
    }, sorted(callbacks)
