"""The CSV interchange format: any shop's exports as up to four files in one directory.

``customers.csv``, ``products.csv``, ``categories.csv`` and ``interactions.csv``,
each optional, each with a header row; the full rules are in docs/csv-format.md.
:func:`read_csv_dir` parses and validates every file into a LoadPlan before
anything is written; :func:`write_csv_dir` writes a plan back out in the same
format (exports, tests).
"""

from __future__ import annotations

import codecs
import csv
import math
import tomllib
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from kgstore.sources.plan import (
    MAX_COUNT,
    LoadError,
    LoadPlan,
    aggregate_interactions,
    cut,
    interaction_type,
    is_float_text,
    is_int_text,
    parse_day,
    parse_float,
    parse_id,
    parse_int,
    parse_text,
    shown,
    where,
)

FILES = ("categories.csv", "products.csv", "customers.csv", "interactions.csv")
TABLES = {"customers": "customers.csv", "products": "products.csv", "categories": "categories.csv"}
FEATURE_TYPES = ("int", "float", "str", "list[int]", "list[float]", "list[str]", "ignore")
LIST_SEPARATORS = (";", ",")

Schema = dict[str, dict[str, str]]  # table -> column -> type


# -- reading ------------------------------------------------------------------
def read_schema(path: str | Path | None) -> Schema:
    """Feature-type overrides from a TOML file: ``[customers] stages = "list[int]"``."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"schema file {path} does not exist")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise LoadError(f"{path}: {exc}") from None
    schema: Schema = {}
    for table, columns in data.items():
        if table not in TABLES or not isinstance(columns, dict):
            raise LoadError(
                f"{path}: [{table}] is not a table of feature types; use "
                + ", ".join(f"[{t}]" for t in TABLES)
            )
        for column, kind in columns.items():
            if kind not in FEATURE_TYPES:
                raise LoadError(
                    f"{path}: [{table}] {column} = {kind!r}; types: {', '.join(FEATURE_TYPES)}"
                )
        schema[table] = {str(k).strip().lower(): str(v) for k, v in columns.items()}
    return schema


def _records(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header (lower-cased) and (line, cells) rows; checks column counts and encoding."""
    name = str(path)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        line = 0
        try:
            for cells in reader:
                line = reader.line_num
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                if not header:
                    header = [c.strip().lower() for c in cells]
                    if len(set(header)) != len(header):
                        raise where(
                            name, line, f"repeated column names in the header {cut(str(header))}"
                        )
                    continue
                if len(cells) != len(header):
                    raise where(
                        name,
                        line,
                        f"expected {len(header)} columns (as the header), got {len(cells)}",
                    )
                rows.append((line, cells))
        except UnicodeDecodeError as exc:
            # The reader decodes ahead in blocks, so its line count says nothing here.
            bad_line, byte = _first_bad_utf8(path)
            raise where(
                name, bad_line, f"not UTF-8 text (byte 0x{byte:02x}: {exc.reason})"
            ) from None
        except csv.Error as exc:
            raise where(name, reader.line_num, f"unreadable CSV ({exc})") from None
    return header, rows


def _first_bad_utf8(path: Path, chunk: int = 1 << 20) -> tuple[int, int]:
    """(line, byte) of the first byte that is not UTF-8, reading ``chunk`` bytes at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                # exc.start counts from the bytes the decoder held back plus this block.
                held = len(exc.object) - len(block)
                start = max(exc.start - held, 0)
                return newlines + block.count(b"\n", 0, start) + 1, exc.object[exc.start]
            newlines += block.count(b"\n")
    return newlines + 1, 0


def _infer(cells: list[str]) -> str:
    """int, float, str or list[...] for a feature column's non-empty cells."""
    values = [c.strip() for c in cells if c.strip() and c.strip().lower() != "nan"]
    if not values:
        return "str"
    if any(sep in v for v in values for sep in LIST_SEPARATORS):
        items = [item.strip() for v in values for item in _split(v)]
        return f"list[{_scalar_kind(items)}]"
    return _scalar_kind(values)


def _scalar_kind(values: list[str]) -> str:
    # Syntax only: an integer out of int64 range is still "int", and its row is refused.
    if all(is_int_text(v) for v in values):
        return "int"
    if all(is_float_text(v) for v in values):
        return "float"
    return "str"


def _split(text: str) -> list[str]:
    sep = ";" if ";" in text else ","
    return [part.strip() for part in text.split(sep) if part.strip()]


def _feature(text: str, kind: str) -> Any:
    """A feature cell as its type; None for missing (empty, or NaN in a numeric column)."""
    raw = text.strip()
    if not raw:
        return None
    if kind == "int":
        if raw.lower() == "nan":
            return None
        return parse_int(raw)
    if kind == "float":
        value = parse_float(raw, allow_nan=True)
        return None if math.isnan(value) else value
    if kind == "str":
        return parse_text(text)
    inner = kind[5:-1]
    items = [_feature(item, inner) for item in _split(raw)]
    return [item for item in items if item is not None]


