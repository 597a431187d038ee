"""The leaderboard's pages: Jinja2 templates (``templates/``) with autoescaping, filled from the
analysis tables and the records.

Safe by construction: every value a template prints is HTML-escaped unless it is an HTML
fragment built here by ``html.py`` (tables, figures, badges, whose own strings are escaped there)
and marked :class:`markupsafe.Markup` at the call. Every string a submitter controls sits inside
an HTML element (``<p>``, ``<li>``, ``<td>``, ``<code>``), where Markdown does not reach, so
link or emphasis syntax in a name or a description stays literal text. Headings hold only names,
which the registry and the record restrict to letters, digits, ``_``, ``-`` and ``.``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ..analysis import board_headlines, finding_sentences, headline_findings, primary_layers, source_findings
from ..analysis.findings import FRAGILE_BELOW, Finding
from ..analysis.headlines import SOURCE_PAGES
from ..analysis.stability import RESAMPLES
from ..cite import BENCHMARK_BIBTEX, model_citations
from ..figures import (
    CONTROL_NAMES,
    CURVE_PANELS,
    DYNAMICS_PANELS,
    PALETTE,
    STATUS_LABELS,
    SYMBOLS,
    colours_for,
    panel_traces,
)
from ..measures.heldout import describe_coverage
from ..measures.results import CALIBRATED_CEILINGS
from ..names import NAME_PATTERN
from ..protocol import CURRENT_VERSION, protocol
from ..record import SCHEMA_VERSION, TRAINED_STATUSES, LayerMeasures, Record, TrainSummary, latest_version
from ..record import Layer as RecordLayer
from ..registry import LayerSpec, ModelEntry, PretrainedSpec, Registry
from ..store import TABLES, ResultStore
from .html import (
    PROVENANCE_LABELS,
    Plots,
    badge,
    esc,
    fmt,
    fmt_pm,
    html_table,
    matrix_mark,
    measures_matrix,
    slug,
)

TEMPLATES = Environment(
    loader=PackageLoader("reptopo.site", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render(template: str, **context) -> str:
    """A page from its template; strings are escaped, ``Markup`` fragments are kept as they are."""
    return TEMPLATES.get_template(template).render(**context)


def _label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def family_colours(t) -> dict:
    """One colour per architecture family, the same on every page (from every family in the store)."""
    return colours_for(t["models"]["family"]) if len(t["models"]) else {}


def site_protocol(t):
    """The protocol of the records the site shows (the analysis never mixes versions)."""
    models = t["models"]
    return protocol(latest_version(models["protocol_version"]) or CURRENT_VERSION)


def claim_rows(findings: list[Finding], *, with_source: bool = False) -> list[dict]:
    """A row per claim for the claims table (``claims.md.j2``): the claim (under its finding's
    source with ``with_source``), the verdict's badge, the deciding number with its interval and
    the stability."""
    return [
        {
            "source": f.title.split(":")[0] if with_source else "",
            "claim": c.claim,
            "outcome": c.outcome,
            "badge": c.badge,
            "value": c.describe_value(),
            "statistic": c.statistic,
            "stability": c.describe_stability(),
            "fragile": c.fragile,
        }
        for f in findings
        for c in f.claims
    ]


def finding_cards(findings: list[Finding]) -> list[dict]:
    """Each finding with its claims' rows and its stability note, for the Measures and Compare pages."""
    return [
        {
            "title": f.title,
            "verdict": f.verdict,
            "finding": f.finding,
            "stability": f.stability_note(),
            "claims": claim_rows([f]),
        }
        for f in findings
    ]


def page_home(t, notes) -> str:
    models = t["models"]
    cfg = site_protocol(t)
    return render(
        "home.md.j2",
        cfg=cfg,
        coverage=describe_coverage(cfg.phdim_ceiling) if cfg.phdim_ceiling in CALIBRATED_CEILINGS else "",
        board=board_headlines(t),
        claims=claim_rows([f for source in SOURCE_PAGES for f in source_findings(t, source)], with_source=True),
        n_resamples=RESAMPLES,
        fragile_below=f"{FRAGILE_BELOW:.0%}",
        findings=finding_sentences(t) if len(t["models"]) else headline_findings(t),
        notes=notes,
        n_records=len(models),
        n_tasks=models["task"].nunique() if len(models) else 0,
        n_models=models["model"].nunique() if len(models) else 0,
    )


def is_pretrained(status: str) -> bool:
    """Whether a record's status is a pretrained model's (frozen or fine-tuned): a row of the
    leaderboard's pretrained group, never ranked against the networks trained here."""
    return str(status).startswith("pretrained")


