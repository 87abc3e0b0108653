"""FastRP structural vectors (distill.structure): shapes, determinism, no leakage of the
held-out day, cold start; how graphs carry them and the decoder's cosine term uses them;
encoders and specs saved before them load and score without them."""

import numpy as np
import pandas as pd
import pytest
import torch

from distill import train as train_module
from distill.artifact import build_model
from distill.config import StructureConfig, StudentConfig, TeacherConfig
from distill.data import PAIR_FEATURES, FeatureEncoder, History, build_graph
from distill.models import STRUCT_WEIGHT, PairDecoder, pair_cosine
from distill.structure import fastrp
from kgframe import GraphFrame
from tests.support.tiny import planted_frame

SETTINGS = {"dim": 64, "weights": [1.0, 1.0, 1.0], "seed": 0}


def _vectors(frame: GraphFrame, **overrides):
    return fastrp(frame, **{**SETTINGS, **overrides})


def test_shapes_unit_rows_and_determinism():
    frame = planted_frame()
    c, p = _vectors(frame)
    assert c.shape == (frame.num_customers, 64) and p.shape == (frame.num_products, 64)
    assert c.dtype == np.float32 and p.dtype == np.float32
    assert np.allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-5)
    again = _vectors(frame)
    assert np.array_equal(c, again[0]) and np.array_equal(p, again[1])
    other = _vectors(frame, seed=1)
    assert not np.allclose(c, other[0])


def test_vectors_follow_the_graph():
    """Customers of the same favourite category (planted) end up closer than others."""
    frame = planted_frame()
    c, _ = _vectors(frame, dim=256)
    sim = c @ c.T
    same = (np.arange(40)[:, None] % 4) == (np.arange(40)[None, :] % 4)
    off_diagonal = ~np.eye(40, dtype=bool)
    assert sim[same & off_diagonal].mean() > sim[~same].mean() + 0.2


def test_before_day_leaves_out_that_day_and_later():
    """Only interactions before the cut-off count: the vectors equal those of a frame
    without the later days, whatever the held-out day holds."""
    frame = planted_frame()
    cut = 20190612
    early = frame.interactions.loc[frame.interactions["day"] < cut]
    without = GraphFrame(frame.customers, frame.products, frame.categories, frame.brands, early)
    a, b = _vectors(frame, before_day=cut), _vectors(without)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.allclose(a[0], _vectors(frame)[0])  # the later days do count without a cut
    # a held-out pair of the last day that nothing before it links: it changes nothing
    extra = pd.DataFrame(
        {"customer": [0], "product": [119], "type": ["BOUGHT"], "day": [cut], "count": [9]}
    )
    more = GraphFrame(
        frame.customers,
        frame.products,
        frame.categories,
        frame.brands,
        pd.concat([frame.interactions, extra], ignore_index=True),
    )
    c, p = _vectors(more, before_day=cut)
    assert np.array_equal(c, a[0]) and np.array_equal(p, a[1])


def test_a_cold_product_gets_a_vector_through_its_category_and_brand():
    frame = planted_frame()
    products = pd.concat(
        [
            frame.products,
            pd.DataFrame(
                {"id": [5000, 5001], "price": [3.0, 3.0], "category": [1, -1], "brand": [0, -1]}
            ),
        ],
        ignore_index=True,
    )
    grown = GraphFrame(
        frame.customers, products, frame.categories, frame.brands, frame.interactions
    )
    c, p = _vectors(grown, dim=256)
    cold, isolated = p[-2], p[-1]
    assert np.linalg.norm(cold) == pytest.approx(1.0, abs=1e-5)
    assert not isolated.any()  # linked to nothing: nothing to say
    # customers who like its category (planted: c % 4 == 1) rank it above the others
    likes = np.arange(40) % 4 == 1
    assert (c[likes] @ cold).mean() > (c[~likes] @ cold).mean()


# 4.0: a category's 30 products make its start 30**4 = 810,000 times a product's, past
# float16's 65,504; -4.0: a product's neighbours' starts scaled to about 1e-6, where
# float16 keeps a digit or two (subnormal); unless the blocked path rescales the first hop


