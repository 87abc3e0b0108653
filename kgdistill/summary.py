"""The one-screen summary of a run: teacher against students, quality and cost."""

from __future__ import annotations

import math
from typing import Any

from distill.baselines import is_baseline  # these import no torch
from distill.report import baseline_note, beats_baselines, model_names, report_k


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:  # NaN
        return "-"
    return f"{float(value):.{digits}f}"


def _finite(value: Any) -> float | None:
    """A positive finite number, or None (missing, NaN, zero)."""
    if value is None:
        return None
    number = float(value)
    return number if number > 0 and math.isfinite(number) else None


def rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per model, learned models first, then baselines: the summary's numbers
    (also what ``--json`` prints). ``recall@{k}``/``ndcg@{k}`` follow ``config.eval.k``;
    ``beats_baselines``: Recall@K above the best baseline's (None for a baseline row or
    when a figure is missing)."""
    models = report.get("models", {})
    k = report_k(report)
    beats = beats_baselines(report)
    teacher = models.get("teacher", {})
    t_params = _finite(teacher.get("params"))
    t_latency = _finite(teacher.get("latency_ms_100k"))
    out = []
    for name in model_names(models):
        m = models[name]
        params = _finite(m.get("params"))
        latency = _finite(m.get("latency_ms_100k"))
        out.append(
            {
                "model": name,
                "default": name == report.get("default_student"),
                "baseline": is_baseline(name),
                "beats_baselines": beats[name],
                "auc": m.get("auc"),
                "ap": m.get("ap"),
                f"recall@{k}": m.get(f"recall@{k}"),
                f"ndcg@{k}": m.get(f"ndcg@{k}"),
                "params": int(params) if params else None,
                "bytes": m.get("bytes"),
                "latency_ms_100k": latency,
                "smaller": (t_params / params) if params and t_params else None,
                "speedup": (t_latency / latency) if latency and t_latency else None,
            }
        )
    return out


def _name(row: dict[str, Any]) -> str:
    if row["baseline"]:
        return f"{row['model']} (baseline)"
    return (
        row["model"]
        + (" *" if row["default"] else "")
        + (" !" if row["beats_baselines"] is False else "")
    )


def table(report: dict[str, Any]) -> str:
    """A fixed-width table that fits a terminal (about 110 columns). Learned models first,
    then the baselines; ``!`` marks a learned model whose Recall@K does not beat them."""
    k = report_k(report)
    recall, ndcg = f"R@{k}", f"NDCG@{k}"
    head = (
        f"{'model':<24}{'AUC':>8}{'AP':>8}{recall:>8}{ndcg:>9}"
        f"{'params':>10}{'size':>10}{'ms/100k':>9}{'smaller':>9}{'faster':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows(report):
        params = f"{r['params']:,}" if r["params"] else "-"
        size = _size(r["bytes"]) if r["bytes"] else "-"
        smaller = f"{r['smaller']:.1f}x" if r["smaller"] else "-"
        faster = f"{r['speedup']:.1f}x" if r["speedup"] else "-"
        lines.append(
            f"{_name(r):<24}{_num(r['auc']):>8}{_num(r['ap']):>8}{_num(r[f'recall@{k}']):>8}"
            f"{_num(r[f'ndcg@{k}']):>9}{params:>10}{size:>10}"
            f"{_num(r['latency_ms_100k'], 1):>9}{smaller:>9}{faster:>8}"
        )
    seeds = report.get("config", {}).get("eval", {}).get("seeds", [])
    data = report.get("data", {})
    lines.append("-" * len(head))
    lines.append(
        f"* default student (written back). Test pairs: {data.get('test_pairs', '-')}; "
        f"students: mean of seeds {list(seeds)}; latency: CPU, 100,000 pairs, "
        "everything each model needs (a GNN's message passing included)."
    )
    note = baseline_note(report)
    if note:
        lines.append(note)
    return "\n".join(lines)
