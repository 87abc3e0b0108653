"""Artifacts round trip with weights_only=True; scoring pairs, new products, top-K."""

import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

import distill.predict as predict_module
from distill.artifact import LoadedModel, build_model, load_artifact, save_artifact
from distill.config import (
    IndexOptions,
    KDConfig,
    StructureConfig,
    StudentConfig,
    TaskConfig,
    TrainConfig,
)
from distill.data import FeatureEncoder
from distill.predict import ProductIndex, Scorer, _cheap_scores, _pair_mlp, _seen_positions
from distill.tasks import link_snapshots
from distill.train import train_link_model
from kgframe import GraphFrame
from tests.support.tiny import planted_frame


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    frame = planted_frame()
    enc = FeatureEncoder.fit(frame)
    rng = np.random.default_rng(0)
    snaps = link_snapshots(
        frame, enc, TaskConfig(snapshots=2), KDConfig(candidates_per_pair=0), rng
    )
    config = StudentConfig(kind="mlp", hidden=8, customer_id_dim=4, epochs=30)
    model = build_model(config.spec(), enc, frame.num_customers, frame.num_products)
    train_link_model(
        model,
        snaps[:1],
        snaps[1],
        lr=0.05,
        weight_decay=0.0,
        epochs=30,
        train=TrainConfig(progress=False, patience=100),
    )
    loaded = LoadedModel(
        name="student_mlp",
        model=model,
        spec=config.spec(),
        encoder=enc,
        customer_ids=frame.customers["id"].tolist(),
        product_ids=frame.products["id"].tolist(),
        metrics={"auc": 0.5},
    )
    path = save_artifact(tmp_path_factory.mktemp("art") / "student_mlp.pt", loaded)
    return frame, loaded, path


def test_artifact_round_trip_with_weights_only(trained):
    frame, loaded, path = trained
    raw = torch.load(path, weights_only=True)
    assert raw["name"] == "student_mlp" and raw["metrics"]["auc"] == 0.5
    again = load_artifact(path)
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key])
    a = Scorer(loaded, frame).score_pairs(["c1", "c2"], [1001, 1002])
    b = Scorer(again, frame).score_pairs(["c1", "c2"], [1001, 1002])
    assert np.allclose(a["score"], b["score"])


def test_scores_follow_the_planted_preference(trained):
    frame, loaded, _ = trained
    scorer = Scorer(loaded, frame)
    # customer c0 likes category 0 (products 1000, 1004, ...), not category 2 (1002, ...)
    liked = scorer.score_pairs(["c0"] * 10, list(range(1000, 1040, 4)))["score"].mean()
    other = scorer.score_pairs(["c0"] * 10, list(range(1002, 1042, 4)))["score"].mean()
    assert liked > other


def test_unknown_ids_raise_a_key_error_naming_them(trained):
    frame, loaded, _ = trained
    with pytest.raises(KeyError, match="nobody"):
        Scorer(loaded, frame).score_pairs(["nobody"], [1000])
    with pytest.raises(KeyError, match="424242"):
        Scorer(loaded, frame).score_pairs(["c0"], [424242])


def test_a_new_product_is_scored_from_its_features(trained):
    frame, loaded, _ = trained
    cat_of = frame.products["category"].to_numpy()
    new = pd.DataFrame(
        {
            "id": [5000, 5001],
            "price": [np.exp(1.0), np.exp(3.0)],
            "category": [0, 2],
            "brand": [-1, -1],
        }
    )
    bigger = GraphFrame(
        frame.customers,
        pd.concat([frame.products, new], ignore_index=True),
        frame.categories,
        frame.brands,
        frame.interactions,
    )
    scores = Scorer(loaded, bigger).score_pairs(["c0", "c0"], [5000, 5001])
    assert scores["score"].between(0, 1).all()
    assert scores["score"][0] > scores["score"][1]  # category 0 is c0's favourite
    assert cat_of[0] == 0


