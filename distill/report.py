"""The evaluation report: ``report.json``, ``report.md`` and ``quality_vs_cost.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

METRICS: tuple[str, ...] = ("auc", "ap", "recall@20", "ndcg@20", "mrr")
ORDER: tuple[str, ...] = (
    "heuristic",
    "teacher",
    "student_gat",
    "student_gat_no_kd",
    "student_sage",
    "student_sage_no_kd",
    "student_mlp",
    "student_mlp_no_kd",
)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(report: dict[str, Any]) -> str:
    models = report["models"]
    names = [n for n in ORDER if n in models] + [n for n in models if n not in ORDER]
    head = [
        "model",
        *METRICS,
        "cold AUC",
        "cold AP",
        "agreement",
        "params",
        "bytes",
        "ms / 100k pairs",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        m = models[name]
        cold = m.get("cold_start", {})
        row = [
            name + (" (default)" if name == report.get("default_student") else ""),
            *(_fmt(m.get(k)) for k in METRICS),
            _fmt(cold.get("auc")),
            _fmt(cold.get("ap")),
            _fmt(m.get("agreement"), 3),
            _fmt(int(m.get("params", 0))),
            _fmt(int(m.get("bytes", 0))),
            _fmt(m.get("latency_ms_100k"), 1),
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    data = report.get("data", {})
    seeds = report.get("config", {}).get("eval", {}).get("seeds", [])
    parts = [
        "# Distillation report",
        "",
        f"Test pairs: {data.get('test_pairs')} ({data.get('test_cold_pairs')} with a cold-start "
        f"product); ranking metrics over all {data.get('products')} products for "
        f"{data.get('rank_customers')} customers. Students: mean over seeds {seeds}. "
        f"Latency: median wall time to score 100,000 pairs from encoded features (a GNN "
        f"includes its message passing). Wall time of the whole run: "
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
        heuristic = report["models"].get("heuristic")
        if heuristic is not None:
            ax.axhline(heuristic["auc"], color="grey", linestyle="--", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test AUC")
    fig.suptitle("Quality against cost (dashed: category-affinity heuristic)")
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
