"""The comparison: teacher, distilled and no-KD students, heuristic; same split, several seeds."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from distill.artifact import LoadedModel, build_model, save_artifact
from distill.baselines import BASELINES, Interactions, fit_baseline
from distill.config import ModelConfig, RunConfig, TrainConfig
from distill.data import FeatureEncoder, History, build_graph
from distill.metrics import (
    agreement,
    auc,
    average_precision,
    count_parameters,
    median_latency_ms,
    rank_rows,
    state_dict_bytes,
)
from distill.models import LinkPredictor, PairDecoder
from distill.predict import scoring_logits
from distill.report import write_report
from distill.results import ColdStart, Cost, ModelResult, Quality, Report, Training
from distill.tasks import (
    IGNORE,
    Snapshot,
    ids_to_rows,
    link_snapshots,
    make_pairs,
    prediction_snapshot,
)
from distill.train import (
    RANK_CALIBRATION_K,
    Shortlist,
    Side,
    TrainResult,
    earliest,
    held_sides,
    score_snapshot,
    teacher_edges,
    teacher_shortlist,
    train_link_model,
)
from kgframe import GraphFrame, normalize_id

RANK_CHUNK = 16

EVAL_PAIR_COLUMNS = ("customer_id", "product_id", "label", "split")


def read_eval_pairs(path: str | Path) -> pd.DataFrame:
    """Labelled pairs (EComm ``ecomm_edge_val_lr_train_test.txt``): tab-separated, no header,
    columns customer id, product id, label (1/0), split (0 validation positives,
    1 train/validation, 2 TEST). Ids are normalised like GraphFrame ids."""
    table = pd.read_csv(
        path, sep="\t", header=None, names=list(EVAL_PAIR_COLUMNS), dtype=str, keep_default_na=False
    )
    if table.empty:
        raise ValueError(f"{path}: no labelled pairs")
    bad = ~table["label"].isin(["0", "1"])
    if bad.any():
        line = int(np.nonzero(bad.to_numpy())[0][0]) + 1
        raise ValueError(f"{path}:{line}: label must be 0 or 1, got {table['label'][line - 1]!r}")
    return pd.DataFrame(
        {
            "customer_id": [normalize_id(v) for v in table["customer_id"]],
            "product_id": [normalize_id(v) for v in table["product_id"]],
            "label": table["label"].astype(np.int64),
            "split": table["split"].astype(np.int64),
        }
    )


@dataclass
class EvalContext:
    """Everything the models of one evaluation share (same graph, same split)."""

    frame: GraphFrame
    encoder: FeatureEncoder
    snapshots: list[Snapshot]
    candidates: Snapshot | None
    val: Snapshot
    test: Snapshot
    cold: np.ndarray  # [n_test] bool: test product has no training interaction
    rank_customers: np.ndarray  # customer rows ranked over all products
    rank_positives: list[np.ndarray]
    rank_exclude: list[np.ndarray] | None
    latency_customers: np.ndarray
    latency_products: np.ndarray


def _pair_snapshot(
    frame: GraphFrame, graph: HeteroData, history: History, pairs: pd.DataFrame
) -> Snapshot:
    c = ids_to_rows(frame.customer_index(), pairs["customer_id"].tolist(), "customer")
    p = ids_to_rows(frame.product_index(), pairs["product_id"].tolist(), "product")
    return Snapshot(graph, history, make_pairs(history, c, p, pairs["label"].to_numpy()), None)


def prepare(
    frame: GraphFrame,
    pairs: pd.DataFrame,
    config: RunConfig,
    encoder: FeatureEncoder | None = None,
) -> EvalContext:
    """``encoder``: a trained run's (its models' input widths), else fitted on ``frame``."""
    rng = np.random.default_rng(config.train.seed)
    if encoder is None:
        encoder = FeatureEncoder.fit(frame, config.structure.encoder_settings())
    snapshots = link_snapshots(frame, encoder, config.task, config.kd, rng)
    labelled = sum(int((s.pairs.labels != IGNORE).sum()) for s in snapshots)
    count = round(config.kd.candidates_per_pair * labelled)
    candidates = prediction_snapshot(frame, encoder, config.kd, count, rng) if count > 0 else None
    graph = candidates.graph if candidates is not None else build_graph(frame, encoder)
    history = candidates.history if candidates is not None else History.from_frame(frame)
    ev = config.eval
    val_pairs = pairs.loc[pairs["split"] == ev.val_split]
    test_pairs = pairs.loc[pairs["split"] == ev.test_split]
    if val_pairs["label"].nunique() < 2 or test_pairs["label"].nunique() < 2:
        raise ValueError(
            f"validation split {ev.val_split} and test split {ev.test_split} need both labels"
        )
    val = _pair_snapshot(frame, graph, history, val_pairs)
    test = _pair_snapshot(frame, graph, history, test_pairs)
    cold = ~graph["product"].seen[test.pairs.products].numpy()

    pos = test_pairs.loc[test_pairs["label"] == 1]
    pos_c = ids_to_rows(frame.customer_index(), pos["customer_id"].tolist(), "customer")
    pos_p = ids_to_rows(frame.product_index(), pos["product_id"].tolist(), "product")
    customers = np.unique(pos_c)
    if ev.rank_customers > 0 and len(customers) > ev.rank_customers:
        customers = np.sort(rng.choice(customers, ev.rank_customers, replace=False))
    positives = [pos_p[pos_c == c] for c in customers]
    exclude = history.seen_columns(customers) if ev.exclude_seen else None
    lat_rng = np.random.default_rng(12345)
    return EvalContext(
        frame=frame,
        encoder=encoder,
        snapshots=snapshots,
        candidates=candidates,
        val=val,
        test=test,
        cold=cold,
        rank_customers=customers,
        rank_positives=positives,
        rank_exclude=exclude,
        latency_customers=lat_rng.integers(0, frame.num_customers, ev.latency_pairs),
        latency_products=lat_rng.integers(0, frame.num_products, ev.latency_pairs),
    )


def _ranked(
    grid: Callable[[np.ndarray], np.ndarray],
    customers: np.ndarray,
    positives: list[np.ndarray],
    exclude: list[np.ndarray] | None,
    k: int,
) -> tuple[list[float], list[float], list[float]]:
    """:func:`distill.metrics.rank_rows` of ``grid(rows)``, :data:`RANK_CHUNK` customers
    at a time."""
    recalls: list[float] = []
    ndcgs: list[float] = []
    rrs: list[float] = []
    for start in range(0, len(customers), RANK_CHUNK):
        end = start + RANK_CHUNK
        part = rank_rows(
            grid(customers[start:end]),
            positives[start:end],
            k,
            exclude[start:end] if exclude is not None else None,
        )
        recalls += part[0]
        ndcgs += part[1]
        rrs += part[2]
    return recalls, ndcgs, rrs


def validation_recall(ctx: EvalContext, grid: Callable[[np.ndarray], np.ndarray], k: int) -> float:
    """Recall@K of ``grid(rows)`` ([rows, products] scores) over every customer with a
    positive pair in the validation split, seen products left out as :func:`quality`
    leaves them: to choose a configuration for ranking without looking at the test split."""
    pairs = ctx.val.pairs
    y = pairs.labels.numpy() == 1
    c, p = pairs.customers.numpy()[y], pairs.products.numpy()[y]
    customers = np.unique(c)
    positives = [p[c == row] for row in customers]
    exclude = None
    if ctx.rank_exclude is not None:
        exclude = ctx.val.history.seen_columns(customers)
    recalls = _ranked(grid, customers, positives, exclude, k)[0]
    return float(np.mean(recalls)) if recalls else float("nan")


def quality(
    ctx: EvalContext, test_scores: np.ndarray, grid: Callable[[np.ndarray], np.ndarray], k: int
) -> Quality:
    """AUC and AP of ``test_scores`` (one per test pair, in ``ctx.test.pairs`` order), and
    Recall@K, NDCG@K and MRR of ``grid(rows)`` ([rows, products] scores) over the ranked
    customers, seen products left out: how every model of a run, and any peer, is scored."""
    y = ctx.test.pairs.labels.numpy()
    recalls, ndcgs, rrs = _ranked(grid, ctx.rank_customers, ctx.rank_positives, ctx.rank_exclude, k)
    cold = ctx.cold
    return Quality(
        k=k,
        auc=auc(y, test_scores),
        ap=average_precision(y, test_scores),
        recall=float(np.mean(recalls)) if recalls else float("nan"),
        ndcg=float(np.mean(ndcgs)) if ndcgs else float("nan"),
        mrr=float(np.mean(rrs)) if rrs else float("nan"),
        cold_start=ColdStart(
            auc=auc(y[cold], test_scores[cold]) if cold.any() else float("nan"),
            ap=average_precision(y[cold], test_scores[cold]) if cold.any() else float("nan"),
            n=int(cold.sum()),
        ),
    )


def baseline_results(ctx: EvalContext, k: int) -> dict[str, ModelResult]:
    """Every registered baseline (:data:`distill.baselines.BASELINES`: most popular,
    item-kNN, category affinity with a popularity tie-break), fitted on the graph the
    models see and scored exactly as they are: the same pairs, customers and exclusions."""
    data = Interactions.from_history(ctx.test.history)
    pairs = ctx.test.pairs
    out: dict[str, ModelResult] = {}
    for name in BASELINES:
        baseline = fit_baseline(name, data)
        scores = baseline.score_pairs(pairs.customers.numpy(), pairs.products.numpy())
        result = quality(ctx, scores, baseline.score_grid, k)
        out[name] = ModelResult(result, cost=Cost(0, 0, float("nan")), per_seed=[])
    return out


def _model_result(
    ctx: EvalContext, model: LinkPredictor, k: int, teacher_test: np.ndarray | None
) -> ModelResult:
    scorer_graph, history = ctx.test.graph, ctx.test.history
    test_logits = score_snapshot(model, ctx.test).numpy()
    # every customer's and product's representation once (graph-free models too: they
    # were embedded again for each chunk of customers), products' vectors as float32 once
    customers, products = held_sides(model, scorer_graph)
    products = products.at(torch.arange(products.h.size(0)))

    def grid(rows: np.ndarray) -> np.ndarray:
        return _grid_logits(model.decoder, history, rows, customers, products).numpy()

    with torch.no_grad():
        result = ModelResult(quality(ctx, test_logits, grid, k))
    if teacher_test is not None:
        result.agreement = agreement(teacher_test, test_logits)
    return result


def _grid_logits(
    decoder: PairDecoder, history: History, rows: np.ndarray, customers: Side, products: Side
) -> Tensor:
    """Ranking logits of customers ``rows`` by every product. Shapes: -> [rows, P]."""
    with torch.no_grad():
        f = history.pair_features_grid(rows)
        c = customers.at(torch.as_tensor(rows))
        return decoder.rank_grid_of(c.h, products.h, f.reshape(-1, f.shape[-1]), c.s, products.s)


def _cost(ctx: EvalContext, model: LinkPredictor, runs: int) -> Cost:
    graph, history = ctx.test.graph, ctx.test.history

    def run() -> Tensor:
        return scoring_logits(model, graph, history, ctx.latency_customers, ctx.latency_products)

    return Cost(
        params=count_parameters(model),
        bytes=state_dict_bytes(model),
        latency_ms_100k=median_latency_ms(run, runs=runs),
    )


@dataclass
class EvaluationResult:
    """``results``: every model's figures; ``report`` what ``report.json`` holds (the same,
    as plain values); ``artifacts`` name -> saved path."""

    results: Report
    artifacts: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def report(self) -> dict[str, Any]:
        return self.results.as_dict()


def evaluate_link_prediction(
    frame: GraphFrame,
    pairs: pd.DataFrame,
    config: RunConfig | None = None,
    out_dir: str | Path | None = None,
) -> EvaluationResult:
    """Train the teacher once; each student distilled and not (same seeds, same pairs);
    the heuristic; evaluate all on ``pairs`` split ``config.eval.test_split`` (model
    selection on ``val_split`` only). Writes ``report.json``, ``report.md``, a PNG and
    artifacts under ``out_dir`` when given."""
    config = config or RunConfig()
    start = time.perf_counter()
    torch.set_num_threads(max(1, config.train.threads))
    say = _say(config.train.progress)
    ctx = prepare(frame, pairs, config)
    say(
        f"prepared {len(ctx.snapshots)} snapshots, "
        f"{sum(len(s.pairs) for s in ctx.snapshots)} training pairs, "
        f"{len(ctx.candidates.pairs) if ctx.candidates else 0} extra candidates "
        f"({time.perf_counter() - start:.0f}s, peak {peak_rss_mb():,.0f} MB)"
    )
    saver = _Saver(ctx, Path(out_dir) if out_dir is not None else None)
    teacher = train_teacher(ctx, config)
    models = {"teacher": _teacher_entry(ctx, config, teacher, saver, say)}
    teacher_test = score_snapshot(link_model(teacher), ctx.test).numpy()
    began = time.perf_counter()
    distil = Distillation.of(ctx, link_model(teacher), config.kd.shortlist, config.kd.id_shortlist)
    say(
        f"the teacher's logits for distillation ({time.perf_counter() - began:.0f}s, "
        f"peak {peak_rss_mb():,.0f} MB)"
    )
    for name in config.eval.students:
        for label in (name, f"{name}_no_kd"):
            models[label] = _student_entry(ctx, config, label, distil, teacher_test, saver, say)
    models.update(baseline_results(ctx, config.eval.k))
    seconds = time.perf_counter() - start
    report = Report(
        models=models,
        default_student=config.eval.default_student,
        config=config.as_dict(),
        data={
            **frame.summary(),
            "test_pairs": len(ctx.test.pairs),
            "test_cold_pairs": int(ctx.cold.sum()),
            "rank_customers": len(ctx.rank_customers),
        },
        seconds=seconds,
        peak_rss_mb=round(peak_rss_mb()),
    )
    if saver.out is not None:
        write_report(report, saver.out)
    return EvaluationResult(report, artifacts=saver.artifacts, seconds=seconds)


def train_model(
    ctx: EvalContext,
    model_config: ModelConfig,
    train: TrainConfig,
    *,
    snapshots: list[Snapshot] | None = None,
    **options: Any,
) -> TrainResult:
    """A fresh model of ``model_config`` trained on ``ctx``'s snapshots (or
    ``snapshots``), selected on its validation pairs; ``options`` go to
    :func:`distill.train.train_link_model` (teacher logits, ``kd``, ``refresh``, ...)."""
    model = build_model(
        model_config.spec(), ctx.encoder, ctx.frame.num_customers, ctx.frame.num_products
    )
    return train_link_model(
        model,
        ctx.snapshots if snapshots is None else snapshots,
        ctx.val,
        lr=model_config.lr,
        weight_decay=model_config.weight_decay,
        epochs=model_config.epochs,
        train=train,
        id_fit_structure=model_config.id_fit_structure,
        select=model_config.select,
        **options,
    )


def link_model(trained: TrainResult) -> LinkPredictor:
    """The link predictor a training run gave back."""
    assert isinstance(trained.model, LinkPredictor)
    return trained.model


def train_teacher(ctx: EvalContext, config: RunConfig, *, refresh: bool = True) -> TrainResult:
    """The configured teacher, trained on ``ctx``; with ``refresh`` its id embeddings are
    fitted again on the test graph (what it will score on) after the loop."""
    return train_model(
        ctx,
        config.teacher,
        config.train,
        refresh=ctx.test.graph if refresh else None,
        desc="teacher",
    )


@dataclass
class Distillation:
    """What a distilled student learns from: the teacher, its logits on every training
    snapshot and on the unlabelled candidates, and its top products for each customer
    of a snapshot's positives (:func:`distill.train.teacher_shortlist`; none for the
    candidates), and its top products for every customer of the graph a student's id
    embeddings are first fitted to and of the one they are fitted again to
    (:func:`distill.train.teacher_edges`), computed once for all students."""

    snapshots: list[Snapshot]
    teacher: LinkPredictor
    logits: list[Tensor]
    shortlists: list[Shortlist | None] = field(default_factory=list)
    id_edges: tuple[Tensor | None, Tensor | None] = (None, None)

    @classmethod
    def of(
        cls, ctx: EvalContext, teacher: LinkPredictor, shortlist: int = 0, id_shortlist: int = 0
    ) -> Distillation:
        """``shortlist``, ``id_shortlist``: products per customer (``[kd] shortlist``,
        ``[kd] id_shortlist``; 0: none)."""
        snapshots = ctx.snapshots + ([ctx.candidates] if ctx.candidates is not None else [])
        return cls(
            snapshots,
            teacher,
            [score_snapshot(teacher, s) for s in snapshots],
            [teacher_shortlist(teacher, s, shortlist) for s in snapshots],
            (
                teacher_edges(teacher, earliest(snapshots), id_shortlist),
                teacher_edges(teacher, ctx.test, id_shortlist),
            ),
        )


def train_student(
    ctx: EvalContext,
    config: RunConfig,
    name: str,
    seed: int,
    distil: Distillation | None,
    desc: str = "student",
) -> TrainResult:
    """Student ``name`` trained with seed ``seed``: distilled from ``distil`` (loss
    ``L_hard + alpha * L_soft`` and the listwise term), or from the labels alone."""
    if distil is None:
        options: dict[str, Any] = {}
    else:
        options = {
            "snapshots": distil.snapshots,
            "teacher_logits": distil.logits,
            "kd": config.kd,
            "teacher": distil.teacher,
            "shortlists": distil.shortlists or None,
            "id_edges": distil.id_edges,
        }
    train = replace(config.train, seed=seed)
    return train_model(
        ctx, config.student(name), train, refresh=ctx.test.graph, desc=desc, **options
    )


class _Saver:
    """Saves each model's artifact under ``out/models`` (nothing without ``out``)."""

    def __init__(self, ctx: EvalContext, out: Path | None) -> None:
        self.ctx, self.out = ctx, out
        self.artifacts: dict[str, Path] = {}

    def save(
        self, name: str, model: LinkPredictor, spec: dict[str, Any], metrics: dict[str, Any]
    ) -> None:
        if self.out is not None:
            self.artifacts[name] = save_artifact(
                self.out / "models" / f"{name}.pt",
                loaded_model(name, model, spec, self.ctx, metrics),
            )


