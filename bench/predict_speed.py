"""Top K for every customer: the exact grid against the shortlist, side by side in one run.

    .venv/bin/python bench/predict_speed.py [--shop cf|ecomm] [--customers 70679
        --products 24915 --interactions 652514 --k 20 --sample 256 --epochs 2
        --recall-customers 1000] [--shortlist 100 400 ...] [--probes 8 32 128]

Builds the interaction-only synthetic shop of issue 13 (:func:`generate_cf`, ids only;
``--shop ecomm``: the bundled EComm sample, every feature, category and brand) as a
GraphFrame in this process (no Neo4j), then the default student
(``RunConfig().eval.default_student``) and trains it for ``--epochs`` (without a
teacher; 0: fresh weights, enough for timing), and times
:meth:`distill.predict.Scorer.top_k` both ways on one Scorer:

- exact (``shortlist=0``): every product's exact ranking logit per customer, timed on
  ``--sample`` customers (at the old rate every customer would take minutes);
- fast (the default shortlist, ``max(10 k, 200)``): every customer of the shop, the
  embeddings included; first with the cheap score's structural product in float32,
  then with ``[predict] cheap_precision = "auto"``, the default (bfloat16 where this
  machine multiplies in it at least 1.5x faster).

Then the recall of the fast top K against the exact one (|fast ∩ exact| / |exact|, and
with ties counted: :func:`recall`) over the first ``--recall-customers`` customers,
and the same for each ``--shortlist`` size given. With ``--probes``, the approximate
index too (``[predict] index = "faiss"``, :class:`distill.predict.ProductIndex`): its
build time, then for each number of lists searched per customer, every customer's top
K through it (customers/s) and its recall against the exact top K, side by side with
the rows above. The last line reads
``customers=N products=M exact_customers_per_s=X fast_customers_per_s=Y recall_vs_exact=Z
cheap_precision=DTYPE fast_float32_customers_per_s=W``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
import torch

from distill.artifact import LoadedModel, build_model
from distill.config import IndexOptions, RunConfig
from distill.data import FeatureEncoder
from distill.predict import Scorer
from distill.tasks import link_snapshots
from distill.train import train_link_model
from kgframe import GraphFrame
from kgstore.sources.ecomm import read_ecomm_frame
from kgstore.sources.synthetic import generate_cf


def cf_frame(customers: int, products: int, interactions: int, seed: int) -> GraphFrame:
    """The ``load synthetic --mode cf`` shop as ``extract`` would read it back: ids only,
    no category, brand or price (the plan's ids are 1..N, rows 0..N-1)."""
    plan = generate_cf(customers, products, interactions, seed=seed)
    inter = plan.interactions.copy()
    inter["customer"] = inter["customer"].to_numpy(np.int64) - 1
    inter["product"] = inter["product"].to_numpy(np.int64) - 1
    none = np.full(len(plan.products), -1, np.int64)
    return GraphFrame(
        customers=pd.DataFrame({"id": [row["id"] for row in plan.customers]}),
        products=pd.DataFrame(
            {
                "id": [row["id"] for row in plan.products],
                "price": np.full(len(plan.products), np.nan),
                "category": none,
                "brand": none,
            }
        ),
        categories=pd.DataFrame({"id": [], "level": [], "parent": []}),
        brands=pd.DataFrame({"id": []}),
        interactions=inter,
    )


def default_student(frame: GraphFrame, epochs: int) -> LoadedModel:
    """The default student, trained ``epochs`` on the frame's snapshots (no teacher)."""
    config = RunConfig()
    name = config.eval.default_student
    student = config.student(name)
    encoder = FeatureEncoder.fit(frame, config.structure.encoder_settings())  # as train fits it
    model = build_model(student.spec(), encoder, frame.num_customers, frame.num_products)
    if epochs:
        rng = np.random.default_rng(0)
        # no teacher, so no unlabelled candidates for it to label
        kd = replace(config.kd, candidates_per_pair=0)
        snaps = link_snapshots(frame, encoder, config.task, kd, rng)
        train_link_model(
            model,
            snaps[:-1],
            snaps[-1],
            lr=student.lr,
            weight_decay=student.weight_decay,
            epochs=epochs,
            train=config.train,
        )
    ids = frame.customers["id"].tolist(), frame.products["id"].tolist()
    return LoadedModel(name, model.eval(), student.spec(), encoder, *ids)


def recall(fast: pd.DataFrame, exact: pd.DataFrame) -> tuple[float, float]:
    """|fast top K ∩ exact top K| / |exact top K| over the same customers; and the same
    with ties counted: a fast product scoring at least the customer's exact K-th score
    (products without features or history score alike, so either top K may hold any
    of them)."""
    hits = len(fast.merge(exact, on=["customer_id", "product_id"]))
    kth = exact.groupby("customer_id")["score"].min()
    tied = int((fast["score"].to_numpy() >= kth[fast["customer_id"]].to_numpy() - 1e-6).sum())
    return hits / max(len(exact), 1), tied / max(len(exact), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shop", choices=("cf", "ecomm"), default="cf")
    parser.add_argument("--customers", type=int, default=70_679)
    parser.add_argument("--products", type=int, default=24_915)
    parser.add_argument("--interactions", type=int, default=652_514)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--sample", type=int, default=256, help="customers timed the exact way")
    parser.add_argument("--epochs", type=int, default=2, help="0: fresh weights")
    parser.add_argument("--recall-customers", type=int, default=1000)
    parser.add_argument("--shortlist", type=int, nargs="*", default=[], help="more sizes")
    parser.add_argument("--probes", type=int, nargs="*", default=[], help="index: lists searched")
    parser.add_argument("--threads", type=int, default=RunConfig().train.threads)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    began = time.perf_counter()
    if args.shop == "ecomm":
        frame = read_ecomm_frame()
    else:
        frame = cf_frame(args.customers, args.products, args.interactions, seed=0)
    print(f"shop: {frame.summary()} ({time.perf_counter() - began:.0f}s)")
    began = time.perf_counter()
    scorer = Scorer(default_student(frame, args.epochs), frame, cheap_precision="auto")
    print(
        f"student {scorer.loaded.name}, {args.epochs} epoch(s) ({time.perf_counter() - began:.0f}s)"
    )
    ids = frame.customers["id"].to_numpy()
    sample = np.random.default_rng(1).choice(ids, min(args.sample, len(ids)), replace=False)

    began = time.perf_counter()
    scorer.top_k(sample.tolist(), k=args.k, shortlist=0)
    exact_rate = len(sample) / (time.perf_counter() - began)
    # the same model with the cheap score's structural product in float32; the rows
    # above it: "auto" (the default), bfloat16 where this machine multiplies in it faster
    full = Scorer(scorer.loaded, frame, cheap_precision="float32")
    began = time.perf_counter()
    full.top_k(k=args.k)
    float32_rate = frame.num_customers / (time.perf_counter() - began)
    began = time.perf_counter()
    everyone = scorer.top_k(k=args.k, progress=True)
    fast_rate = frame.num_customers / (time.perf_counter() - began)
    print(f"exact: {len(sample)} customers, {exact_rate:,.0f} customers/s")
    print(
        f"fast:  {frame.num_customers:,} customers, {fast_rate:,.0f} customers/s "
        f"({len(everyone):,} rows, {frame.num_customers / fast_rate:.1f}s; its cheap score "
        f"in {scorer.cheap_dtype}); in float32 {float32_rate:,.0f} customers/s"
    )

    checked = ids[: args.recall_customers].tolist()
    exact = scorer.top_k(checked, k=args.k, shortlist=0)
    measured, tied = recall(scorer.top_k(checked, k=args.k), exact)
    print(f"default shortlist: recall_vs_exact={measured:.4f} with_ties={tied:.4f}")
    at, tied = recall(full.top_k(checked, k=args.k), exact)
    print(f"default shortlist, float32: recall_vs_exact={at:.4f} with_ties={tied:.4f}")
    for size in args.shortlist:
        at, tied = recall(scorer.top_k(checked, k=args.k, shortlist=size), exact)
        print(f"shortlist={size}: recall_vs_exact={at:.4f} with_ties={tied:.4f}")
    if args.probes:
        began = time.perf_counter()
        index = scorer.approximate_index()
        print(f"index: {index.lists} lists, built in {time.perf_counter() - began:.1f}s")
    for probes in args.probes:
        options = IndexOptions(probes=probes)
        began = time.perf_counter()
        scorer.top_k(k=args.k, index=options)
        rate = frame.num_customers / (time.perf_counter() - began)
        at, tied = recall(scorer.top_k(checked, k=args.k, index=options), exact)
        print(
            f"index=faiss probes={probes} customers_per_s={rate:.0f} "
            f"recall_vs_exact={at:.4f} with_ties={tied:.4f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(
        f"customers={frame.num_customers} products={frame.num_products} "
        f"exact_customers_per_s={exact_rate:.0f} fast_customers_per_s={fast_rate:.0f} "
        f"recall_vs_exact={measured:.4f} cheap_precision={scorer.cheap_dtype} "
        f"fast_float32_customers_per_s={float32_rate:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
