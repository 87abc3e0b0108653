"""A whole kgdistill run at shop scale, size by size: load, extract, train, predict, write.

    .venv/bin/python bench/scale.py [--interactions 1000000,5000000] [--epochs 1]
        [--k 20] [--set SECTION.KEY=VALUE ...]

For each size N, one after the other and each in a fresh private managed Neo4j (sized
for this machine as ``kgdistill neo4j start`` sizes it; stopped and removed after), the
steps a user runs, each in its own ``kgdistill`` process:

1. ``load synthetic --mode features --bulk``: a feature-rich shop of N interactions,
   customers = N/25, products = N/100, written by ``neo4j-admin database import``
   into the empty database (interaction relationships per second, as the load reports);
2. extraction alone (``kgstore.extract.read_graph``, the step ``train`` and ``predict``
   begin with), in its own process, for its time;
3. ``train`` with ``--epochs`` epochs per model and one seed (teacher and default
   student with its twin); per-epoch time is the teacher's training seconds over its
   epochs (mini-batch training is chosen by ``[train] minibatch = "auto"``); each
   ``--set`` is passed on to it (for example ``--set train.minibatch=off``; the id fit
   steps the touched rows by default at these sizes, ``[train] pretrain_adam = "auto"``,
   so ``train.pretrain_adam=rows`` of earlier runs is the default now); the children see no
   ``KGDISTILL_*`` variable of the caller's, so this is the way to change a setting;
4. ``predict --write --k K`` for every customer: customers per second of the whole
   command (start, model load, extraction, scoring, write) and the write's
   relationships per second; its step line also gives the command's own timings
   (``predict --json``'s ``seconds``: prepare, score, hand_off, finish) and the
   customers per second of the scoring alone (the write runs beside it).

Peak resident memory of each kgdistill process comes from the kernel (``wait4``); the
server's is its ``VmHWM`` read after each step (the bulk load restarts it, so the peak
after the load and the peak of the server that served the rest are both kept).
Each size ends with one line:

    interactions=N load_rels_per_s=X train_s=X predict_customers_per_s=X
    write_rels_per_s=X peak_rss_mb=X

(``peak_rss_mb``: kgdistill's largest process), then one line comparing sizes:
``epoch_ratio=R`` (the teacher's seconds per epoch at the largest size over the
smallest). Issue 13's targets at 5,000,000 on a 2-core machine: the whole run within
60 minutes, kgdistill at most 6 GB, the bulk load at least 100,000 relationships/s,
predict at least 2,000 customers/s, an epoch at most 6x the 1,000,000 one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kgdistill import server

ROOT = Path(__file__).resolve().parent.parent

_EXTRACT = (
    "import json, sys, time\n"
    "from kgdistill.server import settings_from_env\n"
    "from kgstore.connection import QueryRunner\n"
    "from kgstore.extract import read_graph\n"
    "began = time.perf_counter()\n"
    "with QueryRunner.connect(settings_from_env()) as runner:\n"
    "    frame = read_graph(runner, say=lambda m: None)\n"
    "print(json.dumps({'seconds': time.perf_counter() - began, **frame.summary()}))\n"
)


@dataclass
class Step:
    """One process's result: its JSON summary, wall seconds and peak resident MB."""

    summary: dict[str, Any]
    seconds: float
    peak_mb: float


@dataclass
class Size:
    interactions: int
    steps: dict[str, Step] = field(default_factory=dict)
    neo4j_peak_mb: float = 0.0
    teacher_epoch_s: float = float("nan")


def child(env: dict[str, str], cmd: list[str], what: str) -> Step:
    """Run ``cmd``; its JSON stdout, wall seconds and peak RSS (``wait4``)."""
    began = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - began
        out.seek(0), err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{stderr[-3000:]}")
    return Step(json.loads(stdout), seconds, usage.ru_maxrss / 1024)


def kgdistill(env: dict[str, str], *args: str) -> Step:
    cmd = [sys.executable, "-m", "kgdistill", *args, "--json", "--quiet"]
    return child(env, cmd, f"kgdistill {' '.join(args)}")


