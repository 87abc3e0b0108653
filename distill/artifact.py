"""Saved models and the run directories that hold them.

A run directory is where a training run keeps its models, report and configuration
(``runs/`` under the current directory unless ``--out``/``--runs-dir``)::

    runs/<run_id>/report.json     metrics of every model (see distill.report)
    runs/<run_id>/report.md       the same as a table
    runs/<run_id>/quality_vs_cost.png  quality against latency and size
    runs/<run_id>/config.json     the configuration the run used
    runs/<run_id>/models/<name>.pt  artifacts: weights + config + encoder + metrics
    runs/LATEST                   the id of the newest complete run

A run is complete when its report.json exists; ``LATEST`` is written last.
:func:`find_run` and :meth:`Run.resolve_model` name a run's model, :func:`load_artifact`
rebuilds it: the one module from a run's name to a model that scores.

An artifact is a dict of tensors and plain Python values only (no pickled classes),
so ``torch.load(path, weights_only=True)`` reads it and :func:`load_artifact`
rebuilds the model from the spec.

Two formats: ``kgdistill-link-v1`` holds a float32 ``state_dict``;
``kgdistill-link-v2`` (a compressed model, :mod:`distill.quantize`) holds ``packed``
weights (a uint8 tensor) and ``compression`` (how to unpack them) instead.

torch and PyG are imported by the functions that need them, so that listing or
finding runs (``kgdistill models list``, every command's ``--run``) stays quick.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distill.data import FeatureEncoder
    from distill.models import LinkPredictor
    from distill.quantize import Compression

FORMAT = "kgdistill-link-v1"
FORMAT_PACKED = "kgdistill-link-v2"
DEFAULT_RUNS_DIR = Path("runs")


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
    import torch

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        return value.item()
    return value


def artifact_dict(loaded: LoadedModel) -> dict[str, Any]:
    from distill.data import PAIR_FEATURES
    from distill.quantize import pack, payload_tensor

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
    import torch

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
    import torch

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
    from distill.data import PAIR_FEATURES, FeatureEncoder
    from distill.quantize import Compression, unpack

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
    from distill.data import NODE_TYPES, PAIR_FEATURES
    from distill.models import build_link_predictor

    dims = {t: (encoder.num_dim(t), encoder.cat_cardinalities(t)) for t in NODE_TYPES}
    num_nodes = {"customer": num_customers, "product": num_products}
    struct_dim = int(encoder.structure.get("dim", 0)) if spec.get("structure") else 0
    spec = {**spec, "struct_dim": struct_dim}
    return build_link_predictor(spec, dims, num_nodes, len(PAIR_FEATURES))


class RunNotFoundError(FileNotFoundError):
    """No trained run where one was expected; the message says what to do."""


def new_run_id(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Run:
    run_id: str
    path: Path

    @property
    def report_path(self) -> Path:
        return self.path / "report.json"

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    def artifact(self, model: str) -> Path:
        return self.models_dir / f"{model}.pt"

    def report(self) -> dict[str, Any]:
        try:
            report = json.loads(self.report_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunNotFoundError(f"run {self.run_id} at {self.path} has no report.json") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunNotFoundError(
                f"{self.report_path}: not a readable run report ({exc}); train again"
            ) from None
        if not isinstance(report, dict):
            raise RunNotFoundError(f"{self.report_path}: not a run report (not a JSON object)")
        return dict(report)

    def resolve_model(self, name: str) -> str:
        """``student`` means the run's default student; other names must have an artifact."""
        report = self.report()
        if name == "student":
            name = str(report.get("default_student", ""))
        if not self.artifact(name).is_file():
            available = sorted(p.stem for p in self.models_dir.glob("*.pt"))
            raise RunNotFoundError(
                f"run {self.run_id} has no model {name!r}; available: {', '.join(available)} "
                "(or 'student' for the default student)"
            )
        return name


def create_run(runs_dir: Path = DEFAULT_RUNS_DIR, out: Path | None = None) -> Run:
    """A fresh run directory: ``out`` when given, else ``runs_dir/<new id>``."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "models").mkdir(exist_ok=True)
        return Run(out.name, out)
    run_id = new_run_id()
    path = runs_dir / run_id
    (path / "models").mkdir(parents=True)
    return Run(run_id, path)


def mark_latest(run: Run, runs_dir: Path = DEFAULT_RUNS_DIR) -> None:
    runs_dir.mkdir(parents=True, exist_ok=True)
    (runs_dir / "LATEST").write_text(str(run.path.resolve()) + "\n", encoding="utf-8")


def find_run(run: str | None = None, runs_dir: Path = DEFAULT_RUNS_DIR) -> Run:
    """The run ``run`` names (an id under runs_dir, or a path), else the latest complete one."""
    if run:
        candidate = Path(run)
        path = candidate if candidate.is_dir() else runs_dir / run
        if not (path / "report.json").is_file():
            raise RunNotFoundError(f"no trained run {run!r} (looked for {path / 'report.json'})")
        return Run(path.name, path)
    latest = runs_dir / "LATEST"
    if latest.is_file():
        path = Path(latest.read_text(encoding="utf-8").strip())
        if (path / "report.json").is_file():
            return Run(path.name, path)
    complete = sorted((p for p in runs_dir.glob("*/report.json")), key=lambda p: p.stat().st_mtime)
    if not complete:
        raise RunNotFoundError(
            f"no trained run under {runs_dir.resolve()}: run `kgdistill train` (or "
            "`kgdistill run`) first, or pass --run DIR"
        )
    return Run(complete[-1].parent.name, complete[-1].parent)


def list_runs(runs_dir: Path = DEFAULT_RUNS_DIR) -> list[Run]:
    runs = [Run(p.parent.name, p.parent) for p in runs_dir.glob("*/report.json")]
    return sorted(runs, key=lambda r: r.report_path.stat().st_mtime)
