"""Ranking objectives for the written top K: pure losses and the in-batch grids they score.

What ``predict`` writes is each customer's top K over the whole catalogue, so a
model is trained to rank, not only to classify pairs:

- :func:`in_batch_softmax` (sampled softmax with in-batch negatives): for B positive
  pairs ``(c_i, p_i)`` of a target day, every other product of the batch is a
  negative for ``c_i``. ``L_rank = -1/B sum_i log softmax_j(s_ij)[i]``.
- :func:`bpr` (Bayesian personalised ranking) on the same grid:
  ``L_bpr = -mean_{i, j != i} log sigmoid(s_ii - s_ij)``.
- :func:`listwise_kd`: distillation of the teacher's ranking of each customer's
  candidate list (the batch's products), not only of pair probabilities:
  ``L_list = T^2 * 1/B sum_i KL(softmax(t_i / T) || softmax(s_i / T))``.

Entries of the grid that are positives of their row as well (the same product or a
second positive of the same customer in the batch) are masked out of the softmax.
In-batch negatives are drawn as often as products occur among the positives, so a
grid's logits are corrected by ``-log q_j`` (the logQ correction of sampled softmax,
:func:`log_frequency`) before the ranking loss: the score then learns how likely
product ``j`` is for customer ``i``, popularity included, not only how much likelier
than its share of the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

RANK_LOSSES: tuple[str, ...] = ("softmax", "bpr", "none")
_MASKED = -1e9  # a logit that softmax turns into 0 without producing NaN


def in_batch_softmax(logits: Tensor, mask: Tensor) -> Tensor:
    """``L = -1/B sum_i log( exp(s_ii) / sum_{j: mask_ij} exp(s_ij) )``.

    ``mask[i, j]`` is False where ``j`` is another positive of row ``i`` (the diagonal
    is always kept). Shapes: logits [B, B], mask [B, B] bool -> scalar.
    """
    target = torch.arange(logits.size(0), device=logits.device)
    return F.cross_entropy(logits.masked_fill(~mask, _MASKED), target)


def in_batch_softmax_grad(
    logits: Tensor, duplicate: Tensor, loss: bool = False
) -> tuple[Tensor, Tensor | None]:
    """:func:`in_batch_softmax`'s gradient with respect to ``logits``, by hand:
    ``(softmax_j(s_ij) - [i = j]) / B`` over the kept entries (masked ones: 0), and the
    loss itself when ``loss`` (else None). For fits that need nothing else from
    autograd (:func:`distill.train.pretrain_ids`): one pass over the grid instead of
    the loss's and its backward's. ``duplicate[i, j]``: True where the mask is False
    (another positive of row ``i``; never the diagonal); ``logits`` is masked in
    place. Shapes: logits [B, B], duplicate [B, B] bool ->
    [B, B], scalar or None."""
    b = logits.size(0)
    logits.masked_fill_(duplicate, _MASKED)
    value = None
    if loss:
        value = (torch.logsumexp(logits, 1) - logits.diagonal()).mean()
    grad = torch.softmax(logits, 1)
    grad.diagonal().sub_(1.0)
    return grad.div_(b), value


def bpr(logits: Tensor, mask: Tensor) -> Tensor:
    """``L = -mean_{(i, j): mask_ij, j != i} log sigmoid(s_ii - s_ij)``.

    Shapes: logits [B, B], mask [B, B] bool -> scalar.
    """
    keep = mask & ~torch.eye(logits.size(0), dtype=torch.bool, device=logits.device)
    diff = logits.diagonal()[:, None] - logits
    if not keep.any():
        return logits.new_zeros(())
    return -F.logsigmoid(diff[keep]).mean()


def listwise_kd(student: Tensor, teacher: Tensor, mask: Tensor, temperature: float) -> Tensor:
    """``L = T^2 * 1/B sum_i KL(softmax(t_i / T) || softmax(s_i / T))`` over the kept
    entries of each row (masked entries take no probability on either side).

    Shapes: student [B, B], teacher [B, B], mask [B, B] bool -> scalar.
    """
    log_s = F.log_softmax(student.masked_fill(~mask, _MASKED) / temperature, dim=-1)
    log_t = F.log_softmax(teacher.masked_fill(~mask, _MASKED) / temperature, dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).masked_fill(~mask, 0.0).sum(-1).mean()
    return temperature**2 * kl


def rank_loss(kind: str, logits: Tensor, mask: Tensor) -> Tensor:
    """The configured ranking loss (``softmax`` or ``bpr``) on one in-batch grid."""
    if kind == "softmax":
        return in_batch_softmax(logits, mask)
    if kind == "bpr":
        return bpr(logits, mask)
    raise ValueError(f"rank loss must be one of {RANK_LOSSES[:-1]}, got {kind!r}")


@dataclass
class RankGrid:
    """B positive pairs and every (customer of the batch, product of the batch) cell.

    Shapes: customers, products [B] int64; features [B * B, F] float32 (row-major:
    cell (i, j) is row ``i * B + j``); mask [B, B] bool.
    """

    customers: Tensor
    products: Tensor
    features: Tensor
    mask: Tensor
    log_q: Tensor  # [B]: log of each column product's share of the pool drawn from

    @property
    def size(self) -> int:
        return int(self.customers.numel())


def positive_keys(customers: np.ndarray, products: np.ndarray, num_products: int) -> np.ndarray:
    return np.unique(np.asarray(customers, np.int64) * num_products + products)


def log_frequency(products: np.ndarray, num_products: int) -> np.ndarray:
    """``log q_p``: the log share of each product among ``products`` (the pool a grid's
    columns are drawn from); products absent from it get the share of one occurrence.
    Shapes: [N] -> [num_products] float32."""
    counts = np.bincount(np.asarray(products, np.int64), minlength=num_products).astype(float)
    return np.log(np.maximum(counts, 1.0) / max(len(products), 1)).astype(np.float32)


def _member(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, keys)`` for ``keys`` sorted and unique (:func:`positive_keys`):
    a binary search per value instead of sorting both together, as ``isin`` does on
    every call (most of a grid's cost at a million keys). Shapes: [N], [K] -> [N] bool."""
    if len(keys) == 0:
        return np.zeros(values.shape, bool)
    at = np.searchsorted(keys, values).clip(max=len(keys) - 1)
    return keys[at] == values


