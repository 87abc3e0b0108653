"""How the managed server's life cycle reads processes and ports, on stand-in processes.

A Neo4j JVM killed with SIGKILL does not vanish at once: its main thread turns zombie
(empty cmdline) while its other threads are still ending and hold its sockets. The
stand-in below is that state, held for as long as a test needs it: a Python process
whose main thread has exited while another thread keeps a listening socket open until
its stdin closes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgdistill import server
from tests.conftest import reserve_port

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir() or not sys.platform.startswith("linux"),
    reason="reads Linux /proc",
)

LINGER = """
import ctypes, socket, sys, threading
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
sock.listen()
print(sock.getsockname()[1], flush=True)
def linger():
    sys.stdin.read()
    sock.close()
threading.Thread(target=linger).start()
ctypes.CDLL(None).pthread_exit(None)  # the main thread ends; the process does not
"""


@pytest.fixture
def lingering() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A process in a killed JVM's state: leader a zombie, one thread holding a port."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LINGER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    port = int(proc.stdout.readline())
    # The leader has printed; wait (bounded) until it has also exited.
    assert server._wait_until(lambda: _leader_state(proc.pid) == "Z", 30)
    try:
        yield proc, port
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.wait(30)


def _leader_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]


def _cfg(tmp_path: Path, bolt: int, http: int | None = None) -> server.ServerConfig:
    return server.ServerConfig(
        instance="unit",
        bolt_port=bolt,
        http_port=http if http is not None else reserve_port(),
        instances_dir=str(tmp_path),
        stop_timeout_s=60,
    )


def _name_in_pid_file(cfg: server.ServerConfig, pid: int) -> None:
    cfg.pid_file.parent.mkdir(parents=True, exist_ok=True)
    cfg.pid_file.write_text(f"{pid}\n")


def test_a_running_process_is_live_and_a_reaped_one_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    assert server._proc_state(proc.pid) == "live"
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(30)
    assert server._proc_state(proc.pid) == "gone"


def test_a_worker_thread_ending_does_not_make_a_process_exiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A running JVM ends threads of its own all the time: one caught in do_exit() or
    # just dead must not make a healthy server look killed (start would wait on it).
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    workers = {"worker-in-exit": ("R", server._PF_EXITING), "worker-dead": ("X", 0)}
    real_stat, real_listdir = server._thread_stat, os.listdir

    def thread_stat(pid: int, tid: str) -> tuple[str, int] | None:
        return workers.get(tid) or real_stat(pid, tid)

    def listdir(path: str) -> list[str]:
        extra = list(workers) if path == f"/proc/{proc.pid}/task" else []
        return [*real_listdir(path), *extra]

    try:
        with monkeypatch.context() as patch:
            patch.setattr(server, "_thread_stat", thread_stat)
            patch.setattr(os, "listdir", listdir)
            assert server._proc_state(proc.pid) == "live"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)


def test_a_zombie_leader_with_a_thread_still_running_is_exiting(
    lingering: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    proc, port = lingering
    assert server._proc_state(proc.pid) == "exiting"
    assert server.port_in_use(port)
    cfg = _cfg(tmp_path, port)
    _name_in_pid_file(cfg, proc.pid)
    assert not server.status(cfg, query_version=False).running


def test_start_after_a_crash_waits_for_the_process_to_end_then_for_its_ports(
    lingering: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    proc, port = lingering
    stdin = proc.stdin
    assert stdin is not None
    # The HTTP port is held here, standing in for a socket that outlives the process.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        cfg = _cfg(tmp_path, port, held.getsockname()[1])
        _name_in_pid_file(cfg, proc.pid)
        said: list[str] = []

        def progress(message: str) -> None:
            # Each wait is announced before it starts; ending what it waits for here
            # makes the order certain.
            said.append(message)
            if len(said) == 1:
                stdin.close()
            else:
                held.close()

        server.clear_after_crash(cfg, progress)
    assert len(said) == 2
    assert f"pid {proc.pid}" in said[0] and "still exiting" in said[0]
    assert f"HTTP {cfg.http_port}" in said[1] and "released" in said[1]
    assert proc.poll() == 0  # reaped: it was our child
    assert not server.port_in_use(port) and not server.port_in_use(cfg.http_port)
    assert not cfg.pid_file.exists()


def test_stop_waits_for_a_killed_server_that_is_still_exiting(
    lingering: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    proc, port = lingering
    stdin = proc.stdin
    assert stdin is not None
    cfg = _cfg(tmp_path, port)
    _name_in_pid_file(cfg, proc.pid)
    said: list[str] = []

    def progress(message: str) -> None:
        said.append(message)
        stdin.close()

    assert server.stop(cfg, progress) is False  # it was not running
    assert said and "still exiting" in said[0]
    assert proc.poll() == 0 and not server.port_in_use(port)


def test_a_port_held_by_another_process_is_an_immediate_error(tmp_path: Path) -> None:
    # No Java is needed to say so: the ports are checked first.
    said: list[str] = []
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        cfg = _cfg(tmp_path, blocker.getsockname()[1])
        with pytest.raises(server.Neo4jServerError, match="already in use by another process"):
            server.start(cfg, progress=said.append)
    assert said == []


def test_a_stale_pid_file_does_not_excuse_a_taken_port(tmp_path: Path) -> None:
    # The pid file names a process that ended long ago: whoever holds the port now is
    # somebody else, so there is nothing to wait for.
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    said: list[str] = []
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        cfg = _cfg(tmp_path, blocker.getsockname()[1])
        _name_in_pid_file(cfg, int(ended.stdout))
        with pytest.raises(server.Neo4jServerError, match="already in use by another process"):
            server.start(cfg, progress=said.append)
    assert said == []
    assert not cfg.pid_file.exists()
