"""`kgdistill run`: the whole job in one command. Load (when asked), extract, train the
teacher, distil the students, evaluate, write the default student's recommendations back
and print a one-screen summary."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from kgdistill import pipeline, service, summary
from kgdistill.cli import common, train
from kgstore import ingest

EPILOG = """\
examples:
  kgdistill run --dataset ecomm               the bundled EComm sample, evaluated on its pairs
  kgdistill run --csv exports/                a shop's CSV exports (docs/csv-format.md)
  kgdistill run --synthetic 100k              a generated shop with 100,000 interactions
  kgdistill run                               whatever is in Neo4j already
  kgdistill run --config kgdistill.toml --set eval.seeds=0 --quiet

steps: load -> extract -> teacher -> students (with and without distillation) ->
evaluation -> write-back of the default student's top K per customer. The run
directory (runs/<run_id>/) gets report.json, report.md, quality_vs_cost.png and the
model artifacts; the summary says where. Configuration: --config FILE (default
./kgdistill.toml), then KGDISTILL_<SECTION>__<KEY> variables, then --set and flags;
kgdistill.example.toml documents every key.
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="the whole job: load, train teacher and students, evaluate, write back, summarise",
        description=(
            "The whole job in one command: load data when asked, extract the graph from "
            "Neo4j, train the GAT teacher, distil the students (and train each without "
            "distillation for comparison), evaluate them all on the same pairs, write the "
            "default student's top K per customer back as RECOMMENDED relationships, and "
            "print a one-screen summary: teacher against students (AUC, AP, Recall@20, "
            "parameters, size, latency, speed-up)."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("data (load first; default: use what is in Neo4j)")
    source = data.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        choices=["ecomm"],
        help="load the bundled EComm sample (and evaluate on its labelled pairs)",
    )
    source.add_argument("--csv", metavar="DIR", help="load a directory of CSV exports")
    source.add_argument(
        "--synthetic",
        type=_size,
        metavar="SIZE",
        help="load a synthetic shop with SIZE interactions (e.g. 20k, 1m)",
    )
    data.add_argument("--schema", metavar="FILE", help="with --csv: feature type overrides")
    train.add_train_options(parser)
    out = parser.add_argument_group("write-back")
    out.add_argument(
        "--no-write", action="store_true", help="train and evaluate only; write nothing back"
    )
    out.add_argument("-k", "--k", type=int, metavar="K", help="recommendations per customer")
    common.finish_command(parser, _run)


def _size(text: str) -> int:
    raw = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(raw[-1:], 1)
    digits = raw[:-1] if scale > 1 else raw
    try:
        value = int(float(digits) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size (like 20000, 20k or 1m)"
        ) from None
    if value < 100:
        raise argparse.ArgumentTypeError(f"--synthetic {text}: at least 100 interactions")
    return value


def _load(args: argparse.Namespace, runner: Any, config: Any) -> dict[str, Any] | None:
    progress = not common.quiet(args)
    if args.dataset == "ecomm":
        result = ingest.load_ecomm(runner, None, config.load, progress=progress)
    elif args.csv:
        reserved = (config.predict.relationship, config.predict.category_relationship)
        result = ingest.load_csv(
            runner, args.csv, args.schema, config.load, progress=progress, reserved_types=reserved
        )
    elif args.synthetic:
        n = args.synthetic
        result = ingest.load_synthetic(
            runner, max(50, n // 50), max(200, n // 10), n, 0, config.load, progress=progress
        )
    else:
        return None
    for line in result.lines():
        common.say(args, line)
    loaded: dict[str, Any] = result.as_dict()
    return loaded


def _run(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    flags: dict[str, Any] = train.train_flags(args)
    if args.k is not None:
        flags["predict"] = {"k": args.k}
    config = common.config_from_args(args, flags or None)
    pairs = train.pairs_path(args)
    if pairs is None and args.dataset == "ecomm":
        pairs = pipeline.ecomm_pairs()

    def say(message: str) -> None:
        common.say(args, message)

    with common.connect(config, args) as runner:
        loaded = _load(args, runner, config)
        result = pipeline.train(
            runner,
            config,
            until=args.until,
            pairs_path=pairs,
            out=args.out,
            runs_dir=args.runs_dir,
            progress=not common.quiet(args),
            say=say,
        )
        written = None
        if not args.no_write:
            written = service.predict(
                runner,
                config,
                write=True,
                runs_dir=args.runs_dir,
                frame=result.frame,
                progress=not common.quiet(args),
                say=say,
            )
    seconds = time.perf_counter() - began
    if args.json:
        _emit_json(result, loaded, written, seconds)
    else:
        _print_summary(result, written, seconds)
    return 0


def _written(written: service.PredictResult | None) -> dict[str, Any] | None:
    """The write's figures, then the prediction's (what ``--json`` prints as ``write``)."""
    if written is None:
        return None
    flat = written.as_dict()
    return {**flat.pop("write"), **flat}


def _emit_json(
    result: pipeline.TrainResult,
    loaded: dict[str, Any] | None,
    written: service.PredictResult | None,
    seconds: float,
) -> None:
    common.emit_json(
        {
            "run_id": result.run.run_id,
            "path": str(result.run.path),
            "default_student": result.report.get("default_student"),
            "load": loaded,
            "models": summary.rows(result.report),
            "write": _written(written),
            "seconds": round(seconds, 1),
        }
    )


def _print_summary(
    result: pipeline.TrainResult, written: service.PredictResult | None, seconds: float
) -> None:
    print()
    print(summary.table(result.report))
    print()
    print(f"run {result.run.run_id}: {Path(result.run.path) / 'report.md'} and quality_vs_cost.png")
    if written is not None and written.write is not None:
        w = written.write
        top = written.top
        example = top["customer_id"].iloc[0] if len(top) else "<id>"
        print(
            f"written: {w.rows:,} {w.relationship} relationships for "
            f"{written.customers:,} customers (model {written.model}, "
            f"run_id {w.run_id})"
        )
        print(
            f"try:     kgdistill query customer_recommendations --param customer_id={example}"
            "   (all queries: kgdistill query --list)"
        )
    print(f"took {seconds:.0f}s")
