"""The default student and its twin with a structure option of theirs on, and off.

    .venv/bin/python bench/id_fit_structure.py [--datasets ecomm synthetic_cf
        interactions_only] [--option id_fit_structure] [--settings on off]
        [--seeds 0 1 2] [--interactions 500000]

No database: the shops are read or generated as ``bench/structure.py`` does (EComm from
the bundled files, test split 2 and validation split 1; ``synthetic_cf``: the
interaction-only shop of ``--interactions`` in memory, its last day held out;
``interactions_only``: the 70,679-customer, 24,915-product, 652,514-interaction stand-in
``bench/interactions_only.py`` loads, in memory). For each dataset the default teacher
is trained once; then for each ``--settings`` value of ``[student_mlp] OPTION`` the
default student is trained without distillation (its twin) and distilled, each for
every seed, all scored as every report scores them (ties at their expected rank, seen
products left out). ``--option``:

- ``id_fit_structure`` (``on``: the id embeddings' matrix factorisation adds each
  pair's structural cosine to its logit, so the ids learn what the structural vectors
  miss; ``off``: the ids alone);
- ``struct_in_encoder`` (``on``: the structural vectors enter the MLP's input through a
  learnt map; ``off``: they reach the score through their cosine alone).

Lines, after the baseline rows of the same split (students: the mean of the seeds,
then each seed's Recall@20):

    dataset=NAME baseline=NAME recall20=R auc=A
    dataset=NAME model=teacher recall20=R ndcg20=N auc=A seconds=S
    dataset=NAME OPTION=on model=twin recall20=R ndcg20=N auc=A seeds=[...]
        seconds=S  (one line; then model=student)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kd_shortlist import print_baselines, print_teacher, quiet_config, students
from bench.predict_speed import cf_frame
from bench.structure import dataset
from distill.evaluate import (
    Distillation,
    prepare,
)
from kgdistill import pipeline
from kgframe import GraphFrame

DATASETS = ("ecomm", "synthetic_cf", "interactions_only", "ecomm_nofeatures")
OPTIONS = ("id_fit_structure", "struct_in_encoder")  # [student_mlp] switches


def _shop(name: str, interactions: int) -> tuple[GraphFrame, pd.DataFrame]:
    if name == "interactions_only":
        return pipeline.holdout_pairs(cf_frame(70_679, 24_915, 652_514, seed=0))
    return dataset(name, interactions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS[:3]))
    parser.add_argument("--option", choices=OPTIONS, default=OPTIONS[0], help="what to switch")
    parser.add_argument("--settings", nargs="+", choices=("on", "off"), default=["on", "off"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--interactions", type=int, default=500_000, help="synthetic_cf")
    args = parser.parse_args(argv)
    config = quiet_config()
    k = config.eval.k
    for name in args.datasets:
        frame, pairs = _shop(name, args.interactions)
        ctx = prepare(frame, pairs, config)
        print_baselines(ctx, name, k)
        teacher = print_teacher(ctx, config, name)
        distil = Distillation.of(ctx, teacher)
        for setting in args.settings:
            student = replace(config.student_mlp, **{args.option: setting == "on"})
            run = replace(config, student_mlp=student)
            for label, source in (("twin", None), ("student", distil)):
                mean, seeds, seconds = students(ctx, run, args.seeds, source)
                print(
                    f"dataset={name} {args.option}={setting} model={label} "
                    f"recall{k}={mean[0]:.4f} ndcg{k}={mean[1]:.4f} auc={mean[2]:.4f} "
                    f"seeds={seeds} seconds={seconds:.0f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
