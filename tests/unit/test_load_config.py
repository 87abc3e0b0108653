"""The [load] and [extract] configuration sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgdistill.config import ConfigError, load_config
from kgstore.extract import ExtractConfig
from kgstore.ingest import LoadConfig


def test_defaults_file_environment_and_flags(tmp_path: Path) -> None:
    assert load_config(environ={}).load == LoadConfig()
    assert load_config(environ={}).extract == ExtractConfig()
    toml = tmp_path / "kgdistill.toml"
    toml.write_text('[load]\nbatch_size = 500\non_unknown = "skip"\n[extract]\npage_size = 77\n')
    config = load_config(toml, environ={"KGDISTILL_LOAD__BATCH_SIZE": "900"})
    assert config.load == LoadConfig(batch_size=900, on_unknown="skip")
    assert config.extract.page_size == 77
    flagged = load_config(toml, environ={}, flags={"load": {"on_unknown": "error"}})
    assert flagged.load.on_unknown == "error"


def test_bad_values_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="on_unknown"):
        load_config(environ={"KGDISTILL_LOAD__ON_UNKNOWN": "ignore"})
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        load_config(environ={}, sets=["load.batch_size=0"])
    with pytest.raises(ConfigError, match="interaction type"):
        load_config(environ={}, sets=["extract.interaction_types=CLICKED,no way"])
    with pytest.raises(ConfigError, match="cheap_precision must be"):
        load_config(environ={}, sets=["predict.cheap_precision=half"])
    chosen = load_config(environ={}, sets=["predict.cheap_precision=float32"])
    assert chosen.predict.cheap_precision == "float32"
    with pytest.raises(ConfigError, match="threads must be >= 0"):
        load_config(environ={"KGDISTILL_PREDICT__THREADS": "-1"})
    assert load_config(environ={}, sets=["predict.threads=1"]).predict.threads == 1
    assert load_config(environ={}).predict.threads == 0
    with pytest.raises(ConfigError, match="score_workers must be >= 0"):
        load_config(environ={}, sets=["predict.score_workers=-1"])
    assert load_config(environ={}, sets=["predict.score_workers=1"]).predict.score_workers == 1


def test_workers_come_from_configuration() -> None:
    assert LoadConfig().workers == 2
    assert load_config(environ={"KGDISTILL_LOAD__WORKERS": "3"}).load.workers == 3
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        load_config(environ={}, sets=["load.workers=0"])
