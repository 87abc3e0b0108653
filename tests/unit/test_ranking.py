"""The ranking losses against numbers worked out by hand, and the in-batch grid."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import Tensor

from distill.ranking import (
    RANK_LOSSES,
    _member,
    bpr,
    in_batch_softmax,
    in_batch_softmax_grad,
    listwise_kd,
    positive_keys,
    rank_loss,
    sample_grid,
)


def test_membership_by_binary_search_is_isin() -> None:
    """A grid's positive cells are found by binary search in the sorted, unique keys:
    the same as ``np.isin``, values below, between and above the keys included."""
    rng = np.random.default_rng(0)
    for n_keys in (0, 1, 50, 5_000):
        keys = positive_keys(rng.integers(0, 300, n_keys), rng.integers(0, 200, n_keys), 200)
        values = rng.integers(-5, 300 * 200 + 5, 4_000)
        values[: min(100, len(keys))] = keys[:100]  # some certainly in
        got = _member(values, keys)
        assert got.dtype == bool and np.array_equal(got, np.isin(values, keys))
        assert got[: min(100, len(keys))].all()


def test_in_batch_softmax_by_hand() -> None:
    logits = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    # row 0: -log(e^2 / (e^2 + 1)); row 1: -log(1/2)
    want = (-math.log(math.e**2 / (math.e**2 + 1)) + math.log(2)) / 2
    assert in_batch_softmax(logits, mask).item() == pytest.approx(want, rel=1e-6)


def test_in_batch_softmax_ignores_masked_cells() -> None:
    logits = torch.tensor([[0.0, 5.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[0, 1] = False  # product 1 is a positive of customer 0 as well
    row0 = -math.log(1 / 2)  # exp(0) / (exp(0) + exp(0)); the masked 5 counts for nothing
    row = -math.log(1 / 3)
    assert in_batch_softmax(logits, mask).item() == pytest.approx((row0 + 2 * row) / 3)


def test_the_in_batch_softmax_gradient_by_hand_is_autograds() -> None:
    """The id fit's gradient without autograd: the same as the loss's backward pass,
    a product twice in the batch included (its other cells masked: no gradient), and
    the same loss when asked for."""
    torch.manual_seed(0)
    logits = torch.randn(12, 12) * 3
    products = torch.tensor([0, 1, 2, 3, 1, 5, 6, 0, 8, 9, 1, 11])
    duplicate = products[None, :] == products[:, None]
    duplicate.fill_diagonal_(False)
    x = logits.clone().requires_grad_()
    loss = in_batch_softmax(x, ~duplicate)
    loss.backward()
    assert x.grad is not None
    grad, value = in_batch_softmax_grad(logits.clone(), duplicate, loss=True)
    torch.testing.assert_close(grad, x.grad, rtol=0, atol=1e-7)
    assert value is not None and value.item() == pytest.approx(loss.item(), rel=1e-6)
    assert duplicate.sum() == 8 and not grad[duplicate].any()
    assert in_batch_softmax_grad(logits.clone(), duplicate)[1] is None


def test_the_id_fits_gradients_by_hand_are_autograds() -> None:
    """A batch of the id fit without autograd: the customers' rows', the products'
    rows' and the structural weight's gradients and the loss, with logQ, the cosine
    term and a product twice in the batch, are what autograd gives."""
    from distill.train import id_fit_gradients

    torch.manual_seed(1)
    e_c, e_p = torch.randn(10, 4), torch.randn(10, 4)
    products = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 3, 7])
    log_q, cosine = torch.randn(10), torch.rand(10, 10)
    weight = torch.tensor(2.5)
    leaves = [t.clone().requires_grad_() for t in (e_c, e_p, weight)]
    logits = leaves[0] @ leaves[1].T - log_q[None, :] + leaves[2] * cosine
    keep = (products[None, :] != products[:, None]) | torch.eye(10, dtype=torch.bool)
    want = in_batch_softmax(logits, keep)
    want.backward()
    got = id_fit_gradients(e_c, e_p, products, log_q, cosine, weight, loss=True)
    for mine, leaf in zip(got[:3], leaves, strict=True):
        assert mine is not None and leaf.grad is not None
        torch.testing.assert_close(mine, leaf.grad, rtol=1e-5, atol=1e-6)
    assert got[3] is not None and got[3].item() == pytest.approx(want.item(), rel=1e-6)
    plain = id_fit_gradients(e_c, e_p, products, log_q, None, None)
    assert plain[2] is None and plain[3] is None


def test_row_adam_is_adam_on_the_rows_a_step_touches() -> None:
    """``[train] pretrain_adam = "rows"``: a step that touches every row once is
    torch's Adam on the whole table; rows a step does not touch keep their values
    (dense Adam moves them on their moments), and a row touched twice steps on the
    sum of its gradients."""
    from distill.train import _RowMoments

    torch.manual_seed(0)
    start = torch.randn(6, 3)
    dense = start.clone().requires_grad_()
    adam = torch.optim.Adam([dense], lr=0.1)
    rows = _RowMoments(start.clone())
    for _ in range(5):
        g = torch.randn(6, 3)
        dense.grad = g.clone()
        adam.step()
        order = torch.randperm(6)
        rows.step(order, g[order], 0.1)
    torch.testing.assert_close(rows.table, dense.detach(), rtol=0, atol=1e-6)

    table = start.clone()
    rows = _RowMoments(table)
    rows.step(torch.tensor([1, 4]), torch.ones(2, 3), 0.1)
    rows.step(torch.tensor([1, 1, 2]), torch.ones(3, 3), 0.1)
    assert torch.equal(table[[0, 3, 5]], start[[0, 3, 5]])
    torch.testing.assert_close(rows.m[4], torch.full((3,), 0.1))  # untouched in step 2
    torch.testing.assert_close(rows.m[1], torch.full((3,), 0.9 * 0.1 + 0.1 * 2))
    assert torch.equal(table[4], start[4] - 0.1)  # moved once, by lr (Adam's first step)
    from distill.config import TrainConfig

    with pytest.raises(ValueError, match="pretrain_adam"):
        TrainConfig(pretrain_adam="lazy")


def test_auto_adam_steps_the_touched_rows_once_the_tables_are_large() -> None:
    """``[train] pretrain_adam = "auto"`` (the default): dense Adam below
    ``pretrain_rows_above`` rows of id tables, the touched rows' Adam from there on; the
    fit's step takes what it picks, and "rows"/"dense" hold whatever the size."""
    from distill.config import TrainConfig
    from distill.train import _IdFitStep

    auto = TrainConfig(progress=False, pretrain_rows_above=10)
    assert auto.pretrain_adam == "auto" and TrainConfig().pretrain_rows_above == 100_000
    assert [auto.rows_adam(n) for n in (0, 9, 10, 11)] == [False, False, True, True]
    for adam, want in (("rows", True), ("dense", False)):
        forced = TrainConfig(pretrain_adam=adam, pretrain_rows_above=10)
        assert forced.rows_adam(5) is want and forced.rows_adam(50) is want
    small = (torch.zeros(4, 2), torch.zeros(5, 2))  # 9 rows: dense
    large = (torch.zeros(6, 2), torch.zeros(5, 2))  # 11 rows: rows
    assert _IdFitStep(small, None, auto).dense
    step = _IdFitStep(large, None, auto)
    assert not step.dense and step.adam is None and len(step.moments) == 2
    with pytest.raises(ValueError, match="pretrain_rows_above"):
        TrainConfig(pretrain_rows_above=-1)