def test_blocks_side_by_side_give_the_same_vectors_bit_for_bit(monkeypatch):
    """``workers`` > 1: a hop's column blocks propagate in a thread pool, torch at one
    intra-op thread meanwhile (given back after); the squared norms are summed in the
    blocks' order, so the vectors equal the one-thread ones exactly, ragged last block
    and several workers included, and ``workers=None`` follows torch's thread count."""
    import threading

    import distill.structure as structure

    frame = planted_frame()
    n = frame.num_customers + frame.num_products + len(frame.categories) + len(frame.brands)
    settings = {"dim": 48, "weights": [1.0, 0.5, 2.0], "normalization": -0.5, "dense_bytes": 0}
    one = fastrp(frame, **settings, block_bytes=4 * n * 5, workers=1)
    seen: list[tuple[str, int]] = []
    step = structure.np.einsum

    def spy(*args, **kwargs):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return step(*args, **kwargs)

    monkeypatch.setattr(structure.np, "einsum", spy)
    before = torch.get_num_threads()
    for workers in (2, 3):
        seen.clear()
        side = fastrp(frame, **settings, block_bytes=4 * n * 5, workers=workers)
        assert all(np.array_equal(a, b) for a, b in zip(one, side, strict=True)), workers
        pool = [s for s in seen if s[0].startswith("kgdistill-fastrp")]
        assert len(pool) == 3 * 10 and all(threads == 1 for _, threads in pool)  # 10 blocks
        assert torch.get_num_threads() == before
    seen.clear()
    fastrp(frame, **settings, block_bytes=4 * n * 5, workers=1)
    assert seen and not any(name.startswith("kgdistill-fastrp") for name, _ in seen)
    torch.set_num_threads(2)
    try:
        seen.clear()
        fastrp(frame, **settings, block_bytes=4 * n * 5)  # workers=None: torch's 2 threads
        assert any(name.startswith("kgdistill-fastrp") for name, _ in seen)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("normalization", [0.0, -0.5, 4.0, -4.0])
def test_blocked_propagation_gives_the_dense_vectors(normalization):
    """Above ``dense_bytes`` FastRP propagates a few columns at a time, each hop held in
    float16 (bounded memory at shop scale): the same vectors up to float16's rounding
    (they are held in float16 anyway), including a cold product and a node linked to
    nothing; the dense path draws its start in row chunks with the
    generator's stream of one draw, so chunking does not change it at all."""
    products = pd.concat(
        [planted_frame().products, pd.DataFrame({"id": [5000], "price": [1.0]})],
        ignore_index=True,
    )
    base = planted_frame()
    frame = GraphFrame(base.customers, products, base.categories, base.brands, base.interactions)
    settings = {"dim": 48, "weights": [1.0, 0.5, 2.0], "normalization": normalization}
    dense = fastrp(frame, **settings)
    n = frame.num_customers + frame.num_products + len(frame.categories) + len(frame.brands)
    for width in (1, 5, 48):  # columns per block; 5 leaves a ragged last block
        blocked = fastrp(frame, **settings, dense_bytes=0, block_bytes=4 * n * width)
        for want, got in zip(dense, blocked, strict=True):
            assert got.shape == want.shape and got.dtype == np.float32
            np.testing.assert_allclose(got, want, atol=2**-11)  # float16's rounding at 1
    assert not blocked[1][-1].any()  # the isolated product still gets zeros
    chunked = fastrp(frame, **settings, block_bytes=8 * 48 * 7)  # start drawn 7 rows at a time
    assert all(np.array_equal(a, b) for a, b in zip(dense, chunked, strict=True))
    rng = np.random.default_rng(0)  # one draw of the start: what runs saved before chunking saw
    once = rng.choice(np.array([-1.0, 0.0, 1.0], np.float32), size=(n, 48), p=[1 / 6, 2 / 3, 1 / 6])
    chunk = np.random.default_rng(0)
    again = np.concatenate(
        [
            chunk.choice(
                np.array([-1.0, 0.0, 1.0], np.float32), size=(r, 48), p=[1 / 6, 2 / 3, 1 / 6]
            )
            for r in (7, n - 7)
        ]
    )
    assert np.array_equal(once, again)


