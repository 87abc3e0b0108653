"""GraphFrame -> PyG ``HeteroData`` with encoded features, plus pair features from history.

Node types: ``customer``, ``product``, ``category``, ``brand``. Every node type gets
``x_num`` (float: standardised numerics, log-scaled heavy tails, multi-hot lists,
missing flags) and ``x_cat`` (long: one column per categorical feature, index 0 =
unknown). Customers and products also get ``seen`` (bool: the node has interactions
in this graph, so a learnt id embedding means something).

Edge types: the four interaction types merged into ``(customer, interacted, product)``
with ``edge_attr`` = log1p(count per type) and a recency-weighted log count, plus
``in_category``, ``child_of`` (category -> parent), ``made_by`` and the reverse of each.

:class:`FeatureEncoder` holds means, stds and vocabularies as plain Python values
(``to_dict``/``from_dict``), so a product that arrives after training is encoded from
its features alone. :class:`History` turns past interactions into pair features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import HeteroData

from distill.structure import fastrp
from kgframe import INTERACTION_TYPES, GraphFrame

NODE_TYPES: tuple[str, ...] = ("customer", "product", "category", "brand")
EDGE_TYPES: tuple[tuple[str, str, str], ...] = (
    ("customer", "interacted", "product"),
    ("product", "rev_interacted", "customer"),
    ("product", "in_category", "category"),
    ("category", "has_product", "product"),
    ("category", "child_of", "category"),
    ("category", "parent_of", "category"),
    ("product", "made_by", "brand"),
    ("brand", "makes", "product"),
)
INTERACTION_EDGE = EDGE_TYPES[0]
EDGE_ATTR_DIM = len(INTERACTION_TYPES) + 1
STRUCT_DTYPE = np.float16
"""How graphs hold structural vectors: every graph of a run has its own, 1,024 columns
per customer and product by default (1 GB per graph at float32 for 250,000 of them);
rows of unit length lose about 1e-5 of each cosine at half precision. Whatever
computes with them reads them as float32."""
RECENCY_HALF_LIFE_DAYS = 2.0
_MAX_CATEGORIES = 200  # integer columns with more distinct values are numeric


def day_number(day: np.ndarray | pd.Series | int) -> np.ndarray:
    """YYYYMMDD ints -> days since 1970-01-01 (so day differences are real days).

    Each distinct day is parsed once: a shop's millions of interactions fall on a few
    hundred days, and parsing each as a string cost seconds and gigabytes."""
    days, inverse = np.unique(np.atleast_1d(day), return_inverse=True)
    values = pd.to_datetime(pd.Series(days).astype(str), format="%Y%m%d")
    numbers = (values - pd.Timestamp("1970-01-01")).dt.days.to_numpy(np.int64)
    return numbers[inverse.reshape(-1)]


def _is_list_column(series: pd.Series) -> bool:
    for value in series:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        return isinstance(value, (list, tuple, np.ndarray))
    return False


def _feature_columns(table: pd.DataFrame, skip: set[str]) -> list[str]:
    return [c for c in table.columns if c not in skip and c != "id"]


@dataclass
class FeatureEncoder:
    """How each node type's columns become ``x_num`` / ``x_cat``; plain values only.

    ``specs[node_type]`` is a list of column specs, each a dict with ``column``,
    ``kind`` (``num`` | ``cat`` | ``multi`` | ``ref``) and its statistics: ``mean``,
    ``std``, ``log``, ``missing`` for numerics; ``vocab`` (values, index+1 = code) for
    categoricals and multi-valued lists; ``ref`` columns (``product.category``,
    ``product.brand``) are codes into the category / brand id vocabularies.
    """

    specs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    category_ids: list[Any] = field(default_factory=list)
    brand_ids: list[Any] = field(default_factory=list)
    # FastRP settings (``dim``, ``weights``, ``seed``; :func:`distill.structure.fastrp`):
    # set, every graph built with this encoder carries customers' and products' ``struct``
    # vectors; empty (encoders saved before them too), none
    structure: dict[str, Any] = field(default_factory=dict)

    # -- fitting ---------------------------------------------------------------
    @classmethod
    def fit(cls, frame: GraphFrame, structure: dict[str, Any] | None = None) -> FeatureEncoder:
        enc = cls(
            category_ids=frame.categories["id"].tolist(),
            brand_ids=frame.brands["id"].tolist(),
            structure=dict(structure or {}),
        )
        enc.specs["customer"] = [
            _fit_column(frame.customers, c) for c in _feature_columns(frame.customers, set())
        ]
        product_specs = [
            {"column": "category", "kind": "ref", "table": "categories"},
            {"column": "brand", "kind": "ref", "table": "brands"},
        ]
        product_specs += [
            _fit_column(frame.products, c)
            for c in _feature_columns(frame.products, {"category", "brand"})
        ]
        enc.specs["product"] = product_specs
        enc.specs["category"] = [{"column": "id", "kind": "ref", "table": "categories"}] + [
            _fit_column(frame.categories, c) for c in _feature_columns(frame.categories, {"parent"})
        ]
        enc.specs["brand"] = [{"column": "id", "kind": "ref", "table": "brands"}] + [
            _fit_column(frame.brands, c) for c in _feature_columns(frame.brands, set())
        ]
        return enc

    # -- shapes ----------------------------------------------------------------
    def num_dim(self, node_type: str) -> int:
        dim = 0
        for spec in self.specs[node_type]:
            if spec["kind"] == "num":
                dim += 2 if spec["missing"] else 1
            elif spec["kind"] == "multi":
                dim += len(spec["vocab"])
        return max(dim, 1)  # a constant column keeps every node type's Linear well defined

    def cat_cardinalities(self, node_type: str) -> list[int]:
        cards = []
        for spec in self.specs[node_type]:
            if spec["kind"] == "cat":
                cards.append(len(spec["vocab"]) + 1)
            elif spec["kind"] == "ref":
                ids = self.category_ids if spec["table"] == "categories" else self.brand_ids
                cards.append(len(ids) + 1)
        return cards

    # -- encoding --------------------------------------------------------------
    def encode(
        self, node_type: str, table: pd.DataFrame, frame: GraphFrame | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode rows of one node type. ``ref`` columns holding row indices are
        resolved through ``frame``'s category / brand tables (pass the frame the
        rows belong to); ``id`` refs use the table's own ids.

        The vocabulary is this encoder's, whatever the table holds: a value or id it
        has not seen is code 0 (unknown), a column it lacks reads as missing in every
        row, and a column it was not fitted on is ignored, so a graph that grew after
        fitting encodes to the same widths and never indexes past an embedding table.

        Shapes: returns ``x_num`` [N, num_dim] float32 and ``x_cat`` [N, n_cat] int64.
        """
        n = len(table)
        nums: list[np.ndarray] = []
        cats: list[np.ndarray] = []
        for spec in self.specs[node_type]:
            col = spec["column"]
            kind = spec["kind"]
            column = _column(table, col)
            if kind == "num":
                values = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
                missing = np.isnan(values)
                if spec["log"]:
                    values = np.log1p(np.clip(values, 0.0, None))
                values = (values - spec["mean"]) / spec["std"]
                nums.append(np.where(missing, 0.0, values)[:, None])
                if spec["missing"]:
                    nums.append(missing.astype(np.float64)[:, None])
            elif kind == "cat":
                lookup = {v: i + 1 for i, v in enumerate(spec["vocab"])}
                cats.append(np.array([lookup.get(_key(v), 0) for v in column], np.int64))
            elif kind == "multi":
                lookup = {v: i for i, v in enumerate(spec["vocab"])}
                hot = np.zeros((n, len(spec["vocab"])), np.float64)
                for row, values in enumerate(column):
                    for v in _as_list(values):
                        j = lookup.get(_key(v))
                        if j is not None:
                            hot[row, j] = 1.0
                nums.append(hot)
            elif kind == "ref":
                ids = self.category_ids if spec["table"] == "categories" else self.brand_ids
                lookup = {v: i + 1 for i, v in enumerate(ids)}
                if col == "id":
                    raw = table["id"].tolist()
                else:
                    if frame is None:
                        raise ValueError(f"encoding {node_type}.{col} needs the frame it indexes")
                    ref_table = frame.categories if spec["table"] == "categories" else frame.brands
                    rows = pd.to_numeric(column, errors="coerce").fillna(-1).astype(np.int64)
                    ref_ids = ref_table["id"].tolist()
                    raw = [ref_ids[r] if 0 <= r < len(ref_ids) else None for r in rows]
                cats.append(np.array([lookup.get(v, 0) for v in raw], np.int64))
        x_num = np.concatenate(nums, axis=1) if nums else np.zeros((n, 1))
        x_cat = np.stack(cats, axis=1) if cats else np.zeros((n, 0), np.int64)
        return torch.tensor(x_num, dtype=torch.float32), torch.tensor(x_cat, dtype=torch.long)

    # -- serialisation ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "specs": self.specs,
            "category_ids": list(self.category_ids),
            "brand_ids": list(self.brand_ids),
            "structure": dict(self.structure),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> FeatureEncoder:
        return cls(
            specs={k: [dict(s) for s in v] for k, v in state["specs"].items()},
            category_ids=list(state["category_ids"]),
            brand_ids=list(state["brand_ids"]),
            structure=dict(state.get("structure", {})),  # saved before it: none
        )