def test_bpr_by_hand() -> None:
    logits = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    # pairs (0 vs 1): s00 - s01 = 1; (1 vs 0): s11 - s10 = -1
    sig = 1 / (1 + math.exp(-1.0))
    want = -(math.log(sig) + math.log(1 - sig)) / 2
    assert bpr(logits, mask).item() == pytest.approx(want, rel=1e-6)


def test_bpr_with_nothing_to_compare_is_zero() -> None:
    mask = torch.tensor([[True, False], [False, True]])
    assert bpr(torch.randn(2, 2), mask).item() == 0.0


def test_listwise_kd_by_hand() -> None:
    teacher = torch.tensor([[math.log(3.0), 0.0]])  # softmax: 0.75, 0.25
    student = torch.tensor([[0.0, 0.0]])  # 0.5, 0.5
    mask = torch.ones(1, 2, dtype=torch.bool)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert listwise_kd(student, teacher, mask, 1.0).item() == pytest.approx(kl, rel=1e-6)
    # at T = 2 the distributions soften and the loss carries T^2
    t2 = torch.softmax(teacher / 2, -1)[0]
    s2 = torch.softmax(student / 2, -1)[0]
    want = 4 * float((t2 * (t2.log() - s2.log())).sum())
    assert listwise_kd(student, teacher, mask, 2.0).item() == pytest.approx(want, rel=1e-5)


