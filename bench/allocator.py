"""The C allocator as glibc sets it against as kgdistill tunes it: one teacher epoch.

    .venv/bin/python bench/allocator.py [--interactions 1000000] [--runs 2]

Builds the interaction-only synthetic shop (customers = N/25, products = N/100, as
``bench/scale.py``; in memory, no Neo4j) with the structural vectors on, and trains the
default teacher for one mini-batch epoch (no id pre-training, one thread), in fresh
processes one after the other, alternating: ``default`` (glibc's own thresholds) and
``tuned`` (:func:`kgdistill.allocator.tune_allocator`, what the ``kgdistill`` CLI
calls first). Per process: the data's seconds (snapshots, FastRP), the epoch's
seconds, the kernel's share of the epoch (system CPU seconds) and the peak resident
memory. The last line reads ``interactions=N default_train_s=X tuned_train_s=X
default_sys_s=X tuned_sys_s=X default_peak_mb=X tuned_peak_mb=X`` (medians over
``--runs``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def one_process(interactions: int, mode: str, out: Any) -> None:
    """Build the shop and train one epoch with the allocator in ``mode``."""
    from kgdistill.allocator import tune_allocator

    applied = tune_allocator() if mode == "tuned" else {}
    import numpy as np
    import torch

    from bench.predict_speed import cf_frame
    from distill.artifact import build_model
    from distill.config import KDConfig, RunConfig, TaskConfig, TeacherConfig, TrainConfig
    from distill.data import FeatureEncoder
    from distill.tasks import link_snapshots
    from distill.train import train_link_model

    torch.set_num_threads(1)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    n = interactions
    frame = cf_frame(n // 25, n // 100, n, 0)
    encoder = FeatureEncoder.fit(frame, RunConfig().structure.encoder_settings())
    kd = KDConfig(candidates_per_pair=0)
    snaps = link_snapshots(frame, encoder, TaskConfig(), kd, np.random.default_rng(0))
    data_s = time.perf_counter() - began
    teacher = TeacherConfig()
    model = build_model(teacher.spec(), encoder, frame.num_customers, frame.num_products)
    train = TrainConfig(
        progress=False,
        eval_every=1,
        patience=1,
        refresh_epochs=0,
        pretrain_epochs=0,
        minibatch="on",
        threads=1,
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    train_link_model(
        model, snaps[:-1], snaps[-1], lr=teacher.lr, weight_decay=0.0, epochs=1, train=train
    )
    after = resource.getrusage(resource.RUSAGE_SELF)
    out.send(
        {
            "mode": mode,
            "applied": applied,
            "data_s": data_s,
            "train_s": time.perf_counter() - began,
            "sys_s": after.ru_stime - before.ru_stime,
            "data_sys_s": before.ru_stime - usage.ru_stime,
            "peak_mb": after.ru_maxrss / 1024,
        }
    )


def run(interactions: int, mode: str) -> dict[str, Any]:
    """:func:`one_process` in a fresh process (spawned: nothing inherited)."""
    context = mp.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=one_process, args=(interactions, mode, send))
    process.start()
    figures: dict[str, Any] = receive.recv()
    process.join()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2, help="processes per mode, alternating")
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results: dict[str, list[dict[str, Any]]] = {"default": [], "tuned": []}
    for _ in range(args.runs):
        for mode in ("default", "tuned"):
            f = run(args.interactions, mode)
            results[mode].append(f)
            print(
                f"{mode:8} data {f['data_s']:6.1f} s (system {f['data_sys_s']:5.1f} s)  "
                f"epoch {f['train_s']:6.1f} s (system {f['sys_s']:5.1f} s)  "
                f"peak {f['peak_mb']:,.0f} MB  {f['applied'] or ''}",
                flush=True,
            )

    def median(mode: str, key: str) -> float:
        return statistics.median(f[key] for f in results[mode])

    print(
        f"interactions={args.interactions} "
        f"default_train_s={median('default', 'train_s'):.1f} "
        f"tuned_train_s={median('tuned', 'train_s'):.1f} "
        f"default_sys_s={median('default', 'sys_s'):.1f} "
        f"tuned_sys_s={median('tuned', 'sys_s'):.1f} "
        f"default_peak_mb={median('default', 'peak_mb'):.0f} "
        f"tuned_peak_mb={median('tuned', 'peak_mb'):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