def weights_sources(registry: Registry | None) -> dict[str, str]:
    """Each pretrained entry's weights, as the leaderboard shows them: 'hub: ORG/NAME' or 'package: PKG'."""
    out = {}
    for name, entry in registry.models.items() if registry else ():
        pre = entry.pretrained
        if pre is not None:
            where = pre.path.split(":", 1)[0] if pre.source == "package" else pre.path
            out[name] = f"{pre.source}: {where}"
    return out


def count_label(n: float) -> str:
    """A parameter count at a glance: 86.6M, 412k."""
    if not np.isfinite(n):
        return "–"
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else f"{n:.0f}"


def zoo_size(registry: Registry | None) -> int:
    """How many models the registry's ``zoo`` suite runs (0 without one)."""
    if registry is None or "zoo" not in registry.suites:
        return 0
    return len({m for grid in registry.suites["zoo"].grids for m in grid.models})


def page_leaderboard(t, weights: dict[str, str] | None = None, zoo: int = 0) -> str:
    arch = t["architectures"].copy()
    if arch.empty:
        return render("leaderboard.md.j2", table=None)
    arch["status_label"] = arch["status"].map(_label)
    if "provenance" not in arch:  # tables analysed before provenance existed
        arch["provenance"] = "benchmark"
    arch["provenance_label"] = arch["provenance"].map(lambda p: PROVENANCE_LABELS.get(p, p))
    arch["weights"] = arch["model"].map(lambda m: (weights or {}).get(m, "–"))
    if "n_parameters_mean" in arch:
        arch["parameters_cell"] = arch["n_parameters_mean"].astype(float).map(count_label)
    scored = [
        c
        for c in (
            "test_accuracy",
            "generalization_gap",
            "phdim_last",
            "twonn_last",
            "linear_probe_last",
            "betti0_last",
            "betti1_last",
            "class_betti_sum_last",
            "whole_b0_last",
            "whole_b0_dtm_last",
            "class_betti_dtm_sum_last",
        )
        if f"{c}_mean" in arch
    ]
    for col in scored:
        arch[f"{col}_cell"] = [fmt_pm(m, s) for m, s in zip(arch[f"{col}_mean"], arch[f"{col}_std"])]
    calibrated = site_protocol(t).phdim_ceiling in CALIBRATED_CEILINGS
    if calibrated and "phdim_last_ci_low_mean" in arch:  # the value with its interval (mean of the runs' ends)
        arch["phdim_last_cell"] = [
            f"{cell} [{fmt(lo)}, {fmt(hi)}]" if np.isfinite(lo) and np.isfinite(hi) else cell
            for cell, lo, hi in zip(
                arch["phdim_last_cell"], arch["phdim_last_ci_low_mean"], arch["phdim_last_ci_high_mean"]
            )
        ]
    if "phdim_last_n_censored" in arch:  # a bound is shown as a bound, never averaged
        censored = arch["phdim_last_n_censored"].fillna(0).astype(int)
        bounds = arch["phdim_last_bound_min"] if "phdim_last_bound_min" in arch else pd.Series(np.nan, index=arch.index)
        arch["phdim_last_cell"] = [
            (f"≥ {fmt(b)} in {c} of {n}" if calibrated and np.isfinite(b) else f"censored in {c} of {n}") if c else cell
            for c, n, b, cell in zip(censored, arch["n_runs"], bounds.astype(float), arch["phdim_last_cell"])
        ]
    # a default order that means something: by task, the most accurate first
    arch = arch.sort_values(["task", "test_accuracy_mean"], ascending=[True, False], na_position="last")
    scores = [
        ("test_accuracy_cell", "test acc."),
        ("generalization_gap_cell", "gap"),
        ("phdim_last_cell", "PHdim (last)"),
        ("twonn_last_cell", "TwoNN (last)"),
        ("class_betti_sum_last_cell", "class b0+b1 (last)"),
        ("whole_b0_dtm_last_cell", "components (last, DTM)"),
        ("class_betti_dtm_sum_last_cell", "class b0+b1 (last, DTM)"),
        ("linear_probe_last_cell", "probe acc. (last)"),
    ]
    details = [
        ("whole_b0_last_cell", "whole b0 (last)"),
        ("betti0_last_cell", "b0 (last)"),
        ("betti1_last_cell", "b1 (last)"),
    ]
    optional = ["family", "provenance_label", "n_runs", *(c for c, _ in details)]
    if "whole_b0_dtm_last_cell" in arch:  # protocol v3: the robust counts in view, the hop metric's one click away
        optional.append("class_betti_sum_last_cell")
    values = {f"{c}_cell": f"{c}_mean" for c in scored} | {"parameters_cell": "n_parameters_mean"}

    def board(rows: pd.DataFrame, table_id: str, cols: list[tuple[str, str]], hidden: list[str]) -> Markup | None:
        if rows.empty:
            return None
        cols = [(c, label) for c, label in cols if c in rows]
        return Markup(
            html_table(
                rows,
                cols,
                table_id,
                filters=["task", "family", "status_label", "provenance_label"],
                link=("model", "../models/{slug}/"),
                optional=hidden,
                values=values,
            )
        )

    pretrained = arch["status"].map(is_pretrained)
    trained_cols = [
        ("model", "model"),
        ("task", "task"),
        ("status_label", "status"),
        *scores,
        ("family", "family"),
        ("provenance_label", "provenance"),
        ("n_runs", "runs"),
        *details,
        ("parameters_cell", "parameters"),
    ]
    pretrained_cols = [
        ("model", "model"),
        ("task", "task"),
        ("status_label", "status"),
        ("parameters_cell", "parameters"),
        ("weights", "weights"),
        *(c for c in scores if c[0] != "generalization_gap_cell"),
        ("family", "family"),
        ("provenance_label", "provenance"),
        ("n_runs", "runs"),
        ("generalization_gap_cell", "gap"),
        *details,
    ]
    ceiling = site_protocol(t).phdim_ceiling
    return render(
        "leaderboard.md.j2",
        table=board(arch[~pretrained], "leaderboard", trained_cols, [*optional, "parameters_cell"]),
        pretrained_table=board(arch[pretrained], "pretrained", pretrained_cols, [*optional, "generalization_gap_cell"]),
        n_pretrained=int(arch.loc[pretrained, "model"].nunique()),
        zoo=zoo,
        calibrated=calibrated,
        calibration=CALIBRATION_SOURCES.get(CALIBRATED_CEILINGS.get(ceiling, ""), "reference clouds"),
        coverage=describe_coverage(ceiling),
    )


