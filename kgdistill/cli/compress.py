"""`kgdistill compress`: a smaller student (pruned, int8) added to a trained run."""

from __future__ import annotations

import argparse
from typing import Any

from distill.artifact import RunNotFoundError, find_run
from kgdistill import rundata
from kgdistill.cli import common
from kgdistill.pipeline import PipelineError

common.register_error(PipelineError, RunNotFoundError)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "compress",
        help="prune and int8-quantize a run's student; evaluate it and add it to the run",
        description=(
            "Make a smaller copy of a trained model: magnitude pruning (--prune: the share "
            "of each weight matrix set to zero) and int8 weights with one float16 scale per "
            "output feature (--quantize int8, the default). The copy is stored packed and "
            "deflated as runs/<id>/models/<model>_[pNN_]int8.pt, evaluated on the run's test "
            "pairs like the run's other models, and added to its report.json, report.md "
            "and PNG. Needs the run's graph (from Neo4j)."
        ),
    )
    parser.add_argument(
        "--prune",
        type=float,
        default=0.0,
        metavar="AMOUNT",
        help="share of each weight matrix zeroed by magnitude, 0 to <1 (default 0: none)",
    )
    parser.add_argument(
        "--quantize",
        choices=["int8", "none"],
        default="int8",
        help="weight precision on disk (default int8; none keeps float32, e.g. to prune only)",
    )
    common.add_run_option(parser)
    common.add_model_option(
        parser, "model of the run to compress (default: 'student', the run's default student)"
    )
    common.finish_command(parser, _run)


def _run(args: argparse.Namespace) -> int:
    # torch is imported when a learning command runs, not when the CLI starts
    from distill.artifact import load_artifact, save_artifact
    from distill.compress import compress_and_evaluate
    from distill.quantize import Compression

    try:
        compression = Compression(
            prune=args.prune, quantize=None if args.quantize == "none" else args.quantize
        )
    except ValueError as exc:
        raise PipelineError(str(exc)) from None
    config = common.config_from_args(args)
    run = find_run(args.run)
    name = run.resolve_model(args.model)
    source = load_artifact(run.artifact(name))
    if source.compression is not None:
        raise PipelineError(f"model {name!r} of run {run.run_id} is already compressed")
    teacher_path = run.artifact("teacher")
    teacher = load_artifact(teacher_path) if teacher_path.is_file() else None
    run_config = rundata.run_config(run, config)
    with common.connect(config, args) as runner:
        frame, pairs = rundata.run_data(runner, config, run, source, lambda m: common.say(args, m))
    result = compress_and_evaluate(frame, pairs, run_config, source, compression, teacher)
    path = save_artifact(run.artifact(result.loaded.name), result.loaded)
    rundata.add_model(run, result.loaded.name, result.entry)
    entry = result.entry
    share = entry["bytes"] / entry["source_bytes"]
    if args.json:
        common.emit_json({"run": run.run_id, "model": result.loaded.name, "path": path, **entry})
        return 0
    print(
        f"{result.loaded.name}: {entry['bytes']:,} bytes ({share:.3f} "
        f"of {name}'s {entry['source_bytes']:,}), {entry['nonzero']:,} of "
        f"{int(entry['params']):,} weights non-zero; test AUC {entry['auc']:.4f} "
        f"({entry['auc'] - entry['source_auc']:+.4f} against {name}'s {entry['source_auc']:.4f})"
    )
    print(f"saved {path}; added to {run.report_path} and report.md")
    return 0
