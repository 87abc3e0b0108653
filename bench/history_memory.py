"""Resident memory of one ``History`` (the pair features' counts) at shop scale.

    .venv/bin/python bench/history_memory.py [--interactions 5000000]
        [--categories 401] [--brands 66]

Builds the interaction-only synthetic shop (customers = N/25, products = N/100, as
``bench/scale.py``; in memory, no Neo4j) and gives its products ``--categories``
categories and ``--brands`` brands at random (a fifth with no brand; the feature
shop of ``bench/scale.py`` has 401 and 66 at 5,000,000 interactions). Then builds
one :class:`distill.data.History` and its lookup tables, as every snapshot of a run
does, and prints the resident memory that added, the bytes of its category and
brand cells (held sparse: the cells customers touched), what the dense tables held
before 2026-12-05 took for the same shop (float64 counts, recency-weighted counts
and brand counts, and their float32 lookup copies: ``customers x (categories + 1) x
(8 + 8 + 4 + 4 + 4) + customers x (brands + 1) x (8 + 4)`` bytes), and the time
``pair_features`` takes for 1,000,000 pairs. The last line reads
``interactions=N history_mb=X cells_mb=X dense_tables_mb=X seconds=X``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from bench.predict_speed import cf_frame
from distill.data import History


def _resident_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--categories", type=int, default=401)
    parser.add_argument("--brands", type=int, default=66)
    args = parser.parse_args(argv)
    n, n_k, n_b = args.interactions, args.categories, args.brands
    frame = cf_frame(n // 25, n // 100, n, 0)
    rng = np.random.default_rng(0)
    frame.products["category"] = rng.integers(0, n_k, frame.num_products)
    brand = rng.integers(0, n_b, frame.num_products)
    frame.products["brand"] = np.where(rng.random(frame.num_products) < 0.2, -1, brand)
    frame.categories = pd.DataFrame({"id": np.arange(n_k), "level": 2, "parent": -1})
    frame.brands = pd.DataFrame({"id": np.arange(n_b)})
    before = _resident_mb()
    began = time.perf_counter()
    history = History.from_frame(frame)
    history.pair_features(np.arange(10), np.arange(10))  # the lookup tables, built once
    seconds = time.perf_counter() - began
    added = _resident_mb() - before
    cells = sum(
        t.keys.nbytes + t.values.nbytes for t in (history.customer_category, history.customer_brand)
    )
    n_c = frame.num_customers
    dense = n_c * (n_k + 1) * (8 + 8 + 4 + 4 + 4) + n_c * (n_b + 1) * (8 + 4)
    pairs = 1_000_000
    began = time.perf_counter()
    history.pair_features(np.arange(pairs) % n_c, rng.integers(0, frame.num_products, pairs))
    lookup = time.perf_counter() - began
    print(
        f"{n:,} interactions, {n_c:,} customers, {frame.num_products:,} products, "
        f"{n_k} categories, {n_b} brands: one History added {added:,.0f} MB resident in "
        f"{seconds:.1f} s; its category and brand cells {cells / 2**20:,.0f} MB "
        f"({len(history.customer_category.keys):,} and {len(history.customer_brand.keys):,} "
        f"cells); dense tables would take {dense / 2**20:,.0f} MB; pair_features of "
        f"{pairs:,} pairs {lookup:.2f} s"
    )
    print(
        f"interactions={n} history_mb={added:.0f} cells_mb={cells / 2**20:.0f} "
        f"dense_tables_mb={dense / 2**20:.0f} seconds={seconds:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