class _Table:
    """One CSV file's header, rows and feature-column types."""

    def __init__(
        self, path: Path, table: str, known: tuple[str, ...], schema: Schema, plan: LoadPlan
    ):
        self.path = path
        self.header, self.rows = _records(path)
        self.name = str(path)
        if not self.rows:
            plan.notes.append(f"{path.name} is empty: nothing loaded from it")
        first = known[0]
        if self.header and self.header[0] != first:
            raise where(
                self.name, 1, f"the first column must be '{first}', not {shown(self.header[0])}"
            )
        self.column = {name: i for i, name in enumerate(self.header)}
        overrides = schema.get(table, {})
        self.features: list[tuple[str, int, str]] = []
        for i, column in enumerate(self.header):
            if column in known:
                continue
            kind = overrides.get(column) or _infer([cells[i] for _, cells in self.rows])
            if kind == "ignore":
                continue
            if kind != "ignore":
                try:
                    key = _property_key(column)
                except ValueError as exc:
                    raise where(self.name, 1, str(exc)) from None
                self.features.append((key, i, kind))
        for column in overrides:
            if self.header and column not in self.column:
                plan.notes.append(f"schema names {table}.{column}, which {path.name} lacks")

    def cell(self, cells: list[str], column: str) -> str:
        index = self.column.get(column)
        return "" if index is None else cells[index]

    def props(self, line: int, cells: list[str]) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for key, index, kind in self.features:
            try:
                value = _feature(cells[index], kind)
            except ValueError as exc:
                raise where(self.name, line, f"column '{key}': {exc}") from None
            if value is not None:
                props[key] = value
        return props

    def entities(
        self, column: str, what: str, typed: Mapping[str, Callable[[str], Any]] | None = None
    ) -> Iterator[tuple[int, list[str], Any, dict[str, Any]]]:
        """Each row's line, cells, id (``column``, once per file) and properties: the
        feature columns, then each ``typed`` column (name -> parser) that is not empty."""
        seen: set[Any] = set()
        for line, cells in self.rows:
            key = self.id(line, cells, column)
            if key in seen:
                text = shown(key) if isinstance(key, str) else repr(key)
                raise where(self.name, line, f"{what} {text} appears twice")
            seen.add(key)
            props = self.props(line, cells)
            for name, parse in (typed or {}).items():
                value = self.value(line, cells, name, parse)
                if value is not None:
                    props[name] = value
            yield line, cells, key, props

    def value(self, line: int, cells: list[str], column: str, parse: Callable[[str], Any]) -> Any:
        """The cell in ``column`` parsed by ``parse``; None when it is empty."""
        text = self.cell(cells, column).strip()
        if not text:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            raise where(self.name, line, f"column '{column}': {exc}") from None

    def id(self, line: int, cells: list[str], column: str) -> Any:
        try:
            return parse_id(self.cell(cells, column))
        except ValueError as exc:
            raise where(self.name, line, f"column '{column}': {exc}") from None


RESERVED = {"id", "updated_at", "loaded_at"}


def _property_key(column: str) -> str:
    from kgstore.cypher import CypherError, check_identifier

    try:
        key = check_identifier(column, "feature column name")
    except CypherError as exc:
        raise ValueError(str(exc)) from None
    if key in RESERVED:
        raise ValueError(f"feature column '{key}' is reserved")
    return key