# what each calibration family's tables were built from, as the pages say it
CALIBRATION_SOURCES = {
    "gaussian": "Gaussian and ball clouds",
    "broad": "a bank of eight manifold kinds (reptopo.measures.manifolds.CALIBRATION_KINDS)",
}


def _curve_figures(
    plots: Plots,
    curves: pd.DataFrame,
    key: str,
    title_suffix: str,
    dash_by_status: bool = True,
    colours: dict | None = None,
    panels: list[tuple[str, str]] | None = None,
) -> str:
    """Small multiples: one panel per measure in a grid, lines coloured by family (``colours``),
    a marker per model, controls dotted and named as controls."""
    out = []
    colours = colours or colours_for(curves["family"] if "family" in curves else curves[key])
    symbols = {m: SYMBOLS[i % len(SYMBOLS)] for i, m in enumerate(sorted(set(curves[key])))}
    # tables of protocol v1 lack the per-class columns: draw the panels the records have
    panels = [p for p in (panels or CURVE_PANELS) if f"{p[0]}_mean" in curves and curves[f"{p[0]}_mean"].notna().any()]
    for i, (measure, label) in enumerate(panels):
        traces = panel_traces(curves, measure, key, colours, symbols, show_legend=i == 0)
        legend = {"orientation": "h", "y": -0.25, "x": 0} if i == 0 else {}
        out.append(
            plots.figure(
                traces,
                f"{label}{title_suffix}",
                "relative depth",
                label,
                height=460 if i == 0 else 340,
                layout={"legend": legend, "showlegend": i == 0},
            )
        )
    return '<div class="rt-grid">\n' + "\n".join(out) + "</div>\n"


def _layer_label(depth: float, layer: str) -> str:
    """An axis label of a map: relative depth and layer name, escaped (Plotly reads labels as HTML)."""
    return f"{depth:.2f} {esc(layer)}"


