"""The project-managed Neo4j server's life cycle, against the real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import neo4j
import pytest

from kgstore import server
from kgstore.connection import Neo4jConnectionError, Neo4jSettings, QueryRunner, settings_from_env
from tests.conftest import managed_test_server

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.ServerConfig]:
    cfg = managed_test_server(str(tmp_path_factory.mktemp("lifecycle")), "lifecycle")
    yield cfg
    server.stop(cfg, progress=lambda m: None)


def _cli(cfg: server.ServerConfig, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("NEO4J_URI", None)
    env.update(
        KGDISTILL_NEO4J__BOLT_PORT=str(cfg.bolt_port),
        KGDISTILL_NEO4J__HTTP_PORT=str(cfg.http_port),
        KGDISTILL_NEO4J__INSTANCE=cfg.instance,
        KGDISTILL_NEO4J__INSTANCES_DIR=cfg.instances_dir,
        KGDISTILL_NEO4J__HEAP=cfg.heap,
        KGDISTILL_NEO4J__PAGECACHE=cfg.pagecache,
    )
    return subprocess.run(
        [sys.executable, "-m", "kgdistill", "neo4j", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _java_pids(cfg: server.ServerConfig) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if f"--home-dir={cfg.instance_dir}".encode() in cmdline:
            pids.append(int(proc.name))
    return pids


def test_status_when_stopped_says_not_running(own_server: server.ServerConfig) -> None:
    result = _cli(own_server, "status")
    assert result.returncode == 3
    assert "not running" in result.stdout


def test_start_twice_stop_and_no_java_left(own_server: server.ServerConfig) -> None:
    first = _cli(own_server, "start")
    assert first.returncode == 0, first.stderr
    assert "is up on" in first.stdout
    second = _cli(own_server, "start")
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stdout

    status = _cli(own_server, "status")
    assert status.returncode == 0
    assert "5.26." in status.stdout and "community" in status.stdout
    assert str(own_server.bolt_port) in status.stdout

    env = _cli(own_server, "env")
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in env.stdout.strip().splitlines()
    )
    password = exports["NEO4J_PASSWORD"].strip("'")
    assert password == own_server.password_file.read_text().strip()
    assert own_server.password_file.stat().st_mode & 0o077 == 0  # 0600

    with neo4j.GraphDatabase.driver(exports["NEO4J_URI"], auth=("neo4j", password)) as driver:
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD name, versions, edition "
            "RETURN name, versions[0] AS version, edition"
        )
    kernel = {r["name"]: r for r in records}["Neo4j Kernel"]
    assert kernel["version"].startswith("5.26.")
    assert kernel["edition"] == "community"

    stopped = _cli(own_server, "stop")
    assert stopped.returncode == 0
    assert "stopped" in stopped.stdout
    assert _java_pids(own_server) == []
    assert _cli(own_server, "status").returncode == 3


def test_wrong_password_is_refused(own_server: server.ServerConfig) -> None:
    server.start(own_server, progress=lambda m: None)
    good = settings_from_env(own_server, environ={})
    bad = Neo4jSettings(uri=good.uri, user=good.user, password="not-the-password")
    with pytest.raises(Neo4jConnectionError) as info:
        QueryRunner.connect(bad)
    assert "not-the-password" not in str(info.value)
    assert "refused" in str(info.value)


def test_bolt_listens_on_loopback_only(own_server: server.ServerConfig) -> None:
    server.start(own_server, progress=lambda m: None)
    conf = (own_server.conf_dir / "neo4j.conf").read_text()
    assert f"server.bolt.listen_address=127.0.0.1:{own_server.bolt_port}" in conf
    # Every non-loopback address of this machine must refuse the Bolt port.
    outside = {
        info[4][0]
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        if not info[4][0].startswith("127.")
    }
    for address in outside:
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((address, own_server.bolt_port)) != 0, address
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", own_server.bolt_port)) == 0


def test_port_taken_by_another_process_is_a_clear_error(
    own_server: server.ServerConfig, tmp_path: Path
) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        other = managed_test_server(str(tmp_path), "conflict")
        other = server.ServerConfig(**{**other.__dict__, "bolt_port": taken})
        with pytest.raises(server.Neo4jServerError, match=f"port {taken} .* already in use"):
            server.start(other, progress=lambda m: None)
    assert _java_pids(other) == []


def test_write_read_and_clean_up_through_the_driver(graph: QueryRunner) -> None:
    graph.write("CREATE (:KgTestNode {id: $id, name: $name})", id=1, name="käse ü")
    assert graph.read("MATCH (n:KgTestNode) RETURN n.id AS id, n.name AS name") == [
        {"id": 1, "name": "käse ü"}
    ]
    counters = graph.write("MATCH (n:KgTestNode) DETACH DELETE n")
    assert counters["nodes_deleted"] == 1
    assert graph.read_value("MATCH (n:KgTestNode) RETURN count(n) AS n") == 0


def test_the_running_server_applies_the_timeouts(runner: QueryRunner) -> None:
    if not runner.settings.managed:
        pytest.skip("NEO4J_URI names a server kgdistill did not configure")
    rows = runner.read(
        "SHOW SETTINGS YIELD name, value "
        "WHERE name IN ['db.transaction.timeout', 'db.lock.acquisition.timeout'] "
        "RETURN name, value"
    )
    assert {r["name"]: r["value"] for r in rows} == {
        "db.transaction.timeout": "15m",
        "db.lock.acquisition.timeout": "2m",
    }
