"""`kgdistill ...`: one thin command per job, each a call into library functions.

Every command module exposes ``register(subparsers)``; this module only builds
the parser, runs the chosen command and turns known errors into one clear line
and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Sequence

from kgdistill import __version__
from kgdistill.allocator import tune_allocator
from kgdistill.cli import (
    common,
    compress,
    export,
    load,
    models,
    neo4j,
    peer,
    predict,
    query,
    run,
    score,
    sync,
    train,
    tune,
)

COMMANDS = (
    run,
    neo4j,
    load,
    train,
    predict,
    score,
    models,
    query,
    sync,
    compress,
    export,
    tune,
    peer,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kgdistill",
        description=(
            "Make a Neo4j product knowledge graph predict, cheaply: extract subgraphs with "
            "Cypher, train a graph-attention teacher, distil it into a small student, and "
            "write the student's predictions back into Neo4j as scored relationships.\n\n"
            "Neo4j: NEO4J_URI/NEO4J_USER/NEO4J_PASSWORD/NEO4J_DATABASE name any server; "
            "without them kgdistill runs its own (see `kgdistill neo4j --help`)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kgdistill {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # PyG's import calls torch.jit.script, which torch 2.15 marks deprecated: noise for users.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    tune_allocator()  # before any work: see kgdistill.allocator
    driver_log = logging.getLogger("neo4j")
    if not os.environ.get("KGDISTILL_DEBUG") and not driver_log.handlers:
        # The driver logs each retry and dropped connection; with no logging configured,
        # Python prints those warnings to stderr. The error line says what failed.
        driver_log.addHandler(logging.NullHandler())
    try:
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("kgdistill: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every error ends in one line, never a traceback
        if os.environ.get("KGDISTILL_DEBUG"):
            traceback.print_exc()
        message = common.redact(common.describe(exc))
        print(f"kgdistill {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