def _dynamics_heatmap(
    plots: Plots, job: pd.DataFrame, controls: pd.DataFrame, measure: str, label: str, title: str, height: int = 300
) -> str | None:
    """One map of ``measure``: layers (relative depth) down, epochs across, and the model's
    controls (final layers of its random-init and shuffled-label runs) as the last columns."""
    if measure not in job or job[measure].isna().all():
        return None
    job = job.sort_values(["epoch", "depth"])
    layers = job.drop_duplicates("layer").sort_values("depth")
    ylabels = [_layer_label(d, n) for d, n in zip(layers["depth"], layers["layer"])]
    epochs = sorted(job["epoch"].unique())
    columns = [(f"epoch {e}" + (" (last)" if e == epochs[-1] else ""), job[job["epoch"] == e]) for e in epochs]
    for status, grp in controls.groupby("status"):
        columns.append((CONTROL_NAMES.get(status, status), grp))
    z, hover = [], []
    for name, depth in zip(layers["layer"], layers["depth"]):
        row, hrow = [], []
        for col, grp in columns:
            cell = grp[grp["layer"] == name]
            v = float(cell[measure].iloc[0]) if len(cell) and pd.notna(cell[measure].iloc[0]) else None
            censored = (
                measure == "phdim"
                and len(cell) > 0
                and "phdim_censored" in cell
                and bool(cell["phdim_censored"].iloc[0])
            )
            row.append(v)
            interval = ""
            if (
                measure == "phdim"
                and v is not None
                and "phdim_ci_low" in cell
                and pd.notna(cell["phdim_ci_low"].iloc[0])
            ):
                interval = f" [{fmt(float(cell['phdim_ci_low'].iloc[0]))}, {fmt(float(cell['phdim_ci_high'].iloc[0]))}]"
            hrow.append(
                f"{esc(name)} (depth {depth:.2f}) · {esc(col)}: "
                + (
                    "censored: above what the sample resolves"
                    if censored
                    else fmt(v) + interval
                    if v is not None
                    else "not measured"
                )
            )
        z.append(row)
        hover.append(hrow)
    trace = {
        "type": "heatmap",
        "z": z,
        "x": [c for c, _ in columns],
        "y": ylabels,
        "customdata": hover,
        "hovertemplate": "%{customdata}<extra></extra>",
        "colorscale": "Viridis",
        "colorbar": {"title": {"text": esc(label)}, "thickness": 10},
        "xgap": 1,
        "ygap": 1,
    }
    return plots.figure(
        [trace],
        title,
        "",
        "relative depth · layer",
        height=height,
        layout={"yaxis": {"automargin": True}, "xaxis": {"automargin": True, "tickangle": -30}},
    )


def _dynamics_run(dyn: pd.DataFrame, task: str, model: str) -> pd.DataFrame:
    """The first dynamics run (by job id) of ``model`` on ``task``."""
    runs = dyn[(dyn["task"] == task) & (dyn["model"] == model)]
    return runs[runs["job_id"] == sorted(runs["job_id"].unique())[0]] if len(runs) else runs


def _control_layers(t, task: str, model: str) -> pd.DataFrame:
    """The final layers of ``model``'s control runs on ``task``."""
    layers = t["layers"]
    return primary_layers(
        layers[(layers["task"] == task) & (layers["model"] == model) & layers["status"].isin(list(CONTROL_NAMES))]
    )


def dynamics_maps(plots: Plots, t, task: str, model: str) -> str:
    """The layer x epoch maps of one model on one task (its first dynamics run), one per measure."""
    dyn = t.get("dynamics")
    if dyn is None or dyn.empty:
        return ""
    job = _dynamics_run(dyn, task, model)
    if job.empty:
        return ""
    controls = _control_layers(t, task, model)
    maps = [_dynamics_heatmap(plots, job, controls, m, label, f"{label} — {model}") for m, label in DYNAMICS_PANELS]
    drawn = [m for m in maps if m]
    return ('<div class="rt-grid">\n' + "\n".join(drawn) + "</div>\n") if drawn else ""


def page_architectures(t) -> str:
    curves, dyn = t["curves"], t.get("dynamics")
    plots = Plots("architectures")
    colours = family_colours(t)
    tasks = []
    for task, grp in curves.groupby("task"):
        panels = []
        if dyn is not None and len(dyn) and task in set(dyn["task"]):
            runs = {
                model: (_dynamics_run(dyn, task, model), _control_layers(t, task, model))
                for model in sorted(set(dyn[dyn["task"] == task]["model"]))
            }
            for measure, label in DYNAMICS_PANELS:
                maps = [
                    m
                    for m in (
                        _dynamics_heatmap(plots, job, controls, measure, label, model, height=280)
                        for model, (job, controls) in runs.items()
                    )
                    if m
                ]
                if maps:
                    panels.append(
                        {"label": label, "maps": Markup('<div class="rt-grid">\n' + "\n".join(maps) + "</div>\n")}
                    )
        tasks.append(
            {
                "name": task,
                "curves": Markup(_curve_figures(plots, grp, "model", f" — {task}", colours=colours)),
                "dynamics": panels,
            }
        )
    return render("architectures.md.j2", tasks=tasks)


