"""A self-contained HTML page for an offline evaluation.

One file, no external assets: figures are matplotlib PNGs embedded as
base64 ``data:`` URIs, styles are inline. It shows

* the accuracy-novelty trade-off over the ranking's ``routine_weight``
  (NDCG@k against routine distance, novelty and - on synthetic data - the
  true enjoyment ratio; one point per weight, the default marked), and
* every model's metrics side by side (bar charts and a table), each the mean
  over seeds with its 95% interval (error bars, "mean ± half-width"), the
  per-seed values, and the evaluation's one-line note when the intervals are
  wider than the gaps between models.
* accuracy against breadth: every model's NDCG@k against its catalog coverage,
  one labelled point per model with both 95% intervals as error bars (the
  exposure Gini and the share of the most popular ideas are in the table).

Usage::

    from engine.lab.report import write_report
    write_report("eval.html", result, curve, default_weight=0.3)
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

__all__ = ["render_report", "write_page", "write_report"]

#: metric -> (label, higher is better?)
_LABELS = {
    "ndcg": "NDCG@k",
    "recall": "Recall@k",
    "precision": "Precision@k",
    "novelty": "Novelty (-log2 pop.)",
    "routine_distance": "Routine distance",
    "diversity": "Intra-list diversity",
    "coverage": "Catalog coverage",
    "exposure_gini": "Exposure Gini",
    "popular_share_top10": "Top-k among 10% most popular",
    "enjoyment_ratio": "Enjoyment ratio (top-3)",
    "outside_routine": "Top-3 outside routine",
}
_ENGINE_COLOUR = "#c2410c"
_OTHER_COLOUR = "#64748b"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(data: str, alt: str) -> str:
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


#: the engine issue's bars for the top 3, drawn on the enjoyment / routine-breaking panel
ENJOYMENT_BAR, OUTSIDE_ROUTINE_BAR = 0.90, 0.5


def _tradeoff_figure(curve: Sequence[dict[str, float]], k: int, param: str,
                     default_weight: float | None) -> Figure:
    ndcg = "ndcg"
    panels = [(m, ndcg) for m in ("routine_distance", "novelty", "enjoyment_ratio", "outside_routine")
              if m in curve[0]]
    if "enjoyment_ratio" in curve[0] and "outside_routine" in curve[0]:
        panels.append(("outside_routine", "enjoyment_ratio"))
    cols = min(len(panels), 2)
    rows = (len(panels) + cols - 1) // cols
    fig = Figure(figsize=(5.5 * cols, 4.0 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (metric, y_metric) in zip(axes, panels):
        x = [row[metric] for row in curve]
        y = [row[y_metric] for row in curve]
        ax.plot(x, y, "-o", color=_OTHER_COLOUR, markersize=5, zorder=2)
        xerr, yerr = _half_widths(curve, metric), _half_widths(curve, y_metric)
        if xerr is not None or yerr is not None:  # 95% intervals over seeds
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor=_OTHER_COLOUR, elinewidth=1,
                        capsize=3, alpha=0.7, zorder=2)
        for row, xi, yi in zip(curve, x, y):
            ax.annotate(f"{row[param]:g}", (xi, yi), textcoords="offset points", xytext=(5, 4),
                        fontsize=8, color="#334155")
        if y_metric == "enjoyment_ratio":
            ax.axhline(ENJOYMENT_BAR, color="#64748b", linestyle="--", linewidth=1, zorder=1)
            ax.axvline(OUTSIDE_ROUTINE_BAR, color="#64748b", linestyle="--", linewidth=1, zorder=1)
            ax.fill_between([OUTSIDE_ROUTINE_BAR, max(1.0, max(x))], ENJOYMENT_BAR, max(1.0, max(y)),
                            color="#dcfce7", zorder=0, label="both bars met (issue targets)")
        if default_weight is not None:
            hits = [i for i, row in enumerate(curve) if abs(row[param] - default_weight) < 1e-9]
            for i in hits:
                ax.plot([x[i]], [y[i]], marker="*", markersize=16, color=_ENGINE_COLOUR,
                        zorder=3, label=f"default {param} = {default_weight:g}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8, frameon=False)
        ax.set_xlabel(_LABELS.get(metric, metric))
        ax.set_ylabel(f"NDCG@{k}" if y_metric == ndcg else _LABELS.get(y_metric, y_metric))
        ax.grid(True, alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(f"Accuracy against routine breaking, over {param} (labels = weight)", fontsize=11)
    fig.tight_layout()
    return fig


def _half_widths(rows: Sequence[dict[str, Any]], metric: str) -> list[float] | None:
    """Half-widths of the rows' 95% intervals of ``metric`` (None when any row has none)."""
    cis = [row.get(f"{metric}_ci") for row in rows]
    if not all(cis):
        return None
    return [(hi - lo) / 2 for lo, hi in cis]


