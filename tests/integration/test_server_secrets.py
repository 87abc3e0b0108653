"""The managed server's password: never on a command line, and a lost one fails at once."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kgdistill import server
from kgdistill.server import settings_from_env
from kgstore.connection import QueryRunner
from tests.conftest import managed_test_server

pytestmark = pytest.mark.neo4j


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[server.ServerConfig]:
    cfg = managed_test_server(str(tmp_path), "secrets")
    yield cfg
    server.stop(cfg, progress=lambda m: None)


def test_the_password_never_reaches_a_command_line_and_a_lost_one_fails_at_once(
    fresh: server.ServerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []
    run, popen = subprocess.run, subprocess.Popen

    def record_run(args: Any, *a: Any, **kw: Any) -> Any:
        commands.append([str(x) for x in args])
        return run(args, *a, **kw)

    def record_popen(args: Any, *a: Any, **kw: Any) -> Any:
        commands.append([str(x) for x in args])
        return popen(args, *a, **kw)

    monkeypatch.setattr(server.subprocess, "run", record_run)
    monkeypatch.setattr(server.subprocess, "Popen", record_popen)
    server.start(fresh, progress=lambda m: None)
    monkeypatch.undo()
    password = fresh.password_file.read_text(encoding="utf-8").strip()
    assert any("set-initial-password" in cmd for cmd in commands), commands
    assert not [cmd for cmd in commands if any(password in arg for arg in cmd)]
    assert not list(fresh.instance_dir.glob("*.args"))  # the argument file is gone
    with QueryRunner.connect(settings_from_env(fresh, environ={})) as runner:
        assert runner.read_value("RETURN 1") == 1  # and the password works

    # A lost password file: the restarted server refuses the new password at once.
    server.stop(fresh, progress=lambda m: None)
    fresh.password_file.unlink()
    began = time.monotonic()
    with pytest.raises(server.Neo4jServerError) as info:
        server.start(fresh, progress=lambda m: None)
    assert time.monotonic() - began < 90  # was: the whole start_timeout_s (180 s)
    message = str(info.value)
    assert "refused the password" in message and str(fresh.password_file) in message
    assert "delete" in message and str(fresh.data_dir) in message
    assert password not in message
    assert not server.status(fresh, query_version=False).running
