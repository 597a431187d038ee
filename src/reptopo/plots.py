"""Paper figures with matplotlib (PNG and PDF): the site's figures, with the site's colours.

Per task, the small multiples of the architectures page (one panel per measure, one colour per
family, a marker per model, controls dotted and named); the measures matrix (Kendall's tau of
every score against every target and task, with the site's marks); the correlation plots.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# figures are made without pyplot, so that importing this module never switches the backend
# of a notebook that draws a profile inline
from matplotlib.figure import Figure

from .analysis import tables_of
from .figures import CURVE_PANELS, colours_for, draw_curves
from .record import TRAINED_STATUSES
from .site.html import matrix_mark, measures_matrix
from .store import ResultStore


def _save(fig, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    return paths


def curves_figure(curves: pd.DataFrame, task: str, out: Path, colours: dict) -> list[Path]:
    """The small multiples of ``task``: every model and control, on relative depth, bands over seeds."""
    sub = curves[curves["task"] == task]
    panels = [p for p in CURVE_PANELS if f"{p[0]}_mean" in sub]  # tables of protocol v1 lack the per-class ones
    return _save(draw_curves(sub, colours, panels, task), out, f"curves_{task}")


def matrix_figure(board: pd.DataFrame, out: Path) -> list[Path]:
    """The measures matrix of the site's measures page."""
    m = measures_matrix(board)
    tau = np.array([[np.nan if v is None else v for v in row] for row in m["tau"]], dtype=float)
    fig = Figure(figsize=(1.0 + 0.75 * len(m["columns"]), 1.2 + 0.3 * len(m["scores"])))
    ax = fig.subplots()
    image = ax.imshow(tau, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i, row in enumerate(m["cells"]):
        for j, r in enumerate(row):
            if r is not None and np.isfinite(tau[i, j]):
                ax.text(j, i, f"{tau[i, j]:+.2f}{matrix_mark(r)}", ha="center", va="center", fontsize=6)
    ax.set_yticks(range(len(m["scores"])), m["scores"], fontsize=7)
    ax.set_xticks(
        range(len(m["columns"])),
        [f"{'gap' if tg == 'generalization_gap' else 'test acc.'} · {task}" for tg, task in m["columns"]],
        rotation=60,
        ha="left",
        fontsize=7,
    )
    ax.xaxis.tick_top()
    fig.colorbar(image, ax=ax, label="Kendall tau", shrink=0.6)
    return _save(fig, out, "measures_matrix")


def scatter_figure(scores: pd.DataFrame, score: str, target: str, out: Path, colours: dict) -> list[Path]:
    sub = scores[scores["status"].isin(TRAINED_STATUSES)]
    fig = Figure(figsize=(4.5, 3.5))
    ax = fig.subplots()
    for fam, grp in sub.groupby("family"):
        ax.scatter(grp[score], grp[target], s=12, label=fam, color=colours.get(fam))
    ax.set_xlabel(score)
    ax.set_ylabel(target)
    ax.legend(fontsize=7)
    return _save(fig, out, f"{score}_vs_{target}")


def write_figures(store_root: str | Path, out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = tables_of(ResultStore(store_root))
    colours = colours_for(t["models"]["family"]) if len(t["models"]) else {}
    paths: list[Path] = []
    for task in sorted(t["curves"]["task"].unique()):
        paths += curves_figure(t["curves"], task, out, colours)
    if len(t["measures"]):
        paths += matrix_figure(t["measures"], out)
    for score in ("phdim_last", "twonn_last", "weight_l2"):
        for target in ("test_accuracy", "generalization_gap"):
            paths += scatter_figure(t["scores"], score, target, out, colours)
    return paths