def test_top_k_ranks_excludes_seen_and_thresholds(trained):
    frame, loaded, _ = trained
    scorer = Scorer(loaded, frame)
    top = scorer.top_k(["c0", "c1"], k=5, exclude_seen=True)
    assert list(top.columns) == ["customer_id", "product_id", "score", "rank"]
    assert len(top) == 10
    for _, group in top.groupby("customer_id"):
        assert group["rank"].tolist() == [1, 2, 3, 4, 5]
        assert group["score"].is_monotonic_decreasing
    seen = set(zip(frame.interactions["customer"], frame.interactions["product"], strict=True))
    rows_c = frame.customer_index().get_indexer(top["customer_id"])
    rows_p = frame.product_index().get_indexer(top["product_id"])
    assert not any((c, p) in seen for c, p in zip(rows_c, rows_p, strict=True))
    # the grid path and the pairwise path agree
    ids = top["customer_id"].tolist(), top["product_id"].tolist()
    pairwise = scorer.score_pairs(*ids, ranking=True)
    assert np.allclose(pairwise["score"], top["score"], atol=1e-5)
    # a probability is not a ranking score: the rank head adds the product prior
    assert not np.allclose(scorer.score_pairs(*ids)["score"], top["score"], atol=1e-5)
    cut = float(top["score"].median())
    assert (scorer.top_k(["c0", "c1"], k=5, min_score=cut)["score"] >= cut).all()
    everyone = scorer.top_k(k=2, exclude_seen=False)
    assert len(everyone) == 2 * frame.num_customers