def test_listwise_kd_is_zero_when_the_rankings_agree_and_ignores_masked_cells() -> None:
    scores = torch.tensor([[1.0, 2.0, 3.0]])
    mask = torch.tensor([[True, True, False]])
    other = scores.clone()
    other[0, 2] = -50.0  # differs only where masked
    assert listwise_kd(other, scores, mask, 2.0).item() == pytest.approx(0.0, abs=1e-6)


def test_rank_loss_dispatches_and_refuses_unknown_kinds() -> None:
    logits, mask = torch.randn(3, 3), torch.ones(3, 3, dtype=torch.bool)
    assert rank_loss("softmax", logits, mask).item() == in_batch_softmax(logits, mask).item()
    assert rank_loss("bpr", logits, mask).item() == bpr(logits, mask).item()
    for kind in RANK_LOSSES:
        if kind != "none":
            assert torch.isfinite(rank_loss(kind, logits, mask))
    with pytest.raises(ValueError, match="rank loss"):
        rank_loss("hinge", logits, mask)


def test_sample_grid_masks_other_positives_and_keeps_the_diagonal() -> None:
    customers = np.array([0, 0, 1])
    products = np.array([5, 6, 5])
    keys = positive_keys(customers, products, 10)
    seen: list[tuple[int, int]] = []

    def features(c: np.ndarray, p: np.ndarray) -> torch.Tensor:
        seen.extend(zip(c.tolist(), p.tolist(), strict=True))
        return torch.zeros(len(c), 2)

    grid = sample_grid(customers, products, keys, 10, 8, np.random.default_rng(0), features)
    assert grid.size == 3 and grid.features.shape == (9, 2)
    assert len(seen) == 9
    c, p, mask = grid.customers.numpy(), grid.products.numpy(), grid.mask.numpy()
    for i in range(3):
        for j in range(3):
            other_positive = int(c[i]) * 10 + int(p[j]) in set(keys.tolist())
            assert mask[i, j] == (i == j or not other_positive)
    assert mask.diagonal().all() and not mask.all()


def test_pretrain_ids_factorises_the_graph_into_the_id_embeddings() -> None:
    from distill.artifact import build_model
    from distill.config import StudentConfig, TrainConfig
    from distill.data import INTERACTION_EDGE, FeatureEncoder, build_graph
    from distill.train import pretrain_ids
    from tests.support.tiny import planted_frame

    frame = planted_frame()
    graph = build_graph(frame, FeatureEncoder.fit(frame))
    spec = StudentConfig(kind="mlp", hidden=8, customer_id_dim=8, product_id_dim=8).spec()
    model = build_model(spec, FeatureEncoder.fit(frame), frame.num_customers, frame.num_products)
    edges = graph[INTERACTION_EDGE].edge_index
    ids_c = model.encoder.encoders["customer"].ids
    ids_p = model.encoder.encoders["product"].ids

    def edge_rank() -> float:
        """Mean share of products scored below each edge's product for its customer."""
        with torch.no_grad():
            scores = ids_c.weight @ ids_p.weight.T
        mine = scores[edges[0], edges[1]]
        return float((scores[edges[0]] < mine[:, None]).float().mean())

    before = edge_rank()
    start = [ids_c.weight.detach().clone(), ids_p.weight.detach().clone()]
    for adam in ("rows", "dense"):  # each Adam of [train] pretrain_adam, from one start
        with torch.no_grad():
            ids_c.weight.copy_(start[0])
            ids_p.weight.copy_(start[1])
        loss = pretrain_ids(model, graph, TrainConfig(progress=False, pretrain_adam=adam), 30)
        assert math.isfinite(loss)
        assert edge_rank() > max(before, 0.5) + 0.2, adam  # interacted products rank high
    assert math.isnan(pretrain_ids(model, graph, TrainConfig(progress=False), 0))


