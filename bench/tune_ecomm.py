"""Time `distill.tune.tune` on EComm (what `kgdistill tune` runs) and print its summary.

    .venv/bin/python bench/tune_ecomm.py [--trials 20] [--storage runs/tune-ecomm.sqlite3]

Reads ``$KGDISTILL_ECOMM_DIR`` (default /work/shared/datasets/ecomm). The teacher is
trained once (as `kgdistill tune` does for a run without a teacher artifact); each trial
trains the default student once. Only validation split 1 is read.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill.config import RunConfig
from distill.evaluate import read_eval_pairs
from distill.tune import tune
from kgstore.sources.ecomm import ecomm_dir, read_ecomm_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--storage", default=None, help="SQLite file (resumable)")
    parser.add_argument("--out", default="runs/tuned-ecomm.toml")
    args = parser.parse_args()

    start = time.perf_counter()
    frame = read_ecomm_frame()
    pairs = read_eval_pairs(ecomm_dir() / "ecomm_edge_val_lr_train_test.txt")
    base = RunConfig()
    config = replace(base, train=replace(base.train, progress=False))
    result = tune(frame, pairs, config, trials=args.trials, storage=args.storage)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(result.toml(), encoding="utf-8")
    print(
        f"\nbest of {result.trials} trials: val AUC {result.best_auc:.4f}, default "
        f"{result.default_auc:.4f} ({result.best_auc - result.default_auc:+.4f})"
    )
    print(f"best {result.best}\ndefault {result.default}")
    print(f"wrote {args.out}; wall time {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
