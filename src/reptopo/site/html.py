"""HTML helpers of the leaderboard's pages: escaping, number formatting, tables and Plotly figures.

Every string that comes from a registry entry or a record goes through ``esc`` (HTML) or
``json_script`` (JSON inside a script element), so a model named ``<script>...`` shows as text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.board import ALL_TASKS

# who produced a record's numbers (reptopo.record.PROVENANCES), as the leaderboard's badges say it
PROVENANCE_LABELS = {
    "benchmark": "benchmark run",
    "verified_submission": "verified submission",
    "self_reported": "self-reported",
}


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "model"


def json_script(obj) -> str:
    """JSON safe to place inside <script type="application/json">."""
    text = json.dumps(obj, default=_json_default, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def _clean(values):
    return [None if v is None or (isinstance(v, float) and not np.isfinite(v)) else v for v in values]


def fmt(x, digits: int = 3) -> str:
    """``digits`` significant digits (0.000225, 0.0564, 12.2), an integer as it is, "–" for none."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{x:.{digits}g}"


def fmt_pm(mean, spread) -> str:
    """A mean with its spread as ±, e.g. "0.961 ± 0.005" (the spread to two significant digits)."""
    text = fmt(mean)
    if text != "–" and spread is not None and np.isfinite(spread) and spread > 0:
        text += f" ± {fmt(spread, 2)}"
    return text


class Plots:
    """Collects Plotly figures of one page as (div, embedded JSON) pairs."""

    def __init__(self, page: str):
        self.page = slug(page)
        self.n = 0

    def figure(
        self, traces: list[dict], title: str, xaxis: str, yaxis: str, height: int = 380, layout: dict | None = None
    ) -> str:
        """A Plotly figure's div and its JSON; ``layout`` entries update the default layout's (one level deep)."""
        self.n += 1
        pid = f"plot-{self.page}-{self.n}"
        # Plotly renders titles, axis titles and trace names as pseudo-HTML (links, styles): every
        # one is escaped here, once, so that no name from a record or an entry becomes markup
        title, xaxis, yaxis = esc(title), esc(xaxis), esc(yaxis)
        for t in traces:
            if "name" in t:
                t["name"] = esc(t["name"])
            for k in ("x", "y"):
                if k in t:
                    t[k] = _clean(list(t[k]))
            if "z" in t:  # a heatmap's rows
                t["z"] = [_clean(list(row)) for row in t["z"]]
        # the title sits left, the mode bar stands vertically at the right: they never overlap
        spec: dict[str, Any] = {
            "data": traces,
            "layout": {
                "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
                "modebar": {"orientation": "v"},
                "height": height,
                "margin": {"t": 40, "l": 50, "r": 40, "b": 40},
                "xaxis": {"title": {"text": xaxis}},
                "yaxis": {"title": {"text": yaxis}},
                "legend": {"font": {"size": 10}},
            },
        }
        for key, value in (layout or {}).items():
            base = spec["layout"].get(key)
            spec["layout"][key] = {**base, **value} if isinstance(base, dict) and isinstance(value, dict) else value
        return (
            f'<div class="rt-plot" id="{pid}" data-spec="{pid}-data"></div>\n'
            f'<script type="application/json" id="{pid}-data">{json_script(spec)}</script>\n'
        )