def _shortlist_setup():
    from distill.artifact import build_model
    from distill.config import KDConfig, StudentConfig, TaskConfig
    from distill.data import FeatureEncoder
    from distill.tasks import link_snapshots
    from tests.support.tiny import planted_frame

    frame = planted_frame()
    enc = FeatureEncoder.fit(frame)
    rng = np.random.default_rng(0)
    snaps = link_snapshots(
        frame, enc, TaskConfig(snapshots=2), KDConfig(candidates_per_pair=0), rng
    )
    torch.manual_seed(0)
    spec = StudentConfig(
        kind="mlp", hidden=8, dropout=0.0, customer_id_dim=4, product_id_dim=4
    ).spec()
    teacher = build_model(spec, enc, frame.num_customers, frame.num_products).eval()
    return snaps[0], teacher, snaps[1]


def _unseen_ranking(teacher, snap, customers):
    """Each customer's seen products and the teacher's ranking logits over the whole
    catalogue with those set to -inf (what a shortlist is taken from), by hand."""
    history = snap.history
    with torch.no_grad():
        z_c, z_p = teacher.embeddings(snap.graph)
        f = history.pair_features_grid(customers)
        grid = teacher.decoder.rank_grid(z_c[customers], z_p, f.reshape(-1, f.shape[-1]))
    for i, seen in enumerate(history.seen_columns(customers)):
        scores = grid[i].clone()
        scores[torch.as_tensor(seen, dtype=torch.long)] = float("-inf")
        yield seen, scores


def test_teacher_shortlist_is_the_teachers_top_unseen_products() -> None:
    from distill.train import teacher_shortlist

    snap, teacher, _ = _shortlist_setup()
    assert teacher_shortlist(teacher, snap, 0) is None
    short = teacher_shortlist(teacher, snap, 5)
    assert short is not None
    positive = snap.pairs.labels.numpy() == 1
    with_positive = np.unique(snap.pairs.customers.numpy()[positive])
    assert set(np.flatnonzero(short.rows >= 0)) == set(with_positive.tolist())
    for customer, (seen, scores) in zip(
        with_positive, _unseen_ranking(teacher, snap, with_positive), strict=True
    ):
        row = short.rows[customer]
        products = short.products[row].numpy()
        assert not set(products.tolist()) & set(seen.tolist())  # seen products left out
        want = scores.topk(5).values
        assert torch.allclose(short.logits[row], want, atol=1e-5)
        assert torch.allclose(scores[torch.as_tensor(products)], want, atol=1e-5)


def test_top_cells_are_the_students_ranking_of_those_pairs() -> None:
    from distill.train import _TopCells, graph_sides, teacher_shortlist

    snap, teacher, _ = _shortlist_setup()
    short = teacher_shortlist(teacher, snap, 3)
    assert short is not None
    with_positive = np.flatnonzero(short.rows >= 0)
    rows = short.rows.copy()
    rows[with_positive[4]] = -1  # as a customer without a positive that day
    short = replace(short, rows=rows)
    customers = torch.as_tensor(with_positive[:5])
    torch.manual_seed(1)
    student = _shortlist_setup()[1]  # same shapes, other weights
    for p in student.parameters():
        torch.nn.init.normal_(p, std=0.3)
    with torch.no_grad():
        z = graph_sides(student, snap.graph)
        top = _TopCells.of(short, snap.history, customers)
        logits, t_logits, kept = top.student_logits(student.decoder, z), top.t_logits, top.kept
        z_c, z_p = student.embeddings(snap.graph)
    assert logits.shape == t_logits.shape == kept.shape == (5, 3)
    assert kept[:4].all() and not kept[4].any()  # the last customer has no shortlist
    for i in range(4):
        c = int(customers[i])
        products = short.products[short.rows[c]]
        f = snap.history.pair_features(np.full(3, c), products.numpy())
        want = student.decoder.rank(z_c[[c] * 3], z_p[products], f)
        assert torch.allclose(logits[i], want, atol=1e-5)
        assert torch.equal(t_logits[i], short.logits[short.rows[c]])


