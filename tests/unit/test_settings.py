"""Configuration precedence and validation (no database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from kgdistill.config import Config, load_config
from kgdistill.settings import ConfigError, build, coerce, env_layer, flag_layer, to_dict


@dataclass(frozen=True)
class Inner:
    alpha: float = 0.5
    mode: Literal["soft", "hard"] = "soft"


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    k: int = 20
    flag: bool = False
    types: tuple[str, ...] = ("CLICKED",)
    limit: float | None = None
    inner: Inner = field(default_factory=Inner)
    other: Inner = field(default_factory=lambda: Inner(alpha=2.0, mode="hard"))


def test_later_layers_win_and_untouched_keys_keep_defaults() -> None:
    cfg = build(
        Outer,
        [
            ("file", {"k": 5, "inner": {"alpha": 0.1}}),
            ("env", {"k": "7"}),
            ("flags", {"inner": {"mode": "hard"}}),
        ],
    )
    assert cfg == Outer(k=7, inner=Inner(alpha=0.1, mode="hard"))


def test_nested_sections_keep_their_own_defaults() -> None:
    cfg = build(Outer, [("file", {"other": {"alpha": 3.0}})])
    assert cfg.other == Inner(alpha=3.0, mode="hard")  # mode from the field's factory
    assert build(Outer, []).other == Inner(alpha=2.0, mode="hard")


def test_unknown_key_names_key_and_source() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'inner\.alpah' in my\.toml"):
        build(Outer, [("my.toml", {"inner": {"alpah": 1}})])


def test_bad_value_names_key_and_source() -> None:
    with pytest.raises(ConfigError, match=r"'k' from the environment: 'many' is not a valid int"):
        build(Outer, [("the environment", {"k": "many"})])
    with pytest.raises(ConfigError, match=r"'inner\.mode' .* not one of 'soft', 'hard'"):
        build(Outer, [("f", {"inner": {"mode": "medium"}})])
    with pytest.raises(ConfigError, match="'flag'"):
        build(Outer, [("f", {"flag": "maybe"})])


@pytest.mark.parametrize(
    ("raw", "hint", "expected"),
    [
        ("3", int, 3),
        ("1_000", int, 1000),
        ("0.25", float, 0.25),
        ("yes", bool, True),
        ("off", bool, False),
        ("BOUGHT, CLICKED", tuple[str, ...], ("BOUGHT", "CLICKED")),
        (["a"], tuple[str, ...], ("a",)),
        ("none", float | None, None),
        ("1.5", float | None, 1.5),
        ("~/x", Path, Path.home() / "x"),
    ],
)
def test_coerce(raw: object, hint: object, expected: object) -> None:
    assert coerce(raw, hint, "key", "test") == expected


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ConfigError):
        coerce(True, int, "k", "toml")


def test_env_and_flag_layers() -> None:
    env = {"KGDISTILL_INNER__ALPHA": "0.9", "KGDISTILL_HOME": "/ignored", "PATH": "/bin"}
    assert env_layer(Outer, env) == {"inner": {"alpha": "0.9"}}
    with pytest.raises(ConfigError, match="KGDISTILL_NOPE__X names no configuration section"):
        env_layer(Outer, {"KGDISTILL_NOPE__X": "1"})
    assert flag_layer(["inner.alpha=0.2", "k=3"]) == {"inner": {"alpha": "0.2"}, "k": "3"}
    with pytest.raises(ConfigError, match=r"expected section\.key=value"):
        flag_layer(["alpha"])


def test_load_config_precedence_file_env_flags(tmp_path: Path) -> None:
    toml = tmp_path / "kg.toml"
    toml.write_text("[neo4j]\nbolt_port = 7001\nhttp_port = 7002\nheap = '2g'\n")
    env = {"KGDISTILL_NEO4J__BOLT_PORT": "7003"}
    cfg = load_config(toml, environ=env, sets=["neo4j.heap=3g"], flags={"neo4j": {"instance": "t"}})
    assert isinstance(cfg, Config)
    assert cfg.neo4j.bolt_port == 7003  # env beats file
    assert cfg.neo4j.http_port == 7002  # file beats default
    assert cfg.neo4j.heap == "3g"  # --set beats file
    assert cfg.neo4j.instance == "t"  # flags beat everything
    assert to_dict(cfg)["neo4j"]["bolt_port"] == 7003


def test_invalid_section_value_is_a_config_error(tmp_path: Path) -> None:
    toml = tmp_path / "kg.toml"
    toml.write_text("[neo4j]\nbolt_port = 99999\n")
    with pytest.raises(ConfigError, match="out of range"):
        load_config(toml, environ={})
    toml.write_text("[neo4j\n")
    with pytest.raises(ConfigError, match=str(toml)):
        load_config(toml, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", environ={})


def test_every_cli_error_is_one_line_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from neo4j.exceptions import IncompleteCommit

    from kgdistill import cli
    from kgdistill.cli import query

    current: list[Exception] = []

    def fail(args: object) -> int:
        raise current[-1]

    monkeypatch.setattr(query, "_run", fail)
    monkeypatch.setenv("NEO4J_PASSWORD", "hunter2-secret")
    cases = [
        (IncompleteCommit("Failed to read from defunct connection"), "IncompleteCommit"),
        (RuntimeError("cannot open bolt://neo4j:topsecret@db:7687\nmore"), "RuntimeError"),
        (OSError("hunter2-secret was rejected"), "OSError"),
    ]
    for failure, name in cases:
        current.append(failure)
        assert cli.main(["query", "x"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("kgdistill query: error: "), err
        assert name in err and "Traceback" not in err
        assert "topsecret" not in err and "hunter2-secret" not in err