def test_a_hubs_leaves_keep_every_hop_at_a_strongly_negative_strength():
    """A product bought by 5,000 customers, strength -4: a leaf's first hop reads only
    the hub's start, scaled by 5,001**-4 (about 1.6e-15), below the 1e-12 floor of the
    row normalisation unless the first hop is rescaled per row; then that hop dropped
    out of the sum (the dense path's vectors 0.18 from the blocked path's, found in
    review). Both paths give the same unit rows, and one weight alone works."""
    n = 5000
    frame = GraphFrame(
        pd.DataFrame({"id": np.arange(n)}),
        pd.DataFrame({"id": [0, 1], "price": [1.0, 1.0]}),
        pd.DataFrame({"id": pd.Series([], dtype=np.int64)}),
        pd.DataFrame({"id": pd.Series([], dtype=np.int64)}),
        pd.DataFrame(
            {
                "customer": np.r_[np.arange(n), 0],
                "product": np.r_[np.zeros(n, np.int64), 1],
                "type": "BOUGHT",
                "day": 20190610,
                "count": 1,
            }
        ),
    )
    for weights in ([1.0, 1.0], [1.0]):
        settings = {"dim": 64, "weights": weights, "normalization": -4.0}
        dense = fastrp(frame, **settings)
        blocked = fastrp(frame, **settings, dense_bytes=0, block_bytes=4 * (n + 2) * 7)
        for want, got in zip(dense, blocked, strict=True):
            np.testing.assert_allclose(np.linalg.norm(want, axis=1), 1.0, atol=1e-5)
            np.testing.assert_allclose(got, want, atol=2**-11)


def test_start_vectors_are_exactly_the_draw_runs_were_trained_with():
    """The start is found by comparing uniforms with the cumulative probabilities, not by
    ``rng.choice``: it must be the very values one ``choice`` draw gives from the same
    seed (every run saved before holds vectors made from it), in row chunks or not, as
    the int8 chunks the blocked path reads and as the dense path's float32 array."""
    from distill.structure import _SPARSITY, _start_chunks, _start_vectors

    p = 1.0 / (2.0 * _SPARSITY)
    values = np.array([-1, 0, 1], np.int8)
    want = np.random.default_rng(5).choice(values, size=(301, 40), p=[p, 1 - 2 * p, p])
    for block_bytes in (8 * 40 * 7, 2**20):  # 7 rows a chunk, then one
        got = _start_vectors(np.random.default_rng(5), 301, 40, block_bytes)
        assert got.dtype == np.float32 and np.array_equal(got, want)
        chunks = list(_start_chunks(np.random.default_rng(5), 301, 40, block_bytes))
        assert all(block.dtype == np.int8 for _, block in chunks)
        step = 7 if block_bytes < 2**20 else 301
        assert [rows.start for rows, _ in chunks] == list(range(0, 301, step))
        assert np.array_equal(np.concatenate([block for _, block in chunks]), want)
    assert set(np.unique(want).tolist()) == {-1, 0, 1}


def test_graphs_carry_vectors_only_with_an_encoder_that_has_structure():
    frame = planted_frame()
    plain = build_graph(frame, FeatureEncoder.fit(frame), before_day=20190612)
    assert "struct" not in plain["customer"] and "struct" not in plain["product"]
    enc = FeatureEncoder.fit(frame, StructureConfig(dim=32).encoder_settings())
    graph = build_graph(frame, enc, before_day=20190612)
    want = fastrp(frame, dim=32, weights=[1.0] * 4, seed=0, normalization=-0.5, before_day=20190612)
    # held at half precision (STRUCT_DTYPE), each cosine within 1e-3 of float32's
    for got, full in zip((graph["customer"].struct, graph["product"].struct), want, strict=True):
        assert got.dtype == torch.float16
        assert torch.equal(got, torch.from_numpy(full).half())
        exact = torch.from_numpy(full) @ torch.from_numpy(want[1]).T
        held = got.float() @ graph["product"].struct.float().T
        assert (held - exact).abs().max() < 1e-3
    again = FeatureEncoder.from_dict(enc.to_dict())
    assert again.structure == enc.structure
    assert StructureConfig(dim=0).encoder_settings() == {}


