"""Search the distilled student's settings on the validation split (Optuna, TPE).

Searched: ``kd.alpha``, ``kd.temperature`` and the student's ``hidden`` (width),
``layers`` (depth) and ``lr``. Each trial trains the student once (the configured seed
and epochs) against teacher logits computed once per search, and scores it by its best
validation AUC. Only the validation split (``eval.val_split``, EComm split 1) is read:
the test split is dropped before anything is prepared, so tuning cannot peek at it.

The first trial of a study is the configuration as given, so the result puts the best
validation AUC beside the default's, measured the same way. With a storage file
(SQLite) a study resumes: ``trials`` counts every finished trial of the study (pruned
ones included: trials stopped early because their validation AUC trailed the median of
earlier trials at the same epoch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from distill.config import KDConfig, RunConfig, StudentConfig
from distill.data import FeatureEncoder
from distill.evaluate import (
    Distillation,
    EvalContext,
    link_model,
    prepare,
    train_model,
    train_teacher,
)
from distill.models import LinkPredictor
from kgframe import GraphFrame

STUDY_NAME = "kgdistill-tune"
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@dataclass(frozen=True)
class SearchSpace:
    """Ranges searched (widened to include the configuration's own values)."""

    alpha: tuple[float, float] = (0.0, 4.0)
    temperature: tuple[float, float] = (1.0, 8.0)
    hidden: tuple[int, int] = (8, 64)  # log scale
    layers: tuple[int, int] = (1, 3)
    lr: tuple[float, float] = (1e-3, 0.1)  # log scale

    def around(self, kd: KDConfig, student: StudentConfig) -> SearchSpace:
        def wide(bounds: tuple[Any, Any], value: Any) -> tuple[Any, Any]:
            return (min(bounds[0], value), max(bounds[1], value))

        return SearchSpace(
            alpha=wide(self.alpha, kd.alpha),
            temperature=wide(self.temperature, kd.temperature),
            hidden=wide(self.hidden, student.hidden),
            layers=wide(self.layers, student.layers),
            lr=wide(self.lr, student.lr),
        )


def config_params(kd: KDConfig, student: StudentConfig) -> dict[str, Any]:
    return {
        "alpha": kd.alpha,
        "temperature": kd.temperature,
        "hidden": student.hidden,
        "layers": student.layers,
        "lr": student.lr,
    }


@dataclass
class TuneResult:
    """The best trial's settings and validation AUC beside the default configuration's."""

    student: str
    best: dict[str, Any]
    best_auc: float
    default: dict[str, Any]
    default_auc: float
    trials: int
    val_split: int
    pruned: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def toml(self) -> str:
        """The best settings as a configuration file for ``kgdistill train --config``."""

        def value(v: Any) -> str:
            return repr(float(v)) if isinstance(v, float) else str(int(v))

        return "\n".join(
            [
                f"# kgdistill tune: best of {self.trials} trials on validation split "
                f"{self.val_split}: validation AUC {self.best_auc:.4f}",
                f"# (the default configuration: {self.default_auc:.4f}). Other keys keep "
                "the values tune ran with.",
                "",
                "[kd]",
                f"alpha = {value(self.best['alpha'])}",
                f"temperature = {value(self.best['temperature'])}",
                "",
                f"[{self.student}]",
                f"hidden = {value(self.best['hidden'])}",
                f"layers = {value(self.best['layers'])}",
                f"lr = {value(self.best['lr'])}",
                "",
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "student": self.student,
            "trials": self.trials,
            "pruned": self.pruned,
            "val_split": self.val_split,
            "best": self.best,
            "best_val_auc": self.best_auc,
            "default": self.default,
            "default_val_auc": self.default_auc,
            "seconds": self.seconds,
        }


def validation_only(pairs: pd.DataFrame, config: RunConfig) -> pd.DataFrame:
    """The validation pairs alone, copied into the test split too: ``prepare`` wants a
    test split, and nothing in the search reads it, so the real one never enters."""
    ev = config.eval
    val = pairs.loc[pairs["split"] == ev.val_split]
    if val["label"].nunique() < 2:
        raise ValueError(
            f"validation split {ev.val_split} needs positive and negative pairs to tune on"
        )
    return pd.concat([val, val.assign(split=ev.test_split)], ignore_index=True)


def tune(
    frame: GraphFrame,
    pairs: pd.DataFrame,
    config: RunConfig,
    *,
    trials: int,
    timeout: float | None = None,
    storage: str | Path | None = None,
    teacher: LinkPredictor | None = None,
    encoder: FeatureEncoder | None = None,
    space: SearchSpace | None = None,
    say: Callable[[str], None] = print,
) -> TuneResult:
    """Search until the study holds ``trials`` finished trials (or ``timeout`` seconds
    pass); ``teacher`` (trained on this frame) saves training one. ``encoder``: the
    teacher's run's (else fitted on ``frame``), so the teacher reads the widths it
    trained on."""
    start = time.perf_counter()
    name = config.eval.default_student
    student = config.student(name)
    pairs = validation_only(pairs, config)
    ctx = prepare(frame, pairs, config, encoder)
    if teacher is None:
        trained = train_teacher(ctx, config, refresh=False)
        teacher = link_model(trained)
        say(f"teacher: val AUC {trained.best_val:.4f} ({trained.seconds:.0f}s)")
    distil = Distillation.of(ctx, teacher)
    default = config_params(config.kd, student)
    space = (space or SearchSpace()).around(config.kd, student)
    study = _study(storage, config.train.seed)
    _check_data(study, frame, pairs, name, config.eval.val_split)
    done = [t for t in study.trials if t.state in FINISHED]
    if not any(t.user_attrs.get("default") for t in study.trials):
        study.enqueue_trial(default)
    remaining = max(0, trials - len(done))
    if remaining:
        objective = _objective(ctx, config, distil, space, default)
        progress = _progress(trials, say)
        study.optimize(objective, n_trials=remaining, timeout=timeout, callbacks=[progress])
    return _result(study, name, default, config.eval.val_split, time.perf_counter() - start)


def _objective(
    ctx: EvalContext,
    config: RunConfig,
    distil: Distillation,
    space: SearchSpace,
    default: dict[str, Any],
) -> Callable[[optuna.Trial], float]:
    """A trial: the default student with the trial's settings, distilled (the configured
    seed, quietly), scored by its best validation AUC; pruned when it trails."""
    student = config.student(config.eval.default_student)
    quiet = replace(config.train, progress=False)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "alpha": trial.suggest_float("alpha", *space.alpha),
            "temperature": trial.suggest_float("temperature", *space.temperature),
            "hidden": trial.suggest_int("hidden", *space.hidden, log=True),
            "layers": trial.suggest_int("layers", *space.layers),
            "lr": trial.suggest_float("lr", *space.lr, log=True),
        }
        trial.set_user_attr("default", params == default)

        def report(epoch: int, val_auc: float) -> None:
            trial.report(val_auc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        s_cfg = replace(
            student, hidden=int(params["hidden"]), layers=int(params["layers"]), lr=params["lr"]
        )
        trained = train_model(
            ctx,
            s_cfg,
            quiet,
            snapshots=distil.snapshots,
            teacher_logits=distil.logits,
            kd=replace(config.kd, alpha=params["alpha"], temperature=params["temperature"]),
            on_eval=report,
        )
        trial.set_user_attr("seconds", trained.seconds)
        trial.set_user_attr("best_epoch", trained.best_epoch)
        return trained.best_val

    return objective


def _progress(
    trials: int, say: Callable[[str], None]
) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """One line per finished trial."""

    def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == optuna.trial.TrialState.PRUNED:
            epoch, value = max(trial.intermediate_values.items(), default=(0, math.nan))
            say(
                f"trial {trial.number + 1}/{trials}: stopped at epoch {epoch}, val AUC "
                f"{value:.4f} below the median of earlier trials there"
            )
            return
        p = trial.params
        mark = " (the default configuration)" if trial.user_attrs.get("default") else ""
        say(
            f"trial {trial.number + 1}/{trials}: val AUC {trial.value:.4f} "
            f"(best {study.best_value:.4f}) alpha={p['alpha']:.3g} T={p['temperature']:.3g} "
            f"hidden={p['hidden']} layers={p['layers']} lr={p['lr']:.3g} "
            f"({trial.user_attrs.get('seconds', 0.0):.0f}s){mark}"
        )

    return progress


def _result(
    study: optuna.Study, name: str, default: dict[str, Any], val_split: int, seconds: float
) -> TuneResult:
    finished = [t for t in study.trials if t.state in FINISHED]
    complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError("no trial finished (a timeout shorter than one trial?)")
    best = study.best_trial
    defaults = [t for t in complete if t.user_attrs.get("default")]
    return TuneResult(
        student=name,
        best=dict(best.params),
        best_auc=float(best.value) if best.value is not None else math.nan,
        default=default,
        default_auc=float(defaults[0].value) if defaults and defaults[0].value else math.nan,
        trials=len(finished),
        pruned=len(finished) - len(complete),
        val_split=val_split,
        seconds=seconds,
        history=[{"number": t.number, "value": t.value, **t.params} for t in complete],
    )


def _study(storage: str | Path | None, seed: int) -> optuna.Study:
    # Our one line per trial replaces Optuna's own log lines.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = None
    if storage is not None:
        path = Path(storage)
        path.parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{path.resolve()}"
    return optuna.create_study(
        study_name=STUDY_NAME,
        storage=url,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        # Stop a trial whose validation AUC trails the median of earlier trials at the same
        # epoch, once a few trials and epochs have run: most of a search's time otherwise
        # goes to settings that are already behind.
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=20),
    )


def _check_data(
    study: optuna.Study, frame: GraphFrame, pairs: pd.DataFrame, name: str, val_split: int
) -> None:
    """A resumed study must be about the same data and student."""
    summary = frame.summary()
    data = {
        "student": name,
        "customers": int(summary.get("customers", 0)),
        "products": int(summary.get("products", 0)),
        "interactions": int(summary.get("interactions", 0)),
        "val_pairs": int((pairs["split"] == val_split).sum()),
    }
    recorded = study.user_attrs.get("data")
    if recorded is None:
        study.set_user_attr("data", data)
    elif recorded != data:
        raise ValueError(
            f"the storage holds a study of other data ({recorded}; now {data}): "
            "pass another --storage file"
        )
