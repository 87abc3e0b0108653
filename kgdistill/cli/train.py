"""`kgdistill train`: teacher, students with and without distillation, evaluated."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from distill.config import STUDENT_NAMES
from kgdistill import pipeline, summary
from kgdistill.cli import common
from kgdistill.config import Config

common.register_error(pipeline.PipelineError)

EPILOG = """\
evaluation:
  --eval ecomm        the bundled EComm pairs: validation on split 1, the report on split 2
                      (never trained on); use it with `kgdistill load ecomm`
  --eval-pairs FILE   your own labelled pairs, same format: tab-separated, no header,
                      customer_id, product_id, label (1/0), split (1 validation, 2 test)
  neither             the last day of interactions is held out: its pairs are the
                      positives, as many popularity-drawn negatives, half for validation
                      and half for the test; the models train on the days before

the run directory (runs/<run_id>/, or --out) holds report.json, report.md,
quality_vs_cost.png, config.json, eval_pairs.tsv and models/<name>.pt;
runs/LATEST names it, so `kgdistill predict`, `score` and `sync` use it next.

several processes:
  torchrun --nproc-per-node 2 -m kgdistill train ...   (or --nnodes N on N machines
                      against one Neo4j): each process extracts the graph and trains on
                      its share of the pairs, gradients averaged (torch.distributed, gloo);
                      only the first (rank 0) writes the run and prints
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "train",
        help="train the GAT teacher and distil the students; evaluate all on the same pairs",
        description=(
            "Extract the graph from Neo4j, train the teacher (a heterogeneous GAT) once, "
            "the default student (the graph-free MLP; --all-students: small GAT and "
            "GraphSAGE too) with distillation (L = L_hard + alpha * T^2 * KL, plus the "
            "teacher's ranking) and without, over eval.seeds, and the baselines (most "
            "popular, item-kNN, category affinity); evaluate them all on the same pairs "
            "(AUC, AP, Recall@K, NDCG@K with seen products left out as predict does, MRR, "
            "cold-start, parameters, bytes, CPU latency) and write "
            "the run directory. Configure models in [teacher], [student_*], [kd], [task], "
            "[train] and [eval] (see kgdistill.example.toml)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_train_options(parser)
    common.finish_command(parser, _run)


def add_train_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training")
    group.add_argument(
        "--until",
        type=_day,
        metavar="DAY",
        help="leave out interactions after DAY (YYYYMMDD or YYYY-MM-DD): train on the past only",
    )
    which = group.add_mutually_exclusive_group()
    which.add_argument(
        "--eval", choices=["ecomm"], help="evaluate on the bundled EComm pairs (split 2)"
    )
    which.add_argument("--eval-pairs", metavar="FILE", help="evaluate on these labelled pairs")
    group.add_argument(
        "--all-students",
        action="store_true",
        help="train and compare every student (small GAT, GraphSAGE, MLP), each with its "
        "no-distillation twin; the default trains the default student and its twin only",
    )
    group.add_argument("--out", metavar="DIR", help="the run directory (default: runs/<run_id>)")
    common.add_runs_dir_option(group, "where runs and LATEST live (default: ./runs)")


def _day(text: str) -> int:
    digits = text.replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYYMMDD or YYYY-MM-DD)")
    return int(digits)


def pairs_path(args: argparse.Namespace) -> Path | None:
    if getattr(args, "eval_pairs", None):
        return Path(args.eval_pairs)
    if getattr(args, "eval", None) == "ecomm":
        return pipeline.ecomm_pairs()
    return None


def train_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration this command's own flags set (``--all-students``)."""
    if getattr(args, "all_students", False):
        return {"eval": {"students": list(STUDENT_NAMES)}}
    return {}


def _run(args: argparse.Namespace) -> int:
    config = common.config_from_args(args, train_flags(args) or None)
    with _process_group() as rank:
        if rank == 0:
            print_result(args, _train(args, config, args.out, args.runs_dir, speak=True))
            return 0
        # under torchrun only rank 0 writes the run and speaks; the others train the
        # same models in lock-step into a scratch directory, removed after
        with tempfile.TemporaryDirectory() as scratch:
            _train(args, config, Path(scratch), Path(scratch), speak=False)
    return 0


def _train(
    args: argparse.Namespace,
    config: Config,
    out: str | Path | None,
    runs_dir: Path,
    *,
    speak: bool,
) -> pipeline.TrainResult:
    with common.connect(config, args) as runner:
        return pipeline.train(
            runner,
            config,
            until=args.until,
            pairs_path=pairs_path(args),
            out=out,
            runs_dir=runs_dir,
            progress=speak and not common.quiet(args),
            say=lambda m: common.say(args, m) if speak else None,
        )


@contextmanager
def _process_group() -> Iterator[int]:
    """This process's rank: under ``torchrun`` (``WORLD_SIZE`` > 1, the rendezvous in
    the environment) it joins the process group (gloo: the training loop runs on the
    CPU) and leaves it after; alone, 0 and nothing started."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield 0
        return
    import torch.distributed as dist

    dist.init_process_group(backend="gloo")
    try:
        yield dist.get_rank()
    finally:
        dist.destroy_process_group()


def print_result(args: argparse.Namespace, result: pipeline.TrainResult) -> None:
    if args.json:
        common.emit_json(
            {
                "run_id": result.run.run_id,
                "path": str(result.run.path),
                "default_student": result.report.get("default_student"),
                "seconds": round(result.seconds, 1),
                "models": summary.rows(result.report),
            }
        )
        return
    print(summary.table(result.report))
    print(f"\nrun {result.run.run_id}: {result.run.path}/report.md ({result.seconds:.0f}s)")
