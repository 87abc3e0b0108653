"""The application's configuration: one frozen dataclass per section, composed here.

Each section's dataclass lives beside the code it configures (``kgstore`` for
the database, ``distill`` for learning); this module only wires them together
and applies the precedence rules of :mod:`kgdistill.settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill.config import (
    EvalConfig,
    KDConfig,
    RunConfig,
    StructureConfig,
    StudentConfig,
    TaskConfig,
    TeacherConfig,
    TrainConfig,
)
from kgdistill.server import ServerConfig
from kgdistill.service import PredictConfig
from kgdistill.settings import ConfigError, build, env_layer, flag_layer, read_toml
from kgdistill.sync import SyncConfig
from kgstore.extract import ExtractConfig
from kgstore.ingest import LoadConfig

__all__ = ["Config", "ConfigError", "load_config"]

DEFAULT_FILE = "kgdistill.toml"


@dataclass(frozen=True)
class Config:
    neo4j: ServerConfig = field(default_factory=ServerConfig)
    load: LoadConfig = field(default_factory=LoadConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student_gat: StudentConfig = field(default_factory=lambda: RunConfig().student_gat)
    student_sage: StudentConfig = field(default_factory=lambda: RunConfig().student_sage)
    student_mlp: StudentConfig = field(default_factory=lambda: RunConfig().student_mlp)
    kd: KDConfig = field(default_factory=KDConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        # Writing predictions replaces every relationship of their type: an interaction
        # type of the same name would be deleted.
        for key in ("relationship", "category_relationship"):
            name = getattr(self.predict, key)
            if name in self.extract.interaction_types:
                raise ValueError(
                    f"predict.{key} = '{name}' is also an interaction type "
                    "(extract.interaction_types); writing predictions would delete those "
                    "interactions: choose another name"
                )

    def run_config(self) -> RunConfig:
        """The learning sections as the ``distill`` library's RunConfig."""
        return RunConfig(
            teacher=self.teacher,
            student_gat=self.student_gat,
            student_sage=self.student_sage,
            student_mlp=self.student_mlp,
            kd=self.kd,
            structure=self.structure,
            task=self.task,
            train=self.train,
            eval=self.eval,
        )


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    sets: list[str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Defaults < ``path`` (or ./kgdistill.toml when present) < environment < ``--set`` < flags.

    ``flags`` is a nested dict of values the command line gave explicitly.
    """
    env = os.environ if environ is None else environ
    layers: list[tuple[str, Mapping[str, Any]]] = []
    file = Path(path) if path else (Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None)
    if file is not None:
        layers.append((str(file), read_toml(file)))
    layers.append(("the environment", env_layer(Config, env)))
    if sets:
        layers.append(("--set", flag_layer(sets)))
    if flags:
        layers.append(("the command line", flags))
    return build(Config, layers)