def test_wrong_artifact_format_is_rejected(tmp_path):
    torch.save({"format": "other"}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a kgdistill"):
        load_artifact(tmp_path / "x.pt")


def test_gnn_artifact_scores_the_same_after_reload(tmp_path):
    frame = planted_frame(customers=12, products=30)
    enc = FeatureEncoder.fit(frame)
    spec = replace(StudentConfig(kind="gat", hidden=8, heads=2)).spec()
    model = build_model(spec, enc, frame.num_customers, frame.num_products)
    loaded = LoadedModel(
        "student_gat",
        model.eval(),
        spec,
        enc,
        frame.customers["id"].tolist(),
        frame.products["id"].tolist(),
    )
    path = save_artifact(tmp_path / "gat.pt", loaded)
    a = Scorer(loaded, frame).score_pairs(["c3"], [1005])
    b = Scorer(load_artifact(path), frame).score_pairs(["c3"], [1005])
    assert a["score"][0] == pytest.approx(b["score"][0], abs=1e-6)


def _collab_scorer(
    frame: GraphFrame, structure: bool = False, cheap_precision: str = "auto"
) -> Scorer:
    """A fresh MLP student with the matrix-factorisation term and a rank head, its
    mf weight and prior random (fresh, they are 0), so every term of the ranking logit
    counts; ``structure``: with the structural vectors' cosine term too."""
    enc = FeatureEncoder.fit(frame, StructureConfig(dim=16 if structure else 0).encoder_settings())
    spec = StudentConfig(kind="mlp", hidden=8, customer_id_dim=4, product_id_dim=4).spec()
    model = build_model(spec, enc, frame.num_customers, frame.num_products)
    torch.manual_seed(3)
    with torch.no_grad():
        assert model.decoder.mf_weight is not None and model.decoder.prior is not None
        model.decoder.mf_weight.fill_(0.7)
        model.decoder.prior.weight.normal_()
        if structure:  # not its starting 5: sigmoid would saturate into ties here
            assert model.decoder.struct_weight is not None
            model.decoder.struct_weight.fill_(0.6)
    ids = frame.customers["id"].tolist(), frame.products["id"].tolist()
    loaded = LoadedModel("student_mlp", model.eval(), spec, enc, *ids)
    return Scorer(loaded, frame, cheap_precision=cheap_precision)


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_shortlist_of_the_whole_catalogue_gives_the_exact_top_k(trained, exclude_seen):
    frame, loaded, _ = trained
    for scorer in (Scorer(loaded, frame), _collab_scorer(frame), _collab_scorer(frame, True)):
        exact = scorer.top_k(k=7, shortlist=0, exclude_seen=exclude_seen)
        fast = scorer.top_k(k=7, shortlist=frame.num_products, exclude_seen=exclude_seen)
        assert len(exact) == 7 * frame.num_customers
        pd.testing.assert_frame_equal(
            fast.drop(columns="score"), exact.drop(columns="score"), check_dtype=False
        )
        assert np.allclose(fast["score"], exact["score"], atol=1e-6)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_shortlists_structural_cosines_are_exact_either_way(precision, monkeypatch):
    """The shortlist's logits read the structural cosines the cheap score's product
    computed (no vector gathered again). In float32 those are exact; in bfloat16 they
    are rounded, so the products whose logits come within twice the rounding's bound
    of a customer's k-th best are scored again with cosines from the vectors (fewer
    columns). Either way the top K of a shortlist of the whole catalogue is the exact
    one, scores and all."""
    frame = planted_frame(customers=40, products=120)
    scorer = _collab_scorer(frame, True, precision)
    calls: list[tuple[bool, int]] = []  # (cosines given, columns) per call
    real = predict_module._shortlist_logits

    def spy(*args: object) -> torch.Tensor:
        given = len(args) > 6 and args[6] is not None
        calls.append((given, args[3].shape[1]))  # type: ignore[attr-defined]
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(predict_module, "_shortlist_logits", spy)
    exact = scorer.top_k(k=6, shortlist=0)
    fast = scorer.top_k(k=6, shortlist=frame.num_products)
    assert calls and all(given for given, _ in calls[::2])
    if precision == "float32":
        assert all(given for given, _ in calls)
    else:  # one block of one group: rounded cosines over the shortlist, exact over fewer
        assert len(calls) == 2 and not any(given for given, _ in calls[1::2])
        (_, whole), (_, again) = calls
        assert 6 <= again < whole
    pd.testing.assert_frame_equal(fast.drop(columns="score"), exact.drop(columns="score"))
    assert np.allclose(fast["score"], exact["score"], atol=1e-6)
    assert fast["score"].nunique() > 100  # the structural term does not tie everything


def _push_cosines(monkeypatch: pytest.MonkeyPatch, bound: float, seed: int) -> None:
    """From now on every Scorer takes its float32 cosines for rounded ones (so the
    products near each top K are scored again) and pushes each 0.99 x ``bound`` up or
    down at random, scores and cosines alike: the worst the bound allows, and no other
    error (bfloat16's own rounding would come on top of it)."""
    real = Scorer.cheap_product_parts
    noise = torch.Generator().manual_seed(seed)

    def pushed(self: Scorer, left: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        scores, cosines = real(self, left)
        assert cosines is not None and cosines.dtype == torch.float32
        off = 0.99 * bound * (torch.randint(0, 2, cosines.shape, generator=noise) * 2.0 - 1.0)
        return scores + off, cosines + off

    monkeypatch.setattr(Scorer, "cheap_product_parts", pushed)
    monkeypatch.setattr(Scorer, "cosines_rounded", property(lambda self: True))


def test_rounded_cosines_at_their_bound_still_give_the_exact_top_k(monkeypatch):
    """Every weighted cosine the shortlist's logits read pushed almost COSINE_ERROR *
    |weight| away from the float32 one. The top K (products and scores) is still the
    float32 one, because every product that could be lifted into it is scored again
    from the vectors, a few rows at a time, each group as wide as its rows need (with
    a bound of 0 it is not)."""
    frame = planted_frame(customers=40, products=120)
    scorer = _collab_scorer(frame, True, "float32")
    exact = scorer.top_k(k=6, shortlist=frame.num_products)
    _push_cosines(monkeypatch, scorer._cosine_bound(), seed=0)
    monkeypatch.setattr(predict_module, "EXACT_GROUP", 7)  # groups of rows, the last short
    fast = scorer.top_k(k=6, shortlist=frame.num_products)
    _same_top_k(fast, exact)
    monkeypatch.setattr(predict_module, "COSINE_ERROR", 0.0)  # trusting the pushed ones
    wrong = scorer.top_k(k=6, shortlist=frame.num_products)
    assert not np.allclose(wrong["score"], exact["score"], atol=1e-6)


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_rounded_cosines_keep_the_top_k_when_few_products_are_left(monkeypatch, exclude_seen):
    """k near the catalogue's size: with seen products left out most customers have
    fewer than k products to rank (their k-th best is -inf, so every product they have
    is scored again); kept, the seen ones join the shortlist. Either way, with the
    cosines pushed to 0.99 of the bound and rows in groups of 5, the same rows and
    scores as float32's (nothing of the groups' padding is written)."""
    frame = planted_frame(customers=40, products=30)
    scorer = _collab_scorer(frame, True, "float32")
    cases = ((28, 30), (8, 30))  # (k, shortlist): the second, few products to redo
    wants = [scorer.top_k(k=k, shortlist=n, exclude_seen=exclude_seen) for k, n in cases]
    _push_cosines(monkeypatch, scorer._cosine_bound(), seed=2)
    monkeypatch.setattr(predict_module, "EXACT_GROUP", 5)
    for (k, shortlist), want in zip(cases, wants, strict=True):
        got = scorer.top_k(k=k, shortlist=shortlist, exclude_seen=exclude_seen)
        if exclude_seen and k == 28:  # most customers had fewer than k products left
            assert len(want) < 40 * k
        _same_top_k(got, want)


def _same_top_k(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """The same customers and ranks with the same scores (1e-6), and the same product at
    every rank whose score no other product of that customer's top K shares (float32
    sums in another order may swap two products that tie to the last digit)."""
    pd.testing.assert_frame_equal(
        got[["customer_id", "rank"]], want[["customer_id", "rank"]], check_dtype=False
    )
    assert np.allclose(got["score"], want["score"], atol=1e-6)
    score = want["score"].to_numpy()
    gap = np.abs(score[:, None] - score[None, :]) < 1e-6
    same = want["customer_id"].to_numpy()[:, None] == want["customer_id"].to_numpy()[None, :]
    alone = (gap & same).sum(1) == 1
    assert alone.mean() > 0.9  # mostly distinct scores: the check below means something
    assert (got["product_id"].to_numpy()[alone] == want["product_id"].to_numpy()[alone]).all()


def test_exact_top_pads_each_group_to_its_widest_row_with_nothing_to_write(monkeypatch):
    """Rows scored again together share a width: a row needing fewer columns gets
    padding whose cheap score and logit are -inf (never chosen, never written, however
    low its real products' logits are), its own columns best first."""
    rescored = lambda _m, _h, _chunk, cols, _zc, _zp: -cols.float()  # noqa: E731
    monkeypatch.setattr(predict_module, "_shortlist_logits", rescored)
    monkeypatch.setattr(predict_module, "EXACT_GROUP", 2)
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0], [4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0]])
    cols = torch.tensor([[10, 11, 12, 13], [20, 21, 22, 23], [30, 31, 32, 33]])
    cheap = torch.zeros(3, 4)
    reach = torch.tensor([2, 4, 3])  # groups by need: rows 0 and 2 (width 3), then row 1
    out, out_cols, out_cheap = predict_module._exact_top(
        None, None, np.arange(3), reach, logits, cols, cheap, None, None
    )
    assert out_cols.tolist() == [[11, 12, 13, 0], [20, 21, 22, 23], [30, 31, 32, 0]]
    assert out[0, :3].tolist() == [-11.0, -12.0, -13.0] and out[1, 3] == -23.0
    for row, width in ((0, 3), (1, 4), (2, 3)):
        assert (out_cheap[row, :width] == 0).all()
        assert torch.isneginf(out_cheap[row, width:]).all()
        assert torch.isneginf(out[row, width:]).all()