def _cell(values: dict[str, Any], metric: str) -> str:
    """``<td>`` with the mean ± the 95% half-width; the per-seed values in its title."""
    if metric not in values:
        return "<td>-</td>"
    ci = values.get(f"{metric}_ci")
    seeds = values.get("per_seed", {}).get(metric)
    title = f' title="per seed: {" ".join(f"{v:.4f}" for v in seeds)}"' if seeds else ""
    spread = f" &plusmn; {(ci[1] - ci[0]) / 2:.4f}" if ci else ""
    return f"<td{title}>{values[metric]:.4f}{spread}</td>"


def _bars_figure(models: dict[str, dict[str, float]]) -> Figure:
    names = list(models)
    metrics = [m for m in _LABELS if all(m in models[n] for n in names)]
    cols = 3
    rows = (len(metrics) + cols - 1) // cols
    fig = Figure(figsize=(4.3 * cols, 3.0 * rows))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    colours = [_ENGINE_COLOUR if n == "engine" else _OTHER_COLOUR for n in names]
    for ax, metric in zip(axes, metrics):
        values = [models[n][metric] for n in names]
        errors = _half_widths([models[n] for n in names], metric)  # 95% intervals over seeds
        bars = ax.bar(range(len(names)), values, color=colours, yerr=errors, capsize=4,
                      error_kw={"elinewidth": 1, "ecolor": "#0f172a"})
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=9)
        ax.set_title(_LABELS[metric], fontsize=10)
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        ax.margins(y=0.18)
        ax.grid(True, axis="y", alpha=0.3)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


#: alt text (and the id's sense) of the accuracy-against-coverage picture
ACCURACY_COVERAGE_ALT = "accuracy (NDCG@k) against catalog coverage, one point per model, with 95% intervals"


def _accuracy_coverage_figure(models: dict[str, dict[str, Any]], k: int) -> Figure:
    """NDCG@k against catalog coverage: one labelled point per model, 95% intervals as error bars."""
    names = [n for n in models if "ndcg" in models[n] and "coverage" in models[n]]
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    rows = [models[n] for n in names]
    xerr, yerr = _half_widths(rows, "coverage"), _half_widths(rows, "ndcg")
    for i, name in enumerate(names):
        colour = _ENGINE_COLOUR if name == "engine" else _OTHER_COLOUR
        x, y = models[name]["coverage"], models[name]["ndcg"]
        ax.errorbar([x], [y], xerr=None if xerr is None else [xerr[i]], yerr=None if yerr is None else [yerr[i]],
                    fmt="o", color=colour, ecolor=colour, elinewidth=1, capsize=3, markersize=6, zorder=2)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 5), fontsize=9, color="#334155")
    ax.set_xlabel(_LABELS["coverage"] + " (share of the catalog recommended)")
    ax.set_ylabel(f"NDCG@{k}")
    ax.set_xlim(-0.03, 1.08)
    ax.margins(y=0.15)
    ax.grid(True, alpha=0.3)
    ax.set_title("Accuracy against coverage (up and to the right is better)", fontsize=10)
    fig.tight_layout()
    return fig


