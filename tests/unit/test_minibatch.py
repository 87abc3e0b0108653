"""Mini-batch training with neighbour sampling (issue 13, item 1): the sampler on a
hand-made graph, the choice ``[train] minibatch`` makes, and a GAT teacher that learns
in mini-batches about as well as in full batch on a small synthetic frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from distill.artifact import build_model
from distill.config import (
    KDConfig,
    StructureConfig,
    StudentConfig,
    TaskConfig,
    TeacherConfig,
    TrainConfig,
)
from distill.data import FeatureEncoder
from distill.metrics import auc
from distill.sampling import NeighborSampler
from distill.tasks import link_snapshots
from distill.train import score_snapshot, train_link_model
from tests.support.tiny import planted_frame

# the teacher and the MLP student with id embeddings (and, given an encoder with the
# setting, structural vectors)
WITH_IDS_AND_VECTORS = pytest.mark.parametrize(
    "config",
    [
        TeacherConfig(hidden=16, heads=2, customer_id_dim=8, product_id_dim=8),
        StudentConfig(kind="mlp", hidden=16, customer_id_dim=8, product_id_dim=8),
    ],
    ids=["teacher", "mlp"],
)
BUYS = ("customer", "interacted", "product")
BOUGHT_BY = ("product", "rev_interacted", "customer")


def _star_graph() -> HeteroData:
    """Customer 0 bought products 0-5, customer 1 product 0, customer 2 products 4-5;
    each edge's attribute is its own column number."""
    buys = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 2, 2], [0, 1, 2, 3, 4, 5, 0, 4, 5]])
    graph = HeteroData()
    graph["customer"].num_nodes, graph["product"].num_nodes = 3, 6  # as build_graph sets
    graph["customer"].x_num = torch.arange(3, dtype=torch.float32)[:, None]
    graph["customer"].x_cat = torch.zeros(3, 0, dtype=torch.long)
    graph["product"].x_num = 10 + torch.arange(6, dtype=torch.float32)[:, None]
    graph["product"].x_cat = torch.zeros(6, 0, dtype=torch.long)
    graph["product"].seen = torch.ones(6, dtype=torch.bool)
    graph[BUYS].edge_index = buys
    graph[BUYS].edge_attr = torch.arange(9, dtype=torch.float32)[:, None]
    graph[BOUGHT_BY].edge_index = buys.flip(0)
    return graph


def _global_edges(sub: HeteroData, et: tuple[str, str, str]) -> set[tuple[int, int]]:
    src, dst = sub[et].edge_index
    rows_s, rows_d = sub[et[0]].id_row, sub[et[2]].id_row
    return {(int(rows_s[a]), int(rows_d[b])) for a, b in zip(src, dst, strict=True)}


def test_the_sampler_keeps_seeds_first_and_draws_at_most_the_fanout_per_node() -> None:
    graph = _star_graph()
    sampler = NeighborSampler(graph, [2, 2], torch.Generator().manual_seed(0))
    seeds = {"product": torch.tensor([5, 0])}
    sub = sampler.sample(seeds)
    assert sub["product"].id_row[:2].tolist() == [5, 0]
    assert torch.equal(sub["product"].x_num, graph["product"].x_num[sub["product"].id_row])
    every = {(int(a), int(b)) for a, b in graph[BUYS].edge_index.t()}
    hop1 = _global_edges(sub, BUYS)
    assert hop1 <= every
    into = {p: sum(1 for _, q in hop1 if q == p) for p in (5, 0)}
    assert into == {5: 2, 0: 2}  # both have exactly two buyers: all of them, no more
    # hop 2: customer 0 (six products) keeps at most two; edges into customers only
    # from customers first reached at hop 1
    back = _global_edges(sub, BOUGHT_BY)
    assert back <= {(b, a) for a, b in every}
    assert sum(1 for _, c in back if c == 0) <= 2
    assert {c for _, c in back} <= {0, 1, 2}
    # each sampled edge carries its own attribute (its column in the graph)
    src, dst = sub[BUYS].edge_index
    for a, b, attr in zip(src, dst, sub[BUYS].edge_attr[:, 0], strict=True):
        column = int(attr)
        assert graph[BUYS].edge_index[:, column].tolist() == [
            int(sub["customer"].id_row[a]),
            int(sub["product"].id_row[b]),
        ]


def test_without_hops_the_subgraph_is_the_seeds() -> None:
    sub = NeighborSampler(_star_graph(), []).sample({"customer": torch.tensor([2, 1])})
    assert sub["customer"].id_row.tolist() == [2, 1]
    assert sub["product"].num_nodes == 0
    assert sub[BUYS].edge_index.size(1) == 0


def test_a_large_fanout_draws_every_edge_within_reach() -> None:
    graph = _star_graph()
    sub = NeighborSampler(graph, [50, 50]).sample({"customer": torch.tensor([1])})
    assert _global_edges(sub, BUYS) == {(1, 0), (0, 0)}  # hop 1: product 0; hop 2: its buyers
    assert _global_edges(sub, BOUGHT_BY) == {(0, 1)}