def test_the_cosine_bound_holds_for_bfloat16_products_of_unit_vectors():
    """COSINE_ERROR against what rounding does: unit vectors stored in float16 (random,
    and products close to customers, whose cosines near 1 round the most), their
    weighted cosines multiplied as the cheap score does in bfloat16, against float64."""
    gen = torch.Generator().manual_seed(1)
    c = torch.randn(64, 1024, generator=gen)
    p = torch.cat([torch.randn(500, 1024, generator=gen), c.repeat(8, 1)])
    p[500:] += 0.05 * torch.randn(512, 1024, generator=gen)
    c, p = (torch.nn.functional.normalize(v, dim=1).half().float() for v in (c, p))
    weight = 3.7
    rounded = ((c * weight).bfloat16() @ p.bfloat16().T).float().double()
    exact = weight * (c.double() @ p.double().T)
    error = (rounded - exact).abs().max().item()
    assert 0 < error <= weight * predict_module.COSINE_ERROR
    assert exact.max() > 0.99 * weight  # the near-1 cosines were there
    # the worst case: every component just below a bfloat16 tie, rounding down alike
    # (a unit vector), its cosine with itself 1: off by about 2**-7, so a bound of
    # 2**-8 would not hold
    worst = torch.full((1, 1024), 2.0**-5 * (1 + 2.0**-8 - 2.0**-20))
    low = (worst.bfloat16() @ worst.bfloat16().T).float().double().item()
    off = abs(low - (worst.double() @ worst.double().T).item())
    assert 2.0**-8 < off <= predict_module.COSINE_ERROR