def page_measures(t) -> str:
    board, scores = t["measures"], t["scores"]
    if board.empty:
        return render("measures.md.j2", matrix=None)
    b = board.copy()
    b["interval"] = [f"[{fmt(lo, 2)}, {fmt(hi, 2)}]" for lo, hi in zip(b["tau_ci_low"], b["tau_ci_high"])]
    b["kind"] = np.where(b["is_baseline"], "baseline", "measure")
    b["beats"] = np.where(b["beats_baselines"], "yes", "no")
    cols = [
        ("task", "task"),
        ("target", "target"),
        ("rank", "rank"),
        ("tie_group", "group"),
        ("score", "score"),
        ("kind", "kind"),
        ("kendall_tau", "Kendall tau"),
        ("interval", "95% CI"),
        ("spearman_rho", "Spearman rho"),
        ("granulated_kendall", "granulated"),
        ("cmi", "CMI"),
        ("beats", "beats baselines"),
        ("n_models", "models"),
        ("trained_mean", "mean (trained)"),
        ("random_init_mean", "mean (random init)"),
        ("shuffled_labels_mean", "mean (shuffled)"),
        ("n_censored", "censored"),
        ("note", "note"),
    ]
    cols = [(c, label) for c, label in cols if c in b]
    plots = Plots("measures")
    matrix = _measures_matrix(plots, board)
    table = html_table(b, cols, "measures", filters=["task", "target", "kind"])
    trained = scores[scores["status"].isin(TRAINED_STATUSES)]
    colours = family_colours(t)
    correlation_plots = []
    for score in (
        "phdim_last",
        "twonn_last",
        "class_betti_sum_last",
        "whole_b0_last",
        "whole_b0_dtm_last",
        "linear_probe_last",
        "weight_l2",
    ):
        if score not in trained or trained[score].isna().all():
            continue
        for target in ("generalization_gap", "test_accuracy"):
            traces = [
                {
                    "x": g[score].tolist(),
                    "y": g[target].tolist(),
                    "mode": "markers",
                    "type": "scatter",
                    "name": fam,
                    "marker": {"color": colours[fam], "size": 7},
                    "text": (g["model"] + " / " + g["task"]).tolist(),
                }
                for fam, g in trained.groupby("family")
            ]
            correlation_plots.append(plots.figure(traces, f"{score} against {target}", score, target, height=320))
    curves = t["curves"]
    figures = []
    naitzat = curves[curves["task"].str.startswith("naitzat")]
    for task, grp in naitzat.groupby("task"):
        figures.append(
            {
                "caption": f"Per-class b0 + b1 on the hop metric over depth on {task}: ReLU against tanh (Naitzat et al.).",
                "html": Markup(
                    _curve_figures(
                        plots,
                        grp,
                        "model",
                        f" — {task}",
                        colours=colours,
                        panels=[p for p in CURVE_PANELS if p[0] in ("class_betti_sum", "class_tp_h0")],
                    )
                ),
            }
        )
    mn = curves[curves["task"] == "mnist"] if "mnist" in set(curves["task"]) else curves
    if len(mn):
        figures.append(
            {
                "caption": "TwoNN dimension, whole-cloud b0 and per-class total persistence over depth on MNIST, "
                "trained against controls:",
                "html": Markup(
                    _curve_figures(
                        plots,
                        mn,
                        "model",
                        " — MNIST",
                        colours=colours,
                        panels=[p for p in CURVE_PANELS if p[0] in ("twonn", "whole_b0", "class_tp_h0", "betti_0")],
                    )
                ),
            }
        )
        fam = curves[curves["status"] == "trained"].groupby(["family", "depth"], as_index=False)["phdim_mean"].mean()
        traces = [
            {
                "x": g["depth"].tolist(),
                "y": g["phdim_mean"].tolist(),
                "mode": "lines+markers",
                "name": f,
                "line": {"color": colours.get(f, PALETTE[0])},
                "marker": {"color": colours.get(f, PALETTE[0])},
            }
            for f, g in fam.groupby("family")
        ]
        figures.append(
            {
                "caption": "PHdim over depth by family (all tasks; layers whose PHdim is censored in any run are "
                "left out, not averaged): CNNs against Transformers (Magai 2023).",
                "html": Markup(plots.figure(traces, "PHdim by family", "relative depth", "PHdim")),
            }
        )
    return render(
        "measures.md.j2",
        matrix=Markup(matrix),
        board=Markup(table),
        correlation_plots=Markup("\n".join(correlation_plots)),
        checks=finding_cards(source_findings(t, "measures")),
        check_figures=figures,
    )


def _note(row) -> str | None:
    """A board row's note (why it has no tau, or what its mean leaves out), if any."""
    note = getattr(row, "note", None) if row is not None else None
    return note if isinstance(note, str) and note else None


