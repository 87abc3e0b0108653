"""What an evaluation finds, typed: from :mod:`distill.evaluate` to the report and the summary.

Each class serialises (``as_dict``) to exactly the shape ``report.json`` has always had,
keys and nesting, and reads it back (``from_dict``), reports written before these
classes included: a figure a report lacks reads as None.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def _mean(values: list[Any]) -> float:
    return float(np.mean(values))


class _Figures:
    """A flat group of figures: its dict is its fields, in order."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass


@dataclass
class ColdStart(_Figures):
    """AUC and AP on the test pairs whose product had no training interaction (``n``)."""

    auc: float
    ap: float
    n: int


@dataclass
class Quality:
    """AUC and AP of the test pairs; Recall@K, NDCG@K and MRR over the ranked customers."""

    k: int
    auc: float | None
    ap: float | None
    recall: float | None
    ndcg: float | None
    mrr: float | None
    cold_start: ColdStart | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "auc": self.auc,
            "ap": self.ap,
            f"recall@{self.k}": self.recall,
            f"ndcg@{self.k}": self.ndcg,
            "mrr": self.mrr,
        }
        if self.cold_start is not None:
            out["cold_start"] = self.cold_start.as_dict()
        return out

    @classmethod
    def from_dict(cls, entry: dict[str, Any], k: int) -> Quality:
        cold = entry.get("cold_start")
        return cls(
            k=k,
            auc=entry.get("auc"),
            ap=entry.get("ap"),
            recall=entry.get(f"recall@{k}"),
            ndcg=entry.get(f"ndcg@{k}"),
            mrr=entry.get("mrr"),
            cold_start=ColdStart(cold.get("auc"), cold.get("ap"), cold.get("n", 0))
            if cold
            else None,
        )

    @staticmethod
    def mean(runs: list[Quality]) -> Quality:
        """The mean of each figure over ``runs`` (the cold-start count is the first's)."""
        first = runs[0]
        cold = None
        if first.cold_start is not None:
            colds = [r.cold_start for r in runs if r.cold_start is not None]
            cold = ColdStart(
                _mean([c.auc for c in colds]), _mean([c.ap for c in colds]), first.cold_start.n
            )
        return Quality(
            k=first.k,
            auc=_mean([r.auc for r in runs]),
            ap=_mean([r.ap for r in runs]),
            recall=_mean([r.recall for r in runs]),
            ndcg=_mean([r.ndcg for r in runs]),
            mrr=_mean([r.mrr for r in runs]),
            cold_start=cold,
        )


@dataclass
class Cost(_Figures):
    """Parameters, bytes of the float32 weights, and milliseconds to score 100,000 pairs."""

    params: int | float | None
    bytes: int | float | None
    latency_ms_100k: float | None


@dataclass
class Training(_Figures):
    """The best validation AUC, the epoch it came at, and the training time (seconds)."""

    val_auc: float
    best_epoch: int | float
    train_seconds: float
    minibatch: bool | None = None  # trained in mini-batches (None: a report before it said)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.minibatch is None:
            del out["minibatch"]
        return out


