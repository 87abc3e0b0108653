"""A validated :class:`~kgstore.sources.plan.LoadPlan` as ``neo4j-admin database import`` files.

A bulk first load writes the store directly instead of running transactions, and must
leave exactly the graph a transactional load (``cypher/load/*.cypher``) leaves in an
empty database: the same labels, relationship types, property names and types.

- Nodes: one file per label and per kind of id (``id:long`` for integer ids,
  ``id:string`` otherwise; see :func:`kgframe.normalize_id`), and further split when a
  property holds values of different types in different rows. Each node has its
  ``id``, the properties its source gave, and the change marker ``updated_at``.
- Relationships: ``SUBCATEGORY_OF``, ``IN_CATEGORY``, ``MADE_BY`` without properties
  (one per child or product: a later row replaces an earlier one, as the link
  statements do), and one file per interaction type with ``day``, ``count`` and the
  marker ``loaded_at``.

The import's node keys (``:ID``) are the id prefixed with its kind (``i42``, ``sP1``),
one id space per label, so an integer id and a string id never meet.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kgstore.sources.plan import LoadError, LoadPlan, shown

CHUNK = 500_000  # interaction lines formatted at a time
ARRAY_DELIMITER = "\x1f"  # ASCII unit separator: in no id or feature text a source accepts
NODE_TABLES = (
    ("customers", "Customer"),
    ("products", "Product"),
    ("categories", "Category"),
    ("brands", "Brand"),
)
# (plan table, relationship type, start label, the row's end key, end label)
LINK_TABLES = (
    ("subcategories", "SUBCATEGORY_OF", "Category", "parent", "Category"),
    ("product_categories", "IN_CATEGORY", "Product", "category", "Category"),
    ("product_brands", "MADE_BY", "Product", "brand", "Brand"),
)


@dataclass
class ImportFiles:
    """What :func:`write_import_files` wrote: the importer's ``--nodes`` and
    ``--relationships`` arguments, and what they hold."""

    nodes: list[str] = field(default_factory=list)
    relationships: list[str] = field(default_factory=list)
    node_count: int = 0
    relationship_count: int = 0
    property_count: int = 0
    multiline: bool = False  # some text holds a line break (the importer must be told)

    def arguments(self) -> list[str]:
        """The file arguments of ``neo4j-admin database import full``."""
        return [
            *(f"--nodes={spec}" for spec in self.nodes),
            *(f"--relationships={spec}" for spec in self.relationships),
            f"--array-delimiter=U+{ord(ARRAY_DELIMITER):04X}",
            f"--multiline-fields={'true' if self.multiline else 'false'}",
        ]


def marker_now() -> str:
    """The change markers' value: now, in UTC, as Cypher's ``datetime()`` stores it."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def write_import_files(plan: LoadPlan, directory: Path, marker: str) -> ImportFiles:
    """Write ``plan`` (validated and completed: :func:`kgstore.ingest.prepare_plan`) as
    import files into ``directory``; ``marker`` is every ``updated_at`` and ``loaded_at``."""
    files = ImportFiles()
    for table, label in NODE_TABLES:
        _write_nodes(files, directory, label, getattr(plan, table), marker)
    for table, rel_type, start, end_key, end in LINK_TABLES:
        _write_links(files, directory, rel_type, start, end, end_key, getattr(plan, table))
    frame = plan.interactions
    starts, ends = _keys(frame["customer"]), _keys(frame["product"])
    types, names = pd.factorize(frame["type"], sort=True)
    for code, rel_type in enumerate(names.tolist()):
        rows = np.flatnonzero(types == code)
        part = (
            starts[rows],
            ends[rows],
            frame["day"].to_numpy()[rows],
            frame["count"].to_numpy()[rows],
        )
        _write_interactions(files, directory, str(rel_type), part, marker)
    return files


def import_key(value: Any) -> str:
    """A node's ``:ID`` value: its id prefixed by its kind."""
    return f"i{value}" if isinstance(value, (int, np.integer)) else f"s{value}"


def value_type(value: Any, where: str) -> str:
    """The import header type that stores ``value`` as the Cypher driver stores it."""
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, np.integer)):
        return "long"
    if isinstance(value, (float, np.floating)):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        kinds = {value_type(item, where) for item in value}
        if len(kinds) == 1 and "[" not in next(iter(kinds)):
            return f"{kinds.pop()}[]"
        reason = "an empty list" if not kinds else "a list of mixed or nested values"
        raise LoadError(f"{where} is {reason}, which --bulk cannot write; load without --bulk")
    raise LoadError(f"{where} is a {type(value).__name__}, which --bulk cannot write")


