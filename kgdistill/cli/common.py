"""Options and helpers shared by every command."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distill.artifact import DEFAULT_RUNS_DIR
from kgdistill.config import Config, load_config
from kgdistill.server import Neo4jServerError, settings_from_env
from kgdistill.settings import ConfigError
from kgstore.connection import Neo4jConnectionError, Neo4jSettings, QueryRunner
from kgstore.cypher import CypherError

KNOWN_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    CypherError,
    Neo4jServerError,
    Neo4jConnectionError,
    FileNotFoundError,
)


def register_error(*errors: type[BaseException]) -> None:
    """Error types a command module raises for bad input; they print as one line, exit 1."""
    global KNOWN_ERRORS
    KNOWN_ERRORS = (*KNOWN_ERRORS, *errors)


def describe(exc: BaseException) -> str:
    """What went wrong, for the user: a known error's own message, else its type and the
    first line of its message."""
    from neo4j.exceptions import DriverError, IncompleteCommit, Neo4jError

    ours = type(exc).__module__.split(".")[0] in ("kgstore", "kgdistill", "distill")
    if isinstance(exc, KNOWN_ERRORS) or (ours and isinstance(exc, ValueError)):
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


def add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "--config",
        metavar="FILE",
        help="TOML configuration file (default: ./kgdistill.toml when it exists)",
    )
    group.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one configuration key (repeatable); beats the file and the environment",
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--quiet", "-q", action="store_true", help="no progress bars or chatter")
    group.add_argument(
        "--json", action="store_true", help="print one JSON object as the result (implies --quiet)"
    )


RUN_HELP = "run id or directory (default: the latest)"
MODEL_HELP = "model of the run (default: 'student', the run's default student)"


def add_run_option(parser: Any, help: str = RUN_HELP) -> None:
    """``--run RUN``: which trained run (``find_run``: an id, a directory, or runs/LATEST)."""
    parser.add_argument("--run", metavar="RUN", help=help)


def add_model_option(parser: Any, help: str = MODEL_HELP) -> None:
    """``--model NAME``: a model of the run, ``student`` (its default student) by default."""
    parser.add_argument("--model", default="student", metavar="NAME", help=help)


def add_runs_dir_option(parser: Any, help: str | None = None) -> None:
    """``--runs-dir DIR``: where runs and LATEST live."""
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR, metavar="DIR", help=help)


def finish_command(
    parser: argparse.ArgumentParser, func: Callable[[argparse.Namespace], int]
) -> None:
    """The options every command that reads the configuration takes (``--config``,
    ``--set``, ``--quiet``, ``--json``), and ``func`` to run it."""
    add_config_options(parser)
    add_output_options(parser)
    parser.set_defaults(func=func)


def config_from_args(args: argparse.Namespace, flags: dict[str, Any] | None = None) -> Config:
    return load_config(getattr(args, "config", None), sets=getattr(args, "sets", []), flags=flags)


def quiet(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "quiet", False) or getattr(args, "json", False))


def say(args: argparse.Namespace, message: str) -> None:
    if not quiet(args):
        print(message, file=sys.stderr)


def emit_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def neo4j_settings(config: Config) -> Neo4jSettings:
    return settings_from_env(config.neo4j)


def connect(config: Config, args: argparse.Namespace | None = None) -> QueryRunner:
    """Connect to NEO4J_URI, or to the project-managed server (started when needed)."""
    from kgdistill import server

    settings = None
    try:
        settings = neo4j_settings(config)
    except Neo4jServerError:
        settings = None
    if settings is None or settings.managed:
        status = server.status(config.neo4j, query_version=False)
        if not status.running:
            progress = (lambda m: None) if args is not None and quiet(args) else _stderr
            server.start(config.neo4j, progress=progress)
        settings = neo4j_settings(config)
    return QueryRunner.connect(settings)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)
