"""`kgdistill ...`: one thin command per job, each a call into library functions.

Every command module exposes ``register(subparsers)``; this module only builds
the parser, runs the chosen command and turns known errors into one clear line
and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
import warnings
from collections.abc import Sequence

from kgdistill import __version__
from kgdistill.cli import (
    common,
    compress,
    export,
    load,
    models,
    neo4j,
    predict,
    query,
    run,
    score,
    sync,
    train,
    tune,
)

COMMANDS = (run, neo4j, load, train, predict, score, models, query, sync, compress, export, tune)

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
    try:
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("kgdistill: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every error ends in one line, never a traceback
        if os.environ.get("KGDISTILL_DEBUG"):
            traceback.print_exc()
        print(f"kgdistill {args.command}: error: {redact(describe(exc))}", file=sys.stderr)
        return EXIT_ERROR


def describe(exc: BaseException) -> str:
    """What went wrong, for the user: a known error's own message, else its type and the
    first line of its message."""
    from neo4j.exceptions import DriverError, IncompleteCommit, Neo4jError

    ours = type(exc).__module__.split(".")[0] in ("kgstore", "kgdistill", "distill")
    if isinstance(exc, common.KNOWN_ERRORS) or (ours and isinstance(exc, ValueError)):
        return str(exc)  # written for the user: what, where, what to do
    first = (str(exc).strip().splitlines() or [""])[0]
    first = first if len(first) <= 300 else first[:300] + "..."
    if isinstance(exc, IncompleteCommit):
        return (
            "the connection to Neo4j broke while a transaction committed (IncompleteCommit): "
            "it may or may not have been written. Rerun the command once the server is up "
            "(loads and write-backs are idempotent)"
        )
    if isinstance(exc, (DriverError, Neo4jError)):
        return (
            f"Neo4j failed: {type(exc).__name__}: {first}. Check the server and rerun "
            "(loads and write-backs are idempotent)"
        )
    return f"{type(exc).__name__}: {first} (KGDISTILL_DEBUG=1 shows where)"


_URI_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def redact(text: str) -> str:
    """``text`` without secrets: credentials in URIs and the NEO4J_PASSWORD value."""
    text = _URI_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)
    password = os.environ.get("NEO4J_PASSWORD", "")
    if len(password) >= 4:
        text = text.replace(password, "***")
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
