"""What a source turns into before anything is written: a :class:`LoadPlan`.

Every source (EComm files, the CSV interchange format, the synthetic generator)
parses and validates *all* of its input into a LoadPlan first; only a complete,
valid plan reaches the database (:func:`kgstore.ingest.write_plan`). So a
malformed row stops a load before any of it is written, and the error names the
file, the line and the reason.

The cell parsers here are shared by the sources and define what counts as a
bad value (see docs/csv-format.md for the rules users see).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from kgframe import normalize_id
from kgstore.cypher import CypherError, check_identifier

MAX_ID_LENGTH = 256
MAX_TEXT_LENGTH = 10_000
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_COUNT = 1_000_000_000  # one row's count; sums of many stay far inside int64
MAX_SHOWN = 80  # characters of a bad value repeated in an error message

# Source words for the four interaction types; any other word is upper-cased
# after the identifier check (so a shop may add e.g. RETURNED).
TYPE_ALIASES: dict[str, str] = {
    **dict.fromkeys(("click", "clicked", "view", "viewed", "pv"), "CLICKED"),
    **dict.fromkeys(
        ("fav", "favorite", "favourite", "favorited", "favourited", "collect", "like"),
        "FAVORITED",
    ),
    **dict.fromkeys(
        ("cart", "add_to_cart", "addtocart", "add-to-cart", "added_to_cart"), "ADDED_TO_CART"
    ),
    **dict.fromkeys(("buy", "bought", "purchase", "purchased", "order"), "BOUGHT"),
}


class LoadError(ValueError):
    """Input that cannot be loaded; the message names the file, line and reason."""


@dataclass
class LoadPlan:
    """A parsed, validated load: the rows each Cypher statement will receive.

    Node rows are ``{"id": id, "props": {...}}`` where props hold only the
    properties the source gives (a partial export leaves the others alone).
    ``interactions`` is aggregated: one row per (customer, product, type, day)
    with ``count`` = how many source rows it stands for.
    """

    source: str
    customers: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    brands: list[dict[str, Any]] = field(default_factory=list)
    product_categories: list[dict[str, Any]] = field(default_factory=list)  # {id, category}
    product_brands: list[dict[str, Any]] = field(default_factory=list)  # {id, brand}
    subcategories: list[dict[str, Any]] = field(default_factory=list)  # {id, parent}
    interactions: pd.DataFrame = field(default_factory=lambda: empty_interactions())
    rows_read: int = 0
    notes: list[str] = field(default_factory=list)

    def complete(self) -> None:
        """Add the Category and Brand nodes that product links name but no row defines."""
        known = {row["id"] for row in self.categories}
        for link in self.product_categories:
            if link["category"] not in known:
                known.add(link["category"])
                self.categories.append({"id": link["category"], "props": {}})
        known = {row["id"] for row in self.brands}
        for link in self.product_brands:
            if link["brand"] not in known:
                known.add(link["brand"])
                self.brands.append({"id": link["brand"], "props": {}})

    def check_values(self, reserved_types: Iterable[str] = ()) -> None:
        """Refuse what the database would refuse (or misread) before anything is written:
        integers outside int64, non-finite floats, counts outside 1..MAX_COUNT, and
        interaction types named like a prediction relationship (``reserved_types``)."""
        for table in ("customers", "products", "categories", "brands"):
            for row in getattr(self, table):
                for key, value in row["props"].items():
                    problem = _bad_value(value)
                    if problem:
                        raise LoadError(
                            f"{self.source}: {table[:-1]} {shown(str(row['id']))}, "
                            f"property '{key}': {problem}; nothing was loaded"
                        )
        frame = self.interactions
        if len(frame):
            counts = frame["count"]
            bad = frame[(counts < 1) | (counts > MAX_COUNT)]
            if len(bad):
                first = bad.iloc[0]
                raise LoadError(
                    f"{self.source}: customer {shown(str(first['customer']))} -> product "
                    f"{shown(str(first['product']))}: count {first['count']} is out of range "
                    f"(1 to {MAX_COUNT:,}); nothing was loaded"
                )
        clash = sorted(set(frame["type"].unique().tolist()) & set(reserved_types))
        if clash:
            raise LoadError(f"{self.source}: {reserved_type_reason(clash[0])}; nothing was loaded")

    def counts(self) -> dict[str, int]:
        return {
            "customers": len(self.customers),
            "products": len(self.products),
            "categories": len(self.categories),
            "brands": len(self.brands),
            "interactions": len(self.interactions),
            "interaction_count_sum": int(self.interactions["count"].sum())
            if len(self.interactions)
            else 0,
        }


def reserved_type_reason(rel_type: str) -> str:
    return (
        f"interaction type '{rel_type}' is the relationship predictions are written as "
        "(predict.relationship or predict.category_relationship), and a prediction run "
        "would delete it; name the interaction differently"
    )


def _bad_value(value: Any) -> str | None:
    """Why Neo4j cannot store ``value`` as kgdistill means it, or None."""
    if isinstance(value, list):
        return next((p for p in map(_bad_value, value) if p), None)
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)) and not INT64_MIN <= int(value) <= INT64_MAX:
        return f"{shown(str(value))} is out of range ({INT64_MIN:,} to {INT64_MAX:,})"
    if isinstance(value, (float, np.floating)) and not math.isfinite(float(value)):
        return f"{value!r} is not a finite number"
    return None


def empty_interactions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer": pd.Series([], dtype=object),
            "product": pd.Series([], dtype=object),
            "type": pd.Series([], dtype=object),
            "day": pd.Series([], dtype=np.int64),
            "count": pd.Series([], dtype=np.int64),
        }
    )


def aggregate_interactions(
    customer: Iterable[Any],
    product: Iterable[Any],
    rel_type: Iterable[str],
    day: Iterable[int],
    count: Iterable[int] | None = None,
) -> pd.DataFrame:
    """One row per (customer, product, type, day), ``count`` summed over source rows."""
    frame = pd.DataFrame(
        {
            "customer": pd.Series(list(customer), dtype=object),
            "product": pd.Series(list(product), dtype=object),
            "type": pd.Series(list(rel_type), dtype=object),
            "day": pd.Series(list(day), dtype=np.int64),
        }
    )
    frame["count"] = (
        np.ones(len(frame), dtype=np.int64) if count is None else np.asarray(list(count), np.int64)
    )
    if frame.empty:
        return empty_interactions()
    grouped = frame.groupby(["customer", "product", "type", "day"], sort=False, as_index=False)
    return grouped["count"].sum()


# -- cell parsers: each raises ValueError with a short reason -------------------
def parse_id(text: str) -> int | str:
    """A business id (see :func:`kgframe.normalize_id`), at most MAX_ID_LENGTH chars."""
    if "\x00" in text:
        raise ValueError("id contains a NUL character (0x00)")
    value = normalize_id(text)
    if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        raise ValueError(f"id is {len(value)} characters long (at most {MAX_ID_LENGTH})")
    return value


# ASCII only: Python's int() and float() also take '1_000' and full-width digits ('４２').
_INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT_TEXT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)",
    re.ASCII | re.IGNORECASE,
)


def shown(text: str) -> str:
    """``repr(text)``, cut to about MAX_SHOWN characters: errors never repeat a huge cell."""
    if len(text) <= MAX_SHOWN:
        return repr(text)
    return f"{text[:MAX_SHOWN]!r}... ({len(text):,} characters)"


def cut(text: str) -> str:
    """``text`` as it is, cut to about MAX_SHOWN characters (see :func:`shown`)."""
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[:MAX_SHOWN]}... ({len(text):,} characters)"


def is_int_text(text: str) -> bool:
    return _INT_TEXT.fullmatch(text.strip()) is not None


def is_float_text(text: str) -> bool:
    """Float syntax (NaN and infinity included: :func:`parse_float` then judges the value)."""
    return _FLOAT_TEXT.fullmatch(text.strip()) is not None


def parse_int(text: str, *, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """An ASCII integer in ``[low, high]`` (default: what Neo4j stores, a 64-bit integer)."""
    if not is_int_text(text):
        raise ValueError(f"{shown(text)} is not an integer")
    if len(text.strip().lstrip("+-").lstrip("0")) > 19:  # int() refuses > 4300 digits anyway
        raise ValueError(f"{shown(text)} is out of range ({low:,} to {high:,})")
    value = int(text.strip())
    if not low <= value <= high:
        raise ValueError(f"{shown(text)} is out of range ({low:,} to {high:,})")
    return value


def parse_float(text: str, *, allow_nan: bool = False) -> float:
    """A finite float; NaN only when ``allow_nan`` (feature columns, where NaN = missing)."""
    if not is_float_text(text):
        raise ValueError(f"{shown(text)} is not a number")
    value = float(text.strip())
    if math.isinf(value):
        raise ValueError(f"{shown(text)} is infinite")
    if math.isnan(value) and not allow_nan:
        raise ValueError(f"{shown(text)} is not a number (NaN)")
    return value


_YYYYMMDD = re.compile(r"[0-9]{8}", re.ASCII)


def parse_day(text: str) -> int:
    """An ISO 8601 date or date-time, or YYYYMMDD, as the int YYYYMMDD of its calendar date.

    A date-time counts on the calendar date it is written in (its offset is not
    applied), so ``2019-06-10T23:30:00-05:00`` is day 20190610.
    """
    raw = text.strip()
    try:
        if not raw.isascii():
            raise ValueError("not ASCII")
        if _YYYYMMDD.fullmatch(raw):
            parsed = date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        elif len(raw) == 10:
            parsed = date.fromisoformat(raw)
        else:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(f"{shown(text)} is not a date (ISO 8601 or YYYYMMDD)") from None
    return parsed.year * 10000 + parsed.month * 100 + parsed.day


def parse_text(text: str) -> str:
    if "\x00" in text:  # legal in Neo4j, but it breaks most tools that read the graph
        raise ValueError("text contains a NUL character (0x00)")
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueError(f"text is {len(text)} characters long (at most {MAX_TEXT_LENGTH})")
    return text


def interaction_type(text: str, reserved: Iterable[str] = ()) -> str:
    """The relationship type for a source word: aliases, else the word upper-cased.

    ``reserved`` names the prediction relationships, which no interaction may take.
    """
    word = text.strip()
    alias = TYPE_ALIASES.get(word.lower())
    if alias:
        return alias
    try:
        rel_type = check_identifier(word, "interaction type").upper()
    except CypherError as exc:
        raise ValueError(str(exc)) from None
    if rel_type in reserved:
        raise ValueError(reserved_type_reason(rel_type))
    return rel_type


def where(file: str, line: int, reason: str) -> LoadError:
    return LoadError(f"{file}, line {line}: {reason}; nothing was loaded")
