"""`kgdistill peer gds`: Neo4j Graph Data Science beside a kgdistill run, on the same graph.

The run (``runs/LATEST`` or ``--run``) fixes everything: the graph its models trained
on (extracted from Neo4j up to the run's day, on the run's nodes), its labelled pairs
(``eval_pairs.tsv``: EComm's split 2, or the held-out last day) and how its models were
ranked (:func:`distill.evaluate.prepare`: the same customers, seen products left out).
A private GDS-enabled Neo4j gets that graph projected, computes FastRP, and GDS's
routes are scored by :mod:`distill.peer` exactly as the run's models were.

Maven copies OpenGDS (``neo4j/gds-pom.xml``) into the cache beside the Neo4j jars
once (``<cache>/neo4j/gds/<version>/lib``); the private instance with those jars as
plugins runs on free ports bound to 127.0.0.1.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from distill.artifact import Run
from kgdistill import pipeline, rundata, server
from kgdistill.config import Config
from kgdistill.server import Neo4jServerError, Progress, ServerConfig, free_port
from kgframe import GraphFrame
from kgstore import gds
from kgstore.connection import QueryRunner
from kgstore.gds import GDS_VERSION
from kgstore.resources import project_path

if TYPE_CHECKING:
    from distill.evaluate import EvalContext

GRAPH = "kgdistill_peer"
SEED = 42
# FastRP configurations tried; the one with the best cosine AUC on the validation split
# is used for both routes. Odd and even hops both matter between customers and products
# (a customer's products are one hop away, a product's co-bought products two).
FASTRP_GRID: tuple[dict[str, Any], ...] = tuple(
    {
        "embeddingDimension": dim,
        "iterationWeights": weights,
        "nodeSelfInfluence": self_influence,
        "normalizationStrength": normalization,
        "randomSeed": SEED,
    }
    for dim in (512, 1024)
    for weights in ([0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])
    for self_influence in (0.0,)
    for normalization in (0.0, -0.5)
)
MODEL = "kgdistill_peer_lp"
# GDS's predict scores every pair of the customers and products it is given, at about
# a millisecond a pair on two cores: the test customers go in groups (see gds.pair_marks).
PREDICT_GROUPS = 12
# GDS's link-prediction pipeline: its default split, a logistic regression and a random
# forest as candidates, autotuned.
PIPELINE: dict[str, Any] = {
    "split": {"testFraction": 0.1, "trainFraction": 0.1, "validationFolds": 3},
    "logistic": {"penalty": {"range": [1e-4, 1.0]}},
    "forest": {"numberOfDecisionTrees": {"range": [10, 30]}, "maxDepth": {"range": [5, 15]}},
    "trials": 8,
}


@dataclass(frozen=True)
class PeerRow:
    """One line of the comparison: a route or model, its test quality and its wall time."""

    name: str
    auc: float
    ap: float
    recall: float
    ndcg: float
    seconds: float
    note: str = ""


@dataclass(frozen=True)
class PeerResult:
    run: Run
    k: int
    gds_rows: list[PeerRow]
    kgdistill_rows: list[PeerRow]
    seconds: float
    gds_version: str


def row_from(name: str, quality: dict[str, Any], k: int, seconds: float, note: str = "") -> PeerRow:
    return PeerRow(
        name=name,
        auc=float(quality["auc"]),
        ap=float(quality["ap"]),
        recall=float(quality.get(f"recall@{k}", math.nan)),
        ndcg=float(quality.get(f"ndcg@{k}", math.nan)),
        seconds=seconds,
        note=note,
    )


def kgdistill_rows(run: Run, k: int) -> list[PeerRow]:
    """The run's teacher and default student as its report.json records them."""
    report = run.report()
    models = report["models"]
    student = str(report.get("default_student", ""))
    rows = []
    for name, label in (("teacher", "kgdistill teacher"), (student, f"kgdistill {student}")):
        if name not in models:
            raise pipeline.PipelineError(
                f"run {run.run_id} has no model {name!r} in {run.report_path}; "
                "train it again with `kgdistill train`"
            )
        entry = models[name]
        seeds = max(1, len(entry.get("per_seed") or []))
        note = "distilled student (default)" if name == student else "GAT teacher"
        note += f", train time per seed, {seeds} seeds" if seeds > 1 else ", train time"
        rows.append(row_from(label, entry, k, float(entry.get("train_seconds", math.nan)), note))
    return rows


