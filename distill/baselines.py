"""The baselines a practitioner tries first: most popular, item-kNN, category affinity.

Each is fitted on the training interactions only and scores what a model scores: a grid
(customer rows x every product) for ranking metrics, and (customer, product) pairs for AUC.
Plain numpy and scipy.sparse, no torch: the report and the summary import the registry.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from distill.data import History

# The category-affinity row of reports written before the baselines had names.
LEGACY_BASELINES: tuple[str, ...] = ("heuristic",)


def _rows(values: Any, size: int, what: str) -> np.ndarray:
    """int64 array of indices, each checked to lie in 0..size-1."""
    out = np.asarray(values, dtype=np.int64).ravel()
    if len(out) and (out.min() < 0 or out.max() >= size):
        bad = out.min() if out.min() < 0 else out.max()
        raise IndexError(f"{what} {bad} is outside 0..{size - 1}")
    return out


def _no_options(name: str, options: dict[str, Any]) -> None:
    if options:
        raise TypeError(f"baseline {name!r} has no option(s) {', '.join(sorted(options))}")


@dataclass(frozen=True)
class Interactions:
    """Training interactions as parallel arrays: row i says customer ``customers[i]``
    interacted with product ``products[i]``, ``counts[i]`` times (rows may repeat).

    Shapes: ``customers``, ``products``, ``counts`` [n]; ``product_category`` [P] with the
    leaf category of each product, -1 when unknown.
    """

    customers: np.ndarray
    products: np.ndarray
    counts: np.ndarray
    num_customers: int
    num_products: int
    product_category: np.ndarray

    @classmethod
    def from_arrays(
        cls,
        customers: Any,
        products: Any,
        *,
        num_customers: int,
        num_products: int,
        product_category: Any | None = None,
        counts: Any | None = None,
    ) -> Interactions:
        """Checked arrays; ``counts`` default 1 per row, ``product_category`` default unknown."""
        c = _rows(customers, num_customers, "customer")
        p = _rows(products, num_products, "product")
        w = np.ones(len(c)) if counts is None else np.asarray(counts, np.float64).ravel()
        if not len(c) == len(p) == len(w):
            raise ValueError(f"{len(c)} customers, {len(p)} products and {len(w)} counts")
        if len(w) and not (np.isfinite(w).all() and w.min() >= 0):
            raise ValueError("counts must be finite and non-negative")
        cat = np.full(num_products, -1, np.int64)
        if product_category is not None:
            cat = np.asarray(product_category, np.int64).ravel()
            if len(cat) != num_products or (len(cat) and cat.min() < -1):
                raise ValueError(f"product_category must be [{num_products}] ints >= -1")
        return cls(c, p, w, int(num_customers), int(num_products), cat)

    @classmethod
    def from_history(cls, history: History) -> Interactions:
        """The pairs a :class:`distill.data.History` counted: one row per (customer, product)
        with the count summed over interaction types (its last column, recency-weighted,
        left out); its unknown-category bucket (K) becomes -1."""
        n_p = history.num_products
        unknown = history.customer_category.shape[1] - 1
        cat = np.asarray(history.product_category, np.int64)
        return cls.from_arrays(
            history.pair_keys // n_p,
            history.pair_keys % n_p,
            num_customers=history.customer_category.shape[0],
            num_products=n_p,
            product_category=np.where(cat == unknown, -1, cat),
            counts=history.pair_values[:, :-1].sum(axis=1),
        )

    def popularity(self) -> np.ndarray:
        """[P] float64: summed counts per product."""
        return np.bincount(self.products, weights=self.counts, minlength=self.num_products)

    def binary(self) -> sp.csr_matrix:
        """[C, P] csr with 1.0 where the customer interacted with the product at all."""
        x = sp.csr_matrix(
            (np.ones(len(self.customers)), (self.customers, self.products)),
            shape=(self.num_customers, self.num_products),
        )
        x.data[:] = 1.0  # duplicates were summed
        return x


class Baseline(ABC):
    """A scorer fitted on training interactions. Higher score = recommended first.

    Shapes: ``score_grid(rows [n])`` -> [n, P] float64; ``score_pairs(customers [N],
    products [N])`` -> [N] float64, equal to the grid's entries for those pairs.
    """

    name: ClassVar[str]
    num_customers: int
    num_products: int

    @classmethod
    @abstractmethod
    def fit(cls, data: Interactions, **options: Any) -> Baseline: ...

    @abstractmethod
    def _grid(self, rows: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _pairs(self, customers: np.ndarray, products: np.ndarray) -> np.ndarray: ...

    def score_grid(self, rows: Any) -> np.ndarray:
        """Every product scored for each customer row: [len(rows), P] float64."""
        return self._grid(_rows(rows, self.num_customers, "customer"))

    def score_pairs(self, customers: Any, products: Any) -> np.ndarray:
        """One score per (customers[i], products[i]): [N] float64."""
        c = _rows(customers, self.num_customers, "customer")
        p = _rows(products, self.num_products, "product")
        if len(c) != len(p):
            raise ValueError(f"{len(c)} customers for {len(p)} products")
        return self._pairs(c, p)


class Popular(Baseline):
    """score(c, p) = pop(p), the product's summed interaction counts: the same list for
    everyone (what ``predict`` excludes, e.g. products already seen, drops out later)."""

    name = "popular"

    def __init__(self, popularity: np.ndarray, num_customers: int) -> None:
        self.popularity = np.asarray(popularity, np.float64)
        self.num_customers = num_customers
        self.num_products = len(self.popularity)

    @classmethod
    def fit(cls, data: Interactions, **options: Any) -> Popular:
        _no_options(cls.name, options)
        return cls(data.popularity(), data.num_customers)

    def _grid(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.popularity, (len(rows), 1))

    def _pairs(self, customers: np.ndarray, products: np.ndarray) -> np.ndarray:
        return self.popularity[products]


def _blocks(row_cost: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive [start, end) ranges of rows whose summed cost stays within ``budget``
    (a row costing more than the budget gets a block of its own)."""
    bounds = [0]
    total = np.cumsum(row_cost, dtype=np.float64)
    while bounds[-1] < len(row_cost):
        start = bounds[-1]
        base = total[start - 1] if start else 0.0
        end = int(np.searchsorted(total, base + budget, side="right"))
        bounds.append(max(end, start + 1))
    return list(itertools.pairwise(bounds))