def test_degree_normalization_changes_the_vectors_and_old_runs_keep_theirs():
    """``normalization`` scales each node's random vector by degree**normalization
    before propagating: 0 is the plain FastRP; an encoder saved before the setting
    existed (no key) builds the plain vectors, as it did when it was saved."""
    frame = planted_frame()
    plain = fastrp(frame, dim=32, weights=[1.0] * 4, seed=0)
    damped = fastrp(frame, dim=32, weights=[1.0] * 4, seed=0, normalization=-0.5)
    assert np.allclose(fastrp(frame, dim=32, weights=[1.0] * 4, normalization=0.0)[1], plain[1])
    assert not np.allclose(damped[1], plain[1], atol=1e-3)
    saved = FeatureEncoder.fit(frame, {"dim": 32, "weights": [1.0] * 4, "seed": 0}).to_dict()
    old = FeatureEncoder.from_dict(saved)
    assert torch.equal(build_graph(frame, old)["product"].struct, torch.from_numpy(plain[1]).half())


def test_decoder_adds_the_weighted_cosine_and_the_prior_ignores_it():
    dec = PairDecoder(dim=4, pair_dim=3, struct_dim=2, rank_head=True)
    base = PairDecoder(dim=4, pair_dim=3, rank_head=True)
    base.mlp.load_state_dict(dec.mlp.state_dict())
    z_c, z_p, f = torch.randn(5, 6), torch.randn(5, 6), torch.randn(5, 3)
    cosine = (z_c[:, 4:] * z_p[:, 4:]).sum(-1)
    want = base(z_c[:, :4], z_p[:, :4], f) + STRUCT_WEIGHT * cosine
    assert torch.allclose(dec(z_c, z_p, f), want, atol=1e-5)
    with torch.no_grad():
        dec.prior.weight.normal_()
        base.prior.load_state_dict(dec.prior.state_dict())
    # the prior reads the representation, not the structural columns (their basis is
    # the random projection's, which differs from graph to graph)
    shifted = z_p.clone()
    shifted[:, 4:] = torch.randn(5, 2)
    gap = dec.rank(z_c, shifted, f) - dec(z_c, shifted, f)
    assert torch.allclose(
        gap, base.rank(z_c[:, :4], z_p[:, :4], f) - base(z_c[:, :4], z_p[:, :4], f)
    )


def _structured_teacher():
    """The planted frame, its graph with 16-wide structural vectors and a small GAT
    teacher (eval mode) that scores with them."""
    frame = planted_frame()
    enc = FeatureEncoder.fit(frame, StructureConfig(dim=16).encoder_settings())
    teacher = build_model(
        TeacherConfig(hidden=8).spec(), enc, frame.num_customers, frame.num_products
    ).eval()
    return frame, build_graph(frame, enc), teacher


def test_the_teachers_held_embeddings_share_the_graphs_vectors_instead_of_copying_them():
    """A distilled student holds the teacher's embeddings of each snapshot through
    training: their structural columns are the graph's own tensor (at 1,024 columns a
    copy was 1 GB per snapshot for 250,000 nodes), their learnt ones the teacher's."""
    frame, graph, teacher = _structured_teacher()
    with torch.no_grad():
        z = teacher.embeddings(graph)
        held = train_module.held_sides(teacher, graph)
    for t, side, whole in zip(("customer", "product"), held, z, strict=True):
        assert side.s is graph[t].struct  # the graph's tensor itself
        assert torch.equal(side.h, whole[:, :-16]) and side.h.is_contiguous()
        # a view would keep the whole [N, D + S] embeddings alive
        assert side.h.untyped_storage().nbytes() == side.h.numel() * side.h.element_size()
    # and the listwise term reads the same teacher logits as from the whole embeddings
    grid_rows = torch.arange(min(4, frame.num_customers))
    c, p = held[0].at(grid_rows), held[1].at(grid_rows)
    full = [train_module.Side(*teacher.decoder.split(whole)) for whole in z]
    fc, fp = full[0].at(grid_rows), full[1].at(grid_rows)
    f = torch.zeros(len(grid_rows) ** 2, len(PAIR_FEATURES))
    assert torch.equal(
        teacher.decoder.rank_grid_of(c.h, p.h, f, c.s, p.s),
        teacher.decoder.rank_grid_of(fc.h, fp.h, f, fc.s, fp.s),
    )