@pytest.mark.parametrize("minibatch", ["off", "on"])
def test_the_listwise_term_ranks_the_shortlist_as_the_whole_graph_does(monkeypatch, minibatch):
    """In full batch and in mini-batches (where the loss reads the seeds' rows, not
    ids), the shortlist's columns of the listwise term hold the student's ranking
    logits of exactly those (customer, product) pairs, and the teacher's."""
    import distill.train as train_mod
    from distill.config import KDConfig, TrainConfig
    from distill.train import graph_sides, score_snapshot, teacher_shortlist, train_link_model

    snap, teacher, val = _shortlist_setup()
    short = teacher_shortlist(teacher, snap, 3)
    torch.manual_seed(2)
    student = _shortlist_setup()[1].train()
    real_top, real_listwise = train_mod._top_cells, train_mod.listwise_kd
    tops, checked = [], []

    def top_cells(step, grid):
        top = real_top(step, grid)
        tops.append(top)
        return top

    def listwise(s, t, mask, temperature):
        top = tops[-1]
        with torch.no_grad():
            want = top.student_logits(student.decoder, graph_sides(student, snap.graph))
        m = top.kept.size(1)
        checked.append(
            s.shape[1] == mask.shape[1] > m
            and torch.allclose(s[:, -m:], want, atol=1e-5)
            and torch.equal(t[:, -m:], top.t_logits)
            and torch.equal(mask[:, -m:], top.kept)
        )
        return real_listwise(s, t, mask, temperature)

    monkeypatch.setattr(train_mod, "_top_cells", top_cells)
    monkeypatch.setattr(train_mod, "listwise_kd", listwise)
    train = TrainConfig(
        progress=False, minibatch=minibatch, batch_size=64, rank_batch=16, pretrain_epochs=0
    )
    result = train_link_model(
        student,
        [snap],
        val,
        lr=0.01,
        weight_decay=0.0,
        epochs=2,
        train=train,
        teacher_logits=[score_snapshot(teacher, snap)],
        kd=KDConfig(shortlist=3),
        teacher=teacher,
        shortlists=[short],
    )
    assert result.minibatch == (minibatch == "on")
    assert len(checked) >= 2 and all(checked)


def test_teacher_edges_are_the_teachers_top_unseen_products_of_every_customer() -> None:
    from distill.data import INTERACTION_EDGE
    from distill.train import teacher_edges

    snap, teacher, _ = _shortlist_setup()
    assert teacher_edges(teacher, snap, 0) is None
    edges = teacher_edges(teacher, snap, 4)
    assert edges is not None and edges.shape[0] == 2
    graph_customers = np.unique(snap.graph[INTERACTION_EDGE].edge_index[0].numpy())
    # every customer of the graph, not only those with a positive that day
    assert set(edges[0].tolist()) == set(graph_customers.tolist())
    for customer, (seen, scores) in zip(
        graph_customers, _unseen_ranking(teacher, snap, graph_customers), strict=True
    ):
        mine = edges[1][edges[0] == customer]
        assert len(mine) == 4
        assert not set(mine.tolist()) & set(seen.tolist())
        assert torch.allclose(scores[mine].sort().values, scores.topk(4).values.sort().values)


def test_pretrain_ids_fits_the_extra_edges_beside_the_graphs() -> None:
    """Pairs that are not edges of the graph rank far higher once given as ``extra``."""
    from distill.artifact import build_model
    from distill.config import StudentConfig, TrainConfig
    from distill.data import FeatureEncoder, build_graph
    from distill.train import pretrain_ids
    from tests.support.tiny import planted_frame

    frame = planted_frame()
    enc = FeatureEncoder.fit(frame)
    graph = build_graph(frame, enc)
    spec = StudentConfig(kind="mlp", hidden=8, customer_id_dim=8, product_id_dim=8).spec()
    # customer c's extra products: three outside its favourite category (c % 4)
    c = torch.arange(frame.num_customers).repeat_interleave(3)
    p = (c % 4 + 1) % 4 + 4 * torch.arange(3).repeat(frame.num_customers)
    extra = torch.stack([c, p])

    def extra_rank(with_extra: bool) -> float:
        torch.manual_seed(0)
        model = build_model(spec, enc, frame.num_customers, frame.num_products)
        pretrain_ids(model, graph, TrainConfig(progress=False), 30, extra if with_extra else None)
        ids = model.encoder.encoders
        with torch.no_grad():
            scores = ids["customer"].ids.weight @ ids["product"].ids.weight.T
        return float((scores[c] < scores[c, p][:, None]).float().mean())

    without, fitted = extra_rank(False), extra_rank(True)
    assert fitted > without + 0.2 and fitted > 0.7


