"""Node vectors from another tool (GDS's FastRP) scored exactly as kgdistill's models are.

Two routes a Neo4j user takes with FastRP vectors of customers and products:

- cosine: ``s(c, p) = <z_c, z_p> / (|z_c| |z_p|)``;
- logistic regression on the Hadamard product ``z_c * z_p``, fitted on the validation
  split: ``s(c, p) = w . (z_c * z_p) + b``.

Both are also a matrix product over all products (``(z_c * w) @ Z_p^T + b``), so top K
is exact, and both go through :func:`distill.evaluate.quality`: the same pairs, the same
ranked customers, the same seen products left out as every model of a kgdistill run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from distill.evaluate import EvalContext, quality, validation_recall
from distill.metrics import auc
from distill.tasks import Snapshot


def unit_rows(z: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero)."""
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return z / np.where(norms > 0, norms, 1.0)


def _pairs(snapshot: Snapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = snapshot.pairs
    return p.customers.numpy(), p.products.numpy(), p.labels.numpy()


def cosine_scores(z_c: np.ndarray, z_p: np.ndarray, c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Cosine of customer rows ``c`` and product rows ``p``. Shapes: [N] each -> [N]."""
    return np.einsum("nd,nd->n", unit_rows(z_c[c]), unit_rows(z_p[p]))


def validation_auc(ctx: EvalContext, z_c: np.ndarray, z_p: np.ndarray) -> float:
    """The cosine route's AUC on the validation split (to choose a FastRP configuration)."""
    c, p, y = _pairs(ctx.val)
    return auc(y, cosine_scores(z_c, z_p, c, p))


def validation_cosine_recall(ctx: EvalContext, z_c: np.ndarray, z_p: np.ndarray, k: int) -> float:
    """The cosine route's Recall@K on the validation split (to choose a FastRP
    configuration for ranking)."""
    u_c, u_p = unit_rows(z_c), unit_rows(z_p)
    return validation_recall(ctx, lambda rows: u_c[rows] @ u_p.T, k)


def cosine_route(ctx: EvalContext, z_c: np.ndarray, z_p: np.ndarray, k: int) -> dict[str, Any]:
    c, p, _ = _pairs(ctx.test)
    u_c, u_p = unit_rows(z_c), unit_rows(z_p)
    scores = cosine_scores(z_c, z_p, c, p)
    return quality(ctx, scores, lambda rows: u_c[rows] @ u_p.T, k).as_dict()


def fit_hadamard_logistic(
    ctx: EvalContext, z_c: np.ndarray, z_p: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, float]:
    """``(w, b)`` of a logistic regression on ``z_c * z_p`` over the validation pairs."""
    c, p, y = _pairs(ctx.val)
    model = LogisticRegression(max_iter=2000, random_state=seed)
    model.fit(z_c[c] * z_p[p], y)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def logistic_route(
    ctx: EvalContext, z_c: np.ndarray, z_p: np.ndarray, k: int, seed: int = 0
) -> dict[str, Any]:
    w, b = fit_hadamard_logistic(ctx, z_c, z_p, seed)
    c, p, _ = _pairs(ctx.test)
    scores = (z_c[c] * z_p[p]) @ w + b
    z_pt = z_p.T.astype(np.float64)
    return quality(ctx, scores, lambda rows: (z_c[rows] * w) @ z_pt + b, k).as_dict()
