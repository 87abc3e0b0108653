"""Pruning, int8 quantization and the packed weight format; compressed artifacts."""

import copy

import numpy as np
import pytest
import torch

from distill.artifact import FORMAT_PACKED, LoadedModel, build_model, load_artifact, save_artifact
from distill.compress import compress_and_evaluate, compress_loaded
from distill.config import EvalConfig, KDConfig, RunConfig, TaskConfig, TrainConfig
from distill.data import FeatureEncoder
from distill.metrics import state_dict_bytes
from distill.predict import Scorer
from distill.quantize import (
    Compression,
    compress_model,
    nonzero_parameters,
    pack,
    prune_weights,
    quantize_int8,
    stored_bytes,
    unpack,
    weight_axes,
)
from tests.support.tiny import planted_frame, planted_pairs


@pytest.fixture(scope="module")
def student():
    """The default graph-free student's architecture on a tiny frame, seeded weights."""
    frame = planted_frame()
    encoder = FeatureEncoder.fit(frame)
    spec = RunConfig().student_mlp.spec()
    torch.manual_seed(0)
    model = build_model(spec, encoder, frame.num_customers, frame.num_products)
    model.eval()
    loaded = LoadedModel(
        name="student_mlp",
        model=model,
        spec=spec,
        encoder=encoder,
        customer_ids=frame.customers["id"].tolist(),
        product_ids=frame.products["id"].tolist(),
    )
    return frame, loaded


def test_int8_by_hand():
    w = torch.tensor([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0]])
    q, scales = quantize_int8(w, axis=0)
    assert scales.dtype == torch.float16 and q.dtype == torch.int8
    s = float(scales[0])
    assert s == pytest.approx(1 / 127, rel=1e-3)
    # -0.5 / (1/127) = -63.5 -> -64 (round half to even); 0.25 * 127 = 31.75 -> 32
    assert q[0].tolist() == [127, -64, 32]
    assert q[1].tolist() == [0, 0, 0]  # an all-zero row stays zero
    # per column (an embedding's output features): column 1 has max 0.5
    q, scales = quantize_int8(w, axis=1)
    assert scales.shape == (3,)
    assert q[0].tolist() == [127, -127, 127]


def test_weight_axes_cover_linear_rows_and_embedding_columns(student):
    _, loaded = student
    axes = weight_axes(loaded.model)
    assert axes["encoder.encoders.customer.num.weight"] == 0
    assert axes["encoder.encoders.customer.ids.weight"] == 1
    assert axes["decoder.mlp.2.weight"] == 0
    assert not any(key.endswith("bias") for key in axes)


def test_pack_round_trips_within_half_a_step(student):
    _, loaded = student
    model = copy.deepcopy(loaded.model)
    compression = Compression(0.0, "int8")
    payload = pack(model, compression)
    unpack(model, payload, compression)
    axes = weight_axes(model)
    for key, before in loaded.model.state_dict().items():
        after = model.state_dict()[key]
        if key in axes:
            step = before.abs().amax(dim=1 - axes[key], keepdim=True) / 127
            assert ((after - before).abs() <= step * 0.51 + 1e-7).all(), key
        else:
            assert torch.equal(after, before), key  # biases stay float32
    # packing what was unpacked gives the same bytes: saving twice changes nothing
    assert pack(model, compression) == payload


def test_unpack_rejects_weights_of_another_model(student):
    frame, loaded = student
    payload = pack(loaded.model, Compression(0.0, "int8"))
    other = build_model(
        {**loaded.spec, "hidden": 8}, loaded.encoder, frame.num_customers, frame.num_products
    )
    with pytest.raises(ValueError, match="spec and weights disagree"):
        unpack(other, payload, Compression(0.0, "int8"))


def test_pruning_is_permanent_and_per_matrix(student):
    _, loaded = student
    model = prune_weights(copy.deepcopy(loaded.model), 0.5)
    state = model.state_dict()
    assert not any(key.endswith(("_orig", "_mask")) for key in state)
    for key in weight_axes(model):
        zeros = float((state[key] == 0).float().mean())
        assert zeros >= 0.49, key
    assert nonzero_parameters(model) < 0.6 * nonzero_parameters(loaded.model)


def test_int8_is_a_quarter_and_pruning_shrinks_it_further(student):
    _, loaded = student
    int8 = pack(loaded.model, Compression(0.0, "int8"))
    pruned = compress_model(copy.deepcopy(loaded.model), Compression(0.5, "int8"))[1]
    # a tiny model: torch.save's fixed ~1.5 kB weighs more than on EComm (e2e: < 0.25)
    assert stored_bytes(int8) < 0.3 * state_dict_bytes(loaded.model)
    assert len(pruned) < 0.8 * len(int8)  # deflate turns the zeros into saved bytes


def test_compression_names_and_checks():
    assert Compression(0.0, "int8").suffix() == "_int8"
    assert Compression(0.3, "int8").suffix() == "_p30_int8"
    assert Compression(0.3, None).suffix() == "_p30"
    with pytest.raises(ValueError, match="nothing to do"):
        Compression(0.0, None)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Compression(1.0, "int8")
    with pytest.raises(ValueError, match="quantize"):
        Compression(0.0, "int4")


def test_compressed_artifact_round_trips_with_weights_only(student, tmp_path):
    frame, loaded = student
    compressed, _ = compress_loaded(loaded, Compression(0.3, "int8"))
    assert compressed.name == "student_mlp_p30_int8"
    path = save_artifact(tmp_path / "student_mlp_p30_int8.pt", compressed)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT_PACKED and "state_dict" not in raw
    assert raw["packed"].dtype == torch.uint8
    again = load_artifact(path)
    assert again.compression == Compression(0.3, "int8")
    for key, value in compressed.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key
    a = Scorer(compressed, frame).score_pairs(["c1", "c2", "c3"], [1001, 1002, 1003])
    b = Scorer(again, frame).score_pairs(["c1", "c2", "c3"], [1001, 1002, 1003])
    assert np.array_equal(a["score"].to_numpy(), b["score"].to_numpy())
    # the float model scores differently: compression did something
    c = Scorer(loaded, frame).score_pairs(["c1", "c2", "c3"], [1001, 1002, 1003])
    assert not np.array_equal(a["score"].to_numpy(), c["score"].to_numpy())


def test_compress_and_evaluate_reports_like_the_others(student):
    frame, loaded = student
    config = RunConfig(
        kd=KDConfig(candidates_per_pair=0.0),
        task=TaskConfig(snapshots=1),
        train=TrainConfig(progress=False),
        eval=EvalConfig(rank_customers=10, latency_pairs=500, latency_runs=1),
    )
    result = compress_and_evaluate(
        frame, planted_pairs(frame), config, loaded, Compression(0.0, "int8"), teacher=loaded
    )
    entry = result.entry
    assert {"auc", "ap", "recall@20", "mrr", "params", "bytes", "latency_ms_100k"} <= set(entry)
    assert entry["source"] == "student_mlp" and entry["compression"]["quantize"] == "int8"
    assert entry["bytes"] < entry["source_bytes"] / 3
    assert 0.9 <= entry["agreement"] <= 1.0  # the "teacher" here is the float student itself
    assert abs(entry["auc"] - entry["source_auc"]) < 0.05
