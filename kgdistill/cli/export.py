"""`kgdistill export --format onnx`: the student's scoring function for runtimes without torch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from distill.artifact import RunNotFoundError, find_run
from kgdistill import pipeline
from kgdistill.cli import common
from kgdistill.pipeline import PipelineError

common.register_error(PipelineError, RunNotFoundError)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "export",
        help="write a run's graph-free student as ONNX (scores pairs in onnxruntime, no torch)",
        description=(
            "Export the scoring function of a run's graph-free student (encoded customer "
            "and product features and 13 pair features in, logit, score and rank out) as an "
            "ONNX file, and beside it the same student split for serving a top K: "
            "STEM.products.onnx (product features in, every product's representation out, "
            "once per catalogue) and STEM.customer.onnx (a customer's features, those "
            "representations and its pair features in, its rank of every product out). "
            "--features also writes an .npz with every node's encoded inputs and the "
            "history tables for pair features, read from the graph in Neo4j; --catalogue "
            "writes STEM.catalogue.onnx, the customer side with the catalogue in Neo4j "
            "built in (fastest per request; write it again when the catalogue changes). "
            "Inputs and a numpy-only scoring example: docs/onnx.md."
        ),
    )
    parser.add_argument("--format", choices=["onnx"], default="onnx", help="only onnx for now")
    parser.add_argument("--out", required=True, metavar="FILE", help="the .onnx file to write")
    parser.add_argument(
        "--features",
        metavar="FILE",
        help="also write the model's inputs for every customer and product (.npz; needs Neo4j)",
    )
    parser.add_argument(
        "--catalogue",
        action="store_true",
        help=(
            "also write STEM.catalogue.onnx: a customer's rank of every product with the "
            "products' representations built in (needs Neo4j; refused past 2 GB)"
        ),
    )
    common.add_run_option(parser)
    common.add_model_option(parser)
    common.finish_command(parser, _run)


def _run(args: argparse.Namespace) -> int:
    # torch is imported when a learning command runs, not when the CLI starts
    from distill.artifact import load_artifact
    from distill.export import (
        edge_tables,
        export_catalogue,
        export_onnx,
        export_split,
        input_names,
        save_edge_tables,
    )
    from distill.predict import Scorer

    run = find_run(args.run)
    name = run.resolve_model(args.model)
    loaded = load_artifact(run.artifact(name))
    try:
        path = export_onnx(loaded, Path(args.out))
        products, customer = export_split(loaded, path)
    except ValueError as exc:
        raise PipelineError(str(exc)) from None
    result: dict[str, Any] = {
        "run": run.run_id,
        "model": name,
        "onnx": str(path),
        "inputs": input_names(loaded),
        "outputs": ["logit", "score", "rank"],
        "products_onnx": str(products),
        "customer_onnx": str(customer),
    }
    if args.features or args.catalogue:
        config = common.config_from_args(args)
        with common.connect(config, args) as runner:
            frame = pipeline.extract(
                runner, config, pipeline.run_until(run), lambda m: common.say(args, m)
            )
        scorer = Scorer(loaded, frame)
        if args.features:
            result["features"] = str(save_edge_tables(scorer, Path(args.features)))
        if args.catalogue:
            try:
                built = export_catalogue(loaded, path, edge_tables(scorer))
            except ValueError as exc:
                raise PipelineError(str(exc)) from None
            result["catalogue_onnx"] = str(built)
    if args.json:
        common.emit_json(result)
        return 0
    print(f"{name} of run {run.run_id} -> {path} ({path.stat().st_size:,} bytes)")
    print(f"inputs: {', '.join(result['inputs'])}; outputs: logit, score, rank")
    print(f"for top K: {products} (product tower, once per catalogue) and {customer}")
    print("(one customer against every product; see docs/onnx.md)")
    if args.catalogue:
        print(
            f"with the catalogue's {frame.num_products:,} products built in: "
            f"{result['catalogue_onnx']} (one customer's inputs and pair features in)"
        )
    if args.features:
        print(f"inputs of every customer and product: {result['features']}")
    return 0
