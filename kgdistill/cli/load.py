"""`kgdistill load ecomm|csv|synthetic`: put a shop's data into the graph.

Each source is parsed and validated completely before anything is written (a bad
row stops the load with file, line and reason); the write is batched and
idempotent, so loading the same data twice changes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection
from typing import Any

from kgdistill.cli import common
from kgstore import ingest
from kgstore.sources.plan import LoadError, LoadPlan

common.register_error(LoadError)


def register(sub: Any) -> None:
    """``kgdistill load SOURCE``: one subcommand per source, each with the loading options."""
    parser = sub.add_parser(
        "load",
        help="load EComm, a directory of CSV exports, or a synthetic shop into Neo4j",
        description=(
            "Load data into the graph: (:Customer)-[:CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT "
            "{day, count}]->(:Product)-[:IN_CATEGORY]->(:Category), (:Product)-[:MADE_BY]->"
            "(:Brand). Everything is validated before the first write; loads are batched "
            "(load.batch_size) and idempotent."
        ),
    )
    sources = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for name, add_options, func, help_text, description in (
        ("ecomm", _ecomm_options, _ecomm, ECOMM_HELP, ECOMM_DESCRIPTION),
        ("csv", _csv_options, _csv, CSV_HELP, CSV_DESCRIPTION),
        ("synthetic", _synthetic_options, _synthetic, SYNTHETIC_HELP, SYNTHETIC_DESCRIPTION),
    ):
        action = sources.add_parser(name, help=help_text, description=description)
        add_options(action)
        _add_loading_options(action)
        action.set_defaults(func=func)


ECOMM_HELP = "the EComm sample (bundled in data/ecomm, or --path)"
ECOMM_DESCRIPTION = "Load the EComm sample (Alibaba Tianchi via DyHATR; see data/ecomm/NOTICE)."
CSV_HELP = "a directory in the CSV interchange format (docs/csv-format.md)"
CSV_DESCRIPTION = (
    "Load customers.csv, products.csv, categories.csv and interactions.csv from DIR; "
    "each is optional (see docs/csv-format.md)."
)
SYNTHETIC_HELP = "a seeded, believable synthetic shop of any size"
SYNTHETIC_DESCRIPTION = (
    "Generate and load a seeded shop of any size, interactions spread over 10 days. "
    "--mode features (the default): power-law product popularity, category "
    "affinity, price tiers, EComm-shaped categories and brands and EComm's "
    "customer feature columns. --mode cf: ids and interactions only (no "
    "categories, brands, prices or customer features, like a shop that exports "
    "only who bought what), drawn from latent customer and product factors; "
    "kgstore.sources.synthetic.cf_factors gives the true scores, the best "
    "ranking any model can reach."
)


def _ecomm_options(ecomm: Any) -> None:
    """``load ecomm [--path DIR|TAR.GZ]``."""
    ecomm.add_argument(
        "--path",
        metavar="DIR|TAR.GZ",
        help="another copy: a directory with the .txt files or a .tar.gz",
    )


def _csv_options(csv: Any) -> None:
    """``load csv --dir DIR [--schema FILE]``."""
    csv.add_argument("--dir", required=True, metavar="DIR", help="the directory of CSV files")
    csv.add_argument("--schema", metavar="FILE", help="TOML file overriding inferred feature types")


def _synthetic_options(synthetic: Any) -> None:
    """``load synthetic [--mode features|cf]`` and the shop's size and seed."""
    synthetic.add_argument(
        "--mode",
        choices=ingest.SYNTHETIC_MODES,
        default="features",
        help="features: a feature-rich shop (default); cf: ids and interactions only",
    )
    synthetic.add_argument("--customers", type=int, default=1_000, metavar="N")
    synthetic.add_argument("--products", type=int, default=10_000, metavar="M")
    synthetic.add_argument("--interactions", type=int, default=100_000, metavar="K")
    synthetic.add_argument("--seed", type=int, default=0, metavar="S")


def _add_loading_options(action: Any) -> None:
    """How a load writes (batch size, workers, unknown ends), configuration and output."""
    group = action.add_argument_group("loading")
    group.add_argument("--batch-size", type=int, metavar="N", help="rows per transaction")
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="concurrent transactions writing interactions, each with its own customers "
        "(load.workers, default 2)",
    )
    group.add_argument(
        "--bulk",
        action="store_true",
        help="a first load into an empty database of the project-managed server: write the "
        "store with neo4j-admin database import (much faster; the server restarts)",
    )
    group.add_argument(
        "--skip-unknown",
        action="store_true",
        help="skip (and report) interactions whose customer or product is unknown, "
        "instead of failing",
    )
    common.add_config_options(action)
    common.add_output_options(action)


def _config(args: argparse.Namespace) -> tuple[Any, ingest.LoadConfig]:
    flags: dict[str, Any] = {}
    if args.batch_size is not None:
        flags["batch_size"] = args.batch_size
    if args.workers is not None:
        flags["workers"] = args.workers
    if args.skip_unknown:
        flags["on_unknown"] = "skip"
    config = common.config_from_args(args, {"load": flags} if flags else None)
    return config, config.load


def _run(args: argparse.Namespace, make_plan: Callable[[Collection[str]], LoadPlan]) -> int:
    """Parse and validate the source (``make_plan``), then write it: in transactions, or
    with --bulk by ``neo4j-admin database import`` into an empty managed database."""
    config, load_config = _config(args)
    # No interaction may take a prediction relationship's name: a prediction run deletes those.
    reserved = (config.predict.relationship, config.predict.category_relationship)
    progress = not common.quiet(args)
    if args.bulk:
        from kgdistill.bulk_load import bulk_first_load

        summary = bulk_first_load(
            config.neo4j,
            make_plan(reserved),
            load_config,
            progress=lambda message: common.say(args, message),
            reserved_types=reserved,
        )
    else:
        with common.connect(config, args) as runner:
            summary = ingest.write_plan(
                runner, make_plan(reserved), load_config, progress=progress, reserved_types=reserved
            )
    if args.json:
        common.emit_json(summary.as_dict())
    else:
        print("\n".join(summary.lines()))
    return 0


def _ecomm(args: argparse.Namespace) -> int:
    from kgstore.sources.ecomm import read_ecomm

    return _run(args, lambda reserved: read_ecomm(args.path))


def _csv(args: argparse.Namespace) -> int:
    from kgstore.sources.csv_files import read_csv_dir

    return _run(args, lambda reserved: read_csv_dir(args.dir, args.schema, reserved_types=reserved))


def _synthetic(args: argparse.Namespace) -> int:
    return _run(
        args,
        lambda reserved: ingest.synthetic_plan(
            args.customers, args.products, args.interactions, args.seed, args.mode
        ),
    )