def _table(models: dict[str, dict[str, float]]) -> str:
    metrics = [m for m in _LABELS if any(m in v for v in models.values())]
    head = "".join(f"<th>{html.escape(_LABELS[m])}</th>" for m in metrics)
    body = []
    for name, values in models.items():
        cells = "".join(_cell(values, m) for m in metrics)
        cls = ' class="engine"' if name == "engine" else ""
        body.append(f"<tr{cls}><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<table><tr><th>model</th>{head}</tr>{''.join(body)}</table>"


def _per_seed_table(models: dict[str, dict[str, Any]]) -> str:
    """Every model's value of each metric per seed (the spread behind the intervals)."""
    metrics = [m for m in _LABELS if any(m in v.get("per_seed", {}) for v in models.values())]
    head = "".join(f"<th>{html.escape(_LABELS[m])}</th>" for m in metrics)
    body = []
    for name, values in models.items():
        per = values.get("per_seed", {})
        cells = "".join(f"<td>{' '.join(f'{v:.4f}' for v in per.get(m, []))}</td>" for m in metrics)
        body.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    return f"<table class=\"per-seed\"><tr><th>model</th>{head}</tr>{''.join(body)}</table>"


def _curve_table(curve: Sequence[dict[str, float]], param: str) -> str:
    metrics = [m for m in curve[0] if m != param and not m.endswith("_ci")]
    head = "".join(f"<th>{html.escape(_LABELS.get(m, m))}</th>" for m in metrics)
    body = "".join(
        f"<tr><th>{row[param]:g}</th>" + "".join(_cell(row, m) for m in metrics) + "</tr>"
        for row in curve)
    return f"<table><tr><th>{html.escape(param)}</th>{head}</tr>{body}</table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#0f172a}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #cbd5e1;padding:.3em .6em;text-align:right}
tr.engine{background:#fff7ed} img{max-width:100%} .meta{color:#475569}
.note{background:#fef3c7;border-left:4px solid #d97706;padding:.5em .8em}
"""


def render_report(result: dict[str, Any], curve: Sequence[dict[str, float]] | None = None, *,
                  param: str = "routine_weight", default_weight: float | None = None,
                  notes: Sequence[str] = ()) -> str:
    """The HTML page as a string.

    Parameters
    ----------
    result : dict
        The output of :func:`engine.lab.evaluation.evaluate`.
    curve : list of dict, optional
        The output of :func:`engine.lab.evaluation.tradeoff_curve`; the trade-off
        section is left out without it.
    param : str, default="routine_weight"
        The parameter the curve varies.
    default_weight : float, optional
        The parameter's default, marked on the curve.
    notes : sequence of str
        Lines shown under the title (protocol, command, ...).
    """
    k = int(result["k"])
    models = result["models"]
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>Evaluation: {html.escape(str(result['dataset']))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Offline evaluation: {html.escape(str(result['dataset']))} (k = {k})</h1>",
    ]
    parts += [f'<p class="meta">{html.escape(line)}</p>' for line in notes]
    if curve:
        parts.append("<h2>Accuracy against routine breaking</h2>")
        parts.append(f"<p>The engine fitted once per seed and re-ranked for each {html.escape(param)}; "
                     "up and to the right is better. On synthetic data the last panel shades where both "
                     f"of the engine issue's bars for the top 3 are met (enjoyment ratio &ge; {ENJOYMENT_BAR:.2f} "
                     f"with at least {OUTSIDE_ROUTINE_BAR:.0%} outside the routine).</p>")
        parts.append(_img(_png(_tradeoff_figure(curve, k, param, default_weight)), "trade-off curve"))
        parts.append(_curve_table(curve, param))
    parts.append("<h2>Every model, side by side</h2>")
    seeds = result.get("seeds")
    if seeds:
        parts.append(f"<p>Each figure is the mean over {int(seeds)} seed(s) (hold-out splits) &plusmn; the "
                     "half-width of its 95% interval (Student t), drawn as error bars; the per-seed values "
                     "are in the last table and in each cell's tooltip.</p>")
    if result.get("note"):
        parts.append(f'<p class="note" role="note">{html.escape("Note: " + result["note"])}</p>')
    parts.append(_img(_png(_bars_figure(models)), "metrics by model, with 95% intervals"))
    parts.append(_table(models))
    if any("ndcg" in v and "coverage" in v for v in models.values()):
        parts.append('<h2 id="accuracy-coverage">Accuracy against coverage</h2>')
        parts.append("<p>Each model's NDCG@k against the share of the catalog it recommends to at least one "
                     "couple, with the 95% intervals over seeds as error bars: a model high and to the right is "
                     "accurate without recommending the same few ideas to everyone. The Gini of exposure over "
                     "the catalog and the share of the top k among the 10% most popular ideas are in the "
                     "table above.</p>")
        parts.append(_img(_png(_accuracy_coverage_figure(models, k)), ACCURACY_COVERAGE_ALT))
    if any(v.get("per_seed") for v in models.values()):
        parts.append("<h2>Per seed</h2>")
        parts.append(_per_seed_table(models))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, result: dict[str, Any],
                 curve: Sequence[dict[str, float]] | None = None, **kwargs: Any) -> Path:
    """Write :func:`render_report` to ``path`` atomically (a temporary file, then a rename).

    Returns
    -------
    Path
        The written file.
    """
    return write_page(path, render_report(result, curve, **kwargs))


def write_page(path: str | Path, page: str) -> Path:
    """Write an HTML ``page`` to ``path`` atomically (a temporary file, then a rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