def test_auto_trains_full_batch_below_the_threshold_and_on_and_off_force_it() -> None:
    auto = TrainConfig(minibatch_above=1000)
    assert not auto.use_minibatch(999) and auto.use_minibatch(1000)
    assert TrainConfig(minibatch="on").use_minibatch(0)
    assert not TrainConfig(minibatch="off").use_minibatch(10**9)
    with pytest.raises(ValueError, match="minibatch"):
        TrainConfig(minibatch="sometimes")
    with pytest.raises(ValueError, match="fanouts"):
        TrainConfig(fanouts=(10, 0))


@pytest.fixture(scope="module")
def shop():
    frame = planted_frame(customers=60, products=120, days=5, per_day=8)
    encoder = FeatureEncoder.fit(frame)
    kd = KDConfig(candidates_per_pair=0)
    snaps = link_snapshots(frame, encoder, TaskConfig(snapshots=3), kd, np.random.default_rng(0))
    return frame, encoder, snaps


def _teacher_test_auc(shop, **train) -> tuple[float, bool, dict]:
    frame, encoder, snaps = shop
    config = TeacherConfig(hidden=16, heads=2, customer_id_dim=8, product_id_dim=8, epochs=12)
    model = build_model(config.spec(), encoder, frame.num_customers, frame.num_products)
    settings = TrainConfig(progress=False, pretrain_epochs=2, refresh_epochs=0, **train)
    result = train_link_model(
        model, snaps[:1], snaps[1], lr=0.01, weight_decay=0.0, epochs=12, train=settings
    )
    test = snaps[2]
    value = auc(test.pairs.labels.numpy(), score_snapshot(model, test).numpy())
    return value, result.minibatch, model.state_dict()


def test_a_gat_teacher_learns_in_mini_batches_about_as_well_as_in_full_batch(shop) -> None:
    full, full_mb, _ = _teacher_test_auc(shop, minibatch="off")
    mini, mini_mb, _ = _teacher_test_auc(shop, minibatch="on", batch_size=128, fanouts=(5, 3))
    assert (full_mb, mini_mb) == (False, True)
    assert full > 0.7  # the frame is learnable at all
    assert mini > 0.7, f"mini-batch test AUC {mini:.4f}: not clearly above chance"
    assert abs(mini - full) < 0.05, f"mini-batch {mini:.4f} vs full batch {full:.4f}"


def test_auto_below_the_threshold_trains_exactly_as_full_batch(shop) -> None:
    auto, auto_mb, auto_state = _teacher_test_auc(shop)  # the default: auto
    off, _, off_state = _teacher_test_auc(shop, minibatch="off")
    assert not auto_mb and auto == off
    for key, value in off_state.items():
        assert torch.equal(value, auto_state[key]), key


@WITH_IDS_AND_VECTORS
def test_models_with_structural_vectors_train_in_mini_batches(config) -> None:
    """Structural vectors are on by default, and a sampled subgraph carries each node's
    own: it dropped them, so that every run above ``minibatch_above`` interactions
    failed ("the graph's customers have none"). Mini-batch training then learns about
    as well as full batch does with the same vectors."""
    frame = planted_frame(customers=60, products=120, days=5, per_day=8)
    encoder = FeatureEncoder.fit(frame, StructureConfig(dim=16).encoder_settings())
    kd = KDConfig(candidates_per_pair=0)
    snaps = link_snapshots(frame, encoder, TaskConfig(snapshots=3), kd, np.random.default_rng(0))
    graph = snaps[0].graph
    sampler = NeighborSampler(graph, [3, 2], torch.Generator().manual_seed(0))
    sub = sampler.sample({"customer": torch.tensor([0, 5]), "product": torch.tensor([1])})
    for t, n in (("customer", 2), ("product", 1)):
        assert sub[t].num_nodes > n  # the seeds and nodes within reach
        assert sub[t].num_seeds == n
        # the vectors only enter the seeds' output rows: only theirs are copied
        assert torch.equal(sub[t].struct, graph[t].struct[sub[t].id_row[:n]])

    def trained_auc(**train) -> tuple[float, bool]:
        torch.manual_seed(0)
        model = build_model(config.spec(), encoder, frame.num_customers, frame.num_products)
        assert model.decoder.struct_dim == 16
        settings = TrainConfig(progress=False, pretrain_epochs=2, refresh_epochs=0, **train)
        result = train_link_model(
            model, snaps[:1], snaps[1], lr=0.01, weight_decay=0.0, epochs=12, train=settings
        )
        test = snaps[2]
        return auc(test.pairs.labels.numpy(), score_snapshot(model, test).numpy()), result.minibatch

    full, full_mb = trained_auc(minibatch="off")
    mini, mini_mb = trained_auc(minibatch="on", batch_size=128, fanouts=(5, 3))
    assert (full_mb, mini_mb) == (False, True)
    assert full > 0.7 and mini > 0.7, f"full batch {full:.4f}, mini-batch {mini:.4f}"
    assert abs(mini - full) < 0.05, f"mini-batch {mini:.4f} vs full batch {full:.4f}"


