"""Model artifacts: weights, spec, encoder, metrics; loadable with ``weights_only=True``.

An artifact is a dict of tensors and plain Python values only (no pickled classes),
so ``torch.load(path, weights_only=True)`` reads it and :func:`load_artifact`
rebuilds the model from the spec.

Two formats: ``kgdistill-link-v1`` holds a float32 ``state_dict``;
``kgdistill-link-v2`` (a compressed model, :mod:`distill.quantize`) holds ``packed``
weights (a uint8 tensor) and ``compression`` (how to unpack them) instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from distill.data import NODE_TYPES, PAIR_FEATURES, FeatureEncoder
from distill.models import LinkPredictor, build_link_predictor
from distill.quantize import Compression, pack, payload_tensor, unpack

FORMAT = "kgdistill-link-v1"
FORMAT_PACKED = "kgdistill-link-v2"


@dataclass
class LoadedModel:
    """A rebuilt link predictor and what it needs to score: the encoder and the ids of
    the training frame (which own the id embeddings)."""

    name: str
    model: LinkPredictor
    spec: dict[str, Any]
    encoder: FeatureEncoder
    customer_ids: list[Any]
    product_ids: list[Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    compression: Compression | None = None  # set: stored packed (pruned and/or int8)


def _plain(value: Any) -> Any:
    """Numpy scalars and tuples -> Python scalars and lists (what weights_only accepts)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        return value.item()
    return value


def artifact_dict(loaded: LoadedModel) -> dict[str, Any]:
    if loaded.compression is None:
        weights: dict[str, Any] = {
            "format": FORMAT,
            "state_dict": {k: v.detach().clone() for k, v in loaded.model.state_dict().items()},
        }
    else:
        weights = {
            "format": FORMAT_PACKED,
            "packed": payload_tensor(pack(loaded.model, loaded.compression)),
            "compression": loaded.compression.to_dict(),
        }
    return {
        **weights,
        "name": loaded.name,
        "spec": _plain(loaded.spec),
        "encoder": _plain(loaded.encoder.to_dict()),
        "customer_ids": _plain(list(loaded.customer_ids)),
        "product_ids": _plain(list(loaded.product_ids)),
        "pair_features": list(PAIR_FEATURES),
        "metrics": _plain(loaded.metrics),
    }


def save_artifact(path: str | Path, loaded: LoadedModel) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(artifact_dict(loaded), path)
    return path


class ArtifactError(ValueError):
    """A model file that cannot be read: truncated, corrupt, or not a kgdistill artifact."""


def load_artifact(path: str | Path) -> LoadedModel:
    """Read an artifact with ``weights_only=True`` and rebuild its model (eval mode).

    Raises FileNotFoundError for a missing file and :class:`ArtifactError` (one line,
    naming the file) for one that cannot be read or rebuilt.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        return _rebuild(path, torch.load(path, weights_only=True, map_location="cpu"))
    except ArtifactError:
        raise
    except Exception as exc:  # torch, zip, pickle and key errors alike: the file is bad
        reason = (str(exc).strip().splitlines() or [""])[0][:120]
        raise ArtifactError(
            f"{path}: not a readable kgdistill model ({type(exc).__name__}: {reason}); "
            "train again (`kgdistill train`) or remove the file"
        ) from None


def _rebuild(path: Path, state: Any) -> LoadedModel:
    if not isinstance(state, dict):
        raise ArtifactError(f"{path}: not a kgdistill model (holds {type(state).__name__})")
    if state.get("format") not in (FORMAT, FORMAT_PACKED):
        raise ArtifactError(
            f"{path}: not a {FORMAT} or {FORMAT_PACKED} artifact (format={state.get('format')!r})"
        )
    if list(state["pair_features"]) != list(PAIR_FEATURES):
        raise ArtifactError(f"{path}: pair features differ from this version of distill.data")
    encoder = FeatureEncoder.from_dict(state["encoder"])
    model = build_model(
        state["spec"], encoder, len(state["customer_ids"]), len(state["product_ids"])
    )
    compression = None
    if state["format"] == FORMAT_PACKED:
        compression = Compression.from_dict(state["compression"])
        unpack(model, state["packed"].numpy().tobytes(), compression)
    else:
        model.load_state_dict(state["state_dict"])
    model.eval()
    return LoadedModel(
        name=state["name"],
        model=model,
        spec=state["spec"],
        encoder=encoder,
        customer_ids=state["customer_ids"],
        product_ids=state["product_ids"],
        metrics=state["metrics"],
        compression=compression,
    )


def build_model(
    spec: dict[str, Any], encoder: FeatureEncoder, num_customers: int, num_products: int
) -> LinkPredictor:
    """The model of ``spec`` for ``encoder``'s inputs; it scores with the encoder's
    structural vectors when both have them (a spec or encoder saved before: not)."""
    dims = {t: (encoder.num_dim(t), encoder.cat_cardinalities(t)) for t in NODE_TYPES}
    num_nodes = {"customer": num_customers, "product": num_products}
    struct_dim = int(encoder.structure.get("dim", 0)) if spec.get("structure") else 0
    spec = {**spec, "struct_dim": struct_dim}
    return build_link_predictor(spec, dims, num_nodes, len(PAIR_FEATURES))