@dataclass
class ModelResult:
    """One model's entry in the report: its quality, its agreement with the teacher
    (students), how it trained and what it costs. An entry averaged over seeds keeps each
    seed's result in ``per_seed`` (those have a ``seed``, no cost: the cost is the best
    seed's); the teacher's ``per_seed`` is its one run."""

    quality: Quality
    agreement: float | None = None
    seed: int | None = None
    training: Training | None = None
    cost: Cost | None = None
    per_seed: list[ModelResult] | None = None

    @property
    def averaged(self) -> bool:
        return bool(self.per_seed) and self.per_seed[0].seed is not None  # type: ignore[index]

    def as_dict(self) -> dict[str, Any]:
        out = self.quality.as_dict()
        if self.agreement is not None:
            out["agreement"] = self.agreement
        if self.seed is not None:
            out["seed"] = self.seed
        # the order report.json has always had: an average lists its (mean) training
        # figures before its best seed's cost; a single run its cost first
        parts = [self.training, self.cost] if self.averaged else [self.cost, self.training]
        for part in parts:
            if part is not None:
                out.update(part.as_dict())
        if self.per_seed is not None:
            out["per_seed"] = [run.as_dict() for run in self.per_seed]
        return out

    @classmethod
    def from_dict(cls, entry: dict[str, Any], k: int) -> ModelResult:
        training = None
        if "val_auc" in entry:
            training = Training(
                entry["val_auc"],
                entry.get("best_epoch", 0),
                entry.get("train_seconds", 0.0),
                entry.get("minibatch"),
            )
        cost = None
        if any(key in entry for key in ("params", "bytes", "latency_ms_100k")):
            cost = Cost(entry.get("params"), entry.get("bytes"), entry.get("latency_ms_100k"))
        per_seed = entry.get("per_seed")
        return cls(
            quality=Quality.from_dict(entry, k),
            agreement=entry.get("agreement"),
            seed=entry.get("seed"),
            training=training,
            cost=cost,
            per_seed=None if per_seed is None else [cls.from_dict(s, k) for s in per_seed],
        )

    @staticmethod
    def mean(runs: list[ModelResult], cost: Cost) -> ModelResult:
        """The entry of a model trained once per seed: each figure's mean over ``runs``,
        ``cost`` (the best seed's), and the runs themselves."""
        trainings = [r.training for r in runs if r.training is not None]
        agreements = [r.agreement for r in runs if r.agreement is not None]
        return ModelResult(
            quality=Quality.mean([r.quality for r in runs]),
            agreement=_mean(agreements) if agreements else None,
            training=Training(
                _mean([t.val_auc for t in trainings]),
                _mean([t.best_epoch for t in trainings]),
                _mean([t.train_seconds for t in trainings]),
                trainings[0].minibatch,  # the seeds train on the same graphs
            ),
            cost=cost,
            per_seed=runs,
        )


@dataclass
class Report:
    """``report.json``: every model's entry, the default student, the configuration the run
    used (plain values), what the data held, and the seconds the evaluation took."""

    models: dict[str, ModelResult]
    default_student: str | None
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    peak_rss_mb: float | None = None  # the evaluating process's peak resident memory

    @property
    def k(self) -> int:
        return config_k(self.config)

    def as_dict(self) -> dict[str, Any]:
        return {
            "models": {name: entry.as_dict() for name, entry in self.models.items()},
            "default_student": self.default_student,
            "config": self.config,
            "data": self.data,
            "seconds": self.seconds,
        } | ({} if self.peak_rss_mb is None else {"peak_rss_mb": self.peak_rss_mb})

    @classmethod
    def from_dict(cls, report: dict[str, Any]) -> Report:
        config = report.get("config") or {}
        k = config_k(config)
        return cls(
            models={
                name: ModelResult.from_dict(entry, k)
                for name, entry in (report.get("models") or {}).items()
            },
            default_student=report.get("default_student"),
            config=config,
            data=report.get("data") or {},
            seconds=report.get("seconds"),
            peak_rss_mb=report.get("peak_rss_mb"),
        )


DEFAULT_K = 20


def config_k(config: dict[str, Any]) -> int:
    """The K of a report's Recall@K and NDCG@K: its ``config.eval.k`` (20 when absent)."""
    k = (config or {}).get("eval", {}).get("k")
    return int(k) if k is not None else DEFAULT_K


def seeds_phrase(config: dict[str, Any]) -> str:
    """How a report's students were trained, from its ``config.eval.seeds``: ``seed 0``
    for one seed, ``mean of seeds [0, 1, 2]`` for several."""
    seeds = list((config or {}).get("eval", {}).get("seeds") or [])
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"mean of seeds {seeds}"