def test_a_gnns_pair_scores_never_append_the_vectors_to_every_row(monkeypatch):
    """``scoring_logits`` of a GNN that scores with structural vectors (the evaluation's
    100,000-pair latency, ``Scorer.score_pairs``) reads its learnt columns and each
    pair's cosine apart, a chunk at a time: the logits and ranking logits of the whole
    appended embeddings, without ever building them ([N, D + 1,024] float32 at once was
    a 5,000,000-interaction run's peak). A graph without vectors: one clear error."""
    from distill import predict

    frame, graph, teacher = _structured_teacher()
    history = History.from_frame(frame)
    rng = np.random.default_rng(0)
    n = predict.PAIR_CHUNK + 5  # two chunks, the second ragged
    c = rng.integers(0, frame.num_customers, n)
    p = rng.integers(0, frame.num_products, n)
    with torch.no_grad():
        z_c, z_p = teacher.embeddings(graph)
        rows_c, rows_p = z_c[torch.as_tensor(c)], z_p[torch.as_tensor(p)]
        f = history.pair_features(c, p)
        want = {
            False: teacher.decoder(rows_c, rows_p, f),
            True: teacher.decoder.rank(rows_c, rows_p, f),
        }

    def appended(*_):
        raise AssertionError("the vectors appended to every row")

    monkeypatch.setattr(type(teacher), "embeddings", appended)
    for ranking in (False, True):
        got = predict.scoring_logits(teacher, graph, history, c, p, ranking=ranking)
        assert got.shape == (n,)
        torch.testing.assert_close(got, want[ranking], rtol=1e-5, atol=1e-5)
    del graph["product"].struct
    with pytest.raises(ValueError, match="structural"):
        predict.scoring_logits(teacher, graph, history, c, p)


@pytest.mark.parametrize("config", [StudentConfig(kind="mlp", hidden=8), TeacherConfig(hidden=8)])
def test_models_score_with_the_graph_vectors_and_old_ones_without(config):
    frame = planted_frame()
    enc = FeatureEncoder.fit(frame, StructureConfig(dim=16).encoder_settings())
    graph = build_graph(frame, enc)
    model = build_model(config.spec(), enc, frame.num_customers, frame.num_products).eval()
    z_c, z_p = model.embeddings(graph)
    assert torch.equal(z_c[:, -16:], graph["customer"].struct.float())
    assert torch.equal(z_p[:, -16:], graph["product"].struct.float())
    # a spec saved before the setting (no "structure" key): no structural term
    old_spec = {k: v for k, v in config.spec().items() if k != "structure"}
    old = build_model(old_spec, enc, frame.num_customers, frame.num_products)
    assert old.decoder.struct_dim == 0 and old.decoder.struct_weight is None
    # an encoder saved before it (no "structure" key): none either, the graph has none
    state = enc.to_dict()
    del state["structure"]
    old_enc = FeatureEncoder.from_dict(state)
    model = build_model(config.spec(), old_enc, frame.num_customers, frame.num_products)
    assert model.decoder.struct_dim == 0
    assert "struct" not in build_graph(frame, old_enc)["product"]
    # a graph without vectors for a model that needs them: one clear error
    with pytest.raises(ValueError, match="structural vectors"):
        build_model(config.spec(), enc, frame.num_customers, frame.num_products)(
            build_graph(frame, old_enc), torch.tensor([0]), torch.tensor([0]), torch.zeros(1, 13)
        )


@pytest.mark.parametrize("struct_dim", [0, 3])
def test_rank_grid_is_rank_of_every_cell(struct_dim):
    torch.manual_seed(0)
    dec = PairDecoder(dim=6, pair_dim=3, collab_dim=2, struct_dim=struct_dim, rank_head=True)
    with torch.no_grad():
        dec.prior.weight.normal_()
        dec.mf_weight.fill_(0.4)
    z_c, z_p = torch.randn(4, 6 + struct_dim), torch.randn(5, 6 + struct_dim)
    f = torch.randn(4 * 5, 3)
    cells = dec.rank(z_c.repeat_interleave(5, dim=0), z_p.repeat(4, 1), f).reshape(4, 5)
    assert torch.allclose(dec.rank_grid(z_c, z_p, f), cells, atol=1e-5)