def test_reach_keeps_every_logit_that_rounding_could_lift_into_the_top_k():
    logits = torch.tensor([[5.0, 4.0, 3.9, 3.0, 1.0], [2.0, 1.9, 1.85, 1.82, 1.79]])
    held = torch.zeros_like(logits)
    # k = 2: row 0's 2nd best 4.0, within 2 * 0.06 of it 3.9 too (3); row 1 all (5)
    assert predict_module._reach(logits, held, 2, 0.06).tolist() == [3, 5]
    assert predict_module._reach(logits, held, 2, 0.0).tolist() == [2, 2]
    # a product without a candidate (cheap score -inf) never counts, however close
    held[0, 2] = -np.inf
    assert predict_module._reach(logits, held, 2, 0.06).tolist() == [2, 5]
    assert predict_module._reach(logits, held, 9, 0.0).tolist() == [5, 5]  # k over the width


def test_cheap_score_is_the_ranking_logit_when_the_pair_mlp_is_constant():
    """With the MLP's output weights at 0 the cheap score (matrix product, prior,
    category and brand gathers) must be the exact ranking logit of every unseen
    product up to a constant per customer."""
    frame = planted_frame(customers=12, products=30)
    for structure in (False, True):
        _cheap_is_exact(_collab_scorer(frame, structure, "float32"), frame)


def test_cheap_score_in_bfloat16_keeps_the_top_k():
    """The cheap score's matrix products in bfloat16 (what "auto" picks on CPUs with
    AVX512-BF16 or AMX; the structural cosines and the rest, which only picks the
    shortlist): the cheap scores within bfloat16's rounding of float32's, and the top K,
    whose shortlist is ranked by exact float32 logits, the same."""
    frame = planted_frame(customers=40, products=120)
    low = _collab_scorer(frame, True, "bfloat16")
    high = Scorer(low.loaded, frame, cheap_precision="float32")  # the same model
    chunk = np.arange(frame.num_customers)
    with torch.no_grad():
        a, b = _cheap_scores(low, chunk).numpy(), _cheap_scores(high, chunk).numpy()
    assert (low.cheap_dtype, high.cheap_dtype) == ("bfloat16", "float32")
    assert a.dtype == np.float32 and not np.array_equal(a, b)
    assert np.abs(a - b).max() <= 0.02 * np.abs(b).max()
    for shortlist in (frame.num_products, 30):
        fast = low.top_k(k=5, shortlist=shortlist)
        pd.testing.assert_frame_equal(
            fast.drop(columns="score"), high.top_k(k=5, shortlist=shortlist).drop(columns="score")
        )
    # exact float32 logits: the same scores as ranking every pair exactly
    exact = high.top_k(k=5, shortlist=0)
    assert np.allclose(low.top_k(k=5, shortlist=frame.num_products)["score"], exact["score"])


def test_auto_precision_takes_bfloat16_only_where_it_is_faster(monkeypatch):
    frame = planted_frame(customers=12, products=30)
    chunk = np.arange(frame.num_customers)
    for speedup, chosen in ((0.0, "bfloat16"), (float("inf"), "float32")):
        monkeypatch.setattr(predict_module, "CHEAP_SPEEDUP", speedup)
        scorer = _collab_scorer(frame, True)
        assert scorer.cheap_dtype is None  # chosen at the first product, timed
        with torch.no_grad():
            _cheap_scores(scorer, chunk)
        assert scorer.cheap_dtype == chosen
    with pytest.raises(ValueError, match="cheap_precision must be one of"):
        _collab_scorer(frame, True, "float16")


