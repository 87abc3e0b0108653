"""`kgdistill tune`: search the distilled student's settings on the validation split."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from distill.artifact import RunNotFoundError, find_run
from kgdistill import rundata
from kgdistill.cli import common
from kgdistill.pipeline import PipelineError

common.register_error(PipelineError, RunNotFoundError)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "tune",
        help="search kd.alpha, kd.temperature and the student's width, depth and lr",
        description=(
            "An Optuna (TPE) search over kd.alpha, kd.temperature and the default student's "
            "hidden, layers and lr, on a trained run's graph and the validation split of its "
            "pairs only (eval.val_split; the test split is never read). The run's teacher is "
            "loaded (or trained once) and its logits reused by every trial; each trial trains "
            "the student once, with the configured seed and epochs. The first trial is the "
            "configuration as given, so the summary puts the best validation AUC beside the "
            "default's. Writes the best settings as a TOML file for `kgdistill train --config`."
        ),
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=20,
        metavar="N",
        help="finished trials the study should hold (a resumed study runs only the rest; "
        "default 20)",
    )
    parser.add_argument(
        "--timeout", type=float, metavar="S", help="stop starting trials after S seconds"
    )
    parser.add_argument(
        "--storage",
        metavar="FILE",
        help="SQLite file that keeps the study, so an interrupted search resumes "
        "(default: none, in memory)",
    )
    parser.add_argument(
        "--out",
        default="tuned.toml",
        metavar="FILE",
        help="where to write the best settings (default: tuned.toml)",
    )
    common.add_run_option(parser)
    common.finish_command(parser, _run)


def _run(args: argparse.Namespace) -> int:
    # torch is imported when a learning command runs, not when the CLI starts
    from distill.artifact import load_artifact
    from distill.tune import tune

    if args.trials < 1:
        raise PipelineError(f"--trials must be at least 1, got {args.trials}")
    config = common.config_from_args(args)
    run = find_run(args.run)
    teacher_path = run.artifact("teacher")
    has_teacher = teacher_path.is_file()
    # the run's nodes and vocabularies, from the teacher that serves every trial
    known = load_artifact(
        teacher_path if has_teacher else run.artifact(run.resolve_model("student"))
    )
    teacher = known.model if has_teacher else None
    with common.connect(config, args) as runner:
        frame, pairs = rundata.run_data(runner, config, run, known, lambda m: common.say(args, m))
    if teacher is not None:
        common.say(args, f"teacher: {teacher_path} (its logits serve every trial)")
    run_config = config.run_config()
    try:
        result = tune(
            frame,
            pairs,
            run_config,
            trials=args.trials,
            timeout=args.timeout,
            storage=args.storage,
            teacher=teacher,
            encoder=known.encoder,
            say=lambda m: common.say(args, m),
        )
    except ValueError as exc:
        raise PipelineError(str(exc)) from None
    out = Path(args.out)
    out.write_text(result.toml(), encoding="utf-8")
    if args.json:
        common.emit_json({**result.as_dict(), "out": str(out), "run": run.run_id})
        return 0
    b, d = result.best, result.default
    print(
        f"best of {result.trials} trials: validation AUC {result.best_auc:.4f} "
        f"(default configuration {result.default_auc:.4f}, "
        f"{result.best_auc - result.default_auc:+.4f}) in {result.seconds:.0f}s"
    )
    print(
        f"  best:    alpha={b['alpha']:.3g} temperature={b['temperature']:.3g} "
        f"hidden={b['hidden']} layers={b['layers']} lr={b['lr']:.3g}"
    )
    print(
        f"  default: alpha={d['alpha']:.3g} temperature={d['temperature']:.3g} "
        f"hidden={d['hidden']} layers={d['layers']} lr={d['lr']:.3g}"
    )
    print(f"wrote {out}: kgdistill train --config {out}")
    return 0