def _column(table: pd.DataFrame, column: str) -> pd.Series:
    """``table[column]``, or all missing when the table lacks it (no node has it now)."""
    if column in table.columns:
        return table[column]
    return pd.Series([None] * len(table), index=table.index, dtype=object)


def _key(value: Any) -> Any:
    """Vocabulary key: numpy scalars become Python scalars so lookups and saving agree."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return list(value)


def _fit_column(table: pd.DataFrame, column: str) -> dict[str, Any]:
    series = table[column]
    if _is_list_column(series):
        vocab = sorted({_key(v) for values in series for v in _as_list(values)})
        return {"column": column, "kind": "multi", "vocab": vocab}
    if pd.api.types.is_integer_dtype(series) and series.nunique() <= _MAX_CATEGORIES:
        return {"column": column, "kind": "cat", "vocab": sorted(_key(v) for v in series.unique())}
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(np.float64)
        finite = values[~np.isnan(values)]
        log = bool(finite.size and finite.min() >= 0 and _skewed(finite))
        if log:
            finite = np.log1p(finite)
        mean = float(finite.mean()) if finite.size else 0.0
        std = float(finite.std()) if finite.size else 1.0
        return {
            "column": column,
            "kind": "num",
            "log": log,
            "mean": mean,
            "std": std if std > 0 else 1.0,
            "missing": bool(np.isnan(values).any()),
        }
    vocab = sorted({str(v) for v in series.dropna().unique()})
    return {"column": column, "kind": "cat", "vocab": vocab}


def _skewed(values: np.ndarray) -> bool:
    """Heavy right tail (prices, incomes): the 99th percentile dwarfs the median."""
    median = float(np.median(values))
    return float(np.percentile(values, 99)) > 10.0 * max(median, 1e-9)


# -- the graph ------------------------------------------------------------------


def build_graph(
    frame: GraphFrame,
    encoder: FeatureEncoder,
    *,
    before_day: int | None = None,
    id_rows: dict[str, np.ndarray] | None = None,
) -> HeteroData:
    """The frame as ``HeteroData``; only interactions strictly before ``before_day`` count.

    Shapes: ``data[t].x_num`` [N_t, F_t], ``data[t].x_cat`` [N_t, C_t],
    ``data[customer|product].seen`` [N_t] bool, ``data[INTERACTION_EDGE].edge_attr``
    [E, 5], ``data[customer|product].id_row`` [N_t] (row of the node in the training
    frame, which owns its id embedding; -1 for nodes unknown at training; defaults to
    the node's own row); with ``encoder.structure``, ``data[customer|product].struct``
    [N_t, dim] float16 (FastRP vectors of this graph, the same interactions only; held at
    half precision, :data:`STRUCT_DTYPE`, and read as float32).
    """
    data = HeteroData()
    _add_nodes(data, frame, encoder, id_rows)
    if encoder.structure:
        vectors = fastrp(frame, before_day=before_day, **encoder.structure)
        for node_type, values in zip(("customer", "product"), vectors, strict=True):
            data[node_type].struct = torch.from_numpy(values.astype(STRUCT_DTYPE))
    inter = frame.interactions
    if before_day is not None:
        inter = inter.loc[inter["day"].to_numpy() < int(before_day)]
    edge_index, edge_attr = _interaction_edges(inter, frame.num_products)
    parent = pd.to_numeric(frame.categories["parent"], errors="coerce").fillna(-1)
    forward = {
        INTERACTION_EDGE: edge_index,
        EDGE_TYPES[2]: _links(frame.products["category"].to_numpy(np.int64)),
        EDGE_TYPES[4]: _links(parent.to_numpy(np.int64)),
        EDGE_TYPES[6]: _links(frame.products["brand"].to_numpy(np.int64)),
    }
    # Each relation, then its reverse (EDGE_TYPES pairs them). By hand rather than with
    # PyG's ToUndirected: that names reverses rev_<relation> and folds child_of (one node
    # type at both ends) into itself, and saved models keep their weights under these names.
    for relation, reverse in zip(EDGE_TYPES[0::2], EDGE_TYPES[1::2], strict=True):
        data[relation].edge_index = forward[relation]
        data[reverse].edge_index = forward[relation].flip(0)
    data[EDGE_TYPES[0]].edge_attr = edge_attr
    data[EDGE_TYPES[1]].edge_attr = edge_attr
    seen_c = torch.zeros(frame.num_customers, dtype=torch.bool)
    seen_p = torch.zeros(frame.num_products, dtype=torch.bool)
    seen_c[edge_index[0]] = True
    seen_p[edge_index[1]] = True
    data["customer"].seen = seen_c
    data["product"].seen = seen_p
    return data


def _add_nodes(
    data: HeteroData,
    frame: GraphFrame,
    encoder: FeatureEncoder,
    id_rows: dict[str, np.ndarray] | None,
) -> None:
    """Every node type's features, and the id rows of customers and products."""
    tables = {
        "customer": frame.customers,
        "product": frame.products,
        "category": frame.categories,
        "brand": frame.brands,
    }
    for node_type, table in tables.items():
        x_num, x_cat = encoder.encode(node_type, table, frame)
        data[node_type].x_num = x_num
        data[node_type].x_cat = x_cat
        data[node_type].num_nodes = len(table)
        if node_type in ("customer", "product"):
            rows = (id_rows or {}).get(node_type)
            data[node_type].id_row = (
                torch.arange(len(table))
                if rows is None
                else torch.as_tensor(rows, dtype=torch.long)
            )


def _links(targets: np.ndarray) -> torch.Tensor:
    """Edges ``row -> targets[row]`` for the rows with a target (``>= 0``). Shapes: [2, E]."""
    has = targets >= 0
    return torch.tensor(np.stack([np.nonzero(has)[0], targets[has]]), dtype=torch.long)


def _interaction_edges(inter: pd.DataFrame, num_products: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique (customer, product) edges; attr = log1p(count per type), log1p(recency-weighted)."""
    if len(inter) == 0:
        return torch.zeros((2, 0), dtype=torch.long), torch.zeros((0, EDGE_ATTR_DIM))
    key = inter["customer"].to_numpy(np.int64) * num_products + inter["product"].to_numpy(np.int64)
    uniq, pos = np.unique(key, return_inverse=True)
    attr = np.zeros((len(uniq), EDGE_ATTR_DIM))
    counts = inter["count"].to_numpy(np.float64)
    type_code = pd.Categorical(inter["type"], categories=list(INTERACTION_TYPES)).codes
    known = type_code >= 0
    np.add.at(attr, (pos[known], type_code[known]), counts[known])
    days = day_number(inter["day"].to_numpy())
    weight = counts * 0.5 ** ((days.max() - days) / RECENCY_HALF_LIFE_DAYS)
    np.add.at(attr[:, -1], pos, weight)
    edge_index = np.stack([uniq // num_products, uniq % num_products])
    return torch.tensor(edge_index, dtype=torch.long), torch.tensor(
        np.log1p(attr), dtype=torch.float32
    )


# -- pair features from history ---------------------------------------------------

PAIR_FEATURES: tuple[str, ...] = (
    *(f"pair_{t.lower()}" for t in INTERACTION_TYPES),
    "pair_recent",
    "customer_category",
    "customer_category_recent",
    "customer_category_share",
    "customer_brand",
    "customer_activity",
    "product_popularity",
    "product_popularity_recent",
    "category_popularity_recent",
)


def _check_rows(rows: np.ndarray, n: int, node_type: str) -> None:
    if len(rows) and not (rows.min() >= 0 and rows.max() < n):
        raise IndexError(f"{node_type} rows must be in [0, {n}), got {rows.min()}..{rows.max()}")


@dataclass(frozen=True)
class CustomerCells:
    """A [customers, groups] table of counts (a customer's interactions per category or
    brand) held sparse: only the cells a customer touched. A customer touches a few of
    a shop's hundreds of categories; held dense (float64, and again as float32 lookup
    tables), the tables of 200,000 customers by 402 categories took 2.4 GB per
    :class:`History`, three histories per run.

    ``keys``: the cells' ``customer * groups + group``, sorted; ``values`` [n, V]: V
    columns over the same cells (e.g. counts and recency-weighted counts). A cell not
    held is 0 in every column.
    """

    shape: tuple[int, int]  # (customers, groups)
    keys: np.ndarray
    values: np.ndarray

    @classmethod
    def count(
        cls,
        customers: np.ndarray,
        groups: np.ndarray,
        weights: list[np.ndarray],
        shape: tuple[int, int],
    ) -> CustomerCells:
        """Each column: ``weights[j]`` summed per (customer, group) cell, in row order (the
        sums ``np.add.at`` gives a dense table)."""
        uniq, pos = np.unique(customers * shape[1] + groups, return_inverse=True)
        columns = [np.bincount(pos, weights=w, minlength=len(uniq)) for w in weights]
        values = np.stack(columns, 1) if columns else np.zeros((len(uniq), 0))
        return cls(shape, uniq, values)

    def without_group(self, group: int) -> CustomerCells:
        """The table with column ``group`` of every customer left out (read as 0)."""
        keep = self.keys % self.shape[1] != group
        return CustomerCells(self.shape, self.keys[keep], self.values[keep])

    def at(self, customers: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """The cells (customers[i], groups[i]). Shapes: [N], [N] -> [N, V] float64."""
        query = customers * self.shape[1] + groups
        if not len(self.keys):
            return np.zeros((len(query), self.values.shape[1]))
        pos = np.searchsorted(self.keys, query).clip(max=len(self.keys) - 1)
        found = self.keys[pos] == query
        return np.where(found[:, None], self.values[pos], 0.0)

    def rows(self, customers: np.ndarray, column: int = 0) -> np.ndarray:
        """Column ``column`` of each customer's row, dense. Shapes: [C] -> [C, groups]."""
        width = self.shape[1]
        out = np.zeros((len(customers), width))
        lo = np.searchsorted(self.keys, customers * width)
        hi = np.searchsorted(self.keys, (customers + 1) * width)
        sizes = hi - lo
        row = np.repeat(np.arange(len(customers)), sizes)
        at = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        at += np.repeat(lo, sizes)
        out[row, self.keys[at] % width] = self.values[at, column]
        return out


def _log32(a: np.ndarray) -> np.ndarray:
    """log1p in float64, held as float32: every lookup table's values."""
    return np.log1p(a).astype(np.float32)


@dataclass
class History:
    """Interaction counts before a cut-off, looked up per (customer, product) pair.

    Everything is a log1p count computed from the graph the model may see, never
    from the pairs being scored. Built once per graph; lookups are vectorised.
    """

    num_products: int
    pair_keys: np.ndarray  # sorted customer * num_products + product
    pair_values: np.ndarray  # [n_pairs, 5] counts per type + recency-weighted
    customer_category: CustomerCells  # [C, K + 1] counts, recency-weighted counts;
    # column K = unknown category
    customer_brand: CustomerCells  # [C, B + 1] counts (the unknown brand B not held)
    customer_activity: np.ndarray  # [C]
    product_popularity: np.ndarray  # [P]
    product_popularity_recent: np.ndarray
    category_popularity_recent: np.ndarray  # [K + 1]
    product_category: np.ndarray  # [P] row into categories, K when unknown
    product_brand: np.ndarray  # [P] row into brands, B when unknown
    _cache: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_frame(cls, frame: GraphFrame, *, before_day: int | None = None) -> History:
        inter = frame.interactions
        if before_day is not None:
            inter = inter.loc[inter["day"].to_numpy() < int(before_day)]
        n_c, n_p = frame.num_customers, frame.num_products
        n_k, n_b = len(frame.categories), len(frame.brands)
        cat = frame.products["category"].to_numpy(np.int64)
        cat = np.where(cat < 0, n_k, cat)
        brand = frame.products["brand"].to_numpy(np.int64)
        brand = np.where(brand < 0, n_b, brand)

        c = inter["customer"].to_numpy(np.int64)
        p = inter["product"].to_numpy(np.int64)
        counts = inter["count"].to_numpy(np.float64)
        if len(inter):
            days = day_number(inter["day"].to_numpy())
            last = day_number(before_day)[0] - 1 if before_day is not None else days.max()
            recent = counts * 0.5 ** ((last - days) / RECENCY_HALF_LIFE_DAYS)
        else:
            recent = counts
        key = c * n_p + p
        uniq, pos = np.unique(key, return_inverse=True)
        values = np.zeros((len(uniq), len(INTERACTION_TYPES) + 1))
        code = pd.Categorical(inter["type"], categories=list(INTERACTION_TYPES)).codes
        known = code >= 0
        np.add.at(values, (pos[known], code[known]), counts[known])
        np.add.at(values[:, -1], pos, recent)

        cust_cat = CustomerCells.count(c, cat[p], [counts, recent], (n_c, n_k + 1))
        cust_brand = CustomerCells.count(c, brand[p], [counts], (n_c, n_b + 1))
        cust_brand = cust_brand.without_group(n_b)  # "unknown brand" is not an affinity
        activity = np.bincount(c, weights=counts, minlength=n_c)
        pop = np.bincount(p, weights=counts, minlength=n_p)
        pop_recent = np.bincount(p, weights=recent, minlength=n_p)
        cat_recent = np.bincount(cat[p], weights=recent, minlength=n_k + 1)
        return cls(
            num_products=n_p,
            pair_keys=uniq,
            pair_values=values,
            customer_category=cust_cat,
            customer_brand=cust_brand,
            customer_activity=activity,
            product_popularity=pop,
            product_popularity_recent=pop_recent,
            category_popularity_recent=cat_recent,
            product_category=cat,
            product_brand=brand,
        )

    def seen_columns(self, customers: np.ndarray) -> list[np.ndarray]:
        """The products each of ``customers`` (rows) interacted with: the columns its
        ranking leaves out, as ``predict`` leaves them out of a written top K."""
        n_p = self.num_products
        keys = self.pair_keys
        lo = np.searchsorted(keys, customers * n_p)
        hi = np.searchsorted(keys, (customers + 1) * n_p)
        return [keys[a:b] - c * n_p for a, b, c in zip(lo, hi, customers, strict=True)]

    def _tables(self) -> dict[str, Any]:
        """log1p'd float32 lookup tables and a hash index of the pair keys, built once:
        scoring is then gathers only (the graph-free student's latency depends on it)."""
        if self._cache is None:
            n_pair = self.pair_values.shape[1]
            # feature-major (one contiguous gather per feature) with a trailing zero column:
            # pairs without history (index -1) read zeros, no mask needed
            pair = np.concatenate([_log32(self.pair_values), np.zeros((1, n_pair), np.float32)])
            self._cache = {
                "index": pd.Index(self.pair_keys),
                "pair": np.ascontiguousarray(pair.T),
                "act": _log32(self.customer_activity),
                "pop": _log32(self.product_popularity),
                "popr": _log32(self.product_popularity_recent),
                "catr": _log32(self.category_popularity_recent),
            }
        return self._cache

    def global_tables(self) -> dict[str, np.ndarray]:
        """The float32 lookup tables of one value per customer, product or category
        (``act``, ``pop``, ``popr``, ``catr``), built once."""
        t = self._tables()
        return {k: t[k] for k in ("act", "pop", "popr", "catr")}

    def customer_tables(self, customers: np.ndarray) -> dict[str, np.ndarray]:
        """The per-category and per-brand float32 lookup tables :meth:`pair_features`
        reads (``cc``, ``ccr``, ``share``, ``cb``), the rows of ``customers`` only, dense.
        Shapes: [C] -> [C, K + 1] (``cb``: [C, B + 1])."""
        customers = np.asarray(customers, np.int64)
        counts = self.customer_category.rows(customers, 0)
        activity = np.maximum(self.customer_activity[customers], 1.0)[:, None]
        return {
            "cc": _log32(counts),
            "ccr": _log32(self.customer_category.rows(customers, 1)),
            "share": _log32(counts / activity * 10.0),
            "cb": _log32(self.customer_brand.rows(customers, 0)),
        }

    def lookup_tables(self) -> dict[str, Any]:
        """The float32 tables :meth:`pair_features` gathers from (``pair``, ``cc``, ``ccr``,
        ``share``, ``cb``, ``act``, ``pop``, ``popr``, ``catr``), every customer's rows
        dense, e.g. to export them (a scorer reads :meth:`customer_tables` a block of
        customers at a time)."""
        t = self._tables()
        every = np.arange(self.customer_category.shape[0])
        return {
            # row-major, one row per pair key (the cache is feature-major with a zero column)
            "pair": np.ascontiguousarray(t["pair"][:, :-1].T),
            **self.customer_tables(every),
            **self.global_tables(),
        }

    def pair_features(self, customers: np.ndarray, products: np.ndarray) -> torch.Tensor:
        """log1p of each feature of :data:`PAIR_FEATURES`.

        Shapes: customers, products [N] row indices -> [N, len(PAIR_FEATURES)] float32.
        """
        customers = np.asarray(customers, np.int64)
        products = np.asarray(products, np.int64)
        _check_rows(customers, self.customer_category.shape[0], "customer")
        _check_rows(products, self.num_products, "product")
        t = self._tables()
        n_pair = self.pair_values.shape[1]
        # Feature-major, so each feature is one contiguous gather, returned as [N, F].
        # Rows are checked above, so mode="clip" never clips (and, unlike "raise",
        # np.take then writes straight into ``out``).
        out = np.empty((len(PAIR_FEATURES), len(customers)), np.float32)
        pos = t["index"].get_indexer(customers * self.num_products + products)
        pos[pos < 0] = len(self.pair_keys)  # the zero column
        np.take(t["pair"], pos, axis=1, out=out[:n_pair], mode="clip")
        cat = self.product_category[products]
        cells = self.customer_category.at(customers, cat)  # counts, recency-weighted
        activity = np.maximum(self.customer_activity[customers], 1.0)
        out[n_pair] = _log32(cells[:, 0])
        out[n_pair + 1] = _log32(cells[:, 1])
        out[n_pair + 2] = _log32(cells[:, 0] / activity * 10.0)
        brand = self.customer_brand.at(customers, self.product_brand[products])
        out[n_pair + 3] = _log32(brand[:, 0])
        np.take(t["act"], customers, out=out[n_pair + 4], mode="clip")
        np.take(t["pop"], products, out=out[n_pair + 5], mode="clip")
        np.take(t["popr"], products, out=out[n_pair + 6], mode="clip")
        np.take(t["catr"], cat, out=out[n_pair + 7], mode="clip")
        return torch.from_numpy(out).T

    def catalogue_features(self, customer: int) -> np.ndarray:
        """One customer's :meth:`pair_features` with every product, as serving one
        customer's top K over the catalogue needs them per request: the customer's
        interacted products from its range of sorted keys (no hashing), its category and
        brand counts gathered from its own rows, the product-only columns copied from a
        table built once. Equal to ``pair_features(full(P, customer), arange(P))``.

        Shapes: customer (a row) -> [P, len(PAIR_FEATURES)] float32, C-contiguous.
        """
        _check_rows(np.array([customer], np.int64), self.customer_category.shape[0], "customer")
        t = self._tables()
        n_p, n_pair = self.num_products, self.pair_values.shape[1]
        out = np.empty((n_p, len(PAIR_FEATURES)), np.float32)
        out[:, :n_pair] = 0.0
        lo, hi = np.searchsorted(self.pair_keys, [customer * n_p, (customer + 1) * n_p])
        out[self.pair_keys[lo:hi] - customer * n_p, :n_pair] = t["pair"][:, lo:hi].T
        own = self.customer_tables(np.array([customer], np.int64))
        for j, name in enumerate(("cc", "ccr", "share")):
            out[:, n_pair + j] = own[name][0][self.product_category]
        out[:, n_pair + 3] = own["cb"][0][self.product_brand]
        out[:, n_pair + 4] = t["act"][customer]
        out[:, n_pair + 5 :] = self._catalogue_columns().T
        return out

    def _catalogue_columns(self) -> np.ndarray:
        """The product-only columns of :meth:`pair_features` for every product,
        feature-major, built once. Shapes: -> [3, P] float32."""
        t = self._tables()
        if "catalogue" not in t:
            t["catalogue"] = np.stack([t["pop"], t["popr"], t["catr"][self.product_category]])
        return t["catalogue"]

    def pair_features_grid(self, customers: np.ndarray) -> torch.Tensor:
        """Every product for each customer, as :meth:`pair_features` would give it (the
        same float32 values, gathered from the same log1p'd tables).

        Shapes: customers [C] -> [C, P, len(PAIR_FEATURES)] float32 (C small: memory).
        """
        customers = np.asarray(customers, np.int64)
        _check_rows(customers, self.customer_category.shape[0], "customer")
        t = self._tables()
        n_c, n_p, n_pair = len(customers), self.num_products, self.pair_values.shape[1]
        out = np.empty((n_c, n_p, len(PAIR_FEATURES)), np.float32)
        out[..., :n_pair] = 0.0
        lo = np.searchsorted(self.pair_keys, customers * n_p)
        hi = np.searchsorted(self.pair_keys, (customers + 1) * n_p)
        for row, (a, b) in enumerate(zip(lo, hi, strict=True)):
            out[row, self.pair_keys[a:b] - customers[row] * n_p, :n_pair] = t["pair"][:, a:b].T
        own = self.customer_tables(customers)
        for j, name in enumerate(("cc", "ccr", "share")):
            out[..., n_pair + j] = own[name][:, self.product_category]
        out[..., n_pair + 3] = own["cb"][:, self.product_brand]
        out[..., n_pair + 4] = t["act"][customers][:, None]
        out[..., n_pair + 5 :] = self._catalogue_columns().T[None]
        return torch.from_numpy(out)