def _cheap_is_exact(scorer: Scorer, frame: GraphFrame) -> None:
    with torch.no_grad():
        scorer.loaded.model.decoder.mlp[2].weight.zero_()
    chunk = np.arange(frame.num_customers)
    exact = scorer.grid_logits(chunk).numpy()
    with torch.no_grad():
        cheap = _cheap_scores(scorer, chunk).numpy()
    rows, cols = _seen_positions(scorer.history.pair_keys, chunk, frame.num_products)
    gap = exact - cheap
    gap[rows, cols] = np.nan
    assert np.nanmax(np.nanmax(gap, 1) - np.nanmin(gap, 1)) < 1e-4
    assert len(rows) == len(frame.interactions.groupby(["customer", "product"]))


def test_fast_top_k_keeps_exclude_seen_min_score_and_recall(trained):
    frame, loaded, _ = trained
    for scorer in (Scorer(loaded, frame), _collab_scorer(frame), _collab_scorer(frame, True)):
        exact = scorer.top_k(k=5, shortlist=0)
        fast = scorer.top_k(k=5, shortlist=15)  # an eighth of the catalogue
        seen = set(zip(frame.interactions["customer"], frame.interactions["product"], strict=True))
        rows_c = frame.customer_index().get_indexer(fast["customer_id"])
        rows_p = frame.product_index().get_indexer(fast["product_id"])
        assert not any((c, p) in seen for c, p in zip(rows_c, rows_p, strict=True))
        hits = len(fast.merge(exact, on=["customer_id", "product_id"]))
        assert hits / len(exact) >= 0.9
        cut = float(fast["score"].median())
        cut_top = scorer.top_k(k=5, shortlist=15, min_score=cut)
        assert (cut_top["score"] >= cut).all() and 0 < len(cut_top) < len(fast)
        nobody = scorer.top_k([], k=5)
        assert nobody.empty and list(nobody.columns) == list(fast.columns)


def test_pair_mlp_is_exact_to_first_order_away_from_its_reference():
    """One category, no brand: a customer's pair MLP over unseen products differs from
    its reference's only through ``pre - reference``, so where a product turns on the
    same hidden units for both, table + deviation . response is the exact MLP."""
    frame = planted_frame(customers=12, products=30, categories=1)
    inter = frame.interactions
    fewer = inter[
        np.arange(len(inter)) % (inter["customer"].to_numpy() + 2) != 0
    ]  # activities differ
    frame = GraphFrame(frame.customers, frame.products, frame.categories, frame.brands, fewer)
    scorer = _collab_scorer(frame)
    decoder = scorer.loaded.model.decoder
    mlp = _pair_mlp(decoder, scorer.history, groups=1)  # one reference: deviations count
    rows, cols = np.meshgrid(np.arange(12), np.arange(30), indexing="ij")
    with torch.no_grad():
        f = scorer.history.pair_features(rows.ravel(), cols.ravel())
        exact = decoder.mlp(f).squeeze(-1).reshape(12, 30) - decoder.mlp[2].bias
        first = decoder.mlp[0]
        hidden = first(f).reshape(12, 30, -1)
        deviation = mlp.pre - mlp.reference[0]
        approx = mlp.table[0] + deviation @ mlp.response[0].T
    unseen = np.ones((12, 30), bool)
    unseen[_seen_positions(scorer.history.pair_keys, np.arange(12), 30)] = False
    same = unseen & ((hidden > 0) == (mlp.response[0] != 0)[None]).all(-1).numpy()
    assert same.sum() > 100
    assert np.allclose(approx.numpy()[same], exact.numpy()[same], atol=1e-4)
    assert not np.allclose(mlp.table[0].expand(12, -1).numpy()[same], exact.numpy()[same])