@WITH_IDS_AND_VECTORS
def test_a_subgraph_holding_every_edge_in_reach_gives_the_seeds_their_graph_rows(config) -> None:
    """A model returns a sampled subgraph's seeds only (``num_seeds``), each row its
    learnt columns, id embedding and structural vector: drawn with fan-outs above every
    degree, the subgraph holds each seed's whole two-hop neighbourhood, so the seeds'
    rows are exactly what the whole graph gives them."""
    frame = planted_frame(customers=60, products=120, days=5, per_day=8)
    encoder = FeatureEncoder.fit(frame, StructureConfig(dim=16).encoder_settings())
    kd = KDConfig(candidates_per_pair=0)
    graph = link_snapshots(frame, encoder, TaskConfig(snapshots=1), kd, np.random.default_rng(0))[
        0
    ].graph
    torch.manual_seed(0)
    model = build_model(config.spec(), encoder, frame.num_customers, frame.num_products)
    model.eval()
    seeds = {"customer": torch.tensor([7, 3, 41]), "product": torch.tensor([100, 2])}
    sub = NeighborSampler(graph, [1000, 1000]).sample(seeds)
    assert sub["customer"].num_nodes > 3  # neighbours came along
    with torch.no_grad():
        whole = model.embeddings(graph)
        part = model.embeddings(sub)
    for z_all, z_sub, t in zip(whole, part, ("customer", "product"), strict=True):
        assert z_sub.shape == (seeds[t].numel(), z_all.size(1))
        assert torch.allclose(z_sub, z_all[seeds[t]], atol=1e-5)


def test_a_subgraph_lists_its_nodes_and_edges_hop_by_hop() -> None:
    """Rows come seeds first, then each hop's new nodes; edge columns hop by hop, those
    drawn at hop k going into nodes first reached at hop k - 1 (what a model trims by)."""
    graph = _star_graph()
    sub = NeighborSampler(graph, [50, 50]).sample({"customer": torch.tensor([1])})
    # hop 1: customer 1's product 0; hop 2: product 0's other buyer, customer 0
    assert sub["customer"].hop_nodes == [1, 0, 1]
    assert sub["product"].hop_nodes == [0, 1, 0]
    assert sub[BOUGHT_BY].hop_edges == [1, 0]  # product 0 -> customer 1, drawn into the seed
    assert sub[BUYS].hop_edges == [0, 2]  # customers 1 and 0 -> product 0, into hop 1's node
    for t in ("customer", "product"):
        assert sum(sub[t].hop_nodes) == sub[t].num_nodes
    for et in (BUYS, BOUGHT_BY):
        assert sum(sub[et].hop_edges) == sub[et].edge_index.size(1)


@pytest.mark.parametrize("conv", ["gat", "sage"])
def test_a_trimmed_pass_over_a_subgraph_computes_the_seeds_exactly_and_skips_the_far_edges(
    conv,
) -> None:
    """Each layer passes messages only over the edges its output reaches the seeds by:
    the last layer over the first hop's edges alone. The seeds' rows and every gradient
    are those of the pass over the whole subgraph (dropout off, so both draw nothing)."""
    frame = planted_frame(customers=60, products=120, days=5, per_day=8)
    encoder = FeatureEncoder.fit(frame, StructureConfig(dim=16).encoder_settings())
    kd = KDConfig(candidates_per_pair=0)
    snap = link_snapshots(frame, encoder, TaskConfig(snapshots=1), kd, np.random.default_rng(0))[0]
    config = TeacherConfig(
        conv=conv, hidden=16, heads=2, dropout=0.0, customer_id_dim=8, product_id_dim=8
    )
    seeds = {"customer": torch.tensor([7, 3, 41]), "product": torch.tensor([100, 2])}
    sub = NeighborSampler(snap.graph, [3, 2], torch.Generator().manual_seed(0)).sample(seeds)
    whole = sub.clone()
    for t in whole.node_types:
        del whole[t].hop_nodes
    for et in whole.edge_types:
        del whole[et].hop_edges
    first_hop = sum(sub[et].hop_edges[0] for et in sub.edge_types)
    assert 0 < first_hop < sum(sub[et].edge_index.size(1) for et in sub.edge_types)

    def rows_and_grads(data: HeteroData) -> tuple[list[Tensor], list[Tensor], int]:
        torch.manual_seed(0)
        model = build_model(config.spec(), encoder, frame.num_customers, frame.num_products)
        model.train()
        seen: list[int] = []
        last = model.encoder.convs[-1]
        hook = last.register_forward_pre_hook(
            lambda _, args: seen.append(sum(e.size(1) for e in args[1].values()))
        )
        z = model.embeddings(data)
        hook.remove()
        (z[0].sum() + (z[1] ** 2).sum()).backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        return list(z), grads, seen[0]

    trimmed, trimmed_grads, trimmed_edges = rows_and_grads(sub)
    full, full_grads, full_edges = rows_and_grads(whole)
    assert trimmed_edges == first_hop and full_edges > first_hop
    for a, b in zip(trimmed, full, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert len(trimmed_grads) == len(full_grads)
    for a, b in zip(trimmed_grads, full_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
