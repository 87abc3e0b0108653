"""ONNX export of the graph-free student: same scores in onnxruntime, and the numpy-only
example of docs/onnx.md."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import torch

from distill.artifact import LoadedModel, build_model, create_run, save_artifact
from distill.config import RunConfig, StructureConfig
from distill.data import FeatureEncoder
from distill.export import (
    catalogue_path,
    edge_tables,
    export_catalogue,
    export_onnx,
    export_split,
    input_names,
    node_input_names,
    split_paths,
)
from distill.predict import Scorer, scoring_logits
from kgdistill.cli import main
from kgframe import GraphFrame
from tests.support.tiny import planted_frame

DOC = Path(__file__).resolve().parents[2] / "docs" / "onnx.md"


def _loaded(frame, spec, structure=0):
    encoder = FeatureEncoder.fit(frame, StructureConfig(dim=structure).encoder_settings())
    torch.manual_seed(0)
    model = build_model(spec, encoder, frame.num_customers, frame.num_products)
    # larger than reset_parameters' weights, so scores spread over (0, 1)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
            if not p.any():  # the zero-initialised rank head and matrix-factorisation weight
                p.normal_(0.0, 0.5)
    model.eval()
    return LoadedModel(
        name="student_mlp",
        model=model,
        spec=spec,
        encoder=encoder,
        customer_ids=frame.customers["id"].tolist(),
        product_ids=frame.products["id"].tolist(),
    )


@pytest.fixture(scope="module", params=[0, 16], ids=["plain", "structure"])
def exported(tmp_path_factory, request):
    """The default student, scoring a frame with customers it never saw (-1 ids); with
    and without 16-wide structural vectors (inputs of their own)."""
    trained_on = planted_frame()
    loaded = _loaded(trained_on, RunConfig().student_mlp.spec(), structure=request.param)
    newcomers = trained_on.customers.head(5).assign(id=[f"new{i}" for i in range(5)])
    frame = GraphFrame(
        pd.concat([trained_on.customers, newcomers], ignore_index=True),
        trained_on.products,
        trained_on.categories,
        trained_on.brands,
        trained_on.interactions,
    )
    path = export_onnx(loaded, tmp_path_factory.mktemp("onnx") / "student.onnx")
    return frame, loaded, path


def _pairs(frame, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.integers(0, frame.num_customers, n)
    p = rng.integers(0, frame.num_products, n)
    return frame.customers["id"].to_numpy()[c].tolist(), frame.products["id"].to_numpy()[p].tolist()


def test_onnx_scores_match_pytorch_on_1000_pairs(exported):
    frame, loaded, path = exported
    scorer = Scorer(loaded, frame)
    customers, products = _pairs(frame)
    customers[:5] = [f"new{i}" for i in range(5)]
    expected = scorer.score_pairs(customers, products)["score"].to_numpy()
    c, p = scorer.rows(customers, products)
    t = edge_tables(scorer)
    feed = {
        "customer_num": t["customer_num"][c],
        "customer_cat": t["customer_cat"][c],
        "customer_id": t["customer_id"][c],
        "product_num": t["product_num"][p],
        "product_cat": t["product_cat"][p],
        "product_id": t["product_id"][p],
        "pair": scorer.history.pair_features(c, p).numpy(),
    }
    if loaded.model.decoder.struct_dim:
        feed["customer_struct"] = t["customer_struct"][c]
        feed["product_struct"] = t["product_struct"][p]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == input_names(loaded) == list(feed)
    logit, score, rank = session.run(["logit", "score", "rank"], feed)
    assert score.dtype == np.float32 and score.shape == (1000,)
    assert np.abs(score - expected).max() <= 1e-4
    # rank is the ranking logit predict's top K orders by, not the pair logit
    ranking = scorer.score_pairs(customers, products, ranking=True)["score"].to_numpy()
    assert np.abs(1 / (1 + np.exp(-rank)) - ranking).max() <= 1e-4
    assert np.abs(rank - logit).max() > 1e-3
    assert np.allclose(1 / (1 + np.exp(-logit)), score, atol=1e-6)
    assert score.std() > 0.01  # the scores differ from pair to pair
    assert (feed["customer_id"][:5] == -1).all()  # newcomers: scored from features only
    assert (feed["customer_id"][5:] >= 0).any()


def test_doc_example_scores_with_numpy_and_onnxruntime_alone(exported, tmp_path):
    frame, loaded, path = exported
    scorer = Scorer(loaded, frame)
    tables = edge_tables(scorer)
    np.savez_compressed(tmp_path / "student.npz", **tables)
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    (tmp_path / "score_onnx.py").write_text(code.group(1))
    blocker = tmp_path / "no_torch"  # `import torch` fails in the example's process
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    customers, products = _pairs(frame, n=200, seed=1)
    lines = "".join(f"{c}\t{p}\n" for c, p in zip(customers, products, strict=True))
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "score_onnx.py"), str(path), str(tmp_path / "student.npz")],
        input=lines,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(blocker), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [(r[0], r[1]) for r in rows] == [
        (str(c), str(p)) for c, p in zip(customers, products, strict=True)
    ]
    got = np.array([float(r[2]) for r in rows])
    expected = scorer.score_pairs(customers, products)["score"].to_numpy()
    assert np.abs(got - expected).max() <= 1e-4


SPLIT_SPECS = {
    "default": {},
    "no ids, no rank head": {
        "customer_id_dim": 0,
        "product_id_dim": 0,
        "collab": False,
        "rank_head": False,
    },
    "mlp decoder": {"decoder": "mlp"},
}


@pytest.mark.parametrize("change", SPLIT_SPECS.values(), ids=SPLIT_SPECS.keys())
def test_split_onnx_ranks_every_product_as_pytorch(exported, change, tmp_path):
    """The product side once, then three customers (one unknown at training) against
    the whole catalogue: the ranking logit of every pair, and each one's top 20."""
    frame, _, _ = exported
    spec = {**RunConfig().student_mlp.spec(), **change}
    loaded = _loaded(planted_frame(), spec)
    scorer = Scorer(loaded, frame)
    products_path, customer_path = export_split(loaded, tmp_path / "student.onnx")
    assert (products_path, customer_path) == split_paths(tmp_path / "student.onnx")
    t = edge_tables(scorer)
    side = ort.InferenceSession(str(products_path), providers=["CPUExecutionProvider"])
    names = node_input_names(loaded, "product")
    assert [i.name for i in side.get_inputs()] == names
    (z_p,) = side.run(["z_p"], {name: t[name] for name in names})
    n_p = frame.num_products
    rows = np.array([frame.num_customers - 1, 0, 17])  # the last is a newcomer
    pair = scorer.history.pair_features(np.repeat(rows, n_p), np.tile(np.arange(n_p), 3))
    names = node_input_names(loaded, "customer")
    feed = {name: t[name][rows] for name in names}
    feed |= {"z_p": z_p, "pair": pair.numpy().reshape(3, n_p, -1)}
    session = ort.InferenceSession(str(customer_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [*names, "z_p", "pair"]
    (rank,) = session.run(["rank"], feed)
    assert rank.shape == (3, n_p)
    expected = scoring_logits(
        loaded.model,
        scorer.graph,
        scorer.history,
        np.repeat(rows, n_p),
        np.tile(np.arange(n_p), 3),
        ranking=True,
    ).numpy()
    assert np.abs(rank.ravel() - expected).max() <= 1e-4
    assert rank.std() > 0.1  # scores differ from product to product
    # each customer's top 20, products it interacted with left out, as PyTorch ranks them
    # (not Scorer.top_k: its sigmoid scores tie where these large weights saturate it)
    expected = expected.reshape(3, n_p)
    for j, row in enumerate(rows):
        seen = scorer.history.pair_keys[scorer.history.pair_keys // n_p == row] % n_p
        assert 0 < len(seen) < n_p - 20 or row == rows[0]
        tops = []
        for ranked in (rank[j].copy(), expected[j].copy()):
            ranked[seen] = -np.inf
            tops.append(np.argsort(-ranked, kind="stable")[:20])
        assert np.array_equal(*tops)


@pytest.mark.parametrize(
    ("change", "structure"),
    [({}, 16), ({"decoder": "mlp"}, 0), ({"struct_in_encoder": True}, 16)],
    ids=["default, structural vectors", "mlp decoder", "structural vectors in the encoder"],
)
def test_catalogue_onnx_ranks_as_the_split_model(change, structure, tmp_path):
    """The catalogue built into the customer side: the same rank of every product as
    the split model fed that catalogue's z_p, from the one-customer pair features."""
    frame = planted_frame()
    loaded = _loaded(frame, {**RunConfig().student_mlp.spec(), **change}, structure)
    scorer = Scorer(loaded, frame)
    t = edge_tables(scorer)
    path = export_catalogue(loaded, tmp_path / "student.onnx", t)
    assert path == catalogue_path(tmp_path / "student.onnx") == tmp_path / "student.catalogue.onnx"
    products, customer = export_split(loaded, tmp_path / "student.onnx")
    names = node_input_names(loaded, "product")
    side = ort.InferenceSession(str(products), providers=["CPUExecutionProvider"])
    (z_p,) = side.run(["z_p"], {name: t[name] for name in names})
    split = ort.InferenceSession(str(customer), providers=["CPUExecutionProvider"])
    built = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    customer_names = node_input_names(loaded, "customer")
    assert [i.name for i in built.get_inputs()] == [*customer_names, "pair"]
    n_p = frame.num_products
    for row in (0, 17, frame.num_customers - 1):
        pair = scorer.history.catalogue_features(row)
        expected = scorer.history.pair_features(np.full(n_p, row), np.arange(n_p)).numpy()
        assert np.array_equal(pair, expected)
        feed = {name: t[name][row : row + 1] for name in customer_names} | {"pair": pair[None]}
        (want,) = split.run(["rank"], feed | {"z_p": z_p})
        (got,) = built.run(["rank"], feed)
        assert got.shape == (1, n_p) and want.std() > 0.1
        assert np.abs(got - want).max() <= 1e-4


def test_catalogue_export_refuses_missing_inputs_and_a_catalogue_too_large(monkeypatch, tmp_path):
    frame = planted_frame()
    loaded = _loaded(frame, RunConfig().student_mlp.spec())
    t = edge_tables(Scorer(loaded, frame))
    with pytest.raises(ValueError, match="lack product_cat"):
        export_catalogue(loaded, tmp_path / "s.onnx", {"product_num": t["product_num"]})
    monkeypatch.setattr("distill.export.CATALOGUE_BYTES", 1000)
    with pytest.raises(ValueError, match="do not fit one ONNX file"):
        export_catalogue(loaded, tmp_path / "s.onnx", t)
    assert not catalogue_path(tmp_path / "s.onnx").exists()


def test_doc_top_k_example_ranks_as_pytorch_without_torch(exported, tmp_path):
    frame, loaded, path = exported
    scorer = Scorer(loaded, frame)
    np.savez_compressed(tmp_path / "student.npz", **edge_tables(scorer))
    products, customer = export_split(loaded, path.parent / "split.onnx")
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2 and "def top_k(" in blocks[1]
    customers = [str(v) for v in scorer.customer_index[[0, 17, frame.num_customers - 1]]]
    main_block = (
        f"session = [ort.InferenceSession(p) for p in {[str(products), str(customer)]!r}]\n"
        f"t = np.load({str(tmp_path / 'student.npz')!r})\n"
        f"for c in {customers!r}:\n"
        "    print(c, *top_k(*session, t, c))\n"
    )
    script = blocks[0].split('if __name__ == "__main__":')[0] + blocks[1] + main_block
    (tmp_path / "top_k.py").write_text(script)
    blocker = tmp_path / "no_torch"
    (blocker / "torch").mkdir(parents=True)
    (blocker / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "top_k.py")],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(blocker), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    n_p = frame.num_products
    got = [line.split() for line in proc.stdout.splitlines()]
    assert [row[0] for row in got] == customers
    for row in got:
        (c,), _ = scorer.rows([row[0]], [scorer.product_index[0]])
        logits = scoring_logits(
            loaded.model,
            scorer.graph,
            scorer.history,
            np.full(n_p, c),
            np.arange(n_p),
            ranking=True,
        ).numpy()
        keys = scorer.history.pair_keys
        logits[keys[keys // n_p == c] % n_p] = -np.inf
        best = np.argsort(-logits, kind="stable")[:20]
        assert row[1:] == [str(v) for v in scorer.product_index[best]]


def test_product_ids_are_an_input_only_when_the_student_has_them(tmp_path):
    frame = planted_frame()
    for product_id_dim, expected in ((6, True), (0, False)):
        spec = {
            **RunConfig().student_mlp.spec(),
            "product_id_dim": product_id_dim,
            "collab": bool(product_id_dim),
        }
        path = export_onnx(_loaded(frame, spec), tmp_path / f"ids{product_id_dim}.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert ("product_id" in [i.name for i in session.get_inputs()]) is expected


def test_graph_students_do_not_export(tmp_path):
    frame = planted_frame()
    loaded = _loaded(frame, RunConfig().student_sage.spec())
    with pytest.raises(ValueError, match="graph-free"):
        export_onnx(loaded, tmp_path / "sage.onnx")


def test_export_command_needs_no_database_without_features(exported, tmp_path, capsys):
    _, loaded, _ = exported
    run = create_run(out=tmp_path / "run")
    save_artifact(run.artifact("student_mlp"), loaded)
    run.report_path.write_text(json.dumps({"models": {}, "default_student": "student_mlp"}))
    out = tmp_path / "cli.onnx"
    args = ["export", "--format", "onnx", "--run", str(run.path), "--out", str(out), "--json"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"] == "student_mlp" and printed["inputs"] == input_names(loaded)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["logit", "score", "rank"]
    products, customer = split_paths(out)
    assert printed["products_onnx"] == str(products) and printed["customer_onnx"] == str(customer)
    session = ort.InferenceSession(str(customer), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["rank"]
