"""The id tables' fit step with the single-tensor Adam and with the fused one, side by side.

    .venv/bin/python bench/adam_step.py [--customers 70679 --products 24915 --dim 64
        --batch 1024 --steps 200 --threads 1]

:func:`distill.train.pretrain_ids` fits a model's customer and product id tables to
the graph's interactions in batches of ``[train] pretrain_batch`` (1,024): each step
embeds the batch, takes the in-batch softmax and steps Adam over both whole tables
(Adam moves every row, touched or not). This times that step on tables of the
652,514-interaction shop's size (the teacher's 64 columns by default), alternating the
two optimizers step by step from the same start, and prints the milliseconds of the
forward and backward pass and of the optimizer step for each, the largest difference
between the two fits' tables after ``--steps`` steps, and one line:

    steps=N single_tensor_step_ms=X fused_step_ms=Y speedup=Z max_table_diff=D

This is the step of ``[train] pretrain_adam = "dense"`` with the loss's backward pass,
as the fit ran before 2026-12-05; the fit now computes the gradient by hand and, by
default, steps the touched rows only (``bench/id_fit_scale.py`` times both Adams).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from distill.ranking import in_batch_softmax


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=70_679)
    parser.add_argument("--products", type=int, default=24_915)
    parser.add_argument("--dim", type=int, default=64, help="id columns (teacher: 64)")
    parser.add_argument("--batch", type=int, default=1024, help="[train] pretrain_batch")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="[train] threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    draws = torch.Generator().manual_seed(0)
    n = args.steps * args.batch
    customers = torch.randint(0, args.customers, (n,), generator=draws)
    products = torch.randint(0, args.products, (n,), generator=draws)
    torch.manual_seed(0)
    start = (torch.randn(args.customers, args.dim), torch.randn(args.products, args.dim))
    fits = {}
    for name, fused in (("single_tensor", False), ("fused", True)):
        tables = [torch.nn.Parameter(t.clone()) for t in start]
        fits[name] = (tables, torch.optim.Adam(tables, lr=0.01, fused=fused), [0.0, 0.0])
    for step in range(args.steps):
        c = customers[step * args.batch : (step + 1) * args.batch]
        p = products[step * args.batch : (step + 1) * args.batch]
        keep = (p[None, :] != p[:, None]) | torch.eye(len(p), dtype=torch.bool)
        for tables, optimizer, seconds in fits.values():
            began = time.perf_counter()
            loss = in_batch_softmax(tables[0][c] @ tables[1][p].T, keep)
            optimizer.zero_grad()
            loss.backward()
            stepped = time.perf_counter()
            optimizer.step()
            seconds[0] += stepped - began
            seconds[1] += time.perf_counter() - stepped
    ms = {name: [1000 * s / args.steps for s in fit[2]] for name, fit in fits.items()}
    for name, (pass_ms, step_ms) in ms.items():
        print(
            f"{name:<14} forward and backward {pass_ms:6.1f} ms  optimizer step {step_ms:6.1f} ms"
        )
    diff = max(
        float((a - b).detach().abs().max())
        for a, b in zip(fits["single_tensor"][0], fits["fused"][0], strict=True)
    )
    single, fused = ms["single_tensor"][1], ms["fused"][1]
    print(
        f"steps={args.steps} single_tensor_step_ms={single:.1f} fused_step_ms={fused:.1f} "
        f"speedup={single / fused:.1f} max_table_diff={diff:.2e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
