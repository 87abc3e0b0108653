"""The evaluation report: ``report.json``, ``report.md`` and ``quality_vs_cost.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from distill.baselines import BASELINES, LEGACY_BASELINES, best_baseline, is_baseline
from distill.config import STUDENT_NAMES
from distill.results import Cost, ModelResult, Report, config_k, seeds_phrase

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


def _typed(report: dict[str, Any] | Report) -> Report:
    return report if isinstance(report, Report) else Report.from_dict(report)


def _best_baseline(report: Report, key: str) -> tuple[str, float] | None:
    """The best baseline by ``key`` (a quality key: ``auc``, ``recall@{k}``, ...)."""
    return best_baseline({n: m.quality.as_dict() for n, m in report.models.items()}, key)


def beats_baselines(report: dict[str, Any] | Report) -> dict[str, bool | None]:
    """For each learned model: is its Recall@K above the best baseline's? None for baseline
    rows, and where either figure is missing or NaN. Equal does not beat."""
    typed = _typed(report)
    best = _best_baseline(typed, f"recall@{typed.k}")
    out: dict[str, bool | None] = {}
    for name in model_names(typed.models):
        value = typed.models[name].quality.recall
        if is_baseline(name) or best is None or value is None or not math.isfinite(value):
            out[name] = None
        else:
            out[name] = value > best[1]
    return out


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _label(name: str, report: Report, beats: bool | None) -> str:
    """A row's name with its marks: (default), (baseline), and ! when it does not beat them."""
    if is_baseline(name):
        return f"{name} (baseline)"
    return (
        name
        + (" (default)" if name == report.default_student else "")
        + (" !" if beats is False else "")
    )


def baseline_note(report: dict[str, Any] | Report) -> str | None:
    """The footnote for ``!`` rows, or None when no learned model is marked."""
    typed = _typed(report)
    best = _best_baseline(typed, f"recall@{typed.k}")
    if best is None or False not in beats_baselines(typed).values():
        return None
    return f"! Recall@{typed.k} not above the best baseline's ({best[0]}: {best[1]:.4f})."


def _row(m: ModelResult, label: str) -> list[str]:
    quality, cold = m.quality, m.quality.cold_start
    cost = m.cost or Cost(None, None, None)
    return [
        label,
        *(_fmt(quality.as_dict()[key]) for key in metric_keys(quality.k)),
        _fmt(cold.auc if cold is not None else None),
        _fmt(cold.ap if cold is not None else None),
        _fmt(m.agreement, 3),
        _fmt(int(cost.params or 0)),
        _fmt(int(cost.bytes or 0)),
        _fmt(cost.latency_ms_100k, 1),
    ]


def markdown_table(report: dict[str, Any] | Report) -> str:
    typed = _typed(report)
    beats = beats_baselines(typed)
    head = [
        "model",
        *metric_keys(typed.k),
        "cold AUC",
        "cold AP",
        "agreement",
        "params",
        "bytes",
        "ms / 100k pairs",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in model_names(typed.models):
        label = _label(name, typed, beats.get(name))
        lines.append("| " + " | ".join(_row(typed.models[name], label)) + " |")
    note = baseline_note(typed)
    return "\n".join(lines + (["", note] if note else []))


def markdown(report: dict[str, Any] | Report) -> str:
    typed = _typed(report)
    data = typed.data
    parts = [
        "# Distillation report",
        "",
        f"Test pairs: {data.get('test_pairs')} ({data.get('test_cold_pairs')} with a cold-start "
        f"product); ranking metrics over all {data.get('products')} products for "
        f"{data.get('rank_customers')} customers, ties at their expected rank. Students: "
        f"{seeds_phrase(typed.config)}. Baselines (after the learned models) are fitted on "
        f"the training interactions only. Latency: median wall time to score 100,000 pairs "
        f"from encoded features (a GNN includes its message passing). Wall time of the whole "
        f"run: {typed.seconds or 0:.0f}s"
        + ("." if typed.peak_rss_mb is None else f", peak memory {typed.peak_rss_mb:,.0f} MB."),
        "",
        markdown_table(typed),
        "",
    ]
    return "\n".join(parts)


def plot(report: dict[str, Any] | Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    typed = _typed(report)
    models = {n: m for n, m in typed.models.items() if m.cost and (m.cost.params or 0) > 0}
    best = _best_baseline(typed, "auc")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in (
        (axes[0], "latency_ms_100k", "ms to score 100,000 pairs (CPU)"),
        (axes[1], "bytes", "bytes on disk (state dict)"),
    ):
        for name, m in models.items():
            x, y = getattr(m.cost, key), m.quality.auc
            ax.scatter(x, y, marker="s" if name == "teacher" else "o")
            ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
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


def write_report(report: dict[str, Any] | Report, out_dir: str | Path) -> dict[str, Path]:
    """``report.json`` (a dict as it is, with any keys its entries carry beyond the typed
    ones, e.g. a compressed model's), ``report.md`` and the PNG."""
    plain = report.as_dict() if isinstance(report, Report) else report
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "report.json",
        "md": out / "report.md",
        "png": out / "quality_vs_cost.png",
    }
    paths["json"].write_text(json.dumps(plain, indent=2, allow_nan=True) + "\n")
    paths["md"].write_text(markdown(plain))
    plot(plain, paths["png"])
    return paths