def sample_grid(
    customers: np.ndarray,
    products: np.ndarray,
    keys: np.ndarray,
    num_products: int,
    batch: int,
    rng: np.random.Generator,
    pair_features: Callable[[np.ndarray, np.ndarray], Tensor] | None,
    log_q: np.ndarray | None = None,
) -> RankGrid:
    """Draw ``batch`` of the positive pairs (``customers[i]``, ``products[i]``) and build
    their in-batch grid; ``keys`` (sorted ``customer * num_products + product`` of every
    positive) masks cells that are positives too. ``pair_features(c, p)`` gives the
    cells' pair features (None: zeros of width 0, for the embedding-only history loss);
    ``log_q`` [num_products] (:func:`log_frequency` of the pool), zeros when None.
    """
    pick = rng.choice(len(customers), size=min(batch, len(customers)), replace=False)
    c, p = np.asarray(customers)[pick], np.asarray(products)[pick]
    b = len(c)
    cell_c, cell_p = np.repeat(c, b), np.tile(p, b)
    pos = _member(cell_c * num_products + cell_p, keys).reshape(b, b)
    mask = ~pos | np.eye(b, dtype=bool)
    feats = pair_features(cell_c, cell_p) if pair_features is not None else torch.zeros(b * b, 0)
    return RankGrid(
        customers=torch.as_tensor(c, dtype=torch.long),
        products=torch.as_tensor(p, dtype=torch.long),
        features=feats,
        mask=torch.as_tensor(mask),
        log_q=torch.as_tensor(log_q[p] if log_q is not None else np.zeros(b, np.float32)),
    )