def server_peak_mb(cfg: server.ServerConfig) -> float:
    """The running server's peak resident memory (VmHWM), 0 when it is not running."""
    pid = server.status(cfg, query_version=False).pid
    if pid is None:
        return 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def one_size(n: int, args: argparse.Namespace) -> Size:
    folder = tempfile.mkdtemp(prefix="kgdistill-scale-")
    bolt, http = server.free_port(), server.free_port()
    while http == bolt:
        http = server.free_port()
    cfg = server.ServerConfig(
        instance="scale", bolt_port=bolt, http_port=http, instances_dir=folder
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "KGDISTILL_"))}
    env.update(server.cli_environment(cfg))
    size = Size(n)
    runs = str(Path(folder) / "runs")
    shop = ["--customers", str(max(n // 25, 1)), "--products", str(max(n // 100, 1))]
    try:
        shop += ["--interactions", str(n), "--bulk"]
        size.steps["load"] = kgdistill(env, "load", "synthetic", "--mode", "features", *shop)
        say_step(size, "load")
        size.neo4j_peak_mb = server_peak_mb(cfg)
        cmd = [sys.executable, "-c", _EXTRACT]
        s = server.settings_from_env(cfg, environ={})
        conn = {"NEO4J_URI": s.uri, "NEO4J_USER": s.user, "NEO4J_PASSWORD": s.password}
        size.steps["extract"] = child(dict(env, PYTHONPATH=str(ROOT), **conn), cmd, "extraction")
        say_step(size, "extract")
        small = ["--set", "eval.seeds=0", "--set", "eval.latency_runs=1"]
        small += ["--set", "eval.latency_pairs=2000", "--set", "eval.rank_customers=500"]
        for model in ("teacher", "student_mlp"):
            small += ["--set", f"{model}.epochs={args.epochs}"]
        for setting in args.set:
            small += ["--set", setting]
        size.steps["train"] = kgdistill(env, "train", "--runs-dir", runs, *small)
        size.teacher_epoch_s = teacher_epoch_s(size.steps["train"], args.epochs)
        say_step(size, "train")
        size.steps["predict"] = kgdistill(
            env, "predict", "--write", "--k", str(args.k), "--runs-dir", runs
        )
        say_step(size, "predict")
        size.neo4j_peak_mb = max(size.neo4j_peak_mb, server_peak_mb(cfg))
    finally:
        server.stop(cfg, progress=lambda m: None)
        shutil.rmtree(folder, ignore_errors=True)
    return size


def teacher_epoch_s(train: Step, epochs: int) -> float:
    """The teacher's training seconds over its epochs, from the run's report; says every
    model's training seconds (the rest of the run: extraction, evaluation, writing)."""
    report = json.loads((Path(train.summary["path"]) / "report.json").read_text())
    models = report["models"]
    times = {name: m.get("train_seconds") for name, m in models.items()}
    print(
        "  training seconds: "
        + ", ".join(f"{name} {t:.0f}" for name, t in times.items() if t is not None),
        flush=True,
    )
    seconds = times.get("teacher")
    return float(seconds) / epochs if seconds else float("nan")


def say_step(size: Size, name: str) -> None:
    step = size.steps[name]
    s = step.summary
    detail = ""
    if name == "load":
        detail = f"{s.get('rels_per_s', 0):,.0f} interaction relationships/s"
    elif name == "extract":
        detail = f"{s['interactions']:,} interactions, {s['customers']:,} customers"
    elif name == "train":
        detail = f"run {s['run_id']}, {s['seconds']:.0f} s as the run reports it"
    elif name == "predict":
        w = s["write"]
        t = s["seconds"]
        detail = (
            f"{s['customers']:,} customers, {w['relationships_written']:,} written in "
            f"{w['seconds']:.1f} s ({w['rels_per_s']:,.0f}/s); "
            + ", ".join(f"{k} {v:.1f} s" for k, v in t.items())
            + f" (scoring alone {s['customers'] / t['score']:,.0f} customers/s)"
        )
    print(f"  {name:<8} {step.seconds:8.1f} s  peak {step.peak_mb:7,.0f} MB  {detail}", flush=True)


def final_line(size: Size) -> str:
    predict = size.steps["predict"]
    customers = predict.summary["customers"]
    peak = max(step.peak_mb for step in size.steps.values())
    return (
        f"interactions={size.interactions} "
        f"load_rels_per_s={size.steps['load'].summary.get('rels_per_s', 0):.0f} "
        f"train_s={size.steps['train'].seconds:.1f} "
        f"predict_customers_per_s={customers / predict.seconds:.0f} "
        f"write_rels_per_s={predict.summary['write']['rels_per_s']:.0f} "
        f"peak_rss_mb={peak:.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--interactions", default="1000000,5000000", help="comma-separated sizes (N)"
    )
    parser.add_argument("--epochs", type=int, default=1, help="per model (default 1)")
    parser.add_argument("--k", type=int, default=20, help="top K written per customer")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a configuration override for train (repeatable), e.g. train.minibatch=off",
    )
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.interactions.split(",") if x.strip()]
    done: list[Size] = []
    for n in sizes:
        print(
            f"interactions={n:,}: customers {n // 25:,}, products {n // 100:,} "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
            flush=True,
        )
        began = time.perf_counter()
        size = one_size(n, args)
        done.append(size)
        print(
            f"  whole run {time.perf_counter() - began:.0f} s; train "
            f"{size.teacher_epoch_s:.1f} s per teacher epoch; Neo4j peak "
            f"{size.neo4j_peak_mb:,.0f} MB",
            flush=True,
        )
        print(final_line(size), flush=True)
    if len(done) > 1:
        ratio = done[-1].teacher_epoch_s / done[0].teacher_epoch_s
        print(f"epoch_ratio={ratio:.2f} ({done[-1].interactions} over {done[0].interactions})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
