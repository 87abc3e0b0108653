"""What `kgdistill neo4j start` says when Java or Maven are missing or broken.

These run fake `java`/`mvn` executables on a private PATH: they test our error
messages and the cache's all-or-nothing rule, not the database.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kgdistill import server
from kgdistill.server import Neo4jServerError, ServerConfig


def _fake(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def test_missing_java_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Neo4jServerError, match=r"Java is not installed.*Java 17"):
        server.java_version()


def test_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(tmp_path / "bin", "java", "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(Neo4jServerError, match="Java 11 found"):
        server.java_version()


def test_java_17_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(tmp_path / "bin", "java", "echo 'openjdk version \"17.0.15\" 2025-04-15' >&2\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert server.java_version() == 17


def test_missing_maven_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    cfg = ServerConfig(home=str(tmp_path / "cache"))
    with pytest.raises(Neo4jServerError, match="Maven is not installed"):
        server.provision(cfg, progress=lambda m: None)


def test_unreachable_maven_central_leaves_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Maven that writes half a download, then fails like an offline machine does.
    _fake(
        tmp_path / "bin",
        "mvn",
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) d="${a#-DoutputDirectory=}";; '
        'esac; done\nmkdir -p "$d" && touch "$d/neo4j-kernel-5.26.30.jar"\n'
        "echo '[ERROR] Failed to execute goal: Could not transfer artifact org.neo4j:neo4j:pom:"
        "5.26.30 from/to central: Unknown host repo.maven.apache.org'\nexit 1\n",
    )
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    cfg = ServerConfig(home=str(tmp_path / "cache"))
    with pytest.raises(Neo4jServerError, match="cannot reach Maven Central"):
        server.provision(cfg, progress=lambda m: None)
    assert not server.is_provisioned(cfg)
    assert not cfg.lib_dir.exists()
    assert list(cfg.dist_dir.glob("lib.partial-*")) == []


def test_server_config_validation() -> None:
    with pytest.raises(ValueError, match="out of range"):
        ServerConfig(bolt_port=0)
    with pytest.raises(ValueError, match="must differ"):
        ServerConfig(bolt_port=7000, http_port=7000)
    with pytest.raises(ValueError, match="size like"):
        ServerConfig(heap="lots")
    with pytest.raises(ValueError, match="instance name"):
        ServerConfig(instance="../../etc")
    with pytest.raises(ValueError, match="gc 'zgc': expected one of auto, g1, parallel"):
        ServerConfig(gc="zgc")


def test_the_server_runs_the_collector_its_config_names(tmp_path: Path) -> None:
    def collectors(gc: str) -> list[str]:
        cmd = server.server_command(ServerConfig(home=str(tmp_path), heap="1g", gc=gc))
        return [arg for arg in cmd if arg.startswith("-XX:+Use") and arg.endswith("GC")]

    assert collectors("g1") == ["-XX:+UseG1GC"]
    assert collectors("parallel") == ["-XX:+UseParallelGC"]
    assert collectors("auto") == [server.GC_FLAGS[server.collector("auto")]]
    # auto: parallel where G1's concurrent threads would take a scarce core, else G1
    assert [server.collector("auto", cores=n) for n in (1, 2, 3, 16)] == [
        "parallel",
        "parallel",
        "g1",
        "g1",
    ]
    assert server.collector("g1", cores=1) == "g1"


def test_password_file_is_private_and_stable(tmp_path: Path) -> None:
    cfg = ServerConfig(home=str(tmp_path))
    first = server.ensure_password(cfg)
    assert len(first) >= 24
    assert cfg.password_file.stat().st_mode & 0o777 == 0o600
    assert server.ensure_password(cfg) == first
    assert server.read_password(cfg) == first


def test_conf_binds_loopback_only(tmp_path: Path) -> None:
    cfg = ServerConfig(home=str(tmp_path), bolt_port=17001, http_port=17002, heap="512m")
    text = server.write_conf(cfg).read_text()
    assert "server.default_listen_address=127.0.0.1" in text
    assert "server.bolt.listen_address=127.0.0.1:17001" in text
    assert "server.http.listen_address=127.0.0.1:17002" in text
    assert "dbms.security.auth_enabled=true" in text
    assert "server.memory.heap.max_size=512m" in text


def test_the_managed_server_gets_transaction_and_lock_timeouts(tmp_path: Path) -> None:
    from kgdistill.server import ServerConfig, write_conf

    conf = write_conf(ServerConfig(instances_dir=str(tmp_path))).read_text()
    assert "db.transaction.timeout=15m\n" in conf
    assert "db.lock.acquisition.timeout=2m\n" in conf
    conf = write_conf(
        ServerConfig(instances_dir=str(tmp_path), transaction_timeout="90s", lock_timeout="0")
    ).read_text()
    assert "db.transaction.timeout=90s\n" in conf and "db.lock.acquisition.timeout=0\n" in conf
    with pytest.raises(ValueError, match="expected a duration"):
        ServerConfig(transaction_timeout="15 minutes")