def test_an_id_fit_with_structure_learns_what_the_cosine_misses() -> None:
    """With ``structure`` the fit adds each pair's structural cosine (times a weight it
    fits) to the ids' logit. Where the vectors say which category each customer buys
    from (one-hot: customer c's favourite, product p's category), the ids alone
    carry less than half of it (what a plain fit's ids carry), and the ids and the
    cosine together rank the graph's edges as high as the plain ids."""
    from distill.artifact import build_model
    from distill.config import StudentConfig, TrainConfig
    from distill.data import INTERACTION_EDGE, FeatureEncoder, build_graph
    from distill.train import pretrain_ids
    from tests.support.tiny import planted_frame

    frame = planted_frame()
    enc = FeatureEncoder.fit(frame)
    graph = build_graph(frame, enc)
    enc.structure = {"dim": 4}  # the models score with 4-wide vectors, the graph's:
    eye = torch.eye(4)
    graph["customer"].struct = eye[torch.arange(frame.num_customers) % 4].half()
    graph["product"].struct = eye[torch.arange(frame.num_products) % 4].half()
    cosine = graph["customer"].struct.float() @ graph["product"].struct.float().T
    edges = graph[INTERACTION_EDGE].edge_index
    spec = StudentConfig(kind="mlp", hidden=8, customer_id_dim=8, product_id_dim=8).spec()

    def edge_rank(scores: Tensor) -> float:
        mine = scores[edges[0], edges[1]]
        return float((scores[edges[0]] < mine[:, None]).float().mean())

    def fitted(structure: bool) -> Tensor:
        torch.manual_seed(0)
        model = build_model(spec, enc, frame.num_customers, frame.num_products)
        assert model.decoder.struct_dim == 4
        pretrain_ids(model, graph, TrainConfig(progress=False), 30, structure=structure)
        ids = model.encoder.encoders
        with torch.no_grad():
            return ids["customer"].ids.weight @ ids["product"].ids.weight.T

    plain, residual = fitted(False), fitted(True)
    # the category is the cosine's to say: the residual ids rank within it far less
    same = cosine.bool()
    plain_gap = float(plain[same].mean() - plain[~same].mean())
    residual_gap = float(residual[same].mean() - residual[~same].mean())
    assert residual_gap < 0.5 * plain_gap
    combined = max(edge_rank(residual + w * cosine) for w in (1.0, 3.0, 10.0, 30.0))
    assert combined >= edge_rank(plain) - 0.02


def test_a_second_identical_id_fit_reads_the_first(monkeypatch) -> None:
    """A distilled student and its twin of one seed fit the same id tables from the same
    start to the same graph: the second fit takes the first's tables without a training
    step, and they are exactly what the fit gives; another start or another graph is
    fitted anew."""
    import distill.train as train_mod
    from distill.artifact import build_model
    from distill.config import StudentConfig, TrainConfig
    from distill.data import FeatureEncoder, build_graph
    from tests.support.tiny import planted_frame

    frame = planted_frame()
    enc = FeatureEncoder.fit(frame)
    graph = build_graph(frame, enc)
    other = build_graph(planted_frame(seed=1), enc)
    spec = StudentConfig(kind="mlp", hidden=8, customer_id_dim=8, product_id_dim=8).spec()
    monkeypatch.setattr(train_mod, "_FITTED", {})
    steps = []
    real = train_mod.in_batch_softmax_grad

    def counted(*args, **kwargs):
        steps.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "in_batch_softmax_grad", counted)

    def fit(seed: int, on) -> tuple[list[torch.Tensor], float, int]:
        torch.manual_seed(seed)
        model = build_model(spec, enc, frame.num_customers, frame.num_products)
        before = len(steps)
        loss = train_mod.pretrain_ids(model, on, TrainConfig(progress=False, seed=seed), 5)
        ids = model.encoder.encoders
        tables = [ids[t].ids.weight.detach().clone() for t in ("customer", "product")]
        return tables, loss, len(steps) - before

    first, first_loss, first_steps = fit(0, graph)
    second, second_loss, second_steps = fit(0, graph)
    assert first_steps > 0 and second_steps == 0 and second_loss == first_loss
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    train_mod._FITTED.clear()
    again, _, again_steps = fit(0, graph)  # nothing remembered: the fit itself
    assert again_steps == first_steps
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert fit(1, graph)[2] == first_steps  # another start
    assert fit(0, other)[2] > 0  # another graph


