"""Link snapshots and node classification on small synthetic data generated here."""

import numpy as np
import pytest

from distill.config import KDConfig, StudentConfig, TaskConfig, TrainConfig
from distill.data import NODE_TYPES, FeatureEncoder
from distill.models import NodeClassifier, build_encoder
from distill.tasks import IGNORE, link_snapshots, product_category_task, target_days
from distill.train import node_accuracy, train_node_classifier
from tests.support.tiny import planted_frame


def test_link_snapshots_use_only_the_past_and_the_target_day():
    frame = planted_frame(days=4)
    enc = FeatureEncoder.fit(frame)
    rng = np.random.default_rng(0)
    snaps = link_snapshots(
        frame, enc, TaskConfig(snapshots=2), KDConfig(candidates_per_pair=1.0), rng
    )
    assert [s.before_day for s in snaps] == target_days(frame, 2) == [20190612, 20190613]
    inter = frame.interactions
    for snap in snaps:
        labels = snap.pairs.labels.numpy()
        n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
        assert n_pos == n_neg > 0
        assert int((labels == IGNORE).sum()) == n_pos + n_neg  # one candidate per labelled pair
        today = inter.loc[inter["day"] == snap.before_day]
        pos = set(zip(today["customer"], today["product"], strict=True))
        c, p = snap.pairs.customers.numpy(), snap.pairs.products.numpy()
        assert all((a, b) in pos for a, b in zip(c[labels == 1], p[labels == 1], strict=True))
        assert not any((a, b) in pos for a, b in zip(c[labels == 0], p[labels == 0], strict=True))
        edges = snap.graph["customer", "interacted", "product"].edge_index.size(1)
        past = inter.loc[inter["day"] < snap.before_day]
        assert edges == len(past.drop_duplicates(["customer", "product"]))


def test_target_types_restrict_positives():
    frame = planted_frame(days=3)
    enc = FeatureEncoder.fit(frame)
    rng = np.random.default_rng(0)
    bought = link_snapshots(
        frame,
        enc,
        TaskConfig(snapshots=1, target_types=("BOUGHT",)),
        KDConfig(candidates_per_pair=0),
        rng,
    )[0]
    day = frame.interactions.loc[frame.interactions["day"] == bought.before_day]
    n_bought = len(day.loc[day["type"] == "BOUGHT"].drop_duplicates(["customer", "product"]))
    assert int((bought.pairs.labels == 1).sum()) == n_bought


def test_product_category_classification_and_its_distillation():
    frame = planted_frame(customers=24, products=80, categories=4)
    enc = FeatureEncoder.fit(frame)
    task = product_category_task(frame, enc, hidden_fraction=0.5, rng=np.random.default_rng(0))
    hidden = task.train_mask | task.val_mask | task.test_mask
    # the hidden products' category is gone from the input: feature code 0 and no edge
    assert (task.graph["product"].x_cat[hidden, 0] == 0).all()
    assert not np.isin(
        np.nonzero(hidden.numpy())[0],
        task.graph["product", "in_category", "category"].edge_index[0],
    ).any()
    dims = {t: (enc.num_dim(t), enc.cat_cardinalities(t)) for t in NODE_TYPES}
    nodes = {"customer": frame.num_customers, "product": frame.num_products}
    train = TrainConfig(progress=False, patience=30, eval_every=5)

    def model(kind):
        return NodeClassifier(
            encoder=build_encoder(kind=kind, dims=dims, num_nodes=nodes, hidden=16, heads=2),
            node_type="product",
            dim=16,
            num_classes=task.num_classes,
        )

    teacher = model("sage")
    train_node_classifier(teacher, task, StudentConfig(lr=0.02, epochs=30), train)
    chance = 1 / 4
    assert node_accuracy(teacher, task, task.test_mask) > chance + 0.3
    student = model("mlp")
    result = train_node_classifier(
        student,
        task,
        StudentConfig(lr=0.02, epochs=60),
        train,
        teacher=teacher,
        kd=KDConfig(alpha=1.0, temperature=2.0),
    )
    assert result.best_val > chance + 0.3
    with pytest.raises(ValueError, match="KDConfig"):
        train_node_classifier(
            student, task, StudentConfig(lr=0.01, epochs=1), train, teacher=teacher
        )