def _teacher_entry(
    ctx: EvalContext,
    config: RunConfig,
    trained: TrainResult,
    saver: _Saver,
    say: Callable[[str], None],
) -> ModelResult:
    """The teacher's report entry (its one run as ``per_seed``); saves its artifact."""
    teacher = link_model(trained)
    result = evaluate_model(ctx, teacher, k=config.eval.k, latency_runs=config.eval.latency_runs)
    result.training = _training(trained)
    result.per_seed = [replace(result)]
    say(
        f"teacher: val AUC {result.training.val_auc:.4f}{_kept_by(trained)}, "
        f"test AUC {result.quality.auc:.4f} ({_how(trained)})"
    )
    saver.save("teacher", teacher, config.teacher.spec(), result.as_dict())
    return result


def _training(trained: TrainResult) -> Training:
    val_auc = trained.best_val if trained.val_auc is None else trained.val_auc
    return Training(val_auc, trained.best_epoch, trained.seconds, trained.minibatch)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (the kernel's high-water mark)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes there, KB here


def _kept_by(trained: TrainResult) -> str:
    """What chose a model's weights, for the log, where it was not validation AUC."""
    if trained.selected_by != "recall":
        return ""
    figure = f"Recall@{RANK_CALIBRATION_K} {trained.best_val:.4f}"
    return f" (kept by validation {figure}, epoch {trained.best_epoch})"


def _how(trained: TrainResult) -> str:
    """How a model trained, for the log: its seconds, whether in mini-batches, and the
    process's peak memory so far."""
    batches = ", mini-batches" if trained.minibatch else ""
    return f"{trained.seconds:.0f}s{batches}, peak {peak_rss_mb():,.0f} MB"


def _student_entry(
    ctx: EvalContext,
    config: RunConfig,
    label: str,
    distil: Distillation,
    teacher_test: np.ndarray,
    saver: _Saver,
    say: Callable[[str], None],
) -> ModelResult:
    """A student's report entry, its figures averaged over the seeds; saves the artifact
    of its seed with the best validation AUC."""
    name = label.removesuffix("_no_kd")
    ev = config.eval
    per_seed: list[ModelResult] = []
    best: tuple[float, LinkPredictor | None, ModelResult | None] = (-1.0, None, None)
    for seed in ev.seeds:
        trained = train_student(
            ctx, config, name, seed, distil if label == name else None, f"{label} seed {seed}"
        )
        model = link_model(trained)
        result = _model_result(ctx, model, ev.k, teacher_test)
        result.seed, result.training = seed, _training(trained)
        per_seed.append(result)
        if trained.best_val > best[0]:
            best = (trained.best_val, model, result)
        say(
            f"{label} seed {seed}: val AUC {result.training.val_auc:.4f}"
            f"{_kept_by(trained)}, "
            f"test AUC {result.quality.auc:.4f} ({_how(trained)})"
        )
    _, best_model, best_result = best
    assert best_model is not None and best_result is not None
    cost = _cost(ctx, best_model, ev.latency_runs)
    metrics = {**best_result.as_dict(), **cost.as_dict()}
    saver.save(label, best_model, config.student(name).spec(), metrics)
    return ModelResult.mean(per_seed, cost)


def loaded_model(
    name: str,
    model: LinkPredictor,
    spec: dict[str, Any],
    ctx: EvalContext,
    metrics: dict[str, Any] | None = None,
) -> LoadedModel:
    """``model`` as an artifact holds it: with ``ctx``'s encoder and the ids of its frame
    (``metrics`` without ``per_seed``)."""
    return LoadedModel(
        name=name,
        model=model,
        spec=spec,
        encoder=ctx.encoder,
        customer_ids=ctx.frame.customers["id"].tolist(),
        product_ids=ctx.frame.products["id"].tolist(),
        metrics={k: v for k, v in (metrics or {}).items() if k != "per_seed"},
    )


def _say(progress: bool) -> Callable[[str], None]:
    def say(message: str) -> None:
        if progress:
            tqdm.write(message)

    return say


def evaluate_model(
    ctx: EvalContext,
    model: LinkPredictor,
    *,
    teacher_test: np.ndarray | None = None,
    k: int = 20,
    latency_runs: int = 5,
) -> ModelResult:
    """One more model on a prepared evaluation (e.g. a compressed student): the same
    quality, agreement and cost as the models of :func:`evaluate_link_prediction`."""
    result = _model_result(ctx, model, k, teacher_test)
    result.cost = _cost(ctx, model, latency_runs)
    return result
