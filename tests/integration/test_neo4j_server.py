"""The project-managed Neo4j server's life cycle, against the real server."""

from __future__ import annotations

import os
import re
import signal
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import neo4j
import pytest

from kgdistill import server
from kgdistill.server import settings_from_env
from kgstore.connection import Neo4jConnectionError, Neo4jSettings, QueryRunner
from tests.conftest import managed_test_server, neo4j_cli

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.ServerConfig]:
    cfg = managed_test_server(str(tmp_path_factory.mktemp("lifecycle")), "lifecycle")
    # Sized as users get it by default ("auto"), from a small share of this machine.
    cfg = replace(cfg, heap="auto", pagecache="auto", memory_share=0.05)
    # A password as ensure_password() generates 1 time in 64: one that looks like an option.
    cfg.password_file.parent.mkdir(parents=True)
    fd = os.open(cfg.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("-starts-like-an-option\n")
    yield cfg
    server.stop(cfg, progress=lambda m: None)


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
    result = neo4j_cli(own_server, "status")
    assert result.returncode == 3
    assert "not running" in result.stdout


def test_start_twice_stop_and_no_java_left(own_server: server.ServerConfig) -> None:
    first = neo4j_cli(own_server, "start")
    assert first.returncode == 0, first.stderr
    assert "is up on" in first.stdout
    second = neo4j_cli(own_server, "start")
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stdout

    status = neo4j_cli(own_server, "status")
    assert status.returncode == 0
    assert "5.26." in status.stdout and "community" in status.stdout
    assert str(own_server.bolt_port) in status.stdout

    env = neo4j_cli(own_server, "env")
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

    stopped = neo4j_cli(own_server, "stop")
    assert stopped.returncode == 0
    assert "stopped" in stopped.stdout
    assert _java_pids(own_server) == []
    assert neo4j_cli(own_server, "status").returncode == 3


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", size.lower()).groups()  # type: ignore[union-attr]
    return int(number) << {"": 0, "k": 10, "m": 20, "g": 30}[unit]


def test_auto_memory_is_what_neo4j_admin_recommends(own_server: server.ServerConfig) -> None:
    said: list[str] = []
    sized = server.sized_memory(own_server, progress=said.append)
    budget = max(512 << 20, int(server.machine_memory() * own_server.memory_share))
    assert "auto" not in (sized.heap, sized.pagecache)
    assert (
        _bytes(sized.heap) >= 128 << 20 and _bytes(sized.heap) + _bytes(sized.pagecache) <= budget
    )
    assert "Neo4j memory: heap" in said[0] and "memory_share 0.05" in said[0]
    # Sizes given in the configuration are kept, and nothing is asked of neo4j-admin.
    fixed = replace(own_server, heap="700m", pagecache="300m")
    assert server.sized_memory(fixed, progress=said.append) is fixed

    server.start(own_server, progress=lambda m: None)
    conf = (own_server.conf_dir / "neo4j.conf").read_text()
    assert f"server.memory.heap.max_size={sized.heap}" in conf
    assert f"server.memory.pagecache.size={sized.pagecache}" in conf
    (pid,) = _java_pids(own_server)
    assert f"-Xmx{sized.heap.lower()}" in Path(f"/proc/{pid}/cmdline").read_bytes().decode()


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


def test_start_at_once_after_sigkill_succeeds(tmp_path: Path) -> None:
    # A crashed server: its JVM takes a moment to end, holding its ports until it has.
    # `kgdistill neo4j start` right away waits for it (server.clear_after_crash) rather
    # than calling the ports taken by another process.
    cfg = managed_test_server(str(tmp_path), "killed")
    try:
        first = neo4j_cli(cfg, "start")
        assert first.returncode == 0, first.stderr
        old = int(cfg.pid_file.read_text())
        os.kill(old, signal.SIGKILL)
        again = neo4j_cli(cfg, "start")
        assert again.returncode == 0, again.stderr
        assert "is up on" in again.stdout
        assert "already in use" not in again.stderr
        new = int(cfg.pid_file.read_text())
        assert new != old and _java_pids(cfg) == [new]
        with QueryRunner.connect(settings_from_env(cfg, environ={})) as runner:
            assert runner.read_value("RETURN 1 AS one") == 1
    finally:
        server.stop(cfg, progress=lambda m: None)
    assert _java_pids(cfg) == []


def test_a_stop_with_a_client_connected_checkpoints_and_keeps_the_data(tmp_path: Path) -> None:
    # The managed server does not wait for Bolt's idle thread pools when it stops (their
    # waits made every stop take 10 s): the database must still be stopped and
    # checkpointed first, with a client connected throughout, and nothing lost.
    cfg = managed_test_server(str(tmp_path), "stopped")
    try:
        server.start(cfg, progress=lambda m: None)
        conf = (cfg.conf_dir / "neo4j.conf").read_text()
        assert "internal.server.bolt.thread_pool_shutdown_wait_time=0s" in conf
        with QueryRunner.connect(settings_from_env(cfg, environ={})) as runner:
            runner.write("CREATE (:KgTestNode {id: $id})", id=7)
            assert server.stop(cfg, progress=lambda m: None)
        debug = (cfg.logs_dir / "debug.log").read_text(errors="replace")
        shutdown = debug[debug.rindex("Requested Bolt server shutdown") :]
        assert re.search(r"\[neo4j/\w+\] Checkpoint triggered by \"Database shutdown\"", shutdown)
        assert re.search(r"Stopped 'DatabaseId\{\w+\[neo4j\]\}' successfully", shutdown)
        assert "Bolt server has been shut down" in shutdown
        server.start(cfg, progress=lambda m: None)
        with QueryRunner.connect(settings_from_env(cfg, environ={})) as runner:
            assert runner.read_value("MATCH (n:KgTestNode) RETURN collect(n.id) AS ids") == [7]
    finally:
        server.stop(cfg, progress=lambda m: None)
    assert _java_pids(cfg) == []


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