def _text(value: Any, where: str) -> str:
    if isinstance(value, list):
        items = [_text(item, where) for item in value]
        if any(ARRAY_DELIMITER in item for item in items):
            raise LoadError(f"{where} holds the character U+001F, which --bulk cannot write")
        return ARRAY_DELIMITER.join(items)
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def _write_nodes(
    files: ImportFiles, directory: Path, label: str, rows: Sequence[dict[str, Any]], marker: str
) -> None:
    """One file per group of rows that agree on the type of the id and of every property
    they hold; a property a row lacks is an empty field, which the importer leaves unset."""
    groups: list[tuple[dict[str, str], list[tuple[Any, dict[str, str]]]]] = []
    for row in rows:
        types, texts = _typed(label, row)
        files.multiline |= any("\n" in t or "\r" in t for t in texts.values())
        group = next((g for g in groups if _agree(g[0], types)), None)
        if group is None:
            group = ({}, [])
            groups.append(group)
        group[0].update(types)
        group[1].append((row["id"], texts))
        files.property_count += len(texts) + 1
    for n, (columns, members) in enumerate(groups):
        path = directory / f"node-{label}-{n}.csv"
        header = [f":ID({label})", *(f"{key}:{kind}" for key, kind in columns.items())]
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow([*header, "updated_at:datetime"])
            writer.writerows(
                [import_key(key), *(texts.get(column, "") for column in columns), marker]
                for key, texts in members
            )
        files.nodes.append(f"{label}={path}")
        files.node_count += len(members)


_PLAIN: dict[type, tuple[str, Callable[[Any], str]]] = {
    int: ("long", str),
    str: ("string", str),
    float: ("double", repr),
}


def _typed(label: str, row: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """A node row's import types and texts, by property (``id`` first). Plain ints,
    strings and floats, nearly every value, take the short way."""
    types: dict[str, str] = {}
    texts: dict[str, str] = {}
    for key, value in (("id", row["id"]), *row["props"].items()):
        plain = _PLAIN.get(type(value))
        if plain is not None:
            types[key], texts[key] = plain[0], plain[1](value)
            continue
        where = f"{label.lower()} {shown(str(row['id']))}"
        types[key] = value_type(value, f"{where}, property '{key}'")
        texts[key] = _text(value, where)
    if not {"id", "updated_at"}.isdisjoint(row["props"]) or any(":" in k for k in row["props"]):
        bad = next(k for k in row["props"] if ":" in k or k in ("id", "updated_at"))
        where = f"{label.lower()} {shown(str(row['id']))}"
        raise LoadError(f"{where}: property name {bad!r} cannot be written by --bulk")
    return types, texts


def _agree(columns: dict[str, str], types: dict[str, str]) -> bool:
    """Whether a row of ``types`` may join a file of ``columns`` (no name typed twice)."""
    return all(columns.get(key, kind) == kind for key, kind in types.items())


def _write_links(
    files: ImportFiles,
    directory: Path,
    rel_type: str,
    start: str,
    end: str,
    end_key: str,
    rows: Iterable[dict[str, Any]],
) -> None:
    last = {row["id"]: row[end_key] for row in rows}  # one link per start node
    if not last:
        return
    path = directory / f"rel-{rel_type}.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([f":START_ID({start})", f":END_ID({end})"])
        writer.writerows([import_key(a), import_key(b)] for a, b in last.items())
    files.relationships.append(f"{rel_type}={path}")
    files.relationship_count += len(last)


def _keys(values: pd.Series) -> np.ndarray:
    """The ``:ID`` value of each id in ``values`` as a CSV field, each distinct id formatted
    (and quoted where CSV needs it) once."""
    codes, uniques = pd.factorize(values)
    fields = np.array([_field(import_key(u)) for u in uniques], dtype=object)
    keys: np.ndarray = fields[codes]
    return keys


def _field(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _write_interactions(
    files: ImportFiles,
    directory: Path,
    rel_type: str,
    columns: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    marker: str,
) -> None:
    """``columns``: start keys, end keys, days, counts. Formatted line by line (three times
    faster than ``DataFrame.to_csv`` here), in chunks, so that only one chunk's lines are
    held at a time."""
    path = directory / f"rel-{rel_type}.csv"
    tail = f",{marker}\n"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(
            f":START_ID({NODE_TABLES[0][1]}),:END_ID({NODE_TABLES[1][1]}),"
            "day:long,count:long,loaded_at:datetime\n"
        )
        for lo in range(0, len(columns[0]), CHUNK):
            rows = zip(*(column[lo : lo + CHUNK].tolist() for column in columns), strict=True)
            fh.writelines([f"{a},{b},{d},{c}{tail}" for a, b, d, c in rows])
    files.relationships.append(f"{rel_type}={path}")
    files.relationship_count += len(columns[0])
    files.property_count += 3 * len(columns[0])