def _measures_matrix(plots: Plots, board: pd.DataFrame) -> str:
    """A heatmap of Kendall's tau: scores down, (target, task) across, the overall columns first."""
    m = measures_matrix(board)
    text, hover = [], []
    for sc, taus, cells in zip(m["scores"], m["tau"], m["cells"]):
        text.append(
            [
                f"{tau:+.2f}{matrix_mark(r)}" if tau is not None else "const" if _note(r) else ""
                for tau, r in zip(taus, cells)
            ]
        )
        hover.append(
            [
                esc(f"{sc} · {tg} · {task}: ")
                + (
                    f"tau {tau:+.2f} [{fmt(r.tau_ci_low, 2)}, {fmt(r.tau_ci_high, 2)}]"
                    + (" (baseline)" if r.is_baseline else "")
                    + (f"; {esc(_note(r))}" if _note(r) else "")
                    if tau is not None
                    else esc(_note(r))
                    if _note(r)
                    else "not measured on this task"
                )
                for tau, r, (tg, task) in zip(taus, cells, m["columns"])
            ]
        )
    labels = [f"{'gap' if tg == 'generalization_gap' else 'test acc.'} · {task}" for tg, task in m["columns"]]
    trace = {
        "type": "heatmap",
        "z": m["tau"],
        "x": labels,
        "y": m["scores"],
        "text": text,
        "customdata": hover,
        "texttemplate": "%{text}",
        "hovertemplate": "%{customdata}<extra></extra>",
        "colorscale": "RdBu",
        "zmin": -1,
        "zmax": 1,
        "zmid": 0,  # Plotly's RdBu: -1 blue, +1 red
        "colorbar": {"title": {"text": "tau"}},
        "xgap": 1,
        "ygap": 1,
    }
    return plots.figure(
        [trace],
        "",
        "",
        "",  # the section heading titles it; the top axis labels need the room
        height=max(360, 26 * len(m["scores"]) + 160),
        layout={
            "yaxis": {"autorange": "reversed", "automargin": True},
            "xaxis": {"side": "top"},
            "margin": {"l": 170, "t": 120},
        },
    )


def _diagram_plot(plots: Plots, dgms: dict, layer: str, title: str) -> str:
    traces, top = [], 0.0
    for key, d in sorted(dgms.items()):
        if key.startswith(layer + "__"):
            fin = d[np.isfinite(d[:, 1])]
            top = max(top, float(fin[:, 1].max()) if len(fin) else 0.0)
    for key, d in sorted(dgms.items()):
        if not key.startswith(layer + "__"):
            continue
        dim = key.rsplit("__h", 1)[1]
        deaths = np.where(np.isfinite(d[:, 1]), d[:, 1], top * 1.1)
        traces.append(
            {"x": d[:, 0].tolist(), "y": deaths.tolist(), "mode": "markers", "type": "scatter", "name": f"H{dim}"}
        )
    traces.append(
        {
            "x": [0, top * 1.1],
            "y": [0, top * 1.1],
            "mode": "lines",
            "name": "diagonal",
            "line": {"color": "#999", "dash": "dot"},
        }
    )
    return plots.figure(traces, title, "birth", "death (infinite bars at the top)", height=320)


def page_model(
    name: str,
    entry: ModelEntry | None,
    entry_path: Path | None,
    t,
    store: ResultStore,
    records: list[Record] | None = None,
) -> str:
    """A model's page; ``records``: the store's records (read once for every page)."""
    records = store.records() if records is None else records
    recs = {r.job_id: r for r in records if r.model == name}
    models = t["models"][t["models"]["model"] == name]
    curves = t["curves"][t["curves"]["model"] == name]
    plots = Plots(f"model-{name}")
    badges = " ".join(badge(p) for p in sorted({r.provenance for r in recs.values()})) if recs else ""
    colours = family_colours(t)
    tasks = []
    for task, grp in curves.groupby("task"):
        diagrams = []
        job = models[(models["task"] == task)].sort_values(["status", "seed"]).head(1)
        if len(job):
            dgms = store.diagrams(job.iloc[0]["job_id"])
            ordered = list(dict.fromkeys(k.split("__")[0] for k in dgms))
            if ordered:
                for layer in (ordered[0], ordered[-2] if len(ordered) > 1 else ordered[-1]):
                    diagrams.append(Markup(_diagram_plot(plots, dgms, layer, f"diagram of {layer}")))
        comp = t.get("comparisons")
        compared = (
            comp is not None
            and len(comp)
            and bool(((comp["task"] == task) & ((comp["left_model"] == name) | (comp["right_model"] == name))).any())
        )
        tasks.append(
            {
                "name": task,
                "curves": Markup(_curve_figures(plots, grp, "model", f" — {task}", colours=colours)),
                "dynamics": Markup(dynamics_maps(plots, t, task, name)),
                "diagrams": diagrams,
                "compare": f"../../compare/{slug(task)}/" if compared else None,
            }
        )
    table = pd.DataFrame(
        [
            {
                "job": j,
                "task": r.task,
                "status": _label(r.status),
                "seed": r.seed,
                "provenance": PROVENANCE_LABELS.get(r.provenance, r.provenance),
                "test_accuracy": r.train.test_accuracy,
                "digest": r.digest[:16],
                "checkpoint": (r.checkpoint_sha256 or "–")[:16],
                "probe": r.probe.hash[:16],
                "entry": r.entry_hash.model[:16],
            }
            for j, r in recs.items()
        ]
    )
    records_table = (
        html_table(table, [(c, c) for c in table.columns], f"records-{slug(name)}", filters=["task", "status"])
        if len(table)
        else ""
    )
    citations = model_citations(name, list(recs.values()), t["scores"], page=f"models/{slug(name)}/")
    entry_text = entry_path.read_text() if entry_path is not None and entry_path.is_file() else None
    # a heading is Markdown: only a name of the registry's pattern goes there (mkdocs titles the page from it)
    heading = name if NAME_PATTERN.fullmatch(name) else slug(name)
    return render(
        "model.md.j2",
        name=name,
        heading=heading,
        entry=entry,
        badges=Markup(badges),
        tasks=tasks,
        records_table=Markup(records_table),
        entry_text=entry_text,
        citations=citations,
    )