def _top_k_per_row(block: sp.csr_matrix, first: int, k: int) -> tuple[np.ndarray, ...]:
    """Largest ``k`` entries of each row of ``block`` (rows ``first``..), the diagonal
    left out; equal values keep the lower column. Returns (rows, cols, values) [m] each."""
    counts = np.diff(block.indptr)
    rows = np.repeat(np.arange(first, first + block.shape[0]), counts)
    cols, vals = block.indices.astype(np.int64), block.data
    off_diagonal = rows != cols
    rows, cols, vals = rows[off_diagonal], cols[off_diagonal], vals[off_diagonal]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    keep = rank < k
    return rows[keep], cols[keep].astype(np.int32), vals[keep]


class ItemKNN(Baseline):
    """Item-based kNN over the binary customer x product matrix X [C, P].

    sim(i, j) = |cust(i) ∩ cust(j)| / sqrt(|cust(i)| |cust(j)|) (cosine of X's columns),
    sim(i, i) = 0, and each item i keeps its ``neighbours`` most similar items (row i of
    M [P, P]). score(c, p) = sum over items i that c interacted with of M[i, p], i.e.
    X[c] @ M. Counts are ignored: once or ten times is one interaction.
    """

    name = "item_knn"

    def __init__(self, seen: sp.csr_matrix, similarity: sp.csr_matrix) -> None:
        self.seen = seen
        self.similarity = similarity
        self.incoming = similarity.T.tocsr()  # row p: sim(i, p) for every i keeping p
        self.num_customers, self.num_products = seen.shape

    @classmethod
    def fit(
        cls,
        data: Interactions,
        *,
        neighbours: int = 100,
        block_entries: int = 1_000_000,
        **options: Any,
    ) -> ItemKNN:
        """Similarity in blocks of items whose co-occurrence products hold at most about
        ``block_entries`` entries (bounded memory), top ``neighbours`` kept per block."""
        _no_options(cls.name, options)
        if neighbours < 1:
            raise ValueError(f"neighbours must be at least 1, got {neighbours}")
        x = data.binary()
        xt = x.T.tocsr()  # [P, C]
        norms = np.sqrt(np.diff(xt.indptr).astype(np.float64))
        # row i of xt @ x has at most sum over i's customers of their item count entries
        cost = xt @ np.diff(x.indptr).astype(np.float64)
        parts = []
        for start, end in _blocks(cost, block_entries):
            co = (xt[start:end] @ x).tocsr()
            row_norm = np.repeat(norms[start:end], np.diff(co.indptr))
            co.data = co.data / (row_norm * norms[co.indices])
            parts.append(_top_k_per_row(co, start, neighbours))
        n_p = data.num_products
        rows = np.concatenate([np.zeros(0, np.int64)] + [part[0] for part in parts])
        cols = np.concatenate([np.zeros(0, np.int32)] + [part[1] for part in parts])
        vals = np.concatenate([np.zeros(0)] + [part[2] for part in parts])
        # rows arrive sorted (blocks in order, each sorted by row): build the csr directly
        indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n_p))]
        return cls(x, sp.csr_matrix((vals, cols, indptr), shape=(n_p, n_p)))

    def _grid(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.seen[rows] @ self.similarity).toarray(), np.float64)

    def _pairs(self, customers: np.ndarray, products: np.ndarray) -> np.ndarray:
        out = np.empty(len(customers))
        for start in range(0, len(customers), 8192):  # bounded memory for many pairs
            end = start + 8192
            both = self.seen[customers[start:end]].multiply(self.incoming[products[start:end]])
            out[start:end] = np.asarray(both.sum(axis=1)).ravel()
        return out


