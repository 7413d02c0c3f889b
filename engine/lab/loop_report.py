"""A self-contained HTML page for ``evaluate --loop``: each policy's weekly curves and its figures.

Like :mod:`engine.lab.report`: one file, matplotlib PNGs embedded as base64,
inline styles. Written atomically by :func:`engine.lab.report.write_page`.

Usage::

    from engine.lab.loop_report import write_loop_report
    write_loop_report("loop.html", run_loop(weeks=12, couples=200, seeds=1))
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from .loop import METRICS
from .report import _CSS, _ENGINE_COLOUR, _img, _png, write_page

__all__ = ["render_loop_report", "write_loop_report"]

_WEEKLY = {
    "enjoyment": "True enjoyment of the week's date (mean of partners)",
    "enjoyment_less_happy": "The less happy partner's true enjoyment",
    "outside_routine": "Share of dates outside the starting routine",
    "satisfaction": "Mean relationship satisfaction S_t",
    "satisfaction_up_share": "Share of couples with S_t > S_0",
}
_COLOURS = {"engine": _ENGINE_COLOUR, "engine_routine_weight_0": "#f59e0b", "oracle": "#15803d",
            "random": "#94a3b8", "popular": "#2563eb", "item_knn": "#7c3aed", "mf": "#0891b2"}


def _weekly_figure(policies: dict[str, dict[str, Any]]) -> Figure:
    metrics = [m for m in _WEEKLY if all(m in v["weekly"] for v in policies.values())]
    cols = 2
    rows = (len(metrics) + cols - 1) // cols
    fig = Figure(figsize=(6.0 * cols, 3.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        for name, values in policies.items():
            curve = values["weekly"][metric]
            ax.plot(range(1, len(curve) + 1), curve, label=name, color=_COLOURS.get(name),
                    linewidth=2.4 if name == "engine" else 1.3)
        ax.set_title(_WEEKLY[metric], fontsize=10)
        ax.set_xlabel("week")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _table(result: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(m)}</th>" for m in METRICS)
    body = []
    for name, values in result["policies"].items():
        cells = []
        for m in METRICS:
            lo, hi = values["interval95"][m]
            seeds = ", ".join(f"{v:.3f}" for v in values["per_seed"][m])
            cells.append(f"<td>{values[m]:.4f}<br><small>[{lo:.3f}, {hi:.3f}]; seeds {seeds}</small></td>")
        cls = ' class="engine"' if name == "engine" else ""
        body.append(f"<tr{cls}><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>policy</th>{head}</tr>{''.join(body)}</table>"


def render_loop_report(result: dict[str, Any], notes: Sequence[str] = ()) -> str:
    """The page as a string, from :func:`engine.lab.loop.run_loop`'s result."""
    title = (f"Weeks of dates: {result['couples']} couples, {result['weeks']} weeks, "
             f"{result['seeds']} seed(s), retrained every {result['retrain_every']} weeks")
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    parts += [f'<p class="meta">{html.escape(line)}</p>' for line in notes]
    parts.append("<h2>Week by week</h2>")
    parts.append(_img(_png(_weekly_figure(result["policies"])), "weekly curves per policy"))
    parts.append("<h2>Per policy (mean; 95% interval over couples; per seed)</h2>")
    parts.append(_table(result))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_loop_report(path: str | Path, result: dict[str, Any], notes: Sequence[str] = ()) -> Path:
    """Write :func:`render_loop_report` to ``path`` atomically; returns the path."""
    return write_page(path, render_loop_report(result, notes))
