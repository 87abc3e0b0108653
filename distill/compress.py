"""Compress a trained student (prune, int8) and evaluate it beside the model it came from.

The mechanics (pruning, quantization, the packed weight format) are in
:mod:`distill.quantize`; this module turns a loaded artifact into a compressed one and
measures both on the same prepared evaluation, so the report compares like with like.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from distill.artifact import LoadedModel
from distill.config import RunConfig
from distill.evaluate import evaluate_model, prepare
from distill.metrics import auc, state_dict_bytes
from distill.quantize import Compression, compress_model, nonzero_parameters, stored_bytes
from distill.train import score_snapshot
from kgframe import GraphFrame


@dataclass
class CompressResult:
    """``entry``: the compressed model's report entry (the keys every model has, plus
    ``source``, ``source_auc``, ``source_bytes``, ``nonzero`` and ``compression``)."""

    loaded: LoadedModel
    entry: dict[str, Any]


def compress_loaded(source: LoadedModel, compression: Compression) -> tuple[LoadedModel, bytes]:
    """A compressed copy of ``source`` named ``<source><suffix>`` (the source is untouched),
    and its packed weights."""
    model, payload = compress_model(copy.deepcopy(source.model), compression)
    loaded = replace(
        source,
        name=source.name + compression.suffix(),
        model=model,
        metrics={},
        compression=compression,
    )
    return loaded, payload


def compress_and_evaluate(
    frame: GraphFrame,
    pairs: pd.DataFrame,
    config: RunConfig,
    source: LoadedModel,
    compression: Compression,
    teacher: LoadedModel | None = None,
) -> CompressResult:
    """Compress ``source`` and evaluate it and ``source`` on ``pairs`` (test split
    ``config.eval.test_split``), prepared as :func:`distill.evaluate.prepare` does for a
    run, so with the run's frame and configuration the source's figures are the run's.
    The source's own feature encoder encodes ``frame`` (the widths its weights expect).

    ``bytes`` of the compressed model is :func:`distill.quantize.stored_bytes` of its
    packed weights; of the source, :func:`distill.metrics.state_dict_bytes`."""
    ctx = prepare(frame, pairs, config, source.encoder)
    ev = config.eval
    teacher_test = None
    if teacher is not None:
        teacher_test = score_snapshot(teacher.model, ctx.test).numpy()
    compressed, payload = compress_loaded(source, compression)
    entry = evaluate_model(
        ctx, compressed.model, teacher_test=teacher_test, k=ev.k, latency_runs=ev.latency_runs
    ).as_dict()
    labels = ctx.test.pairs.labels.numpy()
    source_auc = auc(labels, score_snapshot(source.model, ctx.test).numpy())
    entry.update(
        bytes=stored_bytes(payload),
        nonzero=nonzero_parameters(compressed.model),
        source=source.name,
        source_auc=source_auc,
        source_bytes=state_dict_bytes(source.model),
        compression=compression.to_dict(),
    )
    compressed.metrics = dict(entry)
    return CompressResult(compressed, entry)