def fmt(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def format_table(rows: list[PeerRow], k: int) -> str:
    """A Markdown table (what the README shows): one row per route or model."""
    head = f"| model | AUC | AP | Recall@{k} | NDCG@{k} | wall s | note |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        cells = [r.name, fmt(r.auc), fmt(r.ap), fmt(r.recall), fmt(r.ndcg), fmt(r.seconds, 0)]
        lines.append("| " + " | ".join([*cells, r.note]) + " |")
    return "\n".join(lines)


def final_line(gds_rows: list[PeerRow], student: PeerRow) -> str:
    """``gds_best_auc=A gds_best_recall20=R kgdistill_student_auc=A kgdistill_student_recall20=R``
    (GDS's best route on each metric separately)."""
    best_auc = max((r.auc for r in gds_rows), default=math.nan)
    best_recall = max((r.recall for r in gds_rows if not math.isnan(r.recall)), default=math.nan)
    return (
        f"gds_best_auc={fmt(best_auc, 4)} gds_best_recall20={fmt(best_recall, 4)} "
        f"kgdistill_student_auc={fmt(student.auc, 4)} "
        f"kgdistill_student_recall20={fmt(student.recall, 4)}"
    )


# -- the private GDS-enabled server ---------------------------------------------
GDS_CONF = ("dbms.security.procedures.unrestricted=gds.*",)


def gds_lib_dir(cfg: ServerConfig, version: str = GDS_VERSION) -> Path:
    return cfg.root / "neo4j" / "gds" / version / "lib"


def maven_command(mvn: str, version: str, staging: Path) -> list[str]:
    """The Maven call that copies OpenGDS ``version`` and its dependencies into ``staging``."""
    return [
        mvn,
        "-B",
        "-q",
        "-f",
        str(project_path("neo4j/gds-pom.xml")),
        f"-Dgds.version={version}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]


def provision_gds(
    cfg: ServerConfig, version: str = GDS_VERSION, progress: Progress = print
) -> list[Path]:
    """The OpenGDS jars, fetched with Maven into the cache once (offline afterwards).

    As for the Neo4j jars, Maven writes into a staging folder that is renamed into
    place and marked complete only after success.
    """
    lib = gds_lib_dir(cfg, version)
    if not (lib / ".complete").is_file():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise Neo4jServerError(
                "Maven is not installed (no 'mvn' on PATH); it fetches Graph Data Science "
                "once. Install it (Debian/Ubuntu: apt-get install maven)."
            )
        staging = lib.parent / f"lib.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        progress(f"Fetching Graph Data Science {version} (OpenGDS) from Maven Central (once) ...")
        proc = subprocess.run(
            maven_command(mvn, version, staging), capture_output=True, text=True, check=False
        )
        names = sorted(p.name for p in staging.glob("*.jar"))
        if proc.returncode != 0 or f"opengds-extension-{version}.jar" not in names:
            shutil.rmtree(staging, ignore_errors=True)
            errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "ERROR" in line]
            raise Neo4jServerError(
                f"Maven could not fetch Graph Data Science {version} from Maven Central "
                f"(check the version, the network or ~/.m2/settings.xml):\n"
                + "\n".join(errors)[-1500:]
            )
        shutil.rmtree(lib, ignore_errors=True)
        staging.rename(lib)
        (lib / ".complete").write_text("\n".join(names) + "\n", encoding="utf-8")
        progress(f"Graph Data Science {version}: {len(names)} jars cached in {lib}")
    return sorted(lib.glob("*.jar"))


def gds_server_config(
    base: ServerConfig, jars: list[Path], instance: str = "gds-peer"
) -> ServerConfig:
    """``base`` as a private GDS-enabled instance: its own name, free ports, the jars as plugins."""
    bolt = free_port()
    http = free_port()
    while http == bolt:
        http = free_port()
    return replace(
        base,
        instance=instance,
        bolt_port=bolt,
        http_port=http,
        plugins=tuple(str(jar) for jar in jars),
        extra_conf=GDS_CONF,
    )


def gds_instance(config: Config, say: Callable[[str], None]) -> ServerConfig:
    """The private GDS-enabled instance's configuration (jars fetched once)."""
    base = replace(config.neo4j, heap="2g", pagecache="128m")
    return gds_server_config(base, provision_gds(base, progress=say))


def compare(
    runner: QueryRunner, config: Config, run: Run, say: Callable[[str], None] = print
) -> PeerResult:
    """GDS's routes on the run's graph and pairs, beside the run's teacher and student."""
    from distill.artifact import load_artifact
    from distill.evaluate import prepare

    began = time.perf_counter()
    run_config = rundata.run_config(run, config)
    k = run_config.eval.k
    ours = kgdistill_rows(run, k)
    student = load_artifact(run.artifact(run.resolve_model("student")))
    frame, pairs = rundata.run_data(runner, config, run, student, say)
    ctx = prepare(frame, pairs, run_config, student.encoder)
    cfg = gds_instance(config, say)
    server.stop(cfg, progress=say)  # a peer instance left by a crash: its ports are stale
    server.start(cfg, progress=say)
    try:
        with QueryRunner.connect(server.settings_from_env(cfg, environ={})) as g:
            version = gds.gds_version(g)
            say(f"Graph Data Science {version} is up; projecting the run's graph ...")
            rows = gds_routes(g, frame, ctx, k, say)
    finally:
        server.stop(cfg, progress=say)
    return PeerResult(run, k, rows, ours, time.perf_counter() - began, version)


def gds_routes(
    g: QueryRunner, frame: GraphFrame, ctx: EvalContext, k: int, say: Callable[[str], None]
) -> list[PeerRow]:
    """Project, choose FastRP on the validation split, score the test pairs three ways."""
    from distill import peer

    pairs = ctx.test.pairs
    c, p = pairs.customers.numpy(), pairs.products.numpy()
    marks, group = gds.pair_marks(c, p, PREDICT_GROUPS)
    groups = gds.projection_groups(frame, marks)
    sizes = gds.project(g, GRAPH, groups)
    say(f"projected {sizes['nodes']:,} nodes, {sizes['relationships']:,} relationships")
    by_auc, by_recall = choose_fastrp(g, frame, ctx, k, say)
    t0 = time.perf_counter()
    cosine = peer.cosine_route(ctx, by_recall.z_c, by_recall.z_p, k)
    seconds = by_recall.seconds + time.perf_counter() - t0
    note = by_recall.describe(f"Recall@{k}")
    rows = [row_from("GDS FastRP + cosine", cosine, k, seconds, note)]
    t0 = time.perf_counter()
    logistic = peer.logistic_route(ctx, by_auc.z_c, by_auc.z_p, k, seed=SEED)
    seconds = by_auc.seconds + time.perf_counter() - t0
    note = f"hadamard features, fitted on split 1; {by_auc.describe('AUC')}"
    rows.append(row_from("GDS FastRP + logistic regression", logistic, k, seconds, note))
    say(f"FastRP routes: test AUC {cosine['auc']:.4f} (cosine), {logistic['auc']:.4f} (logistic)")
    test = (c, p, group)
    rows.append(pipeline_route(g, frame, ctx, test, by_auc.config, gds.context_of(groups), say))
    gds.drop(g, GRAPH)
    return rows


@dataclass
class FastRPChoice:
    """One FastRP configuration of :data:`FASTRP_GRID`, its vectors and validation figures."""

    config: dict[str, Any]
    z_c: np.ndarray
    z_p: np.ndarray
    seconds: float  # its FastRP, computed and streamed
    val_auc: float
    val_recall: float

    def describe(self, by: str) -> str:
        return (
            f"FastRP {_describe(self.config)}, chosen on split 1 by {by} "
            f"(val AUC {self.val_auc:.3f}, val R@k {self.val_recall:.3f})"
        )


def choose_fastrp(
    g: QueryRunner, frame: GraphFrame, ctx: EvalContext, k: int, say: Callable[[str], None]
) -> tuple[FastRPChoice, FastRPChoice]:
    """The FastRP configurations of :data:`FASTRP_GRID` with the best cosine AUC and the
    best cosine Recall@K on the validation split (a pair classifier is chosen by the
    first, a ranking by the second; GDS gets its best on each)."""
    from distill import peer

    by_auc: FastRPChoice | None = None
    by_recall: FastRPChoice | None = None
    for i, fastrp in enumerate(FASTRP_GRID, 1):
        t0 = time.perf_counter()
        z_c, z_p = gds.fastrp(g, GRAPH, frame, fastrp)
        seconds = time.perf_counter() - t0
        val_auc = peer.validation_auc(ctx, z_c, z_p)
        val_recall = peer.validation_cosine_recall(ctx, z_c, z_p, k)
        say(
            f"FastRP {i}/{len(FASTRP_GRID)} {_describe(fastrp)}: validation AUC "
            f"{val_auc:.4f}, Recall@{k} {val_recall:.4f} ({seconds:.0f}s)"
        )
        choice = FastRPChoice(fastrp, z_c, z_p, seconds, val_auc, val_recall)
        if by_auc is None or val_auc > by_auc.val_auc:
            by_auc = choice
        if by_recall is None or val_recall > by_recall.val_recall:
            by_recall = choice
    assert by_auc is not None and by_recall is not None
    return by_auc, by_recall


def pipeline_route(
    g: QueryRunner,
    frame: GraphFrame,
    ctx: EvalContext,
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    fastrp: dict[str, Any],
    context: tuple[list[str], list[str]],
    say: Callable[[str], None],
) -> PeerRow:
    """GDS's link-prediction pipeline (FastRP as chosen, Hadamard features, logistic
    regression and random forest, autotuned), trained on the graph's own interactions;
    the test pairs are read out of predict's ranking of every pair of a group's customers
    and products (``test``: customer rows, product rows, group; :func:`gds.pair_marks`)."""
    from distill.metrics import auc, average_precision

    steps = {
        "fastrp": {
            **fastrp,
            "mutateProperty": "embedding",
            "contextNodeLabels": context[0],
            "contextRelationshipTypes": context[1],
        },
        **PIPELINE,
    }
    say(f"training GDS's link-prediction pipeline ({PIPELINE['trials']} autotuning trials) ...")
    t0 = time.perf_counter()
    trained = gds.train_link_prediction(g, GRAPH, MODEL, steps, SEED)
    best = trained["best"]
    say(f"pipeline trained in {time.perf_counter() - t0:.0f}s; best: {best.get('methodName')}")
    scores, repeats = gds.predict_link_pairs(g, GRAPH, MODEL, frame, test, say)
    y = ctx.test.pairs.labels.numpy()
    note = (
        f"autotuned, {best.get('methodName')} won; no top K per customer in GDS; "
        f"{repeats} repeat pairs scored 1"
    )
    quality = {"auc": auc(y, scores), "ap": average_precision(y, scores)}
    return row_from("GDS link-prediction pipeline", quality, 0, time.perf_counter() - t0, note)


def _describe(config: dict[str, Any]) -> str:
    weights = ",".join(f"{w:g}" for w in config["iterationWeights"])
    dim, self_influence = config["embeddingDimension"], config["nodeSelfInfluence"]
    strength = config.get("normalizationStrength", 0.0)
    return f"dim {dim}, weights [{weights}], self {self_influence:g}, normalization {strength:g}"
