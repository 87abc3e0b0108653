"""How learnable the interaction-only synthetic shop is: popularity, item-kNN and the oracle.

    .venv/bin/python bench/synthetic_cf.py [--customers 20000 --products 5000
        --interactions 500000 --seed 0]

Generates the shop with :func:`kgstore.sources.synthetic.generate_cf` (timed), trains
on every day but the last and ranks the whole catalogue for each customer with a
product on the last day that they had not seen before. Seen products are left out of
the ranking; Recall@K = |top-K ∩ new last-day products| / |new last-day products|,
averaged over those customers. Ties are broken at random (their expected position).

- popularity: training interactions per product (count summed);
- item-kNN: cosine similarity of products' training customer sets, a customer's
  score for a product summed over the products they saw;
- oracle: the true score u_c . v_p + b_p the shop was drawn from (no model can
  rank better in expectation).

Prints one line per ranking and ends with
``popularity=R itemknn=R oracle=R generate_s=S``. No database needed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kgstore.sources.plan import LoadPlan
from kgstore.sources.synthetic import CF_DIM, CF_TAU, cf_factors, generate_cf

Scorer = Callable[[np.ndarray], np.ndarray]  # customer rows -> scores [rows, P]


def split_last_day(plan: LoadPlan) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Binary customer x product matrices: seen before the last day, and on the last day."""
    frame = plan.interactions
    rows = frame["customer"].to_numpy(np.int64) - 1
    cols = frame["product"].to_numpy(np.int64) - 1
    last = frame["day"].to_numpy() == frame["day"].max()
    shape = (len(plan.customers), len(plan.products))

    def binary(mask: np.ndarray) -> sparse.csr_matrix:
        ones = np.ones(int(mask.sum()), np.float32)
        matrix = sparse.csr_matrix((ones, (rows[mask], cols[mask])), shape=shape)
        matrix.data[:] = 1.0
        return matrix

    return binary(~last), binary(last)


def recall_at_k(
    score: Scorer, seen: sparse.csr_matrix, test: sparse.csr_matrix, k: int = 20, block: int = 2048
) -> tuple[float, int]:
    """Mean Recall@K over customers with a new product on the test day, and how many."""
    new = (test - test.multiply(seen)).tocsr()
    new.eliminate_zeros()
    customers = np.flatnonzero(np.diff(new.indptr))
    rng = np.random.default_rng(0)
    recalls = []
    for lo in range(0, len(customers), block):
        rows = customers[lo : lo + block]
        scores = np.asarray(score(rows), np.float64)
        scores = scores + rng.random(scores.shape) * 1e-9 * (np.abs(scores).max() + 1.0)
        scores[seen[rows].toarray() > 0] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        positives = new[rows].toarray() > 0
        hits = np.take_along_axis(positives, top, axis=1).sum(axis=1)
        recalls.append(hits / positives.sum(axis=1))
    return float(np.concatenate(recalls).mean()), len(customers)


def popularity(plan: LoadPlan) -> Scorer:
    """Every customer gets the catalogue by training popularity (count summed)."""
    frame = plan.interactions
    train = frame[frame["day"] < frame["day"].max()]
    product = train["product"].to_numpy(np.int64) - 1
    counts = np.bincount(product, weights=train["count"], minlength=len(plan.products))
    return lambda rows: np.broadcast_to(counts, (len(rows), len(counts)))


def item_knn(seen: sparse.csr_matrix) -> Scorer:
    """Cosine item-item similarity of training customer sets, summed over a customer's items."""
    cooc = (seen.T @ seen).toarray().astype(np.float32)
    norm = np.sqrt(np.maximum(np.diag(cooc), 1.0))
    similarity = cooc / norm[:, None] / norm[None, :]
    np.fill_diagonal(similarity, 0.0)
    return lambda rows: np.asarray(seen[rows] @ similarity)


def main(argv: list[str] | None = None) -> int:
    """Generate the shop, then print Recall@K for popularity, item-kNN and the oracle."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=5_000)
    parser.add_argument("--interactions", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dim", type=int, default=CF_DIM)
    parser.add_argument("--tau", type=float, default=CF_TAU)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args(argv)

    began = time.perf_counter()
    plan = generate_cf(
        args.customers, args.products, args.interactions, args.seed, dim=args.dim, tau=args.tau
    )
    generate_s = time.perf_counter() - began
    print(f"generated {plan.counts()} in {generate_s:.1f} s")
    seen, test = split_last_day(plan)
    factors = cf_factors(args.customers, args.products, args.seed, dim=args.dim)
    results = {}
    for name, scorer in (
        ("popularity", popularity(plan)),
        ("itemknn", item_knn(seen)),
        ("oracle", factors.scores),
    ):
        results[name], evaluated = recall_at_k(scorer, seen, test, args.k)
        print(f"{name:>10}  recall@{args.k} = {results[name]:.4f}  ({evaluated:,} customers)")
    figures = " ".join(f"{name}={value:.4f}" for name, value in results.items())
    print(f"{figures} generate_s={generate_s:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
