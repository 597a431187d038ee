"""The per-layer curve figures, one definition for the leaderboard's pages, ``reptopo plot``
(matplotlib, PNG and PDF) and :meth:`reptopo.profiling.Profile.plot`: the panels and their
order, the colours, the legend names, and the traces (a line per model and status, a band over
seeds, controls dotted, a censored PHdim an open triangle at its bound).

It reads a curves table (:func:`reptopo.analysis.curves`) and knows nothing of the site, so
that profiling a model never imports the leaderboard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .record import TRAINED_STATUSES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STATUS_LABELS = {
    "trained": "trained",
    "pretrained_frozen": "pretrained",
    "pretrained_finetune": "pretrained",
    "random_init": "random-init",
    "shuffled_labels": "shuffled labels",
}
# the per-layer measures every page (and `reptopo plot`) draws, in this order
CURVE_PANELS = [
    ("phdim", "PHdim"),
    ("twonn", "TwoNN dimension"),
    ("class_betti_sum", "per-class b0 + b1 (hops)"),
    ("whole_b0", "whole-cloud b0"),
    ("class_tp_h0", "per-class total persistence H0"),
    ("betti_1", "Betti 1"),
    ("linear_probe_accuracy", "linear-probe accuracy"),
    # protocol v3 (drawn where the records have them)
    ("whole_b0_dtm", "components (DTM)"),
    ("class_betti_dtm_sum", "per-class b0 + b1 (DTM)"),
]
# the measures of the learning-dynamics maps (layer x epoch), in this order
DYNAMICS_PANELS = [
    ("class_betti_sum", "per-class b0 + b1 (hops)"),
    ("twonn", "TwoNN dimension"),
    ("phdim", "PHdim"),
    ("class_tp_h0", "per-class total persistence H0"),
    ("linear_probe_accuracy", "linear-probe accuracy"),
    ("whole_b0_dtm", "components (DTM)"),
]
CONTROL_NAMES = {"random_init": "random-init control", "shuffled_labels": "shuffled-label control"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def colours_for(keys) -> dict:
    """One palette colour per key (families), assigned in sorted order so every figure agrees."""
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(sorted(set(keys)))}


def series_name(model: str, status: str) -> str:
    """A curve's legend name: the model and its status, controls named as controls."""
    return f"{model} ({CONTROL_NAMES.get(status) or STATUS_LABELS.get(status, status)})"


SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star"]


def band_traces(df: pd.DataFrame, measure: str, name: str, colour: str, dash: str = "solid") -> list[dict]:
    df = df.sort_values("depth")
    x = df["depth"].tolist()
    traces = [
        {
            "x": x,
            "y": df[f"{measure}_mean"].tolist(),
            "mode": "lines+markers",
            "name": name,
            "line": {"color": colour, "dash": dash},
            "legendgroup": name,
        }
    ]
    if measure == "phdim" and "phdim_ci_low_mean" in df and df["phdim_ci_low_mean"].notna().any():
        # each layer's interval (calibrated under protocol v3; the raw fit's bootstrap before),
        # the mean of its runs' ends
        mean = df["phdim_mean"].to_numpy(float)
        traces[0]["error_y"] = {
            "type": "data",
            "symmetric": False,
            "thickness": 1,
            "width": 3,
            "color": colour,
            "array": np.nan_to_num(df["phdim_ci_high_mean"].to_numpy(float) - mean).tolist(),
            "arrayminus": np.nan_to_num(mean - df["phdim_ci_low_mean"].to_numpy(float)).tolist(),
        }
    if df["n_seeds"].max() > 1:
        traces.append(
            {
                "x": x + x[::-1],
                "y": df[f"{measure}_max"].tolist() + df[f"{measure}_min"].tolist()[::-1],
                "fill": "toself",
                "fillcolor": colour,
                "opacity": 0.15,
                "line": {"width": 0},
                "hoverinfo": "skip",
                "showlegend": False,
                "legendgroup": name,
                "mode": "lines",
            }
        )
    return traces