@pytest.mark.parametrize("structure", [False, True])
def test_pairs_scored_in_chunks_equal_one_decode_of_every_pair(structure):
    """scoring_logits decodes PAIR_CHUNK pairs at a time (the gathered rows stay in
    cache): more pairs than a chunk, with repeats, give the decoder's logits of all of
    them at once (the graph-free student, with and without structural vectors)."""
    from distill import predict
    from distill.data import History, build_graph

    frame = planted_frame(customers=12, products=30)
    scorer = _collab_scorer(frame, structure)
    model, graph = scorer.loaded.model, build_graph(frame, scorer.loaded.encoder)
    history = History.from_frame(frame)
    rng = np.random.default_rng(0)
    n = predict.PAIR_CHUNK * 2 + 17
    c, p = rng.integers(0, 12, n), rng.integers(0, 30, n)
    with torch.no_grad():
        z_c, z_p = model.embeddings(graph)
        f = history.pair_features(c, p)
        whole = model.decoder.rank(z_c[torch.as_tensor(c)], z_p[torch.as_tensor(p)], f)
    chunked = predict.scoring_logits(model, graph, history, c, p, ranking=True)
    assert chunked.shape == (n,)
    assert torch.allclose(chunked, whole, atol=1e-5)
    assert len(set(chunked[: predict.PAIR_CHUNK].tolist())) > 10  # not one value everywhere


# 400 products: the approximate index has 10 lists (sqrt(P), at least 39 products each)
def _index_frame() -> GraphFrame:
    return planted_frame(customers=30, products=400, categories=5)


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_index_searching_every_list_gives_the_exact_shortlists_top_k(exclude_seen):
    frame = _index_frame()
    every = IndexOptions(probes=1000, candidates=frame.num_products)
    for scorer in (_collab_scorer(frame), _collab_scorer(frame, True)):
        exact = scorer.top_k(k=7, shortlist=40, exclude_seen=exclude_seen)
        indexed = scorer.top_k(k=7, shortlist=40, exclude_seen=exclude_seen, index=every)
        assert scorer.approximate_index().lists == 10
        assert len(exact) == 7 * frame.num_customers
        pd.testing.assert_frame_equal(
            indexed.drop(columns="score"), exact.drop(columns="score"), check_dtype=False
        )
        assert np.allclose(indexed["score"], exact["score"], atol=1e-6)


def test_the_indexs_scores_are_the_cheap_score_at_the_products_it_found():
    """The index holds every term of the cheap score but each customer's own pair MLP
    deviation, which is added at the products found: the same cheap score as the grid's
    at those products, seen ones at -inf."""
    frame = _index_frame()
    # float32: the index holds float32 vectors; "auto" would pick bfloat16 (whose cheap
    # score differs by more than the tolerance) on a CPU where it is faster even here
    scorer = _collab_scorer(frame, True, "float32")
    chunk = np.arange(frame.num_customers)
    chunk = chunk[np.argsort(scorer.pair_mlp().group[chunk], kind="stable")]
    rows, cols = _seen_positions(scorer.history.pair_keys, chunk, frame.num_products)
    with torch.no_grad():
        grid = _cheap_scores(scorer, chunk)
        found, columns = scorer._indexed_cheap_scores(
            chunk, 50, IndexOptions(probes=3, candidates=60), rows, cols, 0, True
        )
    assert found.shape == columns.shape == (len(chunk), 60)
    at = torch.gather(grid, 1, columns)
    seen = np.zeros(grid.shape, bool)
    seen[rows, cols] = True
    seen_at = np.take_along_axis(seen, columns.numpy(), 1)
    assert seen_at.any() and (~seen_at).sum() > 1000
    assert torch.all(found[torch.as_tensor(seen_at)] == -np.inf)
    assert torch.allclose(
        found[~torch.as_tensor(seen_at)], at[~torch.as_tensor(seen_at)], atol=1e-4
    )


def test_a_narrow_index_search_still_gives_k_unseen_products_with_exact_scores():
    frame = _index_frame()
    scorer = _collab_scorer(frame)
    narrow = scorer.top_k(k=5, shortlist=10, index=IndexOptions(probes=1, candidates=12))
    assert len(narrow) == 5 * frame.num_customers
    assert not narrow.duplicated(["customer_id", "product_id"]).any()
    seen = set(zip(frame.interactions["customer"], frame.interactions["product"], strict=True))
    rows_c = frame.customer_index().get_indexer(narrow["customer_id"])
    rows_p = frame.product_index().get_indexer(narrow["product_id"])
    assert not any((c, p) in seen for c, p in zip(rows_c, rows_p, strict=True))
    pairs = scorer.score_pairs(
        narrow["customer_id"].tolist(), narrow["product_id"].tolist(), ranking=True
    )
    assert np.allclose(pairs["score"], narrow["score"], atol=1e-6)


