"""Shared fixtures: one real Neo4j for the whole test session.

Which Neo4j, in order:
1. the one ``NEO4J_URI`` (with ``NEO4J_USER``/``NEO4J_PASSWORD``) names;
2. a testcontainers Neo4j 5.26, when ``KGDISTILL_TEST_BACKEND=docker`` and a Docker
   engine answers;
3. otherwise the project-managed server (``kgdistill.server``) on reserved ports in a
   temporary instance folder, stopped when the session ends.

Tests that write use the ``graph`` fixture: it refuses a database that is not
empty (so a test run can never wipe somebody's data) and deletes everything the
test wrote afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgdistill.server import ServerConfig, free_port, port_in_use, settings_from_env, start, stop
from kgstore.connection import Neo4jSettings, QueryRunner


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    proc = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    return proc.returncode == 0


_PORT_CLAIMS: list[int] = []  # locked descriptors, held until this process exits


def reserve_port() -> int:
    """A free port that no other test process on this machine gets, nor any outgoing
    connection, between now and the moment a server binds it.

    ``free_port()`` alone (bind port 0, close) leaves seconds before the server binds,
    in which another session's ``free_port()`` or an outgoing connection (both draw
    from the ephemeral range) may take it. These ports lie below that range, each
    claimed by a lock file that the kernel releases when this process ends.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return free_port()  # not Linux: the plain way
    claims = Path(tempfile.gettempdir()) / "kgdistill-test-ports"
    if not claims.is_dir():
        claims.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            claims.chmod(0o1777)  # shared by every user's test runs
    candidates = range(max(1024, low - 10_000), low)
    for port in random.sample(candidates, len(candidates)):
        try:
            fd = os.open(claims / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # another test process holds it
            os.close(fd)
            continue
        if port_in_use(port):  # some other program's
            os.close(fd)
            continue
        _PORT_CLAIMS.append(fd)
        return port
    raise RuntimeError(f"no free port to reserve in {candidates}")


def managed_test_server(tmp_root: str, name: str) -> ServerConfig:
    """A project-managed server config on reserved ports in a temporary instance folder."""
    return ServerConfig(
        instance=name,
        bolt_port=reserve_port(),
        http_port=reserve_port(),
        heap="768m",
        pagecache="256m",
        instances_dir=tmp_root,
    )


def neo4j_cli(cfg: ServerConfig, *args: str) -> subprocess.CompletedProcess[str]:
    """``kgdistill neo4j ARGS`` for ``cfg``'s instance, in a separate process as a user runs it.

    That process, not the test's, is the parent of a server it starts; it exits at once,
    so a server killed later leaves no zombie in the test process.
    """
    env = dict(os.environ)
    env.pop("NEO4J_URI", None)
    env.update(
        KGDISTILL_NEO4J__BOLT_PORT=str(cfg.bolt_port),
        KGDISTILL_NEO4J__HTTP_PORT=str(cfg.http_port),
        KGDISTILL_NEO4J__INSTANCE=cfg.instance,
        KGDISTILL_NEO4J__INSTANCES_DIR=cfg.instances_dir,
        KGDISTILL_NEO4J__HEAP=cfg.heap,
        KGDISTILL_NEO4J__PAGECACHE=cfg.pagecache,
        KGDISTILL_NEO4J__MEMORY_SHARE=str(cfg.memory_share),
    )
    return subprocess.run(
        [sys.executable, "-m", "kgdistill", "neo4j", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def neo4j_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jSettings]:
    if os.environ.get("NEO4J_URI"):
        yield settings_from_env()
        return
    if os.environ.get("KGDISTILL_TEST_BACKEND") == "docker" and _docker_answers():
        from testcontainers.neo4j import Neo4jContainer  # type: ignore[import-not-found]

        password = "kgdistill-test"
        with Neo4jContainer("neo4j:5.26-community", password=password) as container:
            yield Neo4jSettings(uri=container.get_connection_url(), password=password)
        return
    cfg = managed_test_server(str(tmp_path_factory.mktemp("neo4j")), "session")
    try:
        start(cfg, progress=lambda m: None)
        yield settings_from_env(cfg, environ={})
    finally:
        stop(cfg, progress=lambda m: None)


@pytest.fixture(scope="session")
def runner(neo4j_settings: Neo4jSettings) -> Iterator[QueryRunner]:
    with QueryRunner.connect(neo4j_settings) as r:
        yield r


def wipe(runner: QueryRunner) -> None:
    """Delete every node and relationship, in batches (schema stays: it is idempotent)."""
    with runner.session() as session:
        session.run(
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()


@pytest.fixture
def graph(runner: QueryRunner) -> Iterator[QueryRunner]:
    """The session's Neo4j, empty at the start; everything written is deleted afterwards."""
    count = runner.read_value("MATCH (n) RETURN count(n) AS n")
    if count:
        pytest.fail(
            f"the test database at {runner.settings.uri} holds {count} nodes; the integration "
            "tests need an empty database and delete what they write. Point NEO4J_URI at an "
            "empty one (or unset it to let the tests run their own server)."
        )
    try:
        yield runner
    finally:
        wipe(runner)
