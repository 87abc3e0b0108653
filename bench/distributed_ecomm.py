"""EComm teacher AUC trained in one process and in several under torchrun, in one run.

    .venv/bin/python bench/distributed_ecomm.py [--processes 2] [--threads 1]

The default teacher (the configuration ``kgdistill train`` uses) on the bundled EComm
graph and pairs (validation split 1, test split 2), trained as ``kgdistill train
--eval ecomm`` trains it (:func:`distill.evaluate.train_teacher`): first here, in
this one process; then in ``--processes`` processes started by ``torchrun
--standalone`` on this script, each on its share of the pairs with the gradients
averaged (:mod:`distill.train`), as ``torchrun --nproc-per-node N -m kgdistill train``
runs. No Neo4j: the frame is read from the files, as ``bench/train_ecomm.py`` does.
Prints per run its test AUC, validation AUC, best epoch, epochs run and seconds
(wall, extraction and evaluation excluded), then the line
``processes=1 teacher_auc=X processes=N teacher_auc=Y diff=Z`` (issue 13: within 0.01).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import RunConfig
from distill.evaluate import link_model, prepare, read_eval_pairs, train_teacher
from distill.metrics import auc
from distill.train import score_snapshot
from kgstore.sources.ecomm import ecomm_dir, read_ecomm_frame


def teacher_figures(threads: int) -> dict[str, float]:
    """Train the default teacher on EComm (in this process's share when torch.distributed
    is initialised) and measure it on the test split."""
    base = RunConfig()
    config = replace(base, train=replace(base.train, threads=threads, progress=False))
    frame = read_ecomm_frame()
    pairs = read_eval_pairs(ecomm_dir() / "ecomm_edge_val_lr_train_test.txt")
    ctx = prepare(frame, pairs, config)
    began = time.perf_counter()
    trained = train_teacher(ctx, config)
    seconds = time.perf_counter() - began
    scores = score_snapshot(link_model(trained), ctx.test).numpy()
    return {
        "auc": auc(ctx.test.pairs.labels.numpy(), scores),
        "val_auc": trained.best_val,
        "best_epoch": trained.best_epoch,
        "epochs": trained.epochs_run,
        "seconds": seconds,
    }


def child(out: Path, threads: int) -> int:
    """One torchrun worker: join the group as ``kgdistill train`` does, train, and
    (rank 0) write the figures."""
    import torch.distributed as dist

    dist.init_process_group(backend="gloo")
    try:
        figures = teacher_figures(threads)
        if dist.get_rank() == 0:
            out.write_text(json.dumps(figures))
    finally:
        dist.destroy_process_group()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=RunConfig().train.threads)
    parser.add_argument("--child", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child), args.threads)
    load = os.getloadavg()[0]
    alone = teacher_figures(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        torchrun = Path(sys.executable).with_name("torchrun")
        command = [str(torchrun), "--standalone", "--nproc-per-node", str(args.processes)]
        script = [__file__, "--child", str(out), "--threads", str(args.threads)]
        subprocess.run([*command, *script], check=True)
        together = json.loads(out.read_text())
    print(f"EComm teacher, {args.threads} thread(s) per process, load average {load:.1f}:")
    for n, figures in ((1, alone), (args.processes, together)):
        print(
            f"  {n} process(es): test AUC {figures['auc']:.4f}, validation AUC "
            f"{figures['val_auc']:.4f} (best epoch {figures['best_epoch']} of "
            f"{figures['epochs']}), {figures['seconds']:.0f} s"
        )
    diff = together["auc"] - alone["auc"]
    print(
        f"processes=1 teacher_auc={alone['auc']:.4f} processes={args.processes} "
        f"teacher_auc={together['auc']:.4f} diff={diff:+.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