def test_an_evaluations_twins_read_their_students_id_fits(monkeypatch) -> None:
    """In a run (teacher, the default student distilled and not, two seeds) each twin's
    two id fits (before its loop, after it) are its distilled student's: 6 fits made,
    4 read."""
    from dataclasses import replace

    import distill.train as train_mod
    from distill.config import RunConfig
    from distill.evaluate import evaluate_link_prediction
    from tests.support.tiny import planted_frame, planted_pairs

    frame = planted_frame()
    config = RunConfig()
    config = replace(
        config,
        train=replace(config.train, progress=False, pretrain_epochs=2, refresh_epochs=1),
        eval=replace(config.eval, seeds=(0, 1), latency_runs=1),
        structure=replace(config.structure, dim=16),
        teacher=replace(config.teacher, epochs=1),
        student_mlp=replace(config.student_mlp, epochs=1),
    )
    monkeypatch.setattr(train_mod, "_FITTED", {})
    made, read = [], []
    real_key = train_mod._fit_key

    def key(*args):
        found = real_key(*args)
        (read if found in train_mod._FITTED else made).append(found)
        return found

    monkeypatch.setattr(train_mod, "_fit_key", key)
    evaluate_link_prediction(frame, planted_pairs(frame), config, None)
    assert (len(made), len(read)) == (6, 4)


def test_distilled_id_fits_read_the_teachers_edges(monkeypatch) -> None:
    """train_link_model fits the id embeddings to the earliest snapshot's graph with
    ``id_edges[0]`` beside it, and to ``refresh`` with ``id_edges[1]``."""
    import distill.train as train_mod
    from distill.config import TrainConfig
    from distill.train import train_link_model

    snap, teacher, val = _shortlist_setup()
    first, second = torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 5, dtype=torch.long)
    calls = []
    real = train_mod.pretrain_ids

    def spy(model, graph, train, epochs, extra=None, structure=False):
        calls.append((graph, epochs, extra))
        return real(model, graph, train, epochs, extra, structure)

    monkeypatch.setattr(train_mod, "pretrain_ids", spy)
    train = TrainConfig(progress=False, pretrain_epochs=2, refresh_epochs=1)
    train_link_model(
        teacher.train(),
        [snap],
        val,
        lr=0.01,
        weight_decay=0.0,
        epochs=1,
        train=train,
        refresh=val.graph,
        id_edges=(first, second),
    )
    assert [(g is snap.graph, e, x is first) for g, e, x in calls[:1]] == [(True, 2, True)]
    assert calls[1][0] is val.graph and calls[1][1] == 1 and calls[1][2] is second


@pytest.mark.parametrize("minibatch", ["off", "on"])
def test_distillation_with_the_pair_term_off_trains_on_the_candidates_too(minibatch) -> None:
    """``kd.alpha = 0`` leaves the snapshot of unlabelled candidates without any loss
    term (no labels, no soft pair targets, no positives to rank); its backward pass
    failed ("element 0 of tensors does not require grad"), so the setting the config
    accepts could not train. Now unlabelled pairs are kept only where a loss term
    reads them, that snapshot is left out, and the student trains on the rest, full
    batch and in mini-batches."""
    from distill.config import RunConfig
    from distill.evaluate import evaluate_link_prediction
    from tests.support.tiny import planted_frame, planted_pairs

    frame = planted_frame()
    config = RunConfig()
    config = replace(
        config,
        kd=replace(config.kd, alpha=0.0),
        train=replace(
            config.train, progress=False, pretrain_epochs=1, refresh_epochs=0, minibatch=minibatch
        ),
        eval=replace(config.eval, latency_runs=1),
        structure=replace(config.structure, dim=16),
        teacher=replace(config.teacher, epochs=1),
        student_mlp=replace(config.student_mlp, epochs=2),
    )
    report = evaluate_link_prediction(frame, planted_pairs(frame), config, None).results
    student = report.models["student_mlp"]
    assert math.isfinite(student.quality.auc) and student.training is not None
    assert student.training.minibatch == (minibatch == "on")
