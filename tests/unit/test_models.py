"""Forward shapes of every model, and the student registry meta-test."""

import itertools
from dataclasses import replace

import pytest
import torch

from distill import models
from distill.config import STUDENTS, RunConfig, StudentConfig
from distill.data import NODE_TYPES, PAIR_FEATURES, FeatureEncoder, build_graph
from distill.models import (
    CONVS,
    FeatureMLP,
    HeteroGNN,
    NodeClassifier,
    PairDecoder,
    build_encoder,
    build_link_predictor,
)
from tests.support.tiny import planted_frame


@pytest.fixture(scope="module")
def setup():
    frame = planted_frame()
    enc = FeatureEncoder.fit(frame)
    graph = build_graph(frame, enc, before_day=20190612)
    dims = {t: (enc.num_dim(t), enc.cat_cardinalities(t)) for t in NODE_TYPES}
    num_nodes = {"customer": frame.num_customers, "product": frame.num_products}
    return frame, graph, dims, num_nodes


@pytest.mark.parametrize("conv", CONVS)
def test_hetero_gnn_shapes(setup, conv):
    frame, graph, dims, num_nodes = setup
    model = HeteroGNN(
        dims=dims,
        num_nodes=num_nodes,
        conv=conv,
        hidden=16,
        heads=2,
        layers=2,
        id_dims={"customer": 4, "product": 4},
    )
    out = model(graph)
    assert out["customer"].shape == (frame.num_customers, 16)
    assert out["product"].shape == (frame.num_products, 16)
    assert out["category"].shape == (len(frame.categories), 16)
    model.reset_parameters()


@pytest.mark.parametrize("conv", CONVS)
def test_inference_over_slices_of_the_graph_equals_the_whole_graph_pass(setup, conv, monkeypatch):
    """Past INFERENCE_EDGES a GNN scores a slice of destination nodes at a time (bounded
    memory at shop scale): it must compute what the whole-graph pass computes."""
    _frame, graph, dims, num_nodes = setup
    torch.manual_seed(0)
    model = HeteroGNN(
        dims=dims,
        num_nodes=num_nodes,
        conv=conv,
        hidden=16,
        heads=2,
        layers=2,
        id_dims={"customer": 4, "product": 4},
        collab=True,
    ).eval()
    with torch.no_grad():
        whole = model(graph)
        monkeypatch.setattr(models, "INFERENCE_EDGES", 7)
        calls = []
        real = models._layer_in_chunks
        monkeypatch.setattr(models, "_layer_in_chunks", lambda *a: calls.append(1) or real(*a))
        sliced = model(graph)
    assert len(calls) == 2  # both layers took the sliced path
    for t in NODE_TYPES:
        assert sliced[t].shape == whole[t].shape
        assert torch.allclose(sliced[t], whole[t], atol=1e-5), t
    # with gradients (training) the whole-graph pass is kept
    calls.clear()
    model(graph)
    assert not calls


def test_slices_hold_at_most_the_budget_or_one_node(monkeypatch):
    monkeypatch.setattr(models, "INFERENCE_EDGES", 10)
    counts = torch.tensor([3, 4, 3, 25, 0, 1, 9, 2, 0])
    slices = models._slices(counts)
    assert slices[0][0] == 0 and slices[-1][1] == len(counts)
    assert all(a < b for a, b in slices)
    assert all(b1 == a2 for (_, b1), (a2, _) in itertools.pairwise(slices))
    for a, b in slices:
        assert counts[a:b].sum() <= 10 or b - a == 1
    assert (3, 4) in slices  # the node with 25 edges alone
    assert models._slices(torch.zeros(0, dtype=torch.long)) == []


def test_feature_mlp_reads_no_edges(setup):
    frame, graph, dims, num_nodes = setup
    model = FeatureMLP(dims=dims, num_nodes=num_nodes, hidden=8, id_dims={"customer": 4})
    model.eval()
    before = model(graph)
    for et in graph.edge_types:
        graph[et].edge_index = graph[et].edge_index[:, :0]
    after = model(graph)
    assert before["product"].shape == (frame.num_products, 8)
    assert torch.equal(before["product"], after["product"])


