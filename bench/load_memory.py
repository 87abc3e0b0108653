"""Peak memory of ``kgdistill load csv`` as the interactions file grows.

    .venv/bin/python bench/load_memory.py [--rows 2000000] [--keep DIR]

Writes an interactions-only shop in the CSV interchange format (customers = rows/25,
products = rows/100, four interaction types over 30 days, seeded), then runs
``kgdistill load csv`` on it as a user would, in its own process, against ``NEO4J_URI``'s
empty database or a private one (see bench/database.py), and reads that process's peak
resident memory from the kernel (``wait4``). The last line reads
``rows=N peak_rss_mb=X seconds=X rows_per_s=X`` (issue 13: below 400 MB at 2,000,000).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.database import database

TYPES = np.array(["CLICKED", "FAVORITED", "ADDED_TO_CART", "BOUGHT"])


def write_shop(directory: Path, rows: int, seed: int) -> None:
    """customers.csv, products.csv and interactions.csv of ``rows`` interactions."""
    rng = np.random.default_rng(seed)
    n_customers, n_products = max(rows // 25, 1), max(rows // 100, 1)
    customers = np.arange(n_customers) + 1_000_000
    products = np.arange(n_products) + 5_000_000
    np.savetxt(directory / "customers.csv", customers, fmt="%d", header="customer_id", comments="")
    prices = np.round(rng.gamma(2.0, 40.0, n_products), 2)
    np.savetxt(
        directory / "products.csv",
        np.column_stack([products, prices]),
        fmt=["%d", "%.2f"],
        delimiter=",",
        header="product_id,price",
        comments="",
    )
    with open(directory / "interactions.csv", "w", encoding="utf-8") as fh:
        fh.write("customer_id,product_id,type,timestamp\n")
        for start in range(0, rows, 500_000):
            n = min(500_000, rows - start)
            c = customers[rng.integers(0, n_customers, n)]
            p = products[np.minimum(rng.zipf(1.3, n) - 1, n_products - 1)]
            t = TYPES[rng.choice(4, n, p=[0.85, 0.05, 0.05, 0.05])]
            d = 20240601 + rng.integers(0, 30, n)
            fh.writelines(f"{a},{b},{k},{day}\n" for a, b, k, day in zip(c, p, t, d, strict=True))


def load(directory: Path, env: dict[str, str]) -> tuple[int, float, float]:
    """(exit code, seconds, peak resident MB) of ``kgdistill load csv --dir directory``."""
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kgdistill", "load", "csv", "--dir", str(directory), "--quiet"],
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.monotonic() - began, usage.ru_maxrss / 1024  # KiB on Linux


def add_shop_options(parser: argparse.ArgumentParser, rows: int) -> None:
    """--rows (default ``rows``), --seed and --keep: the shop :func:`shop` writes."""
    parser.add_argument("--rows", type=int, default=rows, help="interaction rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="DIR", help="write the CSV files here and keep them")


@contextlib.contextmanager
def shop(args: argparse.Namespace) -> Iterator[Path]:
    """The shop of ``args`` (:func:`add_shop_options`), written into --keep or into a
    temporary folder removed after."""
    with tempfile.TemporaryDirectory(prefix="kgdistill-shop-") as tmp:
        directory = Path(args.keep or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        write_shop(directory, args.rows, args.seed)
        size_mb = (directory / "interactions.csv").stat().st_size / 2**20
        took = time.monotonic() - t0
        print(f"wrote {args.rows:,} interactions ({size_mb:,.0f} MB) in {took:.0f}s", flush=True)
        yield directory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shop_options(parser, 2_000_000)
    parser.add_argument("--wipe", action="store_true", help="empty NEO4J_URI's database first")
    args = parser.parse_args()
    with shop(args) as directory, database("loadmem", allow_wipe=args.wipe) as runner:
        s = runner.settings
        env = dict(os.environ, NEO4J_URI=s.uri, NEO4J_USER=s.user, NEO4J_PASSWORD=s.password)
        code, seconds, peak = load(directory, env)
    if code != 0:
        print(f"kgdistill load csv failed (exit {code})")
        return 1
    print(
        f"rows={args.rows} peak_rss_mb={peak:.0f} seconds={seconds:.1f} "
        f"rows_per_s={args.rows / seconds:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
