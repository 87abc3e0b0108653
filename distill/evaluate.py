"""The comparison: teacher, distilled and no-KD students, heuristic; same split, several seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kgstore.graphframe import normalize_id

EVAL_PAIR_COLUMNS = ("customer_id", "product_id", "label", "split")


def read_eval_pairs(path: str | Path) -> pd.DataFrame:
    """Labelled pairs (EComm ``ecomm_edge_val_lr_train_test.txt``): tab-separated, no header,
    columns customer id, product id, label (1/0), split (0 validation positives,
    1 train/validation, 2 TEST). Ids are normalised like GraphFrame ids."""
    table = pd.read_csv(
        path, sep="\t", header=None, names=list(EVAL_PAIR_COLUMNS), dtype=str, keep_default_na=False
    )
    if table.empty:
        raise ValueError(f"{path}: no labelled pairs")
    bad = ~table["label"].isin(["0", "1"])
    if bad.any():
        line = int(np.nonzero(bad.to_numpy())[0][0]) + 1
        raise ValueError(f"{path}:{line}: label must be 0 or 1, got {table['label'][line - 1]!r}")
    return pd.DataFrame(
        {
            "customer_id": [normalize_id(v) for v in table["customer_id"]],
            "product_id": [normalize_id(v) for v in table["product_id"]],
            "label": table["label"].astype(np.int64),
            "split": table["split"].astype(np.int64),
        }
    )