def censored_markers(grp: pd.DataFrame, colour: str, name: str) -> list[dict]:
    """Open triangles at the bound where a layer's PHdim is censored in some run: the curve has no
    value there, and the reader sees why instead of a gap."""
    if "phdim_n_censored" not in grp or "phdim_bound" not in grp:
        return []
    cens = grp[grp["phdim_n_censored"] > 0].sort_values("depth")
    if cens.empty:
        return []
    # the hover names the series and the depth, not the layer: a layer name is a record's free text
    # under calibration the bound is measured ("at least"); under protocol v2 it is 2 log10 N
    calibrated = "phdim_ci_low_mean" in grp and "whole_b0_dtm_mean" in grp
    text = [
        f"{name} · depth {d:.2f}: PHdim censored in {int(n)} of {int(k)} runs, "
        + (f"at least {b:.3g} (its interval has no finite upper end)" if calibrated else f"above {b:.1f} (2 log10 N)")
        for d, n, k, b in zip(cens["depth"], cens["phdim_n_censored"], cens["n_seeds"], cens["phdim_bound"])
    ]
    return [
        {
            "x": cens["depth"].tolist(),
            "y": cens["phdim_bound"].tolist(),
            "mode": "markers",
            "type": "scatter",
            "name": f"{name}: censored",
            "showlegend": False,
            "legendgroup": name,
            "hovertext": text,
            "hoverinfo": "text",
            "marker": {"symbol": "triangle-up-open", "size": 9, "color": colour},
        }
    ]


def panel_traces(
    curves: pd.DataFrame, measure: str, key: str, colours: dict, symbols: dict, *, show_legend: bool
) -> list[dict]:
    """One curve panel's Plotly traces: a line per (``key``, status), coloured by family, a band
    over seeds, controls dotted, a censored PHdim an open triangle at its bound."""
    traces = []
    for (name, status), grp in curves.groupby([key, "status"]):
        dash = "solid" if status in TRAINED_STATUSES else "dot"
        family = grp["family"].iloc[0] if "family" in grp else name
        band = band_traces(grp, measure, series_name(name, status), colours.get(family, PALETTE[0]), dash)
        band[0]["marker"] = {"symbol": symbols[name]}
        band[0]["showlegend"] = show_legend  # one legend, under the first panel, for the whole grid
        traces += band
        if measure == "phdim":
            traces += censored_markers(grp, colours.get(family, PALETTE[0]), series_name(name, status))
    return traces


def curve_figure(curves: pd.DataFrame, colours: dict, panels: list[tuple[str, str]], title: str):
    """The curve panels of the site's pages as one ``plotly.graph_objects.Figure`` (a grid of
    subplots, two across), for a notebook."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    symbols = {m: SYMBOLS[i % len(SYMBOLS)] for i, m in enumerate(sorted(set(curves["model"])))}
    rows = (len(panels) + 1) // 2
    fig = make_subplots(rows=rows, cols=2 if len(panels) > 1 else 1, subplot_titles=[label for _, label in panels])
    for i, (measure, _) in enumerate(panels):
        for trace in panel_traces(curves, measure, "model", colours, symbols, show_legend=i == 0):
            fig.add_trace(go.Scatter(**trace), row=i // 2 + 1, col=i % 2 + 1)
        fig.update_xaxes(title_text="relative depth", row=i // 2 + 1, col=i % 2 + 1)
    fig.update_layout(title_text=title, height=300 * rows + 80, legend={"orientation": "h", "y": -0.08})
    return fig


MARKERS = ["o", "s", "D", "^", "x", "*"]


def draw_curves(sub: pd.DataFrame, colours: dict, panels: list[tuple[str, str]], title: str) -> Figure:
    """Small multiples of a curves table (one panel per measure in ``panels``): every model and
    control on relative depth, a band over seeds, a censored PHdim an open triangle at its bound."""
    # without pyplot, so that drawing never switches the backend of a notebook that shows a
    # profile inline; matplotlib loads here, not with the module (the site's pages use plotly)
    from matplotlib.figure import Figure

    markers = {m: MARKERS[i % len(MARKERS)] for i, m in enumerate(sorted(set(sub["model"])))}
    fig = Figure(figsize=(3.6 * len(panels), 3.2))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (measure, label) in zip(axes, panels):
        for (model, status), grp in sub.groupby(["model", "status"]):
            grp = grp.sort_values("depth")
            colour = colours.get(grp["family"].iloc[0], "#1f77b4")
            ax.plot(
                grp["depth"],
                grp[f"{measure}_mean"],
                marker=markers[model],
                ms=3,
                color=colour,
                linestyle="-" if status in TRAINED_STATUSES else ":",
                label=series_name(model, status),
            )
            ax.fill_between(grp["depth"], grp[f"{measure}_min"], grp[f"{measure}_max"], color=colour, alpha=0.12)
            if measure == "phdim" and "phdim_n_censored" in grp and "phdim_bound" in grp:
                cens = grp[grp["phdim_n_censored"] > 0]  # censored: an open triangle at the bound, not a value
                ax.scatter(cens["depth"], cens["phdim_bound"], marker="^", facecolors="none", edgecolors=colour, s=25)
        ax.set_xlabel("relative depth")
        ax.set_title(label, fontsize=10)
    fig.legend(
        *axes[0].get_legend_handles_labels(), loc="upper center", ncol=4, fontsize=7, bbox_to_anchor=(0.5, -0.02)
    )
    fig.suptitle(title)
    return fig
