"""The one-screen summary of a run: teacher against students, quality and cost."""

from __future__ import annotations

import math
from typing import Any

from distill.report import ORDER  # the report's row order (no torch imported)


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
    """One dict per model: the summary's numbers (also what ``--json`` prints)."""
    models = report.get("models", {})
    teacher = models.get("teacher", {})
    t_params = _finite(teacher.get("params"))
    t_latency = _finite(teacher.get("latency_ms_100k"))
    names = [n for n in ORDER if n in models] + sorted(n for n in models if n not in ORDER)
    out = []
    for name in names:
        m = models[name]
        params = _finite(m.get("params"))
        latency = _finite(m.get("latency_ms_100k"))
        out.append(
            {
                "model": name,
                "default": name == report.get("default_student"),
                "auc": m.get("auc"),
                "ap": m.get("ap"),
                "recall@20": m.get("recall@20"),
                "ndcg@20": m.get("ndcg@20"),
                "params": int(params) if params else None,
                "bytes": m.get("bytes"),
                "latency_ms_100k": latency,
                "smaller": (t_params / params) if params and t_params else None,
                "speedup": (t_latency / latency) if latency and t_latency else None,
            }
        )
    return out


def table(report: dict[str, Any]) -> str:
    """A fixed-width table that fits a terminal (about 110 columns)."""
    head = (
        f"{'model':<22}{'AUC':>8}{'AP':>8}{'R@20':>8}{'NDCG@20':>9}"
        f"{'params':>10}{'size':>10}{'ms/100k':>9}{'smaller':>9}{'faster':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows(report):
        name = r["model"] + (" *" if r["default"] else "")
        params = f"{r['params']:,}" if r["params"] else "-"
        size = _size(r["bytes"]) if r["bytes"] else "-"
        smaller = f"{r['smaller']:.1f}x" if r["smaller"] else "-"
        faster = f"{r['speedup']:.1f}x" if r["speedup"] else "-"
        lines.append(
            f"{name:<22}{_num(r['auc']):>8}{_num(r['ap']):>8}{_num(r['recall@20']):>8}"
            f"{_num(r['ndcg@20']):>9}{params:>10}{size:>10}"
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
    return "\n".join(lines)
