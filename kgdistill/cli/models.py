"""`kgdistill models list`: the trained runs and their models."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from distill.artifact import RunNotFoundError, find_run, list_runs
from kgdistill.cli import common


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "models",
        help="list trained runs and their model artifacts",
        description="Inspect the model artifacts of trained runs (runs/<run_id>/models/*.pt).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="every run's models: size, parameters, AUC, latency",
        description=(
            "List the models of every trained run (newest last), read from each artifact "
            "with torch.load(weights_only=True): parameters, bytes on disk, test AUC and "
            "latency from the run's report. LATEST marks the run predict, score and sync use."
        ),
    )
    common.add_runs_dir_option(listing)
    common.add_run_option(listing, "only this run (an id or a directory)")
    common.add_output_options(listing)
    listing.set_defaults(func=_list)


def _list(args: argparse.Namespace) -> int:
    from distill.artifact import ArtifactError, load_artifact  # torch: only when listing

    runs = [find_run(args.run, args.runs_dir)] if args.run else list_runs(args.runs_dir)
    try:
        latest = find_run(None, args.runs_dir).path.resolve()
    except FileNotFoundError:
        latest = None
    entries = []
    for run in runs:
        try:
            report = run.report()
        except RunNotFoundError as exc:  # one broken run does not hide the others
            print(f"kgdistill models: skipped: {exc}", file=sys.stderr)
            continue
        models = report.get("models", {})
        for artifact in sorted(run.models_dir.glob("*.pt")):
            try:
                loaded = load_artifact(artifact)
            except ArtifactError as exc:
                print(f"kgdistill models: skipped: {exc}", file=sys.stderr)
                continue
            metrics = models.get(loaded.name, {})
            entries.append(
                {
                    "run_id": run.run_id,
                    "latest": run.path.resolve() == latest,
                    "model": loaded.name,
                    "default": loaded.name == report.get("default_student"),
                    "kind": loaded.spec.get("kind"),
                    "params": metrics.get("params"),
                    "bytes": artifact.stat().st_size,
                    "auc": metrics.get("auc"),
                    "latency_ms_100k": metrics.get("latency_ms_100k"),
                    "path": str(artifact),
                }
            )
    if args.json:
        common.emit_json(entries)
        return 0
    if not entries:
        print(f"no trained models under {args.runs_dir}: run `kgdistill train` first")
        return 0
    print(f"{'run':<30}{'model':<22}{'kind':<7}{'params':>10}{'file':>11}{'AUC':>8}{'ms/100k':>9}")
    for e in entries:
        run = e["run_id"] + (" (LATEST)" if e["latest"] else "")
        model = e["model"] + (" *" if e["default"] else "")
        auc = f"{e['auc']:.4f}" if e["auc"] is not None else "-"
        latency = f"{e['latency_ms_100k']:.1f}" if e["latency_ms_100k"] is not None else "-"
        params = f"{e['params']:,}" if e["params"] else "-"
        print(
            f"{run:<30}{model:<22}{e['kind']!s:<7}{params:>10}"
            f"{e['bytes'] / 1024:>9.1f}KB{auc:>8}{latency:>9}"
        )
    print("* the run's default student")
    return 0
