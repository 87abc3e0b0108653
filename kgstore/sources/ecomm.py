"""The EComm sample (Alibaba Tianchi via DyHATR): tab-separated files, no header.

The repository bundles it as ``data/ecomm/ecomm.tar.gz`` (see ``data/ecomm/NOTICE``);
:func:`bundled_dir` unpacks it once into the per-user cache. Columns are described
in the bundled README.md. What becomes graph data:

- ``ecomm_user_feature.txt``  -> (:Customer {id, gender, age_level, education,
  career, income, stages})   (stages: list of ints)
- ``ecomm_item_feature.txt``  -> (:Product {id, price}), its leaf (:Category
  {level: 2}) SUBCATEGORY_OF the top (:Category {level: 1}), (:Brand) unless 0
- ``ecomm_edge_train.txt``    -> CLICKED|FAVORITED|ADDED_TO_CART|BOUGHT {day, count}

``ecomm_edge_val_lr_train_test.txt`` holds labelled evaluation pairs, not graph
data: it is never loaded; :func:`pairs_file` finds it for evaluation code.

:func:`read_ecomm_frame` turns the same parsed plan into a GraphFrame without a
database, for tests and benchmarks that train on EComm directly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kgframe import INTERACTION_TYPES, GraphFrame
from kgstore.resources import cache_home, project_path
from kgstore.sources.plan import (
    LoadError,
    LoadPlan,
    aggregate_interactions,
    parse_day,
    parse_float,
    parse_id,
    parse_int,
    where,
)

USERS = "ecomm_user_feature.txt"
ITEMS = "ecomm_item_feature.txt"
EDGES = "ecomm_edge_train.txt"
PAIRS = "ecomm_edge_val_lr_train_test.txt"
GRAPH_FILES = (USERS, ITEMS, EDGES)
BUNDLE = "data/ecomm/ecomm.tar.gz"

TYPE_CODES = {1: "CLICKED", 2: "FAVORITED", 3: "ADDED_TO_CART", 4: "BOUGHT"}
UNKNOWN_BRAND = 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(tarball: str | Path) -> Path:
    """Unpack an EComm ``.tar.gz`` once into ``<cache>/datasets/ecomm-<sha>`` and return it."""
    tarball = Path(tarball)
    if not tarball.is_file():
        raise FileNotFoundError(f"EComm archive {tarball} does not exist")
    target = cache_home() / "datasets" / f"ecomm-{_sha256(tarball)[:16]}"
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".ecomm-", dir=target.parent))
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(staging, filter="data")
        # Accept archives with the files at the top or inside one folder.
        inner = [p for p in staging.iterdir() if p.is_dir()]
        source = inner[0] if not (staging / EDGES).exists() and len(inner) == 1 else staging
        (source / ".complete").write_text("ok\n")
        if target.exists():  # another process won the race, or a stale partial copy
            shutil.rmtree(target, ignore_errors=True)
        os.replace(source, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def bundled_dir() -> Path:
    """The bundled EComm files (all four .txt, README.md, SHA256SUMS), unpacked once."""
    return unpack(project_path(BUNDLE))


def pairs_file(path: str | Path | None = None) -> Path:
    """The labelled evaluation pairs (``ecomm_edge_val_lr_train_test.txt``)."""
    found = resolve(path) / PAIRS
    if not found.is_file():
        raise FileNotFoundError(f"no {PAIRS} in {found.parent}")
    return found


def resolve(path: str | Path | None) -> Path:
    """The directory holding the EComm files: the bundled copy, a directory, or a .tar.gz."""
    if path is None:
        return bundled_dir()
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"EComm data {path} does not exist")
    if path.is_file():
        return unpack(path)
    return path


def _rows(path: Path, columns: int) -> Any:
    """(line number, cells) for each non-blank line, checking the column count."""
    name = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                cells = text.split("\t")
                if len(cells) != columns:
                    raise where(
                        name, number, f"expected {columns} tab-separated columns, got {len(cells)}"
                    )
                yield number, cells
    except UnicodeDecodeError as exc:
        raise LoadError(f"{name}: not UTF-8 text ({exc.reason}); nothing was loaded") from None


def read_ecomm(path: str | Path | None = None) -> LoadPlan:
    """Parse and validate the EComm graph files into a plan (nothing is written)."""
    directory = resolve(path)
    for name in GRAPH_FILES:
        if not (directory / name).is_file():
            raise FileNotFoundError(f"EComm file {name} is missing in {directory}")
    plan = LoadPlan(source=f"ecomm ({directory})")
    _read_users(directory / USERS, plan)
    _read_items(directory / ITEMS, plan)
    _read_edges(directory / EDGES, plan)
    return plan


def _read_users(path: Path, plan: LoadPlan) -> None:
    seen: set[Any] = set()
    for number, cells in _rows(path, 7):
        try:
            uid = parse_id(cells[0])
            props: dict[str, Any] = {
                "gender": parse_int(cells[1]),
                "age_level": parse_int(cells[2]),
                "education": parse_int(cells[3]),
                "career": parse_int(cells[4]),
                "income": parse_float(cells[5]),
            }
            stages = [parse_int(s) for s in cells[6].split(",") if s.strip()]
        except ValueError as exc:
            raise where(str(path), number, str(exc)) from None
        if stages:
            props["stages"] = stages
        if uid in seen:
            raise where(str(path), number, f"customer {uid!r} appears twice")
        seen.add(uid)
        plan.customers.append({"id": uid, "props": props})
        plan.rows_read += 1


def _read_items(path: Path, plan: LoadPlan) -> None:
    seen: set[Any] = set()
    tops: dict[Any, None] = {}
    leaves: dict[Any, Any] = {}
    for number, cells in _rows(path, 5):
        try:
            pid = parse_id(cells[0])
            top = parse_id(cells[1])
            leaf = parse_id(cells[2])
            brand = parse_id(cells[3])
            price = parse_float(cells[4])
        except ValueError as exc:
            raise where(str(path), number, str(exc)) from None
        if pid in seen:
            raise where(str(path), number, f"product {pid!r} appears twice")
        if leaves.setdefault(leaf, top) != top:
            raise where(str(path), number, f"leaf category {leaf!r} under two top categories")
        seen.add(pid)
        tops[top] = None
        plan.products.append({"id": pid, "props": {"price": price}})
        plan.product_categories.append({"id": pid, "category": leaf})
        if brand != UNKNOWN_BRAND:
            plan.product_brands.append({"id": pid, "brand": brand})
        plan.rows_read += 1
    clash = set(tops) & set(leaves)
    if clash:
        raise LoadError(f"{path}: ids {sorted(clash)[:5]} are both top and leaf categories")
    plan.categories += [{"id": top, "props": {"level": 1}} for top in tops]
    plan.categories += [{"id": leaf, "props": {"level": 2}} for leaf in leaves]
    plan.subcategories += [{"id": leaf, "parent": top} for leaf, top in leaves.items()]
    plan.brands += [
        {"id": b, "props": {}} for b in dict.fromkeys(r["brand"] for r in plan.product_brands)
    ]


def _read_edges(path: Path, plan: LoadPlan) -> None:
    users: list[Any] = []
    items: list[Any] = []
    types: list[str] = []
    days: list[int] = []
    for number, cells in _rows(path, 4):
        try:
            users.append(parse_id(cells[0]))
            items.append(parse_id(cells[1]))
            code = parse_int(cells[2])
            if code not in TYPE_CODES:
                raise ValueError(f"interaction type {code} is not 1-4")
            types.append(TYPE_CODES[code])
            days.append(parse_day(cells[3]))
        except ValueError as exc:
            raise where(str(path), number, str(exc)) from None
    plan.rows_read += len(users)
    plan.interactions = aggregate_interactions(users, items, types, days)


# -- EComm as a GraphFrame, without a database -----------------------------------
def ecomm_dir() -> Path:
    """``$KGDISTILL_ECOMM_DIR`` when set (tests and benchmarks on another copy), else the
    bundled copy."""
    if os.environ.get("KGDISTILL_ECOMM_DIR"):
        return Path(os.environ["KGDISTILL_ECOMM_DIR"])
    return bundled_dir()


def read_ecomm_frame(directory: Path | str | None = None) -> GraphFrame:
    """The EComm sample as a GraphFrame (customers, products, 402 categories, 67 brands),
    parsed and validated as :func:`read_ecomm` does; ``directory`` defaults to
    :func:`ecomm_dir`. Customers and products keep the files' order, categories are the
    sorted leaves then the top categories, brands sorted, interactions sorted by
    customer, product, type (:data:`kgframe.INTERACTION_TYPES` order) and day."""
    root = Path(directory) if directory is not None else ecomm_dir()
    plan = read_ecomm(root)
    customers = _customer_table(plan.customers)
    leaf_top = {row["id"]: row["parent"] for row in plan.subcategories}
    leaves = sorted(leaf_top)
    tops = sorted(set(leaf_top.values()))
    categories = pd.DataFrame(
        {
            "id": [*leaves, *tops],
            "level": [2] * len(leaves) + [1] * len(tops),
            "parent": [len(leaves) + tops.index(leaf_top[leaf]) for leaf in leaves]
            + [-1] * len(tops),
        }
    )
    brand_ids = sorted({row["brand"] for row in plan.product_brands})
    brand_of = {row["id"]: brand_ids.index(row["brand"]) for row in plan.product_brands}
    product_ids = [row["id"] for row in plan.products]
    leaf_of = {row["id"]: row["category"] for row in plan.product_categories}
    products = pd.DataFrame(
        {
            "id": np.array(product_ids, dtype=np.int64),
            "price": np.array([row["props"]["price"] for row in plan.products], np.float64),
            "category": pd.Index(leaves).get_indexer([leaf_of[pid] for pid in product_ids]),
            "brand": np.array([brand_of.get(pid, -1) for pid in product_ids], dtype=np.int64),
        }
    )
    interactions = _interaction_table(plan.interactions, customers, products, root)
    return GraphFrame(
        customers,
        products,
        categories,
        pd.DataFrame({"id": brand_ids}),
        interactions,
        {"source": str(root)},
    )


def _customer_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    def column(name: str, dtype: Any) -> np.ndarray:
        return np.array([row["props"][name] for row in rows], dtype=dtype)

    return pd.DataFrame(
        {
            "id": np.array([row["id"] for row in rows], dtype=np.int64),
            **{
                name: column(name, np.int64)
                for name in ("gender", "age_level", "education", "career")
            },
            "income": column("income", np.float64),
            "stages": [row["props"].get("stages", []) for row in rows],
        }
    )


def _interaction_table(
    grouped: pd.DataFrame, customers: pd.DataFrame, products: pd.DataFrame, root: Path
) -> pd.DataFrame:
    """Customer and product rows for the plan's aggregated interactions, in a stable order."""
    edges = grouped.assign(
        customer=grouped["customer"].astype(np.int64),
        product=grouped["product"].astype(np.int64),
        rank=grouped["type"].map(INTERACTION_TYPES.index),
    ).sort_values(["customer", "product", "rank", "day"], kind="stable")
    customer_rows = pd.Index(customers["id"]).get_indexer(edges["customer"])
    product_rows = pd.Index(products["id"]).get_indexer(edges["product"])
    if (customer_rows < 0).any() or (product_rows < 0).any():
        raise ValueError(f"{root}: interactions name customers or products without a feature row")
    return pd.DataFrame(
        {
            "customer": customer_rows,
            "product": product_rows,
            "type": edges["type"].to_numpy(),
            "day": edges["day"].to_numpy(np.int64),
            "count": edges["count"].to_numpy(np.int64),
        }
    )
