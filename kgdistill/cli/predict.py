"""`kgdistill predict`: top-K products per customer from a trained model; `--write` puts
them into Neo4j as scored RECOMMENDED relationships."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kgdistill import service
from kgdistill.cli import common
from kgstore import writeback
from kgstore.writeback import WritebackError

common.register_error(service.ScoreError, WritebackError, writeback.LockHeld, writeback.LockLost)

EPILOG = """\
what --write does:
  (:Customer)-[:RECOMMENDED {score, rank, model, model_version, run_id, scored_at}]->(:Product)
  top K per customer, rank 1 best; model_version is the training run, run_id this
  prediction run, recorded with its metrics on a (:ModelRun) node. Each customer's
  previous recommendations are replaced in the same transaction that writes the new
  ones, so a reader never sees a customer with none or with two runs mixed; a rerun
  after a crash completes the work. Names come from [predict] (relationship,
  source_label, target_label).
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "predict",
        help="top-K recommendations per customer; --write puts them into Neo4j",
        description=(
            "Score every customer (or --customers) against every product with a trained "
            "model (default: the latest run's default student) and keep the K best, leaving "
            "out products the customer already interacted with. Without --write or --out it "
            "prints the recommendations of the first few customers."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--write", action="store_true", help="write the recommendations back into Neo4j"
    )
    parser.add_argument("--out", metavar="FILE.csv", help="also write them to a CSV file")
    parser.add_argument("-k", "--k", type=int, metavar="K", help="per customer (predict.k: 20)")
    parser.add_argument(
        "--model",
        metavar="NAME",
        help="teacher, a student's name, or 'student' for the default student (predict.model)",
    )
    common.add_run_option(parser, "a run id or directory (default: the latest)")
    common.add_runs_dir_option(parser)
    parser.add_argument(
        "--min-score", type=float, metavar="S", help="drop scores below S (predict.min_score)"
    )
    parser.add_argument(
        "--include-seen",
        action="store_true",
        help="also recommend products the customer already interacted with",
    )
    parser.add_argument(
        "--customers", metavar="ID,ID,...", help="only these customers (default: every one)"
    )
    parser.add_argument(
        "--categories",
        action="store_true",
        help="instead: predict a category for each product listed without one (a graph "
        "teacher distilled into the MLP, trained now on the categorised products); --write "
        "stores the top K (default 3) as (:Product)-[:PREDICTED_CATEGORY]->(:Category)",
    )
    common.finish_command(parser, _run)


def flags(args: argparse.Namespace) -> dict[str, Any]:
    predict: dict[str, Any] = {}
    if args.k is not None:
        predict["k"] = args.k
    if getattr(args, "model", None):
        predict["model"] = args.model
    if getattr(args, "run", None):
        predict["run"] = args.run
    if args.min_score is not None:
        predict["min_score"] = args.min_score
    if args.include_seen:
        predict["exclude_seen"] = False
    return {"predict": predict} if predict else {}


def _categories(args: argparse.Namespace) -> int:
    k = args.k if args.k is not None else 3
    config = common.config_from_args(args)
    with common.connect(config, args) as runner:
        result = service.predict_categories(
            runner, config, k=k, progress=not common.quiet(args), say=lambda m: common.say(args, m)
        )
        metrics = result.metrics
        out: dict[str, Any] = {"model": result.model, "rows": len(result.predictions), **metrics}
        if "skipped" in metrics:
            common.say(args, f"no category predictions: {metrics['skipped']}")
        else:
            common.say(
                args,
                f"{metrics['targets']:,} products without a category; held-out accuracy: "
                f"teacher {metrics['teacher_accuracy']:.3f}, "
                f"student {metrics['student_accuracy']:.3f} ({metrics['classes']} classes)",
            )
        if args.out:
            result.predictions.to_csv(args.out, index=False, float_format="%.6f")
        if args.write and len(result.predictions):
            summary = service.write_categories(
                runner, config, result, progress=not common.quiet(args)
            )
            out["write"] = summary.as_dict()
            common.say(args, summary.line())
    if args.json:
        common.emit_json(out)
    elif not args.write and not args.out and len(result.predictions):
        sys.stdout.write(result.predictions.head(15).to_string(index=False) + "\n")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.categories:
        return _categories(args)
    config = common.config_from_args(args, flags(args) or None)
    customers = None
    if args.customers:
        customers = [c.strip() for c in args.customers.split(",") if c.strip()]
    with common.connect(config, args) as runner:
        result = service.predict(
            runner,
            config,
            customers=customers,
            write=args.write,
            out=args.out,
            runs_dir=args.runs_dir,
            progress=not common.quiet(args),
            say=lambda m: common.say(args, m),
        )
    if args.json:
        common.emit_json(result.as_dict())
        return 0
    if not args.write and not args.out:
        top = result.top
        shown = top["customer_id"].drop_duplicates().head(3).tolist()
        sample = top[top["customer_id"].isin(shown)]
        sys.stdout.write(sample.to_string(index=False) + "\n")
        print(f"({len(top):,} rows for {result.customers:,} customers; --write to store)")
    return 0
