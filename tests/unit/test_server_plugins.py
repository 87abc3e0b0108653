"""ServerConfig's plugins and extra neo4j.conf lines (what a GDS-enabled instance needs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgdistill import server
from kgdistill.server import Neo4jServerError, ServerConfig


def _jar(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"PK")
    return path


def test_no_plugins_no_extra_lines(tmp_path: Path) -> None:
    cfg = ServerConfig(home=str(tmp_path))
    text = server.write_conf(cfg).read_text()
    assert "gds" not in text
    assert text.endswith("internal.server.bolt.connection_shutdown_wait_time=0s\n")
    assert server.classpath(cfg) == f"{cfg.lib_dir}/*"
    assert list(cfg.plugins_dir.iterdir()) == []


def test_extra_conf_lines_are_written_last(tmp_path: Path) -> None:
    cfg = ServerConfig(
        home=str(tmp_path), extra_conf=("dbms.security.procedures.unrestricted=gds.*",)
    )
    lines = server.write_conf(cfg).read_text().splitlines()
    assert lines[-1] == "dbms.security.procedures.unrestricted=gds.*"
    assert f"server.directories.plugins={cfg.plugins_dir}" in lines


@pytest.mark.parametrize("line", ["no equals sign", "x=1\nserver.bolt.enabled=false", "=1"])
def test_bad_extra_conf_lines_are_refused(line: str) -> None:
    with pytest.raises(ValueError, match="extra_conf line"):
        ServerConfig(extra_conf=(line,))


def test_plugins_are_linked_and_on_the_classpath(tmp_path: Path) -> None:
    a = _jar(tmp_path / "jars", "a-1.jar")
    b = _jar(tmp_path / "jars", "b-1.jar")
    cfg = ServerConfig(home=str(tmp_path / "home"), plugins=(str(a), str(b)))
    server.write_conf(cfg)
    links = sorted(cfg.plugins_dir.glob("*.jar"))
    assert [p.name for p in links] == ["a-1.jar", "b-1.jar"]
    assert all(p.is_symlink() and p.resolve() == (tmp_path / "jars" / p.name) for p in links)
    assert server.classpath(cfg).split(":") == [f"{cfg.lib_dir}/*", str(a), str(b)]


def test_plugins_no_longer_configured_are_removed(tmp_path: Path) -> None:
    a = _jar(tmp_path / "jars", "a-1.jar")
    server.write_conf(ServerConfig(home=str(tmp_path / "home"), plugins=(str(a),)))
    cfg = ServerConfig(home=str(tmp_path / "home"))
    server.write_conf(cfg)
    assert list(cfg.plugins_dir.glob("*.jar")) == []


def test_a_missing_plugin_jar_is_a_clear_error(tmp_path: Path) -> None:
    cfg = ServerConfig(home=str(tmp_path), plugins=(str(tmp_path / "gone.jar"),))
    with pytest.raises(Neo4jServerError, match=r"gone\.jar does not exist"):
        server.write_conf(cfg)
