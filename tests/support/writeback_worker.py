"""A write-back in its own process, for the crash test to kill the database under.

    NEO4J_URI=... NEO4J_PASSWORD=... python -m tests.support.writeback_worker \
        RUN_ID OFFSET CUSTOMERS PRODUCTS K BATCH_SIZE
"""

from __future__ import annotations

import sys

import pandas as pd

from kgdistill.server import settings_from_env
from kgstore.connection import QueryRunner
from kgstore.writeback import RunInfo, write_predictions


def frame(offset: int, customers: int, products: int, k: int) -> pd.DataFrame:
    """Customer ``c`` (1..customers) gets products ``(c * offset + j) % products``, j < k."""
    rows = [
        {
            "customer_id": c,
            "product_id": (c * offset + j) % products,
            "score": 1.0 - j / 100,
            "rank": j + 1,
        }
        for c in range(1, customers + 1)
        for j in range(k)
    ]
    return pd.DataFrame(rows)


def main(argv: list[str]) -> int:
    run_id, offset, customers, products, k, batch = argv
    with QueryRunner.connect(settings_from_env()) as runner:
        write_predictions(
            runner,
            frame(int(offset), int(customers), int(products), int(k)),
            RunInfo(run_id, "crash-test", "1"),
            batch_size=int(batch),
            progress=False,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
