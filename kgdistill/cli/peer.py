"""`kgdistill peer gds`: Neo4j Graph Data Science beside a trained run, on the same graph."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from distill.artifact import RunNotFoundError, find_run
from kgdistill import peer
from kgdistill.cli import common
from kgdistill.pipeline import PipelineError
from kgdistill.server import Neo4jServerError
from kgstore.gds import GdsError

common.register_error(PipelineError, RunNotFoundError, Neo4jServerError, GdsError)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "peer",
        help="compare a run with another tool on the same graph and pairs (gds: Neo4j GDS)",
        description=(
            "gds: fetch Neo4j Graph Data Science's open build (OpenGDS "
            f"{peer.gds.GDS_VERSION}) with Maven into the cache once, start a private "
            "GDS-enabled Neo4j on free ports bound to 127.0.0.1, project the graph the run "
            "trained on, and score the run's test pairs with FastRP + cosine and FastRP + "
            "logistic regression (FastRP chosen on the validation split) and GDS's "
            "link-prediction pipeline (autotuned); rank every product for the run's "
            "customers from the FastRP vectors, seen products left out, as kgdistill does. "
            "Prints one table beside the run's teacher and default student, and a final "
            "line of key=value figures."
        ),
    )
    parser.add_argument("tool", choices=["gds"], help="the tool to compare with")
    common.add_run_option(parser)
    common.add_runs_dir_option(parser, "where runs live (default: runs)")
    common.finish_command(parser, _run)


def _run(args: argparse.Namespace) -> int:
    logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)
    config = common.config_from_args(args)
    run = find_run(args.run, args.runs_dir)
    with common.connect(config, args) as runner:
        result = peer.compare(runner, config, run, lambda m: common.say(args, m))
    student = result.kgdistill_rows[-1]
    if args.json:
        common.emit_json(
            {
                "run": run.run_id,
                "gds_version": result.gds_version,
                "rows": [
                    {k: None if v != v else v for k, v in row.__dict__.items()}  # NaN: null
                    for row in result.gds_rows + result.kgdistill_rows
                ],
                "seconds": result.seconds,
            }
        )
        return 0
    print(
        f"run {run.run_id}: Neo4j GDS {result.gds_version} beside kgdistill, same graph and pairs"
    )
    print(peer.format_table(result.gds_rows + result.kgdistill_rows, result.k))
    print(f"(peer run {result.seconds:.0f}s; kgdistill times from the run's report.json)")
    print(peer.final_line(result.gds_rows, student))
    return 0
