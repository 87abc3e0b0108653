"""Where a ranking comes from: Recall@20 of each part of the teacher's score and the twin's.

    .venv/bin/python bench/ranking_parts.py [--datasets synthetic_cf interactions_only]
        [--interactions 500000] [--seed 0]

No database; the shops as ``bench/id_fit_structure.py`` builds them. The default teacher
and the default student without distillation (its twin, one seed) are trained; then
the test customers are ranked (ties at their expected rank, seen products left out) by
each part of their ranking scores alone and by some sums of them:

- ``full``: the score a report ranks by;
- ``factors``: the teacher's dot products, matrix factorisation (times its weight) and
  prior, without pair features or structural cosine;
- ``factors+cosine``: that plus the structural cosine at the ranking's weight;
- ``cosine``: the structural vectors' cosine alone;
- ``encoder_dot``: the encoder's learnt columns' dot product alone (the teacher's GAT,
  the student's feature MLP);
- ``ids``: the id embeddings' dot product alone (the matrix factorisation, unweighted).

What it showed (README, "Where the interaction-only ranking comes from"): the default
student's 6-wide ids rank far below the teacher's 64-wide ones, and its score leans on
the cosine. Lines, after the baseline rows of the same split:

    dataset=NAME baseline=NAME recall20=R auc=A
    dataset=NAME model=teacher|twin part=PART recall20=R ndcg20=N
    dataset=NAME model=M mf_weight=W struct_weight=S
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.id_fit_structure import _shop
from bench.kd_shortlist import print_baselines, quiet_config
from distill.evaluate import (
    EvalContext,
    _grid_logits,
    link_model,
    prepare,
    quality,
    train_student,
    train_teacher,
)
from distill.models import LinkPredictor
from distill.train import held_sides

DATASETS = ("synthetic_cf", "interactions_only", "ecomm", "ecomm_nofeatures")


def _parts(model: LinkPredictor, ctx: EvalContext) -> dict[str, Callable[[np.ndarray], Tensor]]:
    """Each part's grid ``rows -> [rows, products]``."""
    decoder, graph = model.decoder, ctx.test.graph
    customers, products = held_sides(model, graph)
    every = products.at(torch.arange(products.h.size(0)))
    h_c, h_p = customers.h, products.h
    width = h_c.size(1) - decoder.collab_dim
    parts: dict[str, Callable[[np.ndarray], Tensor]] = {
        "full": lambda rows: _grid_logits(decoder, ctx.test.history, rows, customers, every)
    }
    if decoder.collab_dim:
        parts["ids"] = lambda rows: h_c[rows, width:] @ h_p[:, width:].T
    if width:
        parts["encoder_dot"] = lambda rows: h_c[rows, :width] @ h_p[:, :width].T
    if customers.s is not None and every.s is not None:
        s_c, s_p = customers.s, every.s
        parts["cosine"] = lambda rows: s_c[torch.as_tensor(rows)].float() @ s_p.T
    return parts


def _teacher_parts(
    model: LinkPredictor, ctx: EvalContext
) -> dict[str, Callable[[np.ndarray], Tensor]]:
    """The parts of :func:`_parts` and the teacher's factors, with and without cosine."""
    parts = _parts(model, ctx)
    decoder = model.decoder
    customers, products = held_sides(model, ctx.test.graph)
    h_c, h_p = customers.h, products.h
    width = h_c.size(1) - decoder.collab_dim
    mf = decoder.mf_weight.detach() if decoder.mf_weight is not None else 0.0
    bias = torch.zeros(h_p.size(0))
    if decoder.prior is not None:
        bias = h_p @ decoder.prior.weight[0, : h_p.size(1)].detach() + decoder.prior.bias.detach()

    def factors(rows: np.ndarray) -> Tensor:
        dot = h_c[rows, :width] @ h_p[:, :width].T / width**0.5
        return dot + mf * (h_c[rows, width:] @ h_p[:, width:].T) + bias[None, :]

    parts["factors"] = factors
    weight = decoder.rank_struct_weight()
    if "cosine" in parts and weight is not None:
        cosine, w = parts["cosine"], weight.detach()
        parts["factors+cosine"] = lambda rows: factors(rows) + w * cosine(rows)
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS[:2]))
    parser.add_argument("--interactions", type=int, default=500_000, help="synthetic_cf")
    parser.add_argument("--seed", type=int, default=0, help="the twin's")
    args = parser.parse_args(argv)
    config = quiet_config()
    k = config.eval.k
    for name in args.datasets:
        frame, pairs = _shop(name, args.interactions)
        ctx = prepare(frame, pairs, config)
        print_baselines(ctx, name, k)
        teacher = link_model(train_teacher(ctx, config))
        twin = link_model(train_student(ctx, config, config.eval.default_student, args.seed, None))
        no_scores = np.zeros(len(ctx.test.pairs.labels))
        for label, model, parts in (
            ("teacher", teacher, _teacher_parts(teacher, ctx)),
            ("twin", twin, _parts(twin, ctx)),
        ):
            for part, grid in parts.items():
                with torch.no_grad():
                    q = quality(ctx, no_scores, lambda rows, g=grid: g(rows).numpy(), k)  # type: ignore[misc]
                print(
                    f"dataset={name} model={label} part={part} "
                    f"recall{k}={q.recall:.4f} ndcg{k}={q.ndcg:.4f}",
                    flush=True,
                )
            decoder = model.decoder
            mf = (
                float(decoder.mf_weight.detach()) if decoder.mf_weight is not None else float("nan")
            )
            struct = decoder.rank_struct_weight()
            weight = float(struct.detach()) if struct is not None else float("nan")
            print(
                f"dataset={name} model={label} mf_weight={mf:.3f} struct_weight={weight:.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