@pytest.mark.parametrize("kind", ["dot", "mlp"])
def test_pair_decoder_shapes(kind):
    dec = PairDecoder(dim=8, pair_dim=len(PAIR_FEATURES), kind=kind)
    out = dec(torch.randn(5, 8), torch.randn(5, 8), torch.randn(5, len(PAIR_FEATURES)))
    assert out.shape == (5,)


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_every_registered_student_builds_scores_and_learns(setup, name):
    _, graph, dims, num_nodes = setup
    spec = {"kind": STUDENTS[name].kind, "hidden": 8, "heads": 2, "layers": 2, "customer_id_dim": 4}
    model = build_link_predictor(spec, dims, num_nodes, len(PAIR_FEATURES))
    c = torch.tensor([0, 1, 2, 3])
    p = torch.tensor([0, 5, 9, 11])
    f = torch.rand(4, len(PAIR_FEATURES))
    logits = model(graph, c, p, f)
    assert logits.shape == (4,)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.tensor([1.0, 0, 1, 0])
    )
    loss.backward()
    grads = [q.grad for q in model.parameters() if q.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert model.graph_free == (STUDENTS[name].kind == "mlp")


def test_node_classifier_shapes(setup):
    frame, graph, dims, num_nodes = setup
    enc = build_encoder(kind="sage", dims=dims, num_nodes=num_nodes, hidden=8)
    clf = NodeClassifier(encoder=enc, node_type="product", dim=8, num_classes=4)
    assert clf(graph).shape == (frame.num_products, 4)


def test_bad_conv_and_heads_are_rejected(setup):
    _, _, dims, num_nodes = setup
    with pytest.raises(ValueError, match="conv must be"):
        HeteroGNN(dims=dims, num_nodes=num_nodes, conv="gcn2")
    with pytest.raises(ValueError, match="divisible"):
        HeteroGNN(dims=dims, num_nodes=num_nodes, conv="gat", hidden=10, heads=4)


@pytest.mark.parametrize("kind", ["gat", "mlp"])
def test_collab_appends_id_embeddings_zero_for_nodes_without_one(setup, kind):
    frame, graph, dims, num_nodes = setup
    ids = {"customer": 4, "product": 4}
    model = build_encoder(
        kind=kind, dims=dims, num_nodes=num_nodes, hidden=8, heads=2, id_dims=ids, collab=True
    )
    model.eval()
    out = model(graph)
    assert out["customer"].shape == (frame.num_customers, 12)
    assert out["product"].shape == (frame.num_products, 12)
    unseen = ~graph["product"].seen
    assert unseen.any() and (graph["product"].seen).any()
    assert torch.all(out["product"][unseen, 8:] == 0)
    weights = model.encoders["product"].ids.weight
    seen_rows = torch.nonzero(graph["product"].seen).squeeze(1)
    assert torch.equal(out["product"][seen_rows, 8:], weights[seen_rows])


@pytest.mark.parametrize("kind", ["gat", "mlp"])
def test_ids_kept_out_of_the_encoder_reach_only_the_collab_columns(setup, kind):
    _, graph, dims, num_nodes = setup
    ids = {"customer": 4, "product": 4}
    options = dict(kind=kind, dims=dims, num_nodes=num_nodes, hidden=8, heads=2, id_dims=ids)
    torch.manual_seed(0)
    model = build_encoder(**options, collab=True, id_input=False).eval()
    assert model.encoders["product"].id_proj is None
    out = model(graph)
    weights = model.encoders["product"].ids.weight
    seen = graph["product"].seen
    assert torch.equal(out["product"][seen, 8:], weights[seen])
    # the learnt columns do not move with the ids; with the ids as input they do
    with torch.no_grad():
        weights.mul_(3.0)
    again = model(graph)
    assert torch.equal(again["product"][:, :8], out["product"][:, :8])
    fed = build_encoder(**options, collab=True).eval()
    before = fed(graph)["product"][:, :8]
    with torch.no_grad():
        fed.encoders["product"].ids.weight.mul_(3.0)
    assert not torch.allclose(fed(graph)["product"][:, :8], before)
    # without the matrix-factorisation term nothing else reads them: they stay in
    alone = build_encoder(**options, collab=False, id_input=False)
    assert alone.encoders["product"].id_proj is not None


def test_ids_in_encoder_reaches_the_spec_and_old_specs_keep_ids_in_the_input(setup):
    _, _, dims, num_nodes = setup
    teacher = RunConfig().teacher
    assert teacher.spec()["ids_in_encoder"] is False
    pair_dim = len(PAIR_FEATURES)
    model = build_link_predictor(teacher.spec(), dims, num_nodes, pair_dim)
    assert model.encoder.encoders["customer"].id_proj is None
    old = {k: v for k, v in teacher.spec().items() if k != "ids_in_encoder"}
    assert (
        build_link_predictor(old, dims, num_nodes, pair_dim).encoder.encoders["customer"].id_proj
        is not None
    )
    # one id width of its own: no matrix-factorisation term, so the ids stay in
    assert replace(teacher, product_id_dim=8).spec()["ids_in_encoder"] is True


def test_struct_in_encoder_feeds_the_vectors_to_the_graph_free_encoder(setup):
    """With ``struct_in_encoder`` the MLP student's learnt columns are a function of each
    node's structural vector as well (a learnt map of its neighbourhood's sketch); off,
    they do not move with the vectors. The spec carries it; old specs leave it off."""
    _frame, graph, dims, num_nodes = setup
    graph = graph.clone()
    gen = torch.Generator().manual_seed(0)
    for t in ("customer", "product"):
        graph[t].struct = torch.randn(graph[t].x_num.size(0), 8, generator=gen)
    student = replace(RunConfig().student_mlp, struct_in_encoder=True)
    spec = {**student.spec(), "struct_dim": 8}
    assert spec["struct_in_encoder"] is True
    fed = build_link_predictor(spec, dims, num_nodes, len(PAIR_FEATURES)).eval()
    plain = build_link_predictor(
        {**spec, "struct_in_encoder": False}, dims, num_nodes, len(PAIR_FEATURES)
    ).eval()
    old = {k: v for k, v in spec.items() if k != "struct_in_encoder"}
    assert (
        build_link_predictor(old, dims, num_nodes, len(PAIR_FEATURES)).encoder.struct_maps is None
    )
    assert plain.encoder.struct_maps is None
    n_fed = sum(p.numel() for p in fed.parameters())
    n_plain = sum(p.numel() for p in plain.parameters())
    assert n_fed - n_plain == 2 * 8 * student.hidden
    before_fed, before_plain = fed.learnt(graph), plain.learnt(graph)
    moved = graph.clone()
    moved["customer"].struct = moved["customer"].struct.flip(0)
    after_fed, after_plain = fed.learnt(moved), plain.learnt(moved)
    assert not torch.allclose(after_fed[0], before_fed[0])
    assert torch.equal(after_fed[1], before_fed[1])  # products' vectors did not move
    assert torch.equal(after_plain[0], before_plain[0])
    # a graph model has no such input: the config says so
    with pytest.raises(ValueError, match="struct_in_encoder"):
        replace(RunConfig().teacher, struct_in_encoder=True)


def test_collab_needs_id_embeddings_of_one_width(setup):
    _, _, dims, num_nodes = setup
    with pytest.raises(ValueError, match="one width"):
        FeatureMLP(
            dims=dims, num_nodes=num_nodes, id_dims={"customer": 4, "product": 2}, collab=True
        )


def test_collab_decoder_adds_the_weighted_dot_product_of_id_parts():
    dec = PairDecoder(dim=6, pair_dim=3, collab_dim=2)
    z_c, z_p, f = torch.randn(5, 6), torch.randn(5, 6), torch.randn(5, 3)
    base = PairDecoder(dim=4, pair_dim=3)
    base.mlp.load_state_dict(dec.mlp.state_dict())
    # the weight starts at 0: the id parts count for nothing until training says so
    assert torch.allclose(dec(z_c, z_p, f), base(z_c[:, :4], z_p[:, :4], f), atol=1e-6)
    with torch.no_grad():
        dec.mf_weight.fill_(0.5)
    want = base(z_c[:, :4], z_p[:, :4], f) + 0.5 * (z_c[:, 4:] * z_p[:, 4:]).sum(-1)
    assert torch.allclose(dec(z_c, z_p, f), want, atol=1e-6)


def test_mf_dropout_leaves_the_term_out_of_some_training_pairs_only():
    torch.manual_seed(0)
    dec = PairDecoder(dim=6, pair_dim=3, collab_dim=2, mf_dropout=0.5)
    base = PairDecoder(dim=4, pair_dim=3)
    base.mlp.load_state_dict(dec.mlp.state_dict())
    with torch.no_grad():
        dec.mf_weight.fill_(0.5)
    z_c, z_p, f = torch.randn(400, 6), torch.randn(400, 6), torch.randn(400, 3)
    without = base(z_c[:, :4], z_p[:, :4], f)
    full = without + 0.5 * (z_c[:, 4:] * z_p[:, 4:]).sum(-1)
    dec.train()
    out = dec(z_c, z_p, f)
    dropped = torch.isclose(out, without, atol=1e-6)
    assert torch.all(dropped | torch.isclose(out, full, atol=1e-6))
    assert 120 < int(dropped.sum()) < 280  # about half, each pair on its own
    dec.eval()  # scoring: always the whole term
    assert torch.allclose(dec(z_c, z_p, f), full, atol=1e-6)
    with pytest.raises(ValueError, match="mf_dropout"):
        StudentConfig(mf_dropout=1.0)


def test_rank_head_starts_as_the_pair_logit_and_old_specs_build_without_it(setup):
    _, _, dims, num_nodes = setup
    dec = PairDecoder(dim=4, pair_dim=3, rank_head=True)
    z, f = torch.randn(5, 4), torch.randn(5, 3)
    assert torch.equal(dec.rank(z, z, f), dec(z, z, f))  # the prior starts at zero
    old = {"kind": "mlp", "hidden": 8, "customer_id_dim": 4}  # a run saved before both
    model = build_link_predictor(old, dims, num_nodes, len(PAIR_FEATURES))
    assert model.decoder.prior is None and not model.encoder.collab
    z8, f13 = torch.randn(5, 8), torch.randn(5, len(PAIR_FEATURES))
    assert torch.equal(model.decoder.rank(z8, z8, f13), model.decoder(z8, z8, f13))
