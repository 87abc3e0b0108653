"""One model configuration: the teacher's and the students' sections share its fields,
checks and spec, and keep the keys their TOML sections and recorded runs use."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.config import STUDENTS, ModelConfig, RunConfig, StudentConfig, TeacherConfig
from kgdistill.config import Config, load_config
from kgdistill.settings import build


def test_teacher_and_students_are_one_model_config_with_one_set_of_checks():
    assert isinstance(TeacherConfig(), ModelConfig) and isinstance(StudentConfig(), ModelConfig)
    for section in (TeacherConfig, StudentConfig):
        with pytest.raises(ValueError, match="hidden"):
            section(hidden=0)
        with pytest.raises(ValueError, match="dropout"):
            section(dropout=1.0)
    with pytest.raises(ValueError, match="conv = 'mlp'"):
        TeacherConfig(conv="mlp")
    with pytest.raises(ValueError, match="kind = 'gatv2'"):
        StudentConfig(kind="gatv2")


def test_the_spec_names_the_encoder_whatever_the_section_calls_it():
    assert TeacherConfig(conv="sage").spec()["kind"] == "sage"
    assert StudentConfig(kind="gat").spec()["kind"] == "gat"
    assert TeacherConfig().spec()["collab"] is True  # 64-wide ids on both sides
    assert StudentConfig(customer_id_dim=6, product_id_dim=0).spec()["collab"] is False


def test_sections_keep_their_keys_in_toml_and_in_a_recorded_run(tmp_path: Path):
    toml = tmp_path / "kgdistill.toml"
    toml.write_text('[teacher]\nconv = "gatv2"\n[student_gat]\nkind = "sage"\nhidden = 8\n')
    config = load_config(toml, environ={})
    assert config.teacher.conv == "gatv2" and config.student_gat.encoder == "sage"
    recorded = config.run_config().as_dict()
    assert next(iter(recorded["teacher"])) == "conv"
    assert next(iter(recorded["student_mlp"])) == "kind"
    assert build(Config, [("config.json", recorded)]).run_config() == config.run_config()


def test_every_registered_student_is_a_section_with_the_registered_defaults():
    config = RunConfig()
    for name, defaults in STUDENTS.items():
        assert config.student(name) == defaults
        assert getattr(load_config(environ={}), name) == defaults
