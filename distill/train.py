"""Training loops: full batch over snapshots, early stopping on validation AUC, seeded.

:func:`train_link_model` trains any :class:`~distill.models.LinkPredictor`, with or
without a teacher: given ``teacher_logits`` it minimises
``L = L_hard + alpha * L_soft`` over labelled pairs and unlabelled candidates;
without, ``L_hard`` over labelled pairs only. :func:`train_node_classifier` is the
same for node classification.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from distill.config import KDConfig, TrainConfig
from distill.losses import binary_logits_to_classes, kd_loss
from distill.metrics import auc
from distill.models import LinkPredictor, NodeClassifier
from distill.tasks import IGNORE, NodeTask, Snapshot

SCORE_BATCH = 262_144


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    """What a training run gives back. ``curve``: (epoch, train loss, validation AUC)."""

    model: torch.nn.Module
    best_epoch: int
    best_val: float
    epochs_run: int
    seconds: float
    curve: list[tuple[int, float, float]] = field(default_factory=list)


@torch.no_grad()
def score_snapshot(model: LinkPredictor, snap: Snapshot) -> Tensor:
    """Logits [N] for every pair of a snapshot (eval mode, batched decode)."""
    model.eval()
    z_c, z_p = model.embeddings(snap.graph)
    pairs = snap.pairs
    out = []
    for start in range(0, len(pairs), SCORE_BATCH):
        sl = slice(start, start + SCORE_BATCH)
        c, p = pairs.customers[sl], pairs.products[sl]
        out.append(model.decoder(z_c[c], z_p[p], pairs.features[sl]))
    return torch.cat(out) if out else torch.zeros(0)


def _val_auc(model: LinkPredictor, val: Snapshot) -> float:
    return auc(val.pairs.labels.numpy(), score_snapshot(model, val).numpy())


def train_link_model(
    model: LinkPredictor,
    snapshots: list[Snapshot],
    val: Snapshot,
    *,
    lr: float,
    weight_decay: float,
    epochs: int,
    train: TrainConfig,
    teacher_logits: list[Tensor] | None = None,
    kd: KDConfig | None = None,
    desc: str = "train",
    on_eval: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``snapshots``; keep the weights with the best validation AUC.

    ``on_eval(epoch, val_auc)`` is called after each validation (a search uses it to
    stop hopeless trials early, by raising).

    With ``teacher_logits`` (one tensor per snapshot, aligned with its pairs, which may
    include unlabelled candidates labelled :data:`~distill.tasks.IGNORE` and whole
    unlabelled snapshots) the loss is ``kd_loss``; without, candidates are dropped and
    the loss is the cross-entropy on labelled pairs.
    """
    torch.set_num_threads(max(1, train.threads))
    seed_everything(train.seed)
    model.reset_parameters()
    distil = teacher_logits is not None
    if distil and kd is None:
        raise ValueError("distillation needs a KDConfig")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    use = []
    for i, snap in enumerate(snapshots):
        labels = snap.pairs.labels
        keep = torch.ones_like(labels, dtype=torch.bool) if distil else labels != IGNORE
        if keep.any():
            use.append((snap, keep, teacher_logits[i] if teacher_logits is not None else None))

    best_val, best_epoch, best_state = -1.0, 0, copy.deepcopy(model.state_dict())
    curve: list[tuple[int, float, float]] = []
    since_best = 0
    start = time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc=desc, disable=not train.progress, leave=False)
    epoch = 0
    for epoch in bar:
        model.train()
        optimizer.zero_grad()
        total = 0.0
        for snap, keep, t_logits in use:
            pairs = snap.pairs
            logits = model(
                snap.graph, pairs.customers[keep], pairs.products[keep], pairs.features[keep]
            )
            labels = pairs.labels[keep]
            has_labels = bool((labels != IGNORE).any())
            loss = kd_loss(
                binary_logits_to_classes(logits),
                binary_logits_to_classes(t_logits[keep]) if t_logits is not None else None,
                labels if has_labels else None,
                alpha=kd.alpha if kd is not None else 0.0,
                temperature=kd.temperature if kd is not None else 1.0,
                hard_label=kd.hard_label if kd is not None else "ground_truth",
            )
            loss.backward()
            total += loss.item()
        optimizer.step()
        if epoch % train.eval_every == 0 or epoch == epochs:
            val_auc = _val_auc(model, val)
            curve.append((epoch, total, val_auc))
            if on_eval is not None:
                on_eval(epoch, val_auc)
            bar.set_postfix(loss=f"{total:.3f}", val_auc=f"{val_auc:.4f}")
            if val_auc > best_val:
                best_val, best_epoch, since_best = val_auc, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += train.eval_every
                if since_best >= train.patience:
                    break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, best_epoch, best_val, epoch, time.perf_counter() - start, curve)


def train_node_classifier(
    model: NodeClassifier,
    task: NodeTask,
    *,
    lr: float,
    weight_decay: float,
    epochs: int,
    train: TrainConfig,
    teacher: NodeClassifier | None = None,
    kd: KDConfig | None = None,
    desc: str = "train",
) -> TrainResult:
    """Node classification with the same loss; with a teacher, soft targets cover every
    node of the type (labelled or not) and the hard loss the training nodes."""
    torch.set_num_threads(max(1, train.threads))
    seed_everything(train.seed)
    model.reset_parameters()
    t_logits = None
    if teacher is not None:
        if kd is None:
            raise ValueError("distillation needs a KDConfig")
        teacher.eval()
        with torch.no_grad():
            t_logits = teacher(task.graph)
    labels = torch.where(task.train_mask, task.labels, torch.full_like(task.labels, IGNORE))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best_val, best_epoch, best_state = -1.0, 0, copy.deepcopy(model.state_dict())
    curve: list[tuple[int, float, float]] = []
    since_best, epoch = 0, 0
    start = time.perf_counter()
    for epoch in tqdm(range(1, epochs + 1), desc=desc, disable=not train.progress, leave=False):
        model.train()
        optimizer.zero_grad()
        logits = model(task.graph)
        if t_logits is None:
            logits, target, soft = logits[task.train_mask], labels[task.train_mask], None
        else:
            target, soft = labels, t_logits
        loss = kd_loss(
            logits,
            soft,
            target,
            alpha=kd.alpha if kd is not None else 0.0,
            temperature=kd.temperature if kd is not None else 1.0,
            hard_label=kd.hard_label if kd is not None else "ground_truth",
        )
        loss.backward()
        optimizer.step()
        if epoch % train.eval_every == 0 or epoch == epochs:
            acc = node_accuracy(model, task, task.val_mask)
            curve.append((epoch, loss.item(), acc))
            if acc > best_val:
                best_val, best_epoch, since_best = acc, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += train.eval_every
                if since_best >= train.patience:
                    break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, best_epoch, best_val, epoch, time.perf_counter() - start, curve)


@torch.no_grad()
def node_accuracy(model: NodeClassifier, task: NodeTask, mask: Tensor) -> float:
    model.eval()
    pred = model(task.graph).argmax(-1)
    return float((pred[mask] == task.labels[mask]).float().mean())
