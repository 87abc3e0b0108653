"""`kgdistill query NAME --param key=value ...`: run one of the queries in cypher/queries."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from kgdistill.cli import common
from kgstore.queries import QueryError, list_queries, parse_param, run_query

common.register_error(QueryError)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "query",
        help="run a query on the predictions (recommendations, targeting, hit rate, ...)",
        description=(
            "Run one of the Cypher queries in cypher/queries on the predictions written "
            "back to Neo4j and print an aligned table (or JSON). Values of --param are "
            "typed: 42 is an int, 4.5 a float, anything else a string ('42' in quotes "
            "forces a string). `kgdistill query --list` shows each query's parameters."
        ),
        epilog="example: kgdistill query customer_recommendations --param customer_id=42",
    )
    parser.add_argument("name", nargs="?", help="the query (a file name in cypher/queries)")
    parser.add_argument(
        "--param",
        "-p",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a query parameter (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list the queries and their parameters")
    common.finish_command(parser, _run)


def _run(args: argparse.Namespace) -> int:
    if args.list:
        _print_list(args.json)
        return 0
    if not args.name:
        raise QueryError("name a query (see `kgdistill query --list`)")
    params = dict(parse_param(item) for item in args.params)
    config = common.config_from_args(args)
    identifiers = {
        "recommended": config.predict.relationship,
        "predicted_category": config.predict.category_relationship,
    }
    with common.connect(config, args) as runner:
        rows = run_query(runner, args.name, params, identifiers=identifiers)
    if args.json:
        common.emit_json([{k: _plain(v) for k, v in row.items()} for row in rows])
    else:
        print(format_table(rows))
    return 0


def _print_list(as_json: bool) -> None:
    specs = list_queries()
    if as_json:
        common.emit_json(
            [
                {
                    "name": s.name,
                    "description": s.description,
                    "params": [p.__dict__ for p in s.params],
                    "example": s.example,
                }
                for s in specs
            ]
        )
        return
    for spec in specs:
        print(f"{spec.name}\n  {spec.description}")
        for p in spec.params:
            flag = " (optional)" if p.optional else ""
            print(f"    {p.name:<14}{p.text}{flag}")
        if spec.example:
            print(f"  e.g. {spec.example}")
        print()


def _plain(value: Any) -> Any:
    if hasattr(value, "iso_format"):
        return value.iso_format()
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.1f}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """An aligned text table: a header, a rule, numbers right-aligned; ``(no rows)`` if empty."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(c), (int, float)) or row.get(c) is None for row in rows)
        and not all(row.get(c) is None for row in rows)
        for c in columns
    ]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]

    def fmt(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = [fmt(columns), "  ".join("-" * w for w in widths)]
    lines += [fmt(line) for line in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)
