"""Distillation losses: pure functions, formulas in the docstrings.

For link prediction a pair's single logit ``z`` stands for the two-class
distribution ``softmax([0, z])`` = ``[1 - sigmoid(z), sigmoid(z)]``;
:func:`binary_logits_to_classes` makes that explicit so one set of losses serves
link prediction and node classification alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def binary_logits_to_classes(logit: Tensor) -> Tensor:
    """``z`` [N] -> ``[0, z]`` [N, 2]: the logits of (no interaction, interaction)."""
    return torch.stack([torch.zeros_like(logit), logit], dim=-1)


def hard_loss(student_logits: Tensor, labels: Tensor) -> Tensor:
    """``L_hard = -1/N sum_i log softmax(s_i)[y_i]`` (cross-entropy).

    Shapes: student_logits [N, K], labels [N] int64 -> scalar.
    """
    return F.cross_entropy(student_logits, labels)


def soft_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """``L_soft = T^2 * 1/N sum_i KL(p_t^T || p_s^T)``, ``p^T = softmax(logits / T)``,
    ``KL(p || q) = sum_k p_k (log p_k - log q_k)``.

    The ``T^2`` keeps the gradient scale of the soft term independent of ``T``
    (Hinton et al., 2015). Shapes: [N, K], [N, K] -> scalar.
    """
    log_p_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean()
    return temperature**2 * kl


def kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor | None,
    labels: Tensor | None,
    *,
    alpha: float,
    temperature: float,
    hard_label: str = "ground_truth",
) -> Tensor:
    """``L = L_hard + alpha * L_soft`` (see :func:`hard_loss`, :func:`soft_loss`).

    ``hard_label``: ``ground_truth`` uses ``labels``; ``teacher`` uses the teacher's
    argmax. Without a teacher this is ``L_hard``; without labels (and a ground-truth
    hard label) it is ``alpha * L_soft``. Shapes: [N, K], [N, K] | None, [N] | None.
    """
    if hard_label not in ("ground_truth", "teacher"):
        raise ValueError(f"hard_label must be 'ground_truth' or 'teacher', got {hard_label!r}")
    if hard_label == "teacher" and teacher_logits is not None:
        labels = teacher_logits.argmax(-1)
    total = student_logits.new_zeros(())
    if labels is not None:
        total = total + hard_loss(student_logits, labels)
    if teacher_logits is not None and alpha:
        total = total + alpha * soft_loss(student_logits, teacher_logits, temperature)
    if labels is None and teacher_logits is None:
        raise ValueError("kd_loss needs labels, a teacher, or both")
    return total
