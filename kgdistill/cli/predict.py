"""`kgdistill predict`: top-K products per customer from a trained model; `--write` puts
them into Neo4j as scored RECOMMENDED relationships."""

from __future__ import annotations

import argparse
import secrets
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kgdistill.cli import common
from kgdistill.runs import DEFAULT_RUNS_DIR
from kgdistill.scoring import ScoreError, StudentScorer
from kgdistill.sync import write_beside_sync
from kgframe import normalize_id
from kgstore import sync_state
from kgstore.writeback import (
    WritebackError,
    WriteSummary,
    write_category_predictions,
    write_recommendations,
)

common.register_error(ScoreError, WritebackError, sync_state.LockHeld, sync_state.LockLost)

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
    parser.add_argument("--run", metavar="RUN", help="a run id or directory (default: the latest)")
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, metavar="DIR")
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
    common.add_config_options(parser)
    common.add_output_options(parser)
    parser.set_defaults(func=_run)


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


def prediction_run_id(model: str, now: datetime) -> str:
    return f"predict-{model}-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def predict_and_write(
    args: argparse.Namespace,
    config: Any,
    runner: Any,
    *,
    write: bool,
    runs_dir: Path,
    frame: Any = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Score, optionally write back; returns what --json prints (also used by `run`,
    which passes the ``frame`` it just extracted and the database time ``as_of`` it did).

    Writing keeps the sync's rule (:func:`kgdistill.sync.write_beside_sync`): it writes
    under the sync's lock, and the watermark ends at the moment the graph was read, so
    the next ``kgdistill sync`` rescores exactly what changed since, also what changed
    while this run scored.
    """
    scorer = StudentScorer(config, runs_dir=runs_dir, say=lambda m: common.say(args, m))
    if frame is not None:
        scorer.bind(frame)
    if as_of is None or frame is None:
        as_of = sync_state.db_now(runner)  # before the graph is read for scoring
    return _predict(args, config, runner, scorer, write=write, as_of=as_of)


def _predict(
    args: argparse.Namespace,
    config: Any,
    runner: Any,
    scorer: StudentScorer,
    *,
    write: bool,
    as_of: datetime,
) -> dict[str, Any]:
    customers = None
    if getattr(args, "customers", None):
        customers = [c.strip() for c in args.customers.split(",") if c.strip()]
    p = config.predict
    top = scorer.top_k(
        runner,
        customers,
        p.k,
        exclude_seen=p.exclude_seen,
        min_score=p.min_score,
        progress=not common.quiet(args),
    )
    scored = top["customer_id"].nunique()
    common.say(args, f"{scorer.name} of run {scorer.version}: top {p.k} for {scored:,} customers")
    result: dict[str, Any] = {
        "model": scorer.name,
        "model_version": scorer.version,
        "customers": int(scored),
        "rows": len(top),
        "top": top,
    }
    if getattr(args, "out", None):
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        top.to_csv(out, index=False, float_format="%.6f")
        result["out"] = str(out)
    if write:
        summary = _write(args, config, runner, scorer, top, customers, as_of)
        result["write"] = summary.as_dict()
        common.say(args, summary.line())
    return result


def _write(
    args: argparse.Namespace,
    config: Any,
    runner: Any,
    scorer: StudentScorer,
    top: Any,
    customers: list[str] | None,
    as_of: datetime,
) -> WriteSummary:
    now = datetime.now(UTC)
    run_id = prediction_run_id(scorer.name, now)
    frame = scorer.frame(runner)
    # Every customer asked for is replaced, also one whose scores all fell below
    # predict.min_score (their old recommendations go).
    known = frame.customer_index()
    everyone = (
        frame.customers["id"].tolist()
        if customers is None
        else [c for c in (normalize_id(v) for v in customers) if c in known]
    )

    def write(fence: Any) -> WriteSummary:
        return write_recommendations(
            runner,
            top,
            model=scorer.name,
            model_version=scorer.version,
            run_id=run_id,
            scored_at=now,
            metrics={k: v for k, v in scorer.metrics.items() if isinstance(v, (int, float))},
            config=config.predict,
            customers=everyone,
            progress=not common.quiet(args),
            fence=fence,
        )

    return write_beside_sync(
        runner, config.sync, as_of, run_id, write, every_customer=customers is None
    )


def _categories(args: argparse.Namespace) -> int:
    from distill.categorize import categorize_products
    from kgdistill import pipeline

    k = args.k if args.k is not None else 3
    config = common.config_from_args(args)
    run_config = config.run_config()
    run_config = replace(
        run_config, train=replace(run_config.train, progress=not common.quiet(args))
    )
    with common.connect(config, args) as runner:
        frame = pipeline.extract(runner, config, None, lambda m: common.say(args, m))
        result = categorize_products(frame, run_config, k=k)
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
            now = datetime.now(UTC)
            run_id = f"categorize-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
            summary = write_category_predictions(
                runner,
                result.predictions,
                model=result.model,
                model_version=run_id,
                run_id=run_id,
                scored_at=now,
                metrics={k2: v for k2, v in metrics.items() if isinstance(v, (int, float))},
                config=config.predict,
                progress=not common.quiet(args),
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
    with common.connect(config, args) as runner:
        result = predict_and_write(args, config, runner, write=args.write, runs_dir=args.runs_dir)
    top = result.pop("top")
    if args.json:
        common.emit_json(result)
        return 0
    if not args.write and not args.out:
        shown = top["customer_id"].drop_duplicates().head(3).tolist()
        sample = top[top["customer_id"].isin(shown)]
        sys.stdout.write(sample.to_string(index=False) + "\n")
        print(f"({result['rows']:,} rows for {result['customers']:,} customers; --write to store)")
    return 0
