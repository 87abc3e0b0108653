"""`kgdistill score`: score customer-product pairs from a CSV with a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kgdistill.cli import common
from kgdistill.service import ScoreError, TrainedModel, read_pairs_csv

common.register_error(ScoreError)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "score",
        help="score customer-product pairs from a CSV with a trained model",
        description=(
            "Read IN.csv (a header line with customer_id and product_id; other columns are "
            "kept), score each pair with a model of a trained run against the graph as it is "
            "now, and write OUT.csv with a score column (the probability of an interaction). "
            "Customers or products without interactions are scored from their features; ids "
            "that are not in the graph are an error naming them."
        ),
    )
    common.add_model_option(
        parser,
        "teacher, a student's name (student_mlp, student_gat_no_kd, ...) or 'student' "
        "for the run's default student (default)",
    )
    parser.add_argument("--pairs", required=True, metavar="IN.csv", help="the pairs to score")
    parser.add_argument("--out", required=True, metavar="OUT.csv", help="where to write scores")
    common.add_run_option(parser)
    common.add_runs_dir_option(parser)
    common.finish_command(parser, _run)


def _run(args: argparse.Namespace) -> int:
    config = common.config_from_args(args)
    table = read_pairs_csv(args.pairs)
    scorer = TrainedModel(
        config,
        run=args.run,
        model=args.model,
        runs_dir=args.runs_dir,
        say=lambda m: common.say(args, m),
    )
    with common.connect(config, args) as runner:
        scored = scorer.score_pairs(
            runner, table["customer_id"].tolist(), table["product_id"].tolist()
        )
    table["score"] = scored["score"].to_numpy()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6f")
    if args.json:
        common.emit_json(
            {"model": scorer.name, "run_id": scorer.version, "pairs": len(table), "out": str(out)}
        )
    else:
        common.say(
            args, f"scored {len(table):,} pairs with {scorer.name} of run {scorer.version}: {out}"
        )
    return 0
