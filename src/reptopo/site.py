"""The static leaderboard: pages generated from the result store and the analysis tables.

Every string that comes from a registry entry or a record goes through ``esc`` (HTML) or
``json_script`` (JSON inside a script element), so a model named ``<script>...`` shows as text.
The site never runs a model: it reads records, diagrams and tables only.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import analyze_store
from .store import ResultStore

SITE_ROOT = Path(__file__).resolve().parents[2] / "site"
STATUS_LABELS = {"trained": "trained", "pretrained_frozen": "pretrained", "pretrained_finetune": "pretrained",
                 "random_init": "random-init", "shuffled_labels": "shuffled labels"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


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
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{x:.{digits}g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


class Plots:
    """Collects Plotly figures of one page as (div, embedded JSON) pairs."""

    def __init__(self, page: str):
        self.page = slug(page)
        self.n = 0

    def figure(self, traces: list[dict], title: str, xaxis: str, yaxis: str, height: int = 380) -> str:
        self.n += 1
        pid = f"plot-{self.page}-{self.n}"
        for t in traces:
            for k in ("x", "y"):
                if k in t:
                    t[k] = _clean(list(t[k]))
        spec = {"data": traces, "layout": {"title": {"text": title}, "height": height, "margin": {"t": 40, "l": 50, "r": 10, "b": 40},
                                           "xaxis": {"title": {"text": xaxis}}, "yaxis": {"title": {"text": yaxis}},
                                           "legend": {"font": {"size": 10}}}}
        return (f'<div class="rt-plot" id="{pid}" data-spec="{pid}-data"></div>\n'
                f'<script type="application/json" id="{pid}-data">{json_script(spec)}</script>\n')


def html_table(df: pd.DataFrame, columns: list[tuple[str, str]], table_id: str, *, filters: list[str] = (),
               link: tuple[str, str] | None = None) -> str:
    """A sortable table; ``filters`` names columns offered as select filters (plus text search)."""
    table_id = f"rt-{table_id}"  # never the id of a heading (the toc extension ids headings by their text)
    out = [f'<div class="rt-controls" id="{table_id}-controls">']
    out.append('<input data-filter="text" type="search" placeholder="search" aria-label="search">')
    for col in filters:
        values = sorted({str(v) for v in df[col].dropna()})
        opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
        label = col.removesuffix("_label").replace("_", " ")
        out.append(f'<select data-filter="{esc(col)}" aria-label="{esc(label)}"><option value="">all {esc(label)}</option>{opts}</select>')
    out.append('<span class="rt-count"></span></div>')
    out.append(f'<div class="rt-scroll"><table class="rt-table" id="{table_id}" data-controls="{table_id}-controls"><thead><tr>')
    out += [f"<th>{esc(label)}</th>" for _, label in columns]
    out.append("</tr></thead><tbody>")
    for _, row in df.iterrows():
        attrs = "".join(f' data-{esc(c)}="{esc(row[c])}"' for c in filters)
        cells = []
        for col, _ in columns:
            v = row.get(col)
            text = fmt(v) if isinstance(v, (float, int, np.number)) and not isinstance(v, bool) else esc(v)
            if link and col == link[0]:
                text = f'<a href="{esc(link[1].format(slug=slug(v)))}">{esc(v)}</a>'
            num = f' data-value="{v}"' if isinstance(v, (float, int, np.number)) and not isinstance(v, bool) and np.isfinite(v) else ""
            cells.append(f"<td{num}>{text}</td>")
        out.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out) + "\n"


def _load(store: ResultStore) -> dict[str, pd.DataFrame]:
    tables = store.root / "tables"
    names = ("models", "layers", "scores", "correlations", "measures", "curves", "architectures", "nulls")
    # Tables are computed when missing; `reptopo analyze` refreshes them after new records.
    if not all((tables / f"{n}.parquet").is_file() for n in names):
        analyze_store(store.root)
    return {n: pd.read_parquet(tables / f"{n}.parquet") for n in names}


def build_site(store_root, out, *, site_root: str | Path | None = None, strict: bool = True) -> Path:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    from . import site_pages

    site_root = Path(site_root) if site_root else (Path("site") if Path("site/mkdocs.yml").is_file() else SITE_ROOT)
    store = ResultStore(store_root)
    tables = _load(store)
    docs = site_root / "docs"
    shutil.rmtree(docs, ignore_errors=True)
    shutil.copytree(site_root / "static", docs)
    import plotly

    vendor = docs / "assets" / "vendor"
    vendor.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", vendor / "plotly.min.js")
    pages = site_pages.render_all(store, tables)
    for rel, text in pages.items():
        path = docs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    downloads = docs / "downloads"
    downloads.mkdir(exist_ok=True)
    for name, table in tables.items():
        table.to_csv(downloads / f"{name}.csv", index=False)
        table.to_parquet(downloads / f"{name}.parquet", index=False)
    out = Path(out).resolve()
    cfg = load_config(config_file=str(site_root / "mkdocs.yml"), site_dir=str(out), strict=strict)
    build(cfg)
    return out
