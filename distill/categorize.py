"""Node classification in production: a category for products listed without one.

The products that have a category teach; a share of them is hidden (feature and
``IN_CATEGORY`` edge) to make the labelled set (:func:`distill.tasks.product_category_task`).
The teacher is a graph model of the configured convolution, the student the graph-free
MLP distilled from it with the same loss as link prediction. The student then scores the
products that have no category at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from distill.config import ModelConfig, RunConfig
from distill.data import NODE_TYPES, FeatureEncoder
from distill.models import NodeClassifier, build_encoder
from distill.tasks import NodeTask, product_category_task
from distill.train import node_accuracy, train_node_classifier
from kgframe import GraphFrame


@dataclass
class CategoryPredictions:
    """``predictions``: product_id, category_id, score, rank (rank 1 the predicted class)."""

    predictions: pd.DataFrame
    metrics: dict[str, Any] = field(default_factory=dict)
    model: str = "student_mlp_category"


def _classifier(
    kind: str,
    model_config: ModelConfig,
    encoder: FeatureEncoder,
    frame: GraphFrame,
    num_classes: int,
) -> NodeClassifier:
    """A product classifier of ``model_config``'s width, depth and dropout on a ``kind``
    encoder (a graph convolution with the configured heads, or the graph-free ``mlp``)."""
    dims = {t: (encoder.num_dim(t), encoder.cat_cardinalities(t)) for t in NODE_TYPES}
    nodes = {"customer": frame.num_customers, "product": frame.num_products}
    return NodeClassifier(
        encoder=build_encoder(
            kind=kind,
            dims=dims,
            num_nodes=nodes,
            hidden=model_config.hidden,
            heads=model_config.heads if kind != "mlp" else 1,
            layers=model_config.layers,
            dropout=model_config.dropout,
        ),
        node_type="product",
        dim=model_config.hidden,
        num_classes=num_classes,
    )


def categorize_products(
    frame: GraphFrame, config: RunConfig | None = None, *, k: int = 3
) -> CategoryPredictions:
    """Train teacher and distilled student on the categorised products; return the
    student's top ``k`` categories for each product without one (none: an empty frame)."""
    config = config or RunConfig()
    torch.set_num_threads(max(1, config.train.threads))
    category = frame.products["category"].to_numpy(np.int64)
    targets = np.nonzero(category < 0)[0]
    known = int((category >= 0).sum())
    empty = pd.DataFrame(columns=["product_id", "category_id", "score", "rank"])
    if len(targets) == 0 or known < 10 or len(frame.categories) < 2:
        reason = "every product has a category" if len(targets) == 0 else "too few labels"
        return CategoryPredictions(empty, {"targets": len(targets), "skipped": reason})
    encoder = FeatureEncoder.fit(frame)
    task = product_category_task(
        frame, encoder, hidden_fraction=0.3, rng=np.random.default_rng(config.train.seed)
    )
    num_classes = len(frame.categories)
    t, s = config.teacher, config.student_mlp
    teacher = _classifier(t.encoder, t, encoder, frame, num_classes)
    train_node_classifier(teacher, task, t, config.train, desc="category teacher")
    student = _classifier("mlp", s, encoder, frame, num_classes)
    train_node_classifier(
        student, task, s, config.train, teacher=teacher, kd=config.kd, desc="category student"
    )
    metrics = {
        "targets": len(targets),
        "labelled": int(task.train_mask.sum() + task.val_mask.sum() + task.test_mask.sum()),
        "teacher_accuracy": node_accuracy(teacher, task, task.test_mask),
        "student_accuracy": node_accuracy(student, task, task.test_mask),
        "classes": num_classes,
    }
    return CategoryPredictions(_top_k(frame, student, task, targets, k), metrics)


def _top_k(
    frame: GraphFrame, student: NodeClassifier, task: NodeTask, targets: np.ndarray, k: int
) -> pd.DataFrame:
    """The student's ``k`` likeliest categories of each target product, rank 1 first."""
    student.eval()
    with torch.no_grad():
        probs = torch.softmax(student(task.graph)[torch.as_tensor(targets)], dim=-1).numpy()
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    scores = np.take_along_axis(probs, top, axis=1)
    product_ids = frame.products["id"].to_numpy(dtype=object)[targets]
    category_ids = frame.categories["id"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "product_id": np.repeat(product_ids, k),
            "category_id": category_ids[top.ravel()],
            "score": scores.ravel().astype(float),
            "rank": np.tile(np.arange(1, k + 1), len(targets)),
        }
    )