def test_the_index_finds_the_largest_inner_products_when_it_searches_every_list():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 6)).astype(np.float32)
    queries = rng.normal(size=(9, 6)).astype(np.float32)
    index = ProductIndex.build(vectors)
    dots, found = index.search(queries, 5, IndexOptions(probes=index.lists))
    best = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    assert (found == best).all()
    assert np.allclose(dots, np.take_along_axis(queries @ vectors.T, best, 1), atol=1e-5)


def test_without_faiss_the_index_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss raises ImportError
    with pytest.raises(RuntimeError, match=r"faiss-cpu.*kgdistill\[ann\]"):
        ProductIndex.build(np.zeros((100, 3), np.float32))
    # on the call, not at the first block: before a caller starts writing anything
    scorer = _collab_scorer(_index_frame())
    with pytest.raises(RuntimeError, match="faiss-cpu"):
        scorer.top_k_blocks(k=5, index=IndexOptions())


def test_index_options_are_checked():
    with pytest.raises(ValueError, match="index_probes"):
        IndexOptions(probes=0)
    with pytest.raises(ValueError, match="index_candidates"):
        IndexOptions(candidates=-1)


@pytest.fixture
def one_torch_thread():
    """torch's intra-op threads at one for the test, and back: blocks scored one at a
    time then run the same kernels, on the same data, as blocks side by side."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("shortlist", [None, 0])  # the shortlist, and the exact grid
def test_blocks_side_by_side_give_what_one_at_a_time_gives(trained, shortlist, one_torch_thread):
    frame, loaded, _ = trained
    for scorer in (Scorer(loaded, frame), _collab_scorer(frame), _collab_scorer(frame, True)):
        options = dict(k=5, shortlist=shortlist, batch_customers=3)
        alone = scorer.top_k(workers=1, **options)
        side_by_side = scorer.top_k(workers=3, **options)
        assert len(alone) == 5 * frame.num_customers  # several blocks (3 customers each)
        pd.testing.assert_frame_equal(side_by_side, alone)


@pytest.mark.parametrize(("threads", "each"), [(2, 1), (4, 2)])
def test_blocks_side_by_side_share_the_torch_threads_and_give_them_back(
    trained, monkeypatch, threads, each
):
    frame, loaded, _ = trained
    scorer = Scorer(loaded, frame)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    seen: list[tuple[str, int]] = []
    rows_frame = Scorer._rows_frame

    def spy(self, kept):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return rows_frame(self, kept)

    monkeypatch.setattr(Scorer, "_rows_frame", spy)
    blocks = scorer.top_k_blocks(k=3, batch_customers=2, workers=2)
    next(blocks)
    next(blocks)
    blocks.close()  # left early: what had not started is cancelled, threads given back
    threads_after = torch.get_num_threads()
    torch.set_num_threads(before)
    assert threads_after == threads
    first, *rest = seen
    assert first == (threading.main_thread().name, threads)  # the first block alone
    assert rest and all(name.startswith("kgdistill-score") and n == each for name, n in rest)
    assert len(seen) < frame.num_customers // 2  # not every block was scored
    with pytest.raises(ValueError, match="workers must be >= 1"):
        scorer.top_k(k=3, workers=0)


def test_blocks_come_out_in_order_and_only_a_few_ahead_of_the_caller():
    started: list[int] = []

    def work(chunk: np.ndarray) -> pd.DataFrame:
        started.append(int(chunk[0]))
        time.sleep(0.05 if chunk[0] == 0 else 0.0)  # the first finishes last
        return pd.DataFrame({"row": chunk})

    chunks = [np.array([i]) for i in range(20)]
    out = predict_module._in_order(work, chunks, workers=2)
    got = [next(out)[1]["row"].item()]
    time.sleep(0.2)  # room for a pool that ran ahead without bound to do so
    assert len(started) <= 1 + 2 * 2  # the one taken, and at most 2 * workers ahead
    got += [frame["row"].item() for _, frame in out]
    assert got == list(range(20))