@pytest.mark.parametrize("collab_dim", [0, 2])
def test_dot_grid_by_matrix_products_equals_the_grid_cell_by_cell(collab_dim):
    """The dot decoder's grid (evaluation, calibration, the listwise losses) is computed
    by matrix products; it equals the cell-by-cell grid, gradients included (training
    backpropagates through it), and a training decoder that drops the
    matrix-factorisation term per cell keeps the cell-by-cell path."""
    torch.manual_seed(1)
    dec = PairDecoder(dim=6, pair_dim=3, collab_dim=collab_dim, rank_head=True)
    with torch.no_grad():
        assert dec.prior is not None
        dec.prior.weight.normal_()
        dec.prior.bias.fill_(0.7)
        if dec.mf_weight is not None:
            dec.mf_weight.fill_(-0.6)
    h_c = torch.randn(3, 6, requires_grad=True)
    h_p = torch.randn(7, 6, requires_grad=True)
    f = torch.randn(3 * 7, 3)
    fast = dec.rank_grid_of(h_c, h_p, f, None, None)
    slow = dec.grid_by_cells(h_c, h_p, f)
    assert fast.shape == (3, 7)
    assert torch.allclose(fast, slow, atol=1e-5)
    weights = torch.randn(3, 7)
    g_fast = torch.autograd.grad((fast * weights).sum(), [h_c, h_p, dec.prior.weight])
    g_slow = torch.autograd.grad((slow * weights).sum(), [h_c, h_p, dec.prior.weight])
    for a, b in zip(g_fast, g_slow, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    if collab_dim:
        dropping = PairDecoder(dim=6, pair_dim=3, collab_dim=collab_dim, mf_dropout=1.0)
        with torch.no_grad():
            assert dropping.mf_weight is not None
            dropping.mf_weight.fill_(5.0)
        dropping.train()
        without_mf = dropping.rank_grid_of(h_c, h_p, f, None, None)
        dropping.eval()
        with_mf = dropping.rank_grid_of(h_c, h_p, f, None, None)
        mf = h_c[:, 6 - collab_dim :] @ h_p[:, 6 - collab_dim :].T
        assert torch.allclose(with_mf - without_mf, 5.0 * mf, atol=1e-4)


def test_mlp_decoder_grid_is_its_pairs_logits():
    torch.manual_seed(2)
    dec = PairDecoder(dim=4, pair_dim=3, kind="mlp")
    h_c, h_p, f = torch.randn(2, 4), torch.randn(5, 4), torch.randn(10, 3)
    cells = dec.rank_of(h_c.repeat_interleave(5, dim=0), h_p.repeat(2, 1), f, None)
    assert torch.allclose(dec.rank_grid_of(h_c, h_p, f, None, None), cells.reshape(2, 5))


def test_decoder_parts_equal_the_whole_and_refuse_missing_vectors():
    """Training scores learnt columns and structural cosines given apart (logit_of,
    rank_of, rank_grid_of): the same logits as forward, rank and rank_grid on the joined
    rows, and a clear error when a decoder that needs the vectors gets none."""
    torch.manual_seed(0)
    dec = PairDecoder(dim=4, pair_dim=3, struct_dim=2, rank_head=True)
    with torch.no_grad():
        assert dec.prior is not None
        dec.prior.weight.normal_()
    h_c, h_p, f = torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 3)
    s_c, s_p = torch.randn(5, 2), torch.randn(5, 2)
    z_c, z_p = torch.cat([h_c, s_c], -1), torch.cat([h_p, s_p], -1)
    assert torch.allclose(dec.logit_of(h_c, h_p, f, pair_cosine(s_c, s_p)), dec(z_c, z_p, f))
    assert torch.allclose(dec.rank_of(h_c, h_p, f, pair_cosine(s_c, s_p)), dec.rank(z_c, z_p, f))
    grid_f = torch.randn(25, 3)
    assert torch.allclose(
        dec.rank_grid_of(h_c, h_p, grid_f, s_c, s_p), dec.rank_grid(z_c, z_p, grid_f)
    )
    with pytest.raises(ValueError, match="2-wide structural vectors"):
        dec.logit_of(h_c, h_p, f, None)
    with pytest.raises(ValueError, match="2-wide structural vectors"):
        dec.rank_grid_of(h_c, h_p, grid_f, s_c, None)