class CategoryAffinity(Baseline):
    """score(c, p) = n(c, cat(p)) + gap * pop(p) / (max pop + 1).

    n(c, k): the customer's summed counts in leaf category k (0 for the unknown category);
    pop(p): the product's summed counts. The popularity term is below ``gap``, the smallest
    difference between two affinities (1 for whole counts), so it only breaks ties: the
    order is by affinity, then by popularity.
    """

    name = "category"

    def __init__(
        self, affinity: sp.csr_matrix, product_category: np.ndarray, tie_break: np.ndarray
    ) -> None:
        self.affinity = affinity  # [C, K]
        self.product_category = product_category  # [P], -1 unknown
        self.tie_break = tie_break  # [P]
        self.num_customers = affinity.shape[0]
        self.num_products = len(product_category)

    @classmethod
    def fit(cls, data: Interactions, **options: Any) -> CategoryAffinity:
        _no_options(cls.name, options)
        cat = data.product_category
        n_k = int(cat.max()) + 1 if len(cat) else 0
        known = cat[data.products] >= 0
        affinity = sp.csr_matrix(
            (data.counts[known], (data.customers[known], cat[data.products[known]])),
            shape=(data.num_customers, n_k),
        )
        affinity.sum_duplicates()
        values = np.unique(np.r_[0.0, affinity.data])
        gap = float(np.diff(values).min()) if len(values) > 1 else 1.0
        pop = data.popularity()
        max_pop = float(pop.max()) if len(pop) else 0.0
        return cls(affinity, cat, gap * pop / (max_pop + 1.0))

    def _grid(self, rows: np.ndarray) -> np.ndarray:
        out = np.tile(self.tie_break, (len(rows), 1))
        known = np.flatnonzero(self.product_category >= 0)
        dense = self.affinity[rows].toarray()
        out[:, known] += dense[:, self.product_category[known]]
        return out

    def _pairs(self, customers: np.ndarray, products: np.ndarray) -> np.ndarray:
        out = self.tie_break[products].copy()
        cat = self.product_category[products]
        known = np.flatnonzero(cat >= 0)
        if len(known):  # scipy returns an object array for empty index arrays
            out[known] += np.asarray(self.affinity[customers[known], cat[known]]).ravel()
        return out


BASELINES: dict[str, type[Baseline]] = {
    Popular.name: Popular,
    ItemKNN.name: ItemKNN,
    CategoryAffinity.name: CategoryAffinity,
}


def is_baseline(name: str) -> bool:
    """A report row of a baseline: a registered name, or the old ``heuristic`` row."""
    return name in BASELINES or name in LEGACY_BASELINES


def fit_baseline(name: str, data: Interactions, **options: Any) -> Baseline:
    """``BASELINES[name].fit(data, **options)``, with an error that lists the names."""
    if name not in BASELINES:
        raise KeyError(f"no baseline {name!r}; registered: {', '.join(BASELINES)}")
    return BASELINES[name].fit(data, **options)


def best_baseline(results: Mapping[str, Mapping[str, Any]], key: str) -> tuple[str, float] | None:
    """The baseline row (see :func:`is_baseline`) with the highest finite ``results[name][key]``
    (higher is better: recall, NDCG, AUC), as (name, value); None when no baseline has one.
    Equal values: the first in ``results``' order."""
    best: tuple[str, float] | None = None
    for name, metrics in results.items():
        value = metrics.get(key)
        if not is_baseline(name) or not isinstance(value, int | float):
            continue
        if math.isfinite(value) and (best is None or value > best[1]):
            best = (name, float(value))
    return best
