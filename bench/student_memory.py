"""Peak memory of training the default student distilled and not, step by step.

    .venv/bin/python bench/student_memory.py [--interactions 500000] [--epochs 1]
        [--set kd.id_shortlist=10 ...]

The synthetic pure-interaction shop of ``bench/quality.py`` (``synthetic_cf``: customers
= N/25, products = N/100, N interactions; built in memory as ``load synthetic --mode
cf`` would read back, no Neo4j) with its held-out last day, the default configuration
(changed only by ``--set``, as ``bench/quality.py --set``), each model trained for
``--epochs`` epochs. Two fresh processes, one after the other, so that each peak is its
own:

- ``twin``: the evaluation's data, then the default student without distillation;
- ``distilled``: the evaluation's data, the teacher, what the students learn from it
  (``distill.evaluate.Distillation.of``: its logits, shortlists and top products), then
  the default student distilled.

After each step the process prints its resident memory and the step's own peak (the
kernel's high-water mark, reset before each step), and its seconds. The last line reads
``interactions=N twin_peak_mb=X distilled_student_peak_mb=X distillation_peak_mb=X
teacher_peak_mb=X`` (the peak of the student's training step in each process, of
``Distillation.of`` and of the teacher's training).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.predict_speed import cf_frame
from bench.quality import bench_config
from kgdistill.settings import ConfigError


def _memory_mb() -> tuple[float, float]:
    """(resident now, high-water mark since the last reset) in MB, from the kernel."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _reset_peak() -> None:
    """Reset the high-water mark to the resident memory now (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def one_process(args: argparse.Namespace, which: str, out: Any) -> None:
    """Build the data and train ``which`` (``twin`` or ``distilled``); send each step's
    figures to ``out``."""
    from distill import evaluate
    from kgdistill.pipeline import holdout_pairs

    config = bench_config(args.set)
    config = replace(config, train=replace(config.train, progress=False))
    steps: list[dict[str, Any]] = []

    def step(name: str, work: Any) -> Any:
        _reset_peak()
        began = time.perf_counter()
        result = work()
        now, peak = _memory_mb()
        seconds = time.perf_counter() - began
        steps.append({"step": name, "rss_mb": now, "peak_mb": peak, "s": seconds})
        print(
            f"{which}: {name}: {seconds:.0f} s, resident {now:.0f} MB, step peak {peak:.0f} MB",
            flush=True,
        )
        return result

    n = args.interactions
    frame, pairs = step("data", lambda: holdout_pairs(cf_frame(n // 25, n // 100, n, 0)))
    ctx = step("evaluation data", lambda: evaluate.prepare(frame, pairs, config))
    epochs = args.epochs
    student = config.eval.default_student
    one = replace(config.student(student), epochs=epochs)
    config = replace(config, teacher=replace(config.teacher, epochs=epochs), **{student: one})
    distil = None
    if which == "distilled":
        teacher = step("teacher", lambda: evaluate.train_teacher(ctx, config))
        model = evaluate.link_model(teacher)
        kd = config.kd
        distil = step(
            "Distillation.of",
            lambda: evaluate.Distillation.of(ctx, model, kd.shortlist, kd.id_shortlist),
        )
    step("student", lambda: evaluate.train_student(ctx, config, student, 0, distil))
    out.send(steps)


def run(args: argparse.Namespace, which: str) -> list[dict[str, Any]]:
    """``one_process`` in a fresh process (spawned: nothing inherited from this one)."""
    context = mp.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=one_process, args=(args, which, send))
    process.start()
    send.close()  # the child's end only: a child that dies (out of memory) ends recv
    try:
        steps: list[dict[str, Any]] = receive.recv()
    except EOFError:
        process.join()
        raise SystemExit(f"the {which} process died (exit code {process.exitcode})") from None
    process.join()
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=500_000)
    parser.add_argument("--epochs", type=int, default=1, help="per model")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="change one setting of the default configuration (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        bench_config(args.set)
    except ConfigError as exc:
        parser.error(str(exc))
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    peaks: dict[str, float] = {}
    for which in ("twin", "distilled"):
        for s in run(args, which):  # each process prints its steps as they end
            peaks[f"{which} {s['step']}"] = s["peak_mb"]
    print(
        f"interactions={args.interactions} twin_peak_mb={peaks['twin student']:.0f} "
        f"distilled_student_peak_mb={peaks['distilled student']:.0f} "
        f"distillation_peak_mb={peaks['distilled Distillation.of']:.0f} "
        f"teacher_peak_mb={peaks['distilled teacher']:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