def schema_rows(model) -> list[dict]:
    """The fields of a pydantic model as rows of the Submit page's tables."""

    def type_name(annotation) -> str:
        text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
        # a type by its own name: typing's, the record's and the measures' models are documented here
        return re.sub(r"\b(typing|reptopo(\.\w+)*)\.(?=\w+\b(?!\.))", "", text)

    return [
        {
            "name": f.alias or fname,
            "type": type_name(f.annotation),
            "required": f.is_required(),
            "description": f.description or "",
        }
        for fname, f in model.model_fields.items()
    ]


def side_label(model: str, seed: int, status: str) -> str:
    """How a compared model is named in the selectors: the model, its seed when not 0, its control."""
    label = model + (f" (seed {seed})" if seed else "")
    return label + (f" ({CONTROL_NAMES[status]})" if status in CONTROL_NAMES else "")


def _similarity_heatmap(plots: Plots, comp: pd.DataFrame, value: str, label: str, title: str) -> str:
    """One similarity map: the left model's layers down, the right model's across."""
    left = comp.drop_duplicates("left_layer").sort_values("left_depth")
    right = comp.drop_duplicates("right_layer").sort_values("right_depth")
    cell = {(r.left_layer, r.right_layer): r for r in comp.itertuples()}
    z, hover = [], []
    for a in left.itertuples():
        row, hrow = [], []
        for b in right.itertuples():
            r = cell[(a.left_layer, b.right_layer)]
            v = getattr(r, value)
            row.append(None if v is None or not np.isfinite(v) else float(v))
            hrow.append(
                esc(f"{a.left_layer} ({a.left_depth:.2f}) × {b.right_layer} ({b.right_depth:.2f}): ")
                + f"CKA {fmt(r.cka)} (debiased {fmt(r.cka_debiased)}), RTD {fmt(r.rtd)}"
            )
        z.append(row)
        hover.append(hrow)
    trace = {
        "type": "heatmap",
        "z": z,
        "customdata": hover,
        "hovertemplate": "%{customdata}<extra></extra>",
        "x": [_layer_label(b.right_depth, b.right_layer) for b in right.itertuples()],
        "y": [_layer_label(a.left_depth, a.left_layer) for a in left.itertuples()],
        "colorscale": "Viridis" if value == "cka" else "Viridis_r",
        "xgap": 1,
        "ygap": 1,
        "colorbar": {"title": {"text": label}, "thickness": 10},
    }
    if value == "cka":
        trace.update(zmin=0, zmax=1)
    return plots.figure(
        [trace],
        title,
        "",
        "",
        height=max(300, 28 * len(left) + 150),
        layout={
            "yaxis": {"automargin": True, "autorange": "reversed"},
            "xaxis": {"automargin": True, "tickangle": -40},
        },
    )


KIND_CAPTIONS = {
    "architectures": "two architectures, seed 0 each",
    "seeds": "two seeds of one architecture",
    "random_init": "a trained model against its random-initialisation control",
}


