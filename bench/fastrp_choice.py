"""How ``[structure]``'s defaults were chosen: kgdistill's FastRP alone, on validation.

    .venv/bin/python bench/fastrp_choice.py [--seeds 0 1 2]

On EComm (the bundled files, no database, as ``bench/structure.py`` reads them), for
each FastRP configuration of the grid ``kgdistill peer gds`` searches in GDS
(:data:`kgdistill.peer.FASTRP_GRID`: dimension, iteration weights, degree
normalization), kgdistill's own vectors (:func:`distill.structure.fastrp`) score
customers and products by their cosine, ranked exactly as every model is: Recall@20 on
the validation split (split 1, the figure the choice is made on) and on the test split
(split 2), the mean over ``--seeds`` random projections. One line per configuration,
then the one with the best validation Recall@20:

    dim=D weights=W normalization=N val_recall20=R test_recall20=R test_auc=A
    chosen: dim=D weights=W normalization=N
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.structure import dataset
from distill import peer
from distill.config import RunConfig
from distill.evaluate import prepare
from distill.structure import fastrp
from kgdistill.peer import FASTRP_GRID


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    frame, pairs = dataset("ecomm", 0)
    config = RunConfig()
    ctx = prepare(frame, pairs, config)
    k = config.eval.k
    best: tuple[float, str] | None = None
    for gds_config in FASTRP_GRID:
        dim = int(gds_config["embeddingDimension"])
        weights = [float(w) for w in gds_config["iterationWeights"]]
        norm = float(gds_config["normalizationStrength"])
        val, test, test_auc = [], [], []
        for seed in args.seeds:
            z_c, z_p = fastrp(frame, dim=dim, weights=weights, seed=seed, normalization=norm)
            val.append(peer.validation_cosine_recall(ctx, z_c, z_p, k))
            result = peer.cosine_route(ctx, z_c, z_p, k)
            test.append(result[f"recall@{k}"])
            test_auc.append(result["auc"])
        name = f"dim={dim} weights={','.join(f'{w:g}' for w in weights)} normalization={norm:g}"
        print(
            f"{name} val_recall{k}={np.mean(val):.4f} test_recall{k}={np.mean(test):.4f} "
            f"test_auc={np.mean(test_auc):.4f}",
            flush=True,
        )
        if best is None or np.mean(val) > best[0]:
            best = (float(np.mean(val)), name)
    assert best is not None
    print(f"chosen: {best[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
