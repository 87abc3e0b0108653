"""The evaluation report: ``report.json``, ``report.md`` and ``quality_vs_cost.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from distill.baselines import BASELINES, LEGACY_BASELINES, best_baseline, is_baseline
from distill.config import STUDENT_NAMES
from distill.results import config_k

# Learned models in the order a reader compares them; baselines come after every learned
# model (see :func:`model_names`).
ORDER: tuple[str, ...] = (
    "teacher",
    *(label for name in STUDENT_NAMES for label in (name, f"{name}_no_kd")),
)
BASELINE_ORDER: tuple[str, ...] = (*BASELINES, *LEGACY_BASELINES)


def report_k(report: dict[str, Any]) -> int:
    """The K of the report's Recall@K and NDCG@K: ``config.eval.k`` (20 when absent)."""
    return config_k(report.get("config") or {})


def metric_keys(k: int) -> tuple[str, ...]:
    """The quality columns of the report: ``auc, ap, recall@{k}, ndcg@{k}, mrr``."""
    return ("auc", "ap", f"recall@{k}", f"ndcg@{k}", "mrr")


def model_names(models: dict[str, Any]) -> list[str]:
    """Learned models (``ORDER`` first, others in the report's order), then baselines
    (registry order, then an old report's ``heuristic``)."""
    learned = [n for n in models if not is_baseline(n)]
    baselines = [n for n in models if is_baseline(n)]
    return (
        [n for n in ORDER if n in learned]
        + [n for n in learned if n not in ORDER]
        + [n for n in BASELINE_ORDER if n in baselines]
    )


def beats_baselines(report: dict[str, Any]) -> dict[str, bool | None]:
    """For each learned model: is its Recall@K above the best baseline's? None for baseline
    rows, and where either figure is missing or NaN. Equal does not beat."""
    models = report.get("models", {})
    key = f"recall@{report_k(report)}"
    best = best_baseline(models, key)
    out: dict[str, bool | None] = {}
    for name in model_names(models):
        value = models[name].get(key)
        known = isinstance(value, int | float) and math.isfinite(value)
        out[name] = None if is_baseline(name) or best is None or not known else value > best[1]
    return out


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _label(name: str, report: dict[str, Any], beats: bool | None) -> str:
    """A row's name with its marks: (default), (baseline), and ! when it does not beat them."""
    if is_baseline(name):
        return f"{name} (baseline)"
    return (
        name
        + (" (default)" if name == report.get("default_student") else "")
        + (" !" if beats is False else "")
    )


def baseline_note(report: dict[str, Any]) -> str | None:
    """The footnote for ``!`` rows, or None when no learned model is marked."""
    k = report_k(report)
    best = best_baseline(report.get("models", {}), f"recall@{k}")
    if best is None or False not in beats_baselines(report).values():
        return None
    return f"! Recall@{k} not above the best baseline's ({best[0]}: {best[1]:.4f})."


def markdown_table(report: dict[str, Any]) -> str:
    models = report["models"]
    metrics = metric_keys(report_k(report))
    beats = beats_baselines(report)
    head = [
        "model",
        *metrics,
        "cold AUC",
        "cold AP",
        "agreement",
        "params",
        "bytes",
        "ms / 100k pairs",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in model_names(models):
        m = models[name]
        cold = m.get("cold_start", {})
        row = [
            _label(name, report, beats.get(name)),
            *(_fmt(m.get(key)) for key in metrics),
            _fmt(cold.get("auc")),
            _fmt(cold.get("ap")),
            _fmt(m.get("agreement"), 3),
            _fmt(int(m.get("params", 0))),
            _fmt(int(m.get("bytes", 0))),
            _fmt(m.get("latency_ms_100k"), 1),
        ]
        lines.append("| " + " | ".join(row) + " |")
    note = baseline_note(report)
    return "\n".join(lines + (["", note] if note else []))


def markdown(report: dict[str, Any]) -> str:
    data = report.get("data", {})
    seeds = report.get("config", {}).get("eval", {}).get("seeds", [])
    parts = [
        "# Distillation report",
        "",
        f"Test pairs: {data.get('test_pairs')} ({data.get('test_cold_pairs')} with a cold-start "
        f"product); ranking metrics over all {data.get('products')} products for "
        f"{data.get('rank_customers')} customers, ties at their expected rank. Students: mean "
        f"over seeds {seeds}. Baselines (after the learned models) are fitted on the training "
        f"interactions only. Latency: median wall time to score 100,000 pairs from encoded "
        f"features (a GNN includes its message passing). Wall time of the whole run: "
        f"{report.get('seconds', 0):.0f}s.",
        "",
        markdown_table(report),
        "",
    ]
    return "\n".join(parts)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = {n: m for n, m in report["models"].items() if m.get("params", 0) > 0}
    best = best_baseline(report["models"], "auc")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in (
        (axes[0], "latency_ms_100k", "ms to score 100,000 pairs (CPU)"),
        (axes[1], "bytes", "bytes on disk (state dict)"),
    ):
        for name, m in models.items():
            ax.scatter(m[key], m["auc"], marker="s" if name == "teacher" else "o")
            ax.annotate(
                name, (m[key], m["auc"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        if best is not None:
            ax.axhline(best[1], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test AUC")
    dashed = f"dashed: best baseline, {best[0]}" if best else "no baseline"
    fig.suptitle(f"Quality against cost ({dashed})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "report.json",
        "md": out / "report.md",
        "png": out / "quality_vs_cost.png",
    }
    paths["json"].write_text(json.dumps(report, indent=2, allow_nan=True) + "\n")
    paths["md"].write_text(markdown(report))
    plot(report, paths["png"])
    return paths
