"""kgdistill.example.toml documents every key with its true default; examples/demo.toml
loads; docker-compose.yml wires the app to Neo4j 5.26 with the variables the CLI reads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from kgdistill.config import Config, load_config
from kgdistill.server import ServerConfig, settings_from_env
from kgdistill.settings import ConfigError, to_dict

ROOT = Path(__file__).resolve().parents[2]
KEY_LINE = re.compile(r"^# (\w+ = .*?)(\s+#.*)?$")


def _uncommented(path: Path) -> dict:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = KEY_LINE.match(line)
        lines.append(match.group(1) if match else line)
    return tomllib.loads("\n".join(lines))


def test_the_example_names_every_key_with_its_default() -> None:
    example = _uncommented(ROOT / "kgdistill.example.toml")
    defaults = to_dict(Config())
    assert set(example) == set(defaults)
    for section, values in defaults.items():
        assert set(example[section]) == set(values), section
        for key, value in values.items():
            if value is not None:  # None (e.g. predict.min_score) cannot be written in TOML
                assert example[section][key] == value, f"{section}.{key}"


def test_the_example_as_written_loads_to_the_defaults(tmp_path: Path) -> None:
    assert load_config(ROOT / "kgdistill.example.toml", environ={}) == Config()


def test_the_demo_configuration_loads() -> None:
    config = load_config(ROOT / "examples" / "demo.toml", environ={})
    assert config.eval.students == ("student_mlp",)
    assert config.eval.default_student in config.eval.students
    assert config.eval.seeds == (0, 1, 2)  # its summary is a mean of three; train's default, one


def test_a_typo_in_a_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text("[teacher]\nheds = 8\n")
    with pytest.raises(ConfigError, match=r"unknown key 'teacher.heds'.*k.toml"):
        load_config(path, environ={})
    path.write_text('[kd]\ntemperature = "warm"\n')
    with pytest.raises(ConfigError, match=r"kd.temperature"):
        load_config(path, environ={})


def test_flags_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text("[predict]\nk = 5\n[kd]\nalpha = 0.3\n")
    env = {"KGDISTILL_PREDICT__K": "7"}
    assert load_config(path, environ=env).predict.k == 7
    assert load_config(path, environ=env).kd.alpha == 0.3
    assert load_config(path, environ=env, flags={"predict": {"k": 9}}).predict.k == 9


def test_docker_compose_runs_neo4j_526_and_the_app_with_the_cli_variables() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"neo4j", "app"}
    image = services["neo4j"]["image"]
    assert re.fullmatch(r"neo4j:5\.26(\.\d+)?-community", image), image
    assert ServerConfig().version.startswith("5.26")
    assert "healthcheck" in services["neo4j"]
    app = services["app"]
    assert app["depends_on"]["neo4j"]["condition"] == "service_healthy"
    env = app["environment"]
    assert {"NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"} <= set(env)
    assert env["NEO4J_URI"] == "bolt://neo4j:7687"
    # The variables are the ones the CLI reads: resolving them gives an external server.
    resolved = {
        k: str(v).replace("${NEO4J_PASSWORD:-change-me-kgdistill}", "pw") for k, v in env.items()
    }
    settings = settings_from_env(ServerConfig(), resolved)
    assert (settings.uri, settings.user, settings.password, settings.database) == (
        "bolt://neo4j:7687",
        "neo4j",
        "pw",
        "neo4j",
    )
    assert not settings.managed
    # Both services share the password default, and the app runs the demo.
    assert services["neo4j"]["environment"]["NEO4J_AUTH"].endswith(
        "${NEO4J_PASSWORD:-change-me-kgdistill}"
    )
    assert app["command"][:2] == ["make", "demo-run"]
