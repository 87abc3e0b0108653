"""`kgdistill neo4j start|stop|status|env`: the project-managed Neo4j server."""

from __future__ import annotations

import argparse
import time
from typing import Any

from kgdistill import server
from kgdistill.cli import common
from kgdistill.server import settings_from_env
from kgstore.connection import env_lines


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "neo4j",
        help="start, stop and inspect the Neo4j server kgdistill runs for you",
        description=(
            "Run Neo4j 5.26 Community as a plain Java process (no Docker): the server jars "
            "come from Maven Central once into ~/.cache/kgdistill (or $KGDISTILL_HOME); "
            "it listens on 127.0.0.1 only, with a generated password stored 0600 beside "
            "its data. Configure it in the [neo4j] section of kgdistill.toml or with "
            "KGDISTILL_NEO4J__<KEY> variables. Set NEO4J_URI to use another Neo4j instead."
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, func, text in (
        ("start", _start, "provision (once) and start the server; waits until it answers"),
        ("stop", _stop, "stop gracefully, then forcefully after neo4j.stop_timeout_s"),
        ("status", _status, "running or not, version, edition, Bolt URI, pid, data and logs"),
        ("env", _env, "print export lines for NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        common.add_config_options(action)
        action.add_argument("--bolt-port", type=int, help="Bolt port (default 7687)")
        action.add_argument("--http-port", type=int, help="HTTP port (default 7474)")
        action.add_argument("--instance", help="instance name: its own data and password")
        if name in ("start", "status"):
            common.add_output_options(action)
        action.set_defaults(func=func)


def _config(args: argparse.Namespace) -> server.ServerConfig:
    flags = {
        key: value
        for key, value in (
            ("bolt_port", args.bolt_port),
            ("http_port", args.http_port),
            ("instance", args.instance),
        )
        if value is not None
    }
    return common.config_from_args(args, {"neo4j": flags} if flags else None).neo4j


def _start(args: argparse.Namespace) -> int:
    cfg = _config(args)
    began = time.monotonic()
    progress = (lambda m: None) if common.quiet(args) else common._stderr
    status = server.start(cfg, progress=progress)
    if args.json:
        common.emit_json({**status.__dict__, "seconds": round(time.monotonic() - began, 1)})
    elif status.already_running:
        print(f"Neo4j is already running (pid {status.pid}) on {status.bolt_uri}")
    else:
        print(
            f"Neo4j {status.version} ({status.edition}) is up on {status.bolt_uri} "
            f"in {time.monotonic() - began:.1f}s (pid {status.pid}). "
            "Connection: `kgdistill neo4j env`."
        )
    return 0


def _stop(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if server.stop(cfg):
        print("Neo4j stopped.")
    else:
        print("Neo4j was not running.")
    return 0


def _status(args: argparse.Namespace) -> int:
    status = server.status(_config(args))
    if args.json:
        common.emit_json(status.__dict__)
    else:
        print("\n".join(status.lines()))
    return 0 if status.running else 3


def _env(args: argparse.Namespace) -> int:
    print("\n".join(env_lines(settings_from_env(_config(args)))))
    return 0
