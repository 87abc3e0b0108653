"""Run the full distillation evaluation on EComm and print the report table.

    .venv/bin/python bench/train_ecomm.py [--out runs/ecomm] [--seeds 0 1 2] [--threads 1]

Reads the bundled EComm copy (data/ecomm), or ``$KGDISTILL_ECOMM_DIR``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import RunConfig
from distill.evaluate import evaluate_link_prediction, read_eval_pairs
from distill.report import markdown_table
from kgstore.sources.ecomm import ecomm_dir, read_ecomm_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/ecomm")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is faster on a busy machine)"
    )
    args = parser.parse_args()

    start = time.perf_counter()
    frame = read_ecomm_frame()
    pairs = read_eval_pairs(ecomm_dir() / "ecomm_edge_val_lr_train_test.txt")
    base = RunConfig()
    config = replace(
        base,
        train=replace(base.train, progress=not args.no_progress, threads=args.threads),
        eval=replace(base.eval, seeds=tuple(args.seeds)),
    )
    result = evaluate_link_prediction(frame, pairs, config, args.out)
    print(markdown_table(result.report))
    print(f"\nreport: {Path(args.out) / 'report.md'}; wall time {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
