"""The Optuna search: validation split only, default beside best, resumable, TOML out."""

import math

import pandas as pd
import pytest

from distill.config import (
    EvalConfig,
    KDConfig,
    RunConfig,
    StudentConfig,
    TaskConfig,
    TeacherConfig,
    TrainConfig,
)
from distill.tune import tune
from kgdistill.config import load_config
from tests.support.tiny import planted_frame, planted_pairs

CONFIG = RunConfig(
    teacher=TeacherConfig(hidden=8, heads=2, layers=1, epochs=4, customer_id_dim=4),
    student_mlp=StudentConfig(kind="mlp", hidden=8, customer_id_dim=4, epochs=4),
    kd=KDConfig(candidates_per_pair=1.0),
    task=TaskConfig(snapshots=1),
    train=TrainConfig(progress=False, eval_every=2),
    eval=EvalConfig(seeds=(0,)),
)


@pytest.fixture(scope="module")
def data():
    frame = planted_frame()
    pairs = planted_pairs(frame)
    # Test pairs that name nobody in the graph: reading them would raise.
    test = pairs.loc[pairs["split"] == 2].assign(customer_id="nobody")
    return frame, pd.concat([pairs.loc[pairs["split"] == 1], test], ignore_index=True)


def test_search_resumes_and_writes_a_config_train_accepts(data, tmp_path):
    frame, pairs = data
    storage = tmp_path / "study.sqlite3"
    lines: list[str] = []
    first = tune(frame, pairs, CONFIG, trials=3, storage=storage, say=lines.append)
    assert first.trials == 3 and first.val_split == 1
    assert first.default == {
        "alpha": 1.0,
        "temperature": 2.0,
        "hidden": 8,
        "layers": 2,
        "lr": 0.01,
    }
    assert not math.isnan(first.default_auc)
    assert first.best_auc >= first.default_auc
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert len(trial_lines) == 3 and "(the default configuration)" in trial_lines[0]

    again = tune(frame, pairs, CONFIG, trials=4, storage=storage, say=lines.append)
    assert again.trials == 4  # one more, not four more
    assert again.default_auc == first.default_auc  # the default ran once, in the first call
    assert sum(line.startswith("trial ") for line in lines) == 4

    out = tmp_path / "tuned.toml"
    out.write_text(again.toml())
    config = load_config(out, environ={})
    assert config.kd.alpha == again.best["alpha"]
    assert config.kd.temperature == again.best["temperature"]
    assert config.student_mlp.hidden == again.best["hidden"]
    assert config.student_mlp.layers == again.best["layers"]
    assert config.student_mlp.lr == again.best["lr"]


def test_a_study_of_other_data_is_refused(data, tmp_path):
    frame, pairs = data
    storage = tmp_path / "study.sqlite3"
    tune(frame, pairs, CONFIG, trials=1, storage=storage, say=lambda m: None)
    fewer = pairs.iloc[2:]
    with pytest.raises(ValueError, match="other data"):
        tune(frame, fewer, CONFIG, trials=2, storage=storage, say=lambda m: None)


def test_validation_pairs_of_one_label_are_refused(data):
    frame, pairs = data
    one_label = pairs.loc[(pairs["split"] == 2) | (pairs["label"] == 1)]
    with pytest.raises(ValueError, match="validation split 1"):
        tune(frame, one_label, CONFIG, trials=1, say=lambda m: None)
