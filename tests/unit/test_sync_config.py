"""The [predict] and [sync] sections, the change set and scorer loading (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kgdistill.config import load_config
from kgdistill.service import PredictConfig
from kgdistill.settings import ConfigError
from kgdistill.sync import ScorerError, SyncConfig, SyncScorer, load_scorer
from kgstore.changes import ChangeSet, shift_day


def test_sections_have_their_defaults_and_take_overrides(tmp_path) -> None:
    config = load_config(None, environ={})
    assert config.predict == PredictConfig()
    assert config.predict.k == 20 and config.predict.min_score is None
    assert config.sync == SyncConfig()
    file = tmp_path / "kg.toml"
    file.write_text("[predict]\nk = 10\nmin_score = 0.2\n[sync]\nlock_ttl_s = 60\n")
    config = load_config(
        file,
        environ={"KGDISTILL_SYNC__CHUNK_SIZE": "50"},
        sets=["predict.relationship=SUGGESTED"],
    )
    assert (config.predict.k, config.predict.min_score) == (10, 0.2)
    assert config.predict.relationship == "SUGGESTED"
    assert (config.sync.lock_ttl_s, config.sync.chunk_size) == (60.0, 50)
    with pytest.raises(ConfigError):
        load_config(None, environ={}, sets=["predict.relationship=BAD TYPE"])
    with pytest.raises(ConfigError):
        load_config(None, environ={}, sets=["sync.lock_ttl_s=0"])


def test_shift_day_crosses_months_and_years() -> None:
    assert shift_day(20260101, -1) == 20251231
    assert shift_day(20240301, -1) == 20240229
    assert shift_day(20260115, -30) == 20251216


def test_change_set_unions_customers_once() -> None:
    now = datetime.now(UTC)
    changes = ChangeSet(
        since=now,
        until=now,
        new_interactions=(3, 1),
        changed_customers=(1, "x"),
        changed_products=(9,),
        product_audience=(2, 3),
    )
    assert changes.customers == [1, 2, 3, "x"]
    assert changes.counts()["customers"] == 4
    assert not changes.full
    first = ChangeSet(since=None, until=now, all_customers=(5, 4))
    assert first.full and first.customers == [4, 5]


def test_load_scorer() -> None:
    scorer = load_scorer("tests.support.scorers:CategoryAffinityScorer")
    assert isinstance(scorer, SyncScorer) and scorer.name == "category-affinity"
    for bad, message in (
        ("nocolon", "expected"),
        ("no_such_module_xyz:X", "cannot import"),
        ("tests.support.scorers:Missing", "no attribute"),
        ("tests.support.shop:PAST", "not a Scorer"),
    ):
        with pytest.raises(ScorerError, match=message):
            load_scorer(bad)


def test_a_scorer_named_by_its_old_path_still_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import kgdistill.service
    from tests.support.scorers import CategoryAffinityScorer

    # Stand the new home's class in for the trained model (which needs a run to load).
    monkeypatch.setattr(kgdistill.service, "TrainedModel", CategoryAffinityScorer)
    scorer = load_scorer("kgdistill.scoring:StudentScorer")
    assert isinstance(scorer, CategoryAffinityScorer)
    assert SyncConfig().scorer == "kgdistill.service:TrainedModel"