def test_training_reads_each_pairs_cosine_computed_once_from_the_graph(monkeypatch):
    """The structural cosines training adds to its pair logits are computed once per
    snapshot (not per model) from the graph's vectors, in batches (struct_cosines): equal to each
    pair's cosine of the joined rows, so the pair loss is the loss of the decoder's
    forward on them; none for a graph without vectors."""
    import distill.train as train_module
    from distill.config import KDConfig, TaskConfig
    from distill.tasks import link_snapshots
    from distill.train import _pair_loss, _steps, graph_sides, snapshot_cosines

    frame = planted_frame()
    enc = FeatureEncoder.fit(frame, StructureConfig(dim=16).encoder_settings())
    snap = link_snapshots(
        frame, enc, TaskConfig(snapshots=1), KDConfig(), np.random.default_rng(0)
    )[0]
    graph, pairs = snap.graph, snap.pairs
    want = (
        graph["customer"].struct[pairs.customers].float()
        * graph["product"].struct[pairs.products].float()
    ).sum(-1)
    monkeypatch.setattr(train_module, "COSINE_BATCH", 7)  # many batches, one short
    assert len(pairs) % 7 and torch.allclose(snapshot_cosines(snap), want, atol=1e-6)
    model = build_model(
        StudentConfig(kind="mlp", hidden=8).spec(), enc, frame.num_customers, frame.num_products
    )
    (step,) = _steps([snap], None, None, False, struct=True)
    assert step.cos is not None and torch.allclose(step.cos, want, atol=1e-6)
    # computed once per snapshot: the next model's steps (and calls) read the same tensor
    monkeypatch.setattr(train_module, "SCORE_BATCH", None)  # a second computation fails
    assert snapshot_cosines(snap) is step.cos
    assert _steps([snap], None, None, False, struct=True)[0].cos is step.cos
    model.eval()
    with torch.no_grad():
        z = model.embeddings(graph)
        loss = _pair_loss(model, step, graph_sides(model, graph), None)
        keep = step.keep
        logits = model.decoder(
            z[0][pairs.customers[keep]], z[1][pairs.products[keep]], pairs.features[keep]
        )
        whole = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, pairs.labels[keep].float()
        )
    assert torch.allclose(loss, whole, atol=1e-5)
    plain = FeatureEncoder.fit(frame)
    snap_plain = link_snapshots(
        frame, plain, TaskConfig(snapshots=1), KDConfig(), np.random.default_rng(0)
    )[0]
    assert snapshot_cosines(snap_plain) is None


