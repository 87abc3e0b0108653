"""The queries users run on the predictions: ``cypher/queries/<name>.cypher``, found by name.

Each file opens with a comment header that documents it; this module parses it::

    // What the query answers (the first paragraph).
    //
    // $customer_id  the customer's id
    // $limit        (optional) at most this many rows; default 20
    //
    // Example: kgdistill query customer_recommendations --param customer_id=42

Every ``$parameter`` the statement uses is declared in the header (a unit test
checks it); ``(optional)`` ones are passed as null when left out, so the
statement supplies its default with ``coalesce``. ``{{recommended}}`` and
``{{predicted_category}}`` are the relationship types from configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neo4j.exceptions import ClientError

from kgstore.connection import QueryRunner
from kgstore.cypher import CypherError, placeholders, statement
from kgstore.resources import project_path

__all__ = [
    "QueryError",
    "QueryParam",
    "QuerySpec",
    "list_queries",
    "load_query",
    "parse_header",
    "parse_param",
    "parse_value",
    "run_query",
]

GROUP = "queries"
_PARAM_LINE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)\s+(.*)$")
_USED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def cut(text: str, size: int = 80) -> str:
    return text if len(text) <= size else f"{text[:size]}... ({len(text):,} characters)"


class QueryError(ValueError):
    """A query name or parameter that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class QueryParam:
    name: str
    text: str
    optional: bool


@dataclass(frozen=True)
class QuerySpec:
    name: str
    description: str
    params: tuple[QueryParam, ...]
    example: str
    body: str  # the statement without its header

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if not p.optional)

    def used_params(self) -> set[str]:
        """The ``$parameters`` the statement itself uses (comments left out)."""
        code = "\n".join(line.split("//", 1)[0] for line in self.body.splitlines())
        return set(_USED.findall(code))


def parse_header(name: str, text: str) -> QuerySpec:
    """Split a query file into its documented header and its statement."""
    lines = text.splitlines()
    header: list[str] = []
    for line in lines:
        if not line.startswith("//"):
            break
        header.append(line[2:].strip())
    body = "\n".join(lines[len(header) :]).strip()
    if not header or not header[0]:
        raise QueryError(f"query {name!r} has no header comment saying what it answers")
    description: list[str] = []
    params: list[QueryParam] = []
    example = ""
    in_description = True
    for line in header:
        if in_description and line:
            description.append(line)
            continue
        in_description = False
        match = _PARAM_LINE.match(line)
        if match:
            rest = match.group(2).strip()
            optional = rest.startswith("(optional)")
            if optional:
                rest = rest.removeprefix("(optional)").strip()
            params.append(QueryParam(match.group(1), rest, optional))
        elif line.lower().startswith("example:"):
            example = line.split(":", 1)[1].strip()
        elif line and params:  # a parameter's text continued on the next line
            last = params[-1]
            params[-1] = QueryParam(last.name, f"{last.text} {line}", last.optional)
    return QuerySpec(name, " ".join(description), tuple(params), example, body)


def list_queries() -> list[QuerySpec]:
    folder = project_path(f"cypher/{GROUP}")
    return [load_query(path.stem) for path in sorted(folder.glob("*.cypher"))]


def load_query(name: str) -> QuerySpec:
    # The name is checked before it becomes a path: "../x" must not list another folder.
    folder = project_path(f"cypher/{GROUP}")
    path = folder / f"{name}.cypher"
    if not re.fullmatch(r"[a-z0-9_]{1,64}", name) or not path.is_file():
        known = ", ".join(p.stem for p in sorted(folder.glob("*.cypher")))
        raise QueryError(f"no query {cut(repr(name))}; known queries: {known} (see --list)")
    return parse_header(name, path.read_text(encoding="utf-8"))


def parse_value(text: str) -> Any:
    """``42`` -> int, ``4.5``/``1e3`` -> float, ``'42'`` or ``"42"`` -> the string ``42``,
    anything else -> the string as given."""
    value = text.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if _INT.match(value):
        return int(value)
    if _FLOAT.match(value):
        return float(value)
    return text


def parse_param(item: str) -> tuple[str, Any]:
    """``key=value`` (from ``--param``) with the value typed by :func:`parse_value`."""
    key, sep, value = item.partition("=")
    key = key.strip().lstrip("$")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise QueryError(f"--param {item!r}: expected key=value, e.g. customer_id=42")
    return key, parse_value(value)


def run_query(
    runner: QueryRunner,
    name: str,
    params: Mapping[str, Any],
    *,
    identifiers: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Run query ``name`` with ``params``; optional parameters left out are null.

    ``identifiers`` fills the ``{{placeholders}}`` (relationship types from
    configuration); only those the query uses are passed on.
    """
    spec = load_query(name)
    declared = {p.name for p in spec.params}
    unknown = sorted(set(params) - declared)
    if unknown:
        raise QueryError(
            f"query {name!r} takes no parameter {', '.join(unknown)}; "
            f"its parameters: {', '.join(sorted(declared)) or 'none'}"
        )
    missing = [p for p in spec.required if p not in params]
    if missing:
        example = f" (e.g. {spec.example})" if spec.example else ""
        raise QueryError(f"query {name!r} needs --param {', '.join(missing)}{example}")
    needed = placeholders(f"{GROUP}/{name}")
    given = dict(identifiers or {})
    absent = needed - given.keys()
    if absent:
        raise CypherError(f"query {name!r} needs identifiers {sorted(absent)}")
    text = statement(f"{GROUP}/{name}", **{k: given[k] for k in needed})
    values = {p.name: params.get(p.name) for p in spec.params}
    try:
        return runner.read(text, **values)
    except ClientError as exc:  # a parameter of the wrong type or range (limit=abc, -1)
        reason = " ".join(str(exc.message or exc).split())
        raise QueryError(
            f"query {name!r} refused its parameters: {cut(reason, 200)} "
            f"(parameters given: {cut(repr(dict(params)))})"
        ) from None