def page_compare(task: str, comp: pd.DataFrame) -> str:
    """The Compare page of one task: the similarity maps of every pair, chosen with two selectors."""
    from ..pipeline.compare import comparison_config

    plots = Plots(f"compare-{task}")
    pairs, rows = [], []
    for _cid, grp in comp.groupby("comparison_id", sort=False):
        first = grp.iloc[0]
        left = side_label(first["left_model"], int(first["left_seed"]), first["left_status"])
        right = side_label(first["right_model"], int(first["right_seed"]), first["right_status"])
        maps = [_similarity_heatmap(plots, grp, "cka", "CKA", f"CKA: {left} × {right}")]
        if grp["rtd"].notna().any():
            maps.append(_similarity_heatmap(plots, grp, "rtd", "RTD", f"RTD: {left} × {right}"))
        pairs.append(
            {
                "left": left,
                "right": right,
                "kind": first["kind"],
                "caption": f"{left} (rows) against {right} (columns): {KIND_CAPTIONS[first['kind']]}.",
                "maps": Markup('<div class="rt-grid">\n' + "\n".join(maps) + "</div>\n"),
            }
        )
        diag = grp.assign(gap=(grp["left_depth"] - grp["right_depth"]).abs())
        diag = diag.loc[diag.groupby("left_layer")["gap"].idxmin()]
        rows.append(
            {
                "rows": left,
                "columns": right,
                "kind": first["kind"],
                "matched CKA": float(diag["cka"].mean()),
                "mean RTD": float(grp["rtd"].mean()) if grp["rtd"].notna().any() else np.nan,
                "layers": f"{grp['left_layer'].nunique()} × {grp['right_layer'].nunique()}",
            }
        )
    order = {"architectures": 0, "seeds": 1, "random_init": 2}
    pairs.sort(key=lambda p: (order[p["kind"]], p["left"], p["right"]))
    sides = sorted({p["left"] for p in pairs} | {p["right"] for p in pairs})
    table = pd.DataFrame(rows).sort_values(["kind", "rows", "columns"])
    html = html_table(table, [(c, c) for c in table.columns], f"compare-{slug(task)}", filters=["kind"])
    return render(
        "compare.md.j2",
        task=task,
        cfg=comparison_config(),
        sides=sides,
        first=pairs[0],
        pairs=pairs,
        table=Markup(html),
    )


def page_compare_index(t, tasks: list[tuple[str, int]]) -> str:
    from ..pipeline.compare import comparison_config

    return render(
        "compare_index.md.j2",
        cfg=comparison_config(),
        findings=finding_cards(source_findings(t, "compare")),
        tasks=[(task, f"{slug(task)}/", n) for task, n in tasks],
    )


def page_submit() -> str:
    schemas = {
        "model": ModelEntry,
        "layer": LayerSpec,
        "pretrained": PretrainedSpec,
        "record": Record,
        "record_layer": RecordLayer,
        "measures": LayerMeasures,
        "train": TrainSummary,
    }
    from ..submission import reproduce as R

    return render(
        "submit.md.j2",
        schemas={k: schema_rows(v) for k, v in schemas.items()},
        schema_version=SCHEMA_VERSION,
        tolerances=R.tolerance_table(),
        activation_noise=f"{R.ACTIVATION_NOISE:g}",
        sensitivity_factor=f"{R.SENSITIVITY_FACTOR:g}",
        repeats=R.SENSITIVITY_REPEATS,
        prediction_level=f"{R.PREDICTION_LEVEL:.0%}",
        headline_level=f"{R.HEADLINE_LEVEL:.0%}",
        factor_3=f"{R.prediction_factor(3, R.PREDICTION_LEVEL):.2f}",
        min_inside=f"{R.MIN_FRACTION_INSIDE:.0%}",
        min_seeds=R.MIN_REFERENCE_SEEDS,
    )


def page_cite(t) -> str:
    cfg = site_protocol(t)
    return render(
        "cite.md.j2",
        bibtex=BENCHMARK_BIBTEX,
        cfg=cfg,
        config_json=json.dumps(cfg.model_dump(mode="json", exclude_none=True), indent=1),
        tables=TABLES,
    )


def render_all(store: ResultStore, t: dict) -> dict[str, str]:
    notes = store.notes()
    published = store.root / "entries"  # entries added by `reptopo publish`
    try:
        registry = Registry(published if published.is_dir() else None)
    except Exception:  # noqa: BLE001 - the site shows records even when the registry is elsewhere
        registry = None
    pages = {
        "index.md": page_home(t, notes),
        "leaderboard.md": page_leaderboard(t, weights_sources(registry), zoo_size(registry)),
        "architectures.md": page_architectures(t),
        "measures.md": page_measures(t),
        "submit.md": page_submit(),
        "cite.md": page_cite(t),
    }
    names = sorted(set(t["models"]["model"])) if len(t["models"]) else []
    records = store.records()
    for name in names:
        entry = registry.models.get(name) if registry else None
        path = registry.paths.get(("model", name)) if registry else None
        pages[f"models/{slug(name)}.md"] = page_model(name, entry, path, t, store, records)
    pages["models/index.md"] = render("models_index.md.j2", models=[(name, f"../{slug(name)}/") for name in names])
    comp = t.get("comparisons")
    compared = []
    if comp is not None and len(comp):
        for task, grp in comp.groupby("task"):
            pages[f"compare/{slug(task)}.md"] = page_compare(task, grp)
            compared.append((task, int(grp["comparison_id"].nunique())))
    pages["compare/index.md"] = page_compare_index(t, compared)
    return pages