def test_rank_scale_is_the_validation_best_through_the_ranking_path():
    """After training, the structural cosine's ranking weight is set to the scale of
    RANK_SCALES whose top 20 (seen products left out) finds most validation positives:
    re-ranking with each scale through PairDecoder.rank_grid (what top K uses) finds
    no scale better than the chosen one; the pair logit does not change with it; a model
    without structural vectors gets no scale."""
    from distill.artifact import build_model
    from distill.config import KDConfig, StudentConfig, TaskConfig, TrainConfig
    from distill.metrics import rank_rows
    from distill.tasks import link_snapshots
    from distill.train import RANK_SCALES, train_link_model

    frame = planted_frame()
    rng = np.random.default_rng(0)
    spec = StudentConfig(kind="mlp", hidden=8, customer_id_dim=4, product_id_dim=4).spec()
    for dim in (16, 0):
        enc = FeatureEncoder.fit(frame, StructureConfig(dim=dim).encoder_settings())
        snaps = link_snapshots(
            frame, enc, TaskConfig(snapshots=2), KDConfig(candidates_per_pair=0), rng
        )
        model = build_model(spec, enc, frame.num_customers, frame.num_products)
        val = snaps[1]
        result = train_link_model(
            model,
            snaps[:1],
            val,
            lr=0.05,
            weight_decay=0.0,
            epochs=5,
            train=TrainConfig(progress=False),
        )
        if not dim:
            assert result.rank_scale is None and model.decoder.rank_struct_scale is None
            continue
        assert result.rank_scale in RANK_SCALES
        assert float(model.decoder.rank_struct_scale) == result.rank_scale
        pairs = val.pairs
        y = pairs.labels.numpy() == 1
        c, p = pairs.customers.numpy()[y], pairs.products.numpy()[y]
        rows = np.unique(c)
        positives = [p[c == r] for r in rows]
        exclude = val.history.seen_columns(rows)
        f = val.history.pair_features_grid(rows)
        with torch.no_grad():
            z_c, z_p = model.embeddings(val.graph)
            logit = model.decoder(z_c[:5], z_p[:5], pairs.features[:5])

            figures = {}
            for m in RANK_SCALES:
                model.decoder.rank_struct_scale.fill_(m)
                grid = model.decoder.rank_grid(z_c[rows], z_p, f.reshape(-1, f.shape[-1]))
                figures[m] = float(np.mean(rank_rows(grid.numpy(), positives, 20, exclude)[0]))
            assert torch.equal(model.decoder(z_c[:5], z_p[:5], pairs.features[:5]), logit)
        assert figures[result.rank_scale] >= max(figures.values()) - 1e-9
        assert len(set(figures.values())) > 1  # the scale matters on this graph


@pytest.mark.parametrize("config", [StudentConfig(kind="mlp", hidden=8), TeacherConfig(hidden=8)])
def test_evaluation_ranks_from_representations_computed_once(config, monkeypatch):
    """Evaluation ranks every ranked customer by every product from each model's
    representations computed once (a graph-free model was embedded again for each chunk
    of 16 customers, appending 1,024 structural columns to every row each time), and
    ranks them exactly as the appended embeddings rank them."""
    from dataclasses import replace

    from distill import evaluate
    from distill.config import RunConfig
    from distill.metrics import rank_rows
    from tests.support.tiny import planted_pairs

    frame = planted_frame()
    config_run = RunConfig()
    config_run = replace(config_run, structure=replace(config_run.structure, dim=16))
    ctx = evaluate.prepare(frame, planted_pairs(frame), config_run)
    assert len(ctx.rank_customers) > evaluate.RANK_CHUNK  # several chunks
    torch.manual_seed(0)
    model = build_model(config.spec(), ctx.encoder, frame.num_customers, frame.num_products)
    model.decoder.struct_weight.data.fill_(3.0)
    model.eval()
    calls = []
    real = type(model.encoder).forward

    def counted(self, data, struct=True):
        calls.append(struct)
        return real(self, data, struct)

    monkeypatch.setattr(type(model.encoder), "forward", counted)
    result = evaluate._model_result(ctx, model, 20, None)
    assert len(calls) == 2  # the test pairs' scores, then the ranking's representations
    with torch.no_grad():
        z_c, z_p = model.embeddings(ctx.test.graph)
        recalls, ndcgs = [], []
        for start in range(0, len(ctx.rank_customers), evaluate.RANK_CHUNK):
            rows = ctx.rank_customers[start : start + evaluate.RANK_CHUNK]
            f = ctx.test.history.pair_features_grid(rows)
            grid = model.decoder.rank_grid(z_c[rows], z_p, f.reshape(-1, f.shape[-1]))
            chunk = slice(start, start + evaluate.RANK_CHUNK)
            exclude = ctx.rank_exclude[chunk] if ctx.rank_exclude is not None else None
            part = rank_rows(grid.numpy(), ctx.rank_positives[chunk], 20, exclude)
            recalls += part[0]
            ndcgs += part[1]
    assert result.quality.recall == pytest.approx(np.mean(recalls), abs=1e-12)
    assert result.quality.ndcg == pytest.approx(np.mean(ndcgs), abs=1e-12)
