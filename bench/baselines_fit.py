"""Time to fit each baseline on a random shop the size of a real one, and to score with it.

    .venv/bin/python bench/baselines_fit.py [--customers 70000] [--products 25000]
        [--interactions 650000] [--zipf 0.0] [--neighbours 100] [--seed 0]

Customers are drawn uniformly; products uniformly (``--zipf 0``) or with weight
1 / (rank + 1) ** zipf (``--zipf 1`` gives a few products most of the interactions, the
hard case for item-kNN's co-occurrence blocks). Prints, per baseline: fit seconds, the
peak memory numpy allocated while fitting (tracemalloc), and the time to score a grid of
16 customers x every product and 100,000 random pairs.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from distill.baselines import BASELINES, Interactions, fit_baseline


def random_shop(args: argparse.Namespace) -> Interactions:
    rng = np.random.default_rng(args.seed)
    n = args.interactions
    weights = 1.0 / (np.arange(args.products) + 1.0) ** args.zipf
    products = rng.choice(args.products, n, p=weights / weights.sum())
    return Interactions.from_arrays(
        rng.integers(0, args.customers, n),
        rng.permutation(args.products)[products],
        num_customers=args.customers,
        num_products=args.products,
        product_category=rng.integers(-1, 400, args.products),
        counts=rng.integers(1, 4, n),
    )


# the shop's size and shape: a flag for each (``--zipf 1``), typed by its default
DEFAULTS: dict[str, int | float] = {
    "customers": 70_000,
    "products": 25_000,
    "interactions": 650_000,
    "zipf": 0.0,
    "neighbours": 100,
    "seed": 0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    args = parser.parse_args()
    data = random_shop(args)
    rng = np.random.default_rng(args.seed + 1)
    rows = rng.integers(0, args.customers, 16)
    pairs = rng.integers(0, args.customers, 100_000), rng.integers(0, args.products, 100_000)
    print(
        f"{args.customers} customers x {args.products} products, {args.interactions} "
        f"interactions, zipf {args.zipf}"
    )
    for name in BASELINES:
        options = {"neighbours": args.neighbours} if name == "item_knn" else {}
        tracemalloc.start()
        start = time.perf_counter()
        model = fit_baseline(name, data, **options)
        fit_s = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        start = time.perf_counter()
        model.score_grid(rows)
        grid_ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        model.score_pairs(*pairs)
        pairs_ms = (time.perf_counter() - start) * 1000
        print(
            f"{name:<10} fit {fit_s:6.2f} s  peak {peak / 2**20:7.1f} MiB  "
            f"grid 16 x {args.products}: {grid_ms:7.1f} ms  100k pairs: {pairs_ms:7.1f} ms"
        )


if __name__ == "__main__":
    main()