def html_table(
    df: pd.DataFrame,
    columns: list[tuple[str, str]],
    table_id: str,
    *,
    filters: Sequence[str] = (),
    link: tuple[str, str] | None = None,
    optional: Sequence[str] = (),
    values: dict[str, str] | None = None,
) -> str:
    """A sortable table; ``filters`` names columns offered as select filters (plus text search).

    ``optional`` columns are hidden until chosen in the table's column chooser; ``values`` maps a
    display column (text such as "0.961 ± 0.005") to the numeric column it sorts by.
    """
    table_id = f"rt-{table_id}"  # never the id of a heading (the toc extension ids headings by their text)
    sort_by = values or {}
    out = [f'<div class="rt-controls" id="{table_id}-controls">']
    out.append('<input data-filter="text" type="search" placeholder="search" aria-label="search">')
    for col in filters:
        choices = sorted({str(v) for v in df[col].dropna()})
        opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in choices)
        label = col.removesuffix("_label").replace("_", " ")
        out.append(
            f'<select data-filter="{esc(col)}" aria-label="{esc(label)}"><option value="">all {esc(label)}</option>{opts}</select>'
        )
    if optional:
        boxes = "".join(
            f'<label><input type="checkbox" data-column="{esc(col)}"> {esc(label)}</label>'
            for col, label in columns
            if col in optional
        )
        out.append(f'<details class="rt-columns"><summary>more columns</summary>{boxes}</details>')
    out.append('<span class="rt-count"></span></div>')
    out.append(
        f'<div class="rt-scroll"><table class="rt-table" id="{table_id}" data-controls="{table_id}-controls"><thead><tr>'
    )

    def col_attrs(col):
        return f' data-col="{esc(col)}"' + (' class="rt-hidden"' if col in optional else "")

    out += [f"<th{col_attrs(col)}>{esc(label)}</th>" for col, label in columns]
    out.append("</tr></thead><tbody>")
    for _, row in df.iterrows():
        attrs = "".join(f' data-{esc(c)}="{esc(row[c])}"' for c in filters)
        cells = []
        for col, _ in columns:
            v = row.get(col)
            text = fmt(v) if isinstance(v, (float, int, np.number)) and not isinstance(v, bool) else esc(v)
            if link and col == link[0]:
                text = f'<a href="{esc(link[1].format(slug=slug(v)))}">{esc(v)}</a>'
            key = row.get(sort_by[col]) if col in sort_by else v
            num = (
                f' data-value="{key}"'
                if isinstance(key, (float, int, np.number)) and not isinstance(key, bool) and np.isfinite(key)
                else ""
            )
            cells.append(f"<td{col_attrs(col)}{num}>{text}</td>")
        out.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out) + "\n"


def badge(provenance: str) -> str:
    """The provenance badge of a record or a leaderboard row."""
    key = provenance if provenance in PROVENANCE_LABELS else "self_reported"
    return f'<span class="rt-badge rt-badge-{key}">{esc(PROVENANCE_LABELS[key])}</span>'


# the measures matrix (the Measures page and `reptopo plot`)
def measures_matrix(board: pd.DataFrame) -> dict:
    """Kendall's tau of every score against every (target, task), the overall columns first, rows
    sorted by the strength of the first target's overall column. Returns ``scores``, ``columns``
    ((target, task) pairs), ``tau`` (rows of floats or None) and ``cells`` (rows of board rows or None)."""
    targets = [tg for tg in ("generalization_gap", "test_accuracy") if tg in set(board["target"])]
    tasks = sorted(set(board["task"]) - {ALL_TASKS})
    columns = [(tg, task) for tg in targets for task in [ALL_TASKS] + tasks]
    cell = {(r.score, r.target, r.task): r for r in board.itertuples()}
    overall = {
        r.score: abs(r.kendall_tau)
        for r in board.itertuples()
        if targets and r.task == ALL_TASKS and r.target == targets[0] and np.isfinite(r.kendall_tau)
    }
    scores = sorted(set(board["score"]), key=lambda sc: (-overall.get(sc, -1.0), sc))
    cells = [[cell.get((sc, tg, task)) for tg, task in columns] for sc in scores]
    tau = [
        [float(r.kendall_tau) if r is not None and np.isfinite(r.kendall_tau) else None for r in row] for row in cells
    ]
    return {"scores": scores, "columns": columns, "tau": tau, "cells": cells}


def matrix_mark(row) -> str:
    """``*`` where the interval excludes 0, ``†`` where a measure beats the best baseline."""
    return ("*" if row.tau_ci_low > 0 or row.tau_ci_high < 0 else "") + (
        "†" if row.beats_baselines and not row.is_baseline else ""
    )
