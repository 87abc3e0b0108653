"""`kgdistill sync`: rescore the customers affected by changes since the last sync."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kgdistill.cli import common
from kgdistill.sync import ScorerError, load_scorer, run_sync
from kgstore.writeback import LockHeld, LockLost

common.register_error(ScorerError, LockLost)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL: another sync holds the lock; try again later

EPILOG = """\
exit codes (for cron and Kubernetes CronJobs):
  0   done, including "nothing to do" and --dry-run
  1   error (the message says what); the watermark did not move, so the next run
      redoes this run's work
  2   bad command line
  75  another sync holds the lock (EX_TEMPFAIL): try again later, or use --wait

every run prints one summary line (one JSON object with --json).
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "sync",
        help="rescore the customers affected by changes since the last sync, write back",
        description=(
            "Find what changed since the last successful sync (interactions by loaded_at, "
            "customers and products by updated_at), work out the affected customers (new "
            "interactions, changed customers, and for new or changed products the customers "
            "whose recent interactions share their category, capped by "
            "sync.product_audience_cap), rescore only those with the configured scorer, "
            "write their top-K back as RECOMMENDED, and only then advance the watermark. "
            "A lock in Neo4j keeps two syncs from running at once."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scorer",
        metavar="MODULE:ATTR",
        help="the model: a Scorer, or a class/factory returning one (default: sync.scorer)",
    )
    parser.add_argument("-k", type=int, help="recommendations per customer (default: predict.k)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would change; write nothing"
    )
    parser.add_argument(
        "--wait", action="store_true", help="when another sync holds the lock, wait for it"
    )
    parser.add_argument(
        "--wait-timeout",
        type=float,
        metavar="S",
        help="with --wait, give up (exit 75) after S seconds (default: wait up to sync.lock_ttl_s)",
    )
    common.finish_command(parser, _run)


def _run(args: argparse.Namespace) -> int:
    flags: dict[str, Any] = {}
    if args.scorer:
        flags.setdefault("sync", {})["scorer"] = args.scorer
    if args.k is not None:
        flags.setdefault("predict", {})["k"] = args.k
    config = common.config_from_args(args, flags or None)
    if not config.sync.scorer:
        raise ScorerError(
            "no scorer configured: pass --scorer MODULE:ATTR or set sync.scorer "
            "(KGDISTILL_SYNC__SCORER) to the model that scores customers"
        )
    scorer = load_scorer(config.sync.scorer, config)
    wait_s = None
    if args.wait:
        wait_s = args.wait_timeout if args.wait_timeout is not None else config.sync.lock_ttl_s
    with common.connect(config, args) as runner:
        try:
            result = run_sync(
                runner,
                scorer,
                predict=config.predict,
                sync=config.sync,
                dry_run=args.dry_run,
                wait_s=wait_s,
                progress=not common.quiet(args),
            )
        except LockHeld as exc:
            if args.json:
                common.emit_json({"status": "locked", "name": exc.name, "holder": exc.holder})
            print(f"kgdistill sync: {exc}", file=sys.stderr)
            return EXIT_TEMPFAIL
        except common.KNOWN_ERRORS:
            raise
        except Exception as exc:
            # One line for the log (the watermark did not move); --json adds the status.
            message = common.redact(common.describe(exc))
            if args.json:
                common.emit_json({"status": "error", "error": message})
            print(
                f"kgdistill sync: failed: {message}; the watermark did not move, so the next "
                "run redoes this work",
                file=sys.stderr,
            )
            return EXIT_ERROR
    if args.json:
        common.emit_json(result.as_dict())
    else:
        print(result.line())
        for example in result.examples:
            print(f"  customer {example['customer_id']}: +{example['add']} -{example['remove']}")
    return EXIT_OK
