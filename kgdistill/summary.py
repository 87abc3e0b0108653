"""The one-screen summary of a run: teacher against students, quality and cost."""

from __future__ import annotations

import math
from typing import Any

from distill.baselines import is_baseline  # these import no torch
from distill.report import baseline_note, beats_baselines, model_names, report_k
from distill.results import Cost, Report, seeds_phrase


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
    typed = Report.from_dict(report)
    k = typed.k
    beats = beats_baselines(report)
    teacher = typed.models.get("teacher")
    t_cost = teacher.cost if teacher is not None else None
    t_params = _finite(t_cost.params) if t_cost is not None else None
    t_latency = _finite(t_cost.latency_ms_100k) if t_cost is not None else None
    out = []
    for name in model_names(typed.models):
        m = typed.models[name]
        cost = m.cost or Cost(None, None, None)
        params = _finite(cost.params)
        latency = _finite(cost.latency_ms_100k)
        out.append(
            {
                "model": name,
                "default": name == typed.default_student,
                "baseline": is_baseline(name),
                "beats_baselines": beats[name],
                "auc": m.quality.auc,
                "ap": m.quality.ap,
                f"recall@{k}": m.quality.recall,
                f"ndcg@{k}": m.quality.ndcg,
                "params": int(params) if params else None,
                "bytes": cost.bytes,
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
    typed = Report.from_dict(report)
    data = typed.data
    lines.append("-" * len(head))
    lines.append(
        f"* default student (written back). Test pairs: {data.get('test_pairs', '-')}; "
        f"students: {seeds_phrase(typed.config)}; latency: CPU, 100,000 pairs, "
        "everything each model needs (a GNN's message passing included)."
    )
    note = baseline_note(report)
    if note:
        lines.append(note)
    return "\n".join(lines)