def read_csv_dir(
    directory: str | Path,
    schema: str | Path | Schema | None = None,
    *,
    reserved_types: Collection[str] = (),
) -> LoadPlan:
    """Parse and validate a directory in the CSV interchange format (nothing is written).

    ``reserved_types``: relationship types no interaction may take (the prediction ones).
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise FileNotFoundError(f"CSV directory {directory} does not exist")
    types = schema if isinstance(schema, dict) else read_schema(schema)
    present = [name for name in FILES if (directory / name).is_file()]
    if not present:
        raise LoadError(f"{directory} holds none of {', '.join(FILES)}: nothing to load")
    plan = LoadPlan(source=f"csv ({directory})")
    for name in FILES:
        if name not in present:
            plan.notes.append(f"no {name}: skipped")
    if "categories.csv" in present:
        _read_categories(directory / "categories.csv", types, plan)
    if "products.csv" in present:
        _read_products(directory / "products.csv", types, plan)
    if "customers.csv" in present:
        _read_customers(directory / "customers.csv", types, plan)
    if "interactions.csv" in present:
        _read_interactions(directory / "interactions.csv", plan, reserved_types)
    return plan


def _read_categories(path: Path, schema: Schema, plan: LoadPlan) -> None:
    table = _Table(path, "categories", ("category_id", "parent_id", "level"), schema, plan)
    for line, cells, cid, props in table.entities("category_id", "category", {"level": parse_int}):
        plan.categories.append({"id": cid, "props": props})
        if table.cell(cells, "parent_id").strip():
            parent = table.id(line, cells, "parent_id")
            if parent == cid:
                raise where(table.name, line, f"category {cid!r} is its own parent")
            plan.subcategories.append({"id": cid, "parent": parent})
        plan.rows_read += 1


def _read_products(path: Path, schema: Schema, plan: LoadPlan) -> None:
    table = _Table(
        path, "products", ("product_id", "category_id", "brand_id", "price"), schema, plan
    )
    for line, cells, pid, props in table.entities("product_id", "product", {"price": parse_float}):
        plan.products.append({"id": pid, "props": props})
        if table.cell(cells, "category_id").strip():
            plan.product_categories.append(
                {"id": pid, "category": table.id(line, cells, "category_id")}
            )
        if table.cell(cells, "brand_id").strip():
            plan.product_brands.append({"id": pid, "brand": table.id(line, cells, "brand_id")})
        plan.rows_read += 1


def _read_customers(path: Path, schema: Schema, plan: LoadPlan) -> None:
    table = _Table(path, "customers", ("customer_id",), schema, plan)
    for _line, _cells, cid, props in table.entities("customer_id", "customer"):
        plan.customers.append({"id": cid, "props": props})
        plan.rows_read += 1


INTERACTION_COLUMNS = ("customer_id", "product_id", "type", "timestamp", "count")


def _read_interactions(path: Path, plan: LoadPlan, reserved: Collection[str] = ()) -> None:
    header, rows = _records(path)
    name = str(path)
    if not rows:
        plan.notes.append(f"{path.name} is empty: nothing loaded from it")
        return
    missing = [c for c in INTERACTION_COLUMNS[:4] if c not in header]
    extra = [c for c in header if c not in INTERACTION_COLUMNS]
    if missing or extra:
        raise where(
            name,
            1,
            f"interactions.csv needs the columns {', '.join(INTERACTION_COLUMNS[:4])} "
            f"(optional: count); missing {missing}, unknown {cut(str(extra))}",
        )
    col = {c: header.index(c) for c in header}
    days: dict[str, int] = {}
    types: dict[str, str] = {}
    customers: list[Any] = []
    products: list[Any] = []
    rel_types: list[str] = []
    day_values: list[int] = []
    counts: list[int] = []
    for line, cells in rows:
        column = "customer_id"
        try:
            customers.append(parse_id(cells[col["customer_id"]]))
            column = "product_id"
            products.append(parse_id(cells[col["product_id"]]))
            column = "type"
            word = cells[col["type"]]
            if word not in types:
                types[word] = interaction_type(word, reserved)
            rel_types.append(types[word])
            column = "timestamp"
            stamp = cells[col["timestamp"]]
            if stamp not in days:
                days[stamp] = parse_day(stamp)
            day_values.append(days[stamp])
            column = "count"
            if "count" in col:
                n = parse_int(cells[col["count"]], high=MAX_COUNT)
                if n < 1:
                    raise ValueError(f"count {n} is not a positive integer")
                counts.append(n)
        except ValueError as exc:
            raise where(name, line, f"column '{column}': {exc}") from None
    plan.rows_read += len(rows)
    plan.interactions = aggregate_interactions(
        customers, products, rel_types, day_values, counts if "count" in col else None
    )


# -- writing ------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(_cell(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv_dir(plan: LoadPlan, directory: str | Path) -> Path:
    """Write ``plan`` as the four CSV files (interactions with a count column, ISO dates)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    parents = {r["id"]: r["parent"] for r in plan.subcategories}
    _write(
        directory / "categories.csv",
        ["category_id", "parent_id", "level"],
        ([r["id"], parents.get(r["id"]), r["props"].get("level")] for r in plan.categories),
    )
    cats = {r["id"]: r["category"] for r in plan.product_categories}
    brands = {r["id"]: r["brand"] for r in plan.product_brands}
    features = _feature_names(plan.products, {"price"})
    _write(
        directory / "products.csv",
        ["product_id", "category_id", "brand_id", "price", *features],
        (
            [r["id"], cats.get(r["id"]), brands.get(r["id"]), r["props"].get("price")]
            + [r["props"].get(f) for f in features]
            for r in plan.products
        ),
    )
    features = _feature_names(plan.customers, set())
    _write(
        directory / "customers.csv",
        ["customer_id", *features],
        ([r["id"]] + [r["props"].get(f) for f in features] for r in plan.customers),
    )
    frame = plan.interactions
    _write(
        directory / "interactions.csv",
        ["customer_id", "product_id", "type", "timestamp", "count"],
        (
            [c, p, t, f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}", n]
            for c, p, t, d, n in frame[["customer", "product", "type", "day", "count"]].itertuples(
                index=False
            )
        ),
    )
    return directory


def _feature_names(rows: list[dict[str, Any]], skip: set[str]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(k for k in row["props"] if k not in skip))
    return list(names)


def _write(path: Path, header: list[str], rows: Iterator[list[Any]] | Any) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(v) for v in row])
