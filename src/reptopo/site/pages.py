"""The leaderboard's pages, as Markdown with raw HTML blocks (see ``html.py`` for the escaping rules)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis import TRAINED, headline_findings, literature_checks, matrix_mark, measures_matrix
from ..cite import BENCHMARK_BIBTEX, score_bibtex
from ..protocol import CURRENT_VERSION, protocol
from ..record import SCHEMA_VERSION, LayerMeasures, Record, TrainSummary
from ..record import Layer as RecordLayer
from ..registry import LayerSpec, ModelEntry, PretrainedSpec, Registry
from ..store import ResultStore
from .html import (
    CURVE_PANELS,
    PALETTE,
    PROVENANCE_LABELS,
    STATUS_LABELS,
    Plots,
    badge,
    colours_for,
    esc,
    fmt,
    fmt_pm,
    html_table,
    series_name,
    slug,
)



def _label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def family_colours(t) -> dict:
    """One colour per architecture family, the same on every page (from every family in the store)."""
    return colours_for(t["models"]["family"]) if len(t["models"]) else {}


SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star"]


def _band_traces(df: pd.DataFrame, measure: str, name: str, colour: str, dash: str = "solid") -> list[dict]:
    df = df.sort_values("depth")
    x = df["depth"].tolist()
    traces = [{"x": x, "y": df[f"{measure}_mean"].tolist(), "mode": "lines+markers", "name": name,
               "line": {"color": colour, "dash": dash}, "legendgroup": name}]
    if df["n_seeds"].max() > 1:
        traces.append({"x": x + x[::-1], "y": df[f"{measure}_max"].tolist() + df[f"{measure}_min"].tolist()[::-1],
                       "fill": "toself", "fillcolor": colour, "opacity": 0.15, "line": {"width": 0}, "hoverinfo": "skip",
                       "showlegend": False, "legendgroup": name, "mode": "lines"})
    return traces


def page_home(t, notes) -> str:
    cfg = protocol(CURRENT_VERSION)
    models = t["models"]
    lines = ["# reptopo leaderboard", "",
             "reptopo measures the **shape of representations layer by layer**: persistent homology (Betti numbers "
             "and barcodes of a Vietoris-Rips filtration on maxmin landmarks), PHdim (the persistent-homology fractal "
             "dimension), and the TwoNN and MLE intrinsic dimensions, on a fixed probe set, under one versioned "
             "protocol, so that numbers from different architectures and papers can be compared and cited.", "",
             f"**Protocol version {cfg.version}** (config digest `{cfg.digest()}`): probe of up to {cfg.probe_size} "
             f"class-balanced test points, {cfg.n_landmarks} landmarks, Betti rule `{cfg.betti_rule}` "
             f"(factor {cfg.betti_factor}), PHdim alpha {cfg.phdim_alpha} with {cfg.phdim_n_sizes} sizes x "
             f"{cfg.phdim_repeats} subsamples, MLE k = {cfg.mle_k}.", "",
             "## Headline findings", ""]
    lines += [f"- {esc(h)}" for h in headline_findings(t)]
    lines += ["", f"The store holds {len(models)} records over {models['task'].nunique() if len(models) else 0} tasks "
              f"and {models['model'].nunique() if len(models) else 0} model entries.", ""]
    if notes:
        lines += ["!!! note \"Analysis notes\"", ""] + [f"    - {esc(n)}" for n in notes] + [""]
    lines += ["[Leaderboard](leaderboard.md) · [Architectures](architectures.md) · [Measures](measures.md) · "
              "[Submit a model](submit.md) · [Cite and download](cite.md)", ""]
    return "\n".join(lines)


def page_leaderboard(t) -> str:
    arch = t["architectures"].copy()
    if arch.empty:
        return "# Leaderboard\n\nNo records yet.\n"
    arch["status_label"] = arch["status"].map(_label)
    if "provenance" not in arch:  # tables analysed before provenance existed
        arch["provenance"] = "benchmark"
    arch["provenance_label"] = arch["provenance"].map(lambda p: PROVENANCE_LABELS.get(p, p))
    scored = ("test_accuracy", "generalization_gap", "phdim_last", "twonn_last", "linear_probe_last",
              "betti0_last", "betti1_last")
    for col in scored:
        arch[f"{col}_cell"] = [fmt_pm(m, s) for m, s in zip(arch[f"{col}_mean"], arch[f"{col}_std"])]
    # a default order that means something: by task, the most accurate first
    arch = arch.sort_values(["task", "test_accuracy_mean"], ascending=[True, False], na_position="last")
    cols = [("model", "model"), ("task", "task"), ("status_label", "status"),
            ("test_accuracy_cell", "test acc."), ("generalization_gap_cell", "gap"),
            ("phdim_last_cell", "PHdim (last)"), ("twonn_last_cell", "TwoNN (last)"),
            ("linear_probe_last_cell", "probe acc. (last)"),
            ("family", "family"), ("provenance_label", "provenance"), ("n_runs", "runs"),
            ("betti0_last_cell", "b0 (last)"), ("betti1_last_cell", "b1 (last)"), ("n_parameters_mean", "parameters")]
    optional = ["family", "provenance_label", "n_runs", "betti0_last_cell", "betti1_last_cell", "n_parameters_mean"]
    values = {f"{c}_cell": f"{c}_mean" for c in scored}
    return ("---\nhide:\n  - navigation\n  - toc\n---\n\n"
            "# Leaderboard\n\nOne row per model entry, task and training status, most accurate first within a task; "
            "scores of the last hidden layer, mean ± standard deviation over runs (seeds and hyperparameter "
            "settings). Click a column to sort; filter by task, family, status and provenance, or search; more "
            "columns are one click away. A model's name opens its page.\n\n"
            + html_table(arch, cols, "leaderboard", filters=["task", "family", "status_label", "provenance_label"],
                         link=("model", "../models/{slug}/"), optional=optional, values=values))


def _curve_figures(plots: Plots, curves: pd.DataFrame, key: str, title_suffix: str, dash_by_status: bool = True,
                   colours: dict | None = None, panels: list[tuple[str, str]] | None = None) -> str:
    """Small multiples: one panel per measure in a grid, lines coloured by family (``colours``),
    a marker per model, controls dotted and named as controls."""
    out = []
    colours = colours or colours_for(curves["family"] if "family" in curves else curves[key])
    symbols = {m: SYMBOLS[i % len(SYMBOLS)] for i, m in enumerate(sorted(set(curves[key])))}
    for i, (measure, label) in enumerate(panels or CURVE_PANELS):
        traces = []
        for (name, status), grp in curves.groupby([key, "status"]):
            dash = "solid" if status in TRAINED else "dot"
            family = grp["family"].iloc[0] if "family" in grp else name
            band = _band_traces(grp, measure, series_name(name, status), colours.get(family, PALETTE[0]), dash)
            band[0]["marker"] = {"symbol": symbols[name]}
            band[0]["showlegend"] = i == 0  # one legend, under the first panel, for the whole grid
            traces += band
        legend = {"orientation": "h", "y": -0.25, "x": 0} if i == 0 else {}
        out.append(plots.figure(traces, f"{label}{title_suffix}", "relative depth", label,
                                height=460 if i == 0 else 340, layout={"legend": legend, "showlegend": i == 0}))
    return '<div class="rt-grid">\n' + "\n".join(out) + "</div>\n"


def page_architectures(t) -> str:
    curves = t["curves"]
    lines = ["# Architectures compared", "",
             "Per-layer curves of every architecture of a task on one relative-depth axis (0 = input, 1 = head); lines are "
             "means over seeds and hyperparameter settings, bands span their minimum to maximum. Dotted lines are "
             "random-initialisation and shuffled-label controls.", ""]
    plots = Plots("architectures")
    colours = family_colours(t)
    for task, grp in curves.groupby("task"):
        lines += [f"## {esc(task)}", "", _curve_figures(plots, grp, "model", f" — {task}", colours=colours), ""]
    return "---\nhide:\n  - navigation\n  - toc\n---\n\n" + "\n".join(lines)


def page_measures(t) -> str:
    board, scores = t["measures"], t["scores"]
    lines = ["# Measures", "", "Which measure predicts test accuracy and the generalization gap across the population of "
             "trained models? Kendall's tau-b with a 95% bootstrap interval, Spearman's rho, the granulated Kendall coefficient "
             "(Jiang et al. 2020) over the hyperparameter axes, and the CMI score of the PGDL competition. Rank groups merge "
             "measures whose intervals overlap the group leader's. Baselines (weight L2 norm, parameter count, training loss) "
             "are measured on the same models: a topological score is useful only where it beats them.", ""]
    if board.empty:
        return "\n".join(lines + ["No correlations yet (too few models)."])
    b = board.copy()
    b["interval"] = [f"[{fmt(lo, 2)}, {fmt(hi, 2)}]" for lo, hi in zip(b["tau_ci_low"], b["tau_ci_high"])]
    b["kind"] = np.where(b["is_baseline"], "baseline", "measure")
    b["beats"] = np.where(b["beats_baselines"], "yes", "no")
    cols = [("task", "task"), ("target", "target"), ("rank", "rank"), ("tie_group", "group"), ("score", "score"), ("kind", "kind"),
            ("kendall_tau", "Kendall tau"), ("interval", "95% CI"), ("spearman_rho", "Spearman rho"),
            ("granulated_kendall", "granulated"), ("cmi", "CMI"), ("beats", "beats baselines"), ("n_models", "models"),
            ("trained_mean", "mean (trained)"), ("random_init_mean", "mean (random init)"), ("shuffled_labels_mean", "mean (shuffled)")]
    plots = Plots("measures")
    lines += ["## Which measure predicts what, at a glance", "",
              "Kendall's tau of each score (rows) against each target on each task (columns), coloured from -1 "
              "(blue) to +1 (red); the interval is on hover. `*` marks an interval that excludes 0, `†` a measure "
              "that beats the best baseline on that task. Rows are sorted by the strength of the overall column "
              "(mean tau over tasks) for the generalization gap.", "", _measures_matrix(plots, board), "",
              "## The leaderboard of measures", "", html_table(b, cols, "measures", filters=["task", "target", "kind"]), ""]
    trained = scores[scores["status"].isin(TRAINED)]
    colours = family_colours(t)
    lines += ["## Correlation plots", ""]
    for score in ("phdim_last", "twonn_last", "betti0_last", "linear_probe_last", "weight_l2"):
        for target in ("generalization_gap", "test_accuracy"):
            traces = [{"x": g[score].tolist(), "y": g[target].tolist(), "mode": "markers", "type": "scatter", "name": fam,
                       "marker": {"color": colours[fam], "size": 7}, "text": (g["model"] + " / " + g["task"]).tolist()}
                      for fam, g in trained.groupby("family")]
            lines.append(plots.figure(traces, f"{score} against {target}", score, target, height=320))
    lines += ["## Checks against the literature", "",
              "Each finding below is computed from the records on this site; where reptopo disagrees with a published result "
              "it says so.", ""]
    curves = t["curves"]
    for check in literature_checks(t):
        lines += [f"### {esc(check['title'])}", "", f"**{esc(check['verdict'])}.** {esc(check['finding'])}", ""]
    mn = curves[curves["task"] == "mnist"] if "mnist" in set(curves["task"]) else curves
    if len(mn):
        lines += ["TwoNN dimension and Betti 0 over depth on MNIST, trained against controls:", "",
                  _curve_figures(plots, mn, "model", " — MNIST", colours=colours,
                                 panels=[p for p in CURVE_PANELS if p[0] in ("twonn", "betti_0")]), ""]
        fam = curves[curves["status"] == "trained"].groupby(["family", "depth"], as_index=False)["phdim_mean"].mean()
        traces = [{"x": g["depth"].tolist(), "y": g["phdim_mean"].tolist(), "mode": "lines+markers", "name": f,
                   "line": {"color": colours.get(f, PALETTE[0])}, "marker": {"color": colours.get(f, PALETTE[0])}}
                  for f, g in fam.groupby("family")]
        lines += ["PHdim over depth by family (all tasks): CNNs against Transformers (Magai 2023).", "",
                  plots.figure(traces, "PHdim by family", "relative depth", "PHdim"), ""]
    return "\n".join(lines)


def _measures_matrix(plots: Plots, board: pd.DataFrame) -> str:
    """A heatmap of Kendall's tau: scores down, (target, task) across, the overall columns first."""
    m = measures_matrix(board)
    text, hover = [], []
    for sc, taus, cells in zip(m["scores"], m["tau"], m["cells"]):
        text.append([f"{tau:+.2f}{matrix_mark(r)}" if tau is not None else "" for tau, r in zip(taus, cells)])
        hover.append([f"{sc} · {tg} · {task}: " + (f"tau {tau:+.2f} [{fmt(r.tau_ci_low, 2)}, {fmt(r.tau_ci_high, 2)}]"
                                                   + (" (baseline)" if r.is_baseline else "")
                                                   if tau is not None else "constant or not measured")
                      for tau, r, (tg, task) in zip(taus, cells, m["columns"])])
    labels = [f"{'gap' if tg == 'generalization_gap' else 'test acc.'} · {task}" for tg, task in m["columns"]]
    trace = {"type": "heatmap", "z": m["tau"], "x": labels, "y": m["scores"], "text": text, "customdata": hover,
             "texttemplate": "%{text}", "hovertemplate": "%{customdata}<extra></extra>",
             "colorscale": "RdBu", "zmin": -1, "zmax": 1, "zmid": 0,  # Plotly's RdBu: -1 blue, +1 red
             "colorbar": {"title": {"text": "tau"}}, "xgap": 1, "ygap": 1}
    return plots.figure([trace], "", "", "",  # the section heading titles it; the top axis labels need the room
                        height=max(360, 26 * len(m["scores"]) + 160),
                        layout={"yaxis": {"autorange": "reversed", "automargin": True}, "xaxis": {"side": "top"},
                                "margin": {"l": 170, "t": 120}})


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
        traces.append({"x": d[:, 0].tolist(), "y": deaths.tolist(), "mode": "markers", "type": "scatter", "name": f"H{dim}"})
    traces.append({"x": [0, top * 1.1], "y": [0, top * 1.1], "mode": "lines", "name": "diagonal", "line": {"color": "#999", "dash": "dot"}})
    return plots.figure(traces, title, "birth", "death (infinite bars at the top)", height=320)


def page_model(name: str, entry: ModelEntry | None, entry_path: Path | None, t, store: ResultStore,
               records: list[dict] | None = None) -> str:
    """A model's page; ``records``: the store's records (read once for every page)."""
    records = store.records() if records is None else records
    recs = {r["job_id"]: r for r in records if r["model"] == name}
    models = t["models"][t["models"]["model"] == name]
    curves = t["curves"][t["curves"]["model"] == name]
    plots = Plots(f"model-{name}")
    lines = [f"# {esc(name)}", ""]
    if recs:
        lines += ['<p class="rt-badges">' + " ".join(badge(p) for p in sorted({r["provenance"] for r in recs.values()}))
                  + "</p>", ""]
    if entry is not None:
        lines += [f"<p>{esc(entry.description)}</p>", "",
                  f"<p>Family <code>{esc(entry.family)}</code> · builder <code>{esc(entry.builder)}</code> · "
                  f"entry version {entry.version} · license {esc(entry.license)}</p>", ""]
    colours = family_colours(t)
    for task, grp in curves.groupby("task"):
        lines += [f"## {esc(task)}", "", _curve_figures(plots, grp, "model", f" — {task}", colours=colours), ""]
        job = models[(models["task"] == task)].sort_values(["status", "seed"]).head(1)
        if len(job):
            job_id = job.iloc[0]["job_id"]
            dgms = store.diagrams(job_id)
            layer_names = [k.split("__")[0] for k in dgms]
            if layer_names:
                ordered = list(dict.fromkeys(layer_names))
                for layer in (ordered[0], ordered[-2] if len(ordered) > 1 else ordered[-1]):
                    lines.append(_diagram_plot(plots, dgms, layer, f"diagram of {layer}"))
    lines += ["## Records and hashes", ""]
    table = pd.DataFrame([{"job": j, "task": r["task"], "status": _label(r["status"]), "seed": r["seed"],
                           "provenance": PROVENANCE_LABELS.get(r["provenance"], r["provenance"]),
                           "test_accuracy": r["train"]["test_accuracy"], "digest": r["digest"][:16],
                           "checkpoint": (r["checkpoint_sha256"] or "–")[:16],
                           "probe": r["probe"]["hash"][:16], "entry": r["entry_hash"]["model"][:16]} for j, r in recs.items()])
    if len(table):
        lines.append(html_table(table, [(c, c) for c in table.columns], f"records-{slug(name)}", filters=["task", "status"]))
    if entry_path is not None and entry_path.is_file():
        lines += ["## Registry entry", "", f"<pre><code>{esc(entry_path.read_text())}</code></pre>", ""]
    lines += ["## Cite these scores", ""]

    scores = t["scores"]
    for task in sorted({r["task"] for r in recs.values()}):
        for version in sorted({r["protocol"]["version"] for r in recs.values() if r["task"] == task}):
            cited = [r for r in recs.values() if r["task"] == task and r["protocol"]["version"] == version]
            digests = [r["digest"] for r in cited if r["status"] in TRAINED] or [r["digest"] for r in cited]
            rows = scores[(scores["model"] == name) & (scores["task"] == task) & (scores["protocol_version"] == version)
                          & scores["status"].isin(TRAINED)] if len(scores) else None
            entry_bib = score_bibtex(name, task, version, digests, rows, page=f"models/{slug(name)}/")
            lines.append(f"<pre><code>{esc(entry_bib)}</code></pre>")
    return "\n".join(lines) + "\n"


def page_submit() -> str:

    def type_name(annotation) -> str:
        text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
        return re.sub(r"\b(typing|reptopo\.record|reptopo\.registry)\.", "", text).replace("|", "\\|")

    def schema_table(model) -> str:
        rows = ["| field | type | required | description |", "|---|---|---|---|"]
        for fname, f in model.model_fields.items():
            rows.append(f"| `{f.alias or fname}` | `{esc(type_name(f.annotation))}` | {'yes' if f.is_required() else 'no'} "
                        f"| {esc(f.description or '')} |")
        return "\n".join(rows)

    return "\n".join([
        "# Submit a model", "",
        "A model is one YAML file, validated by a schema that refuses unknown fields. "
        "This page is generated from that schema, so it cannot drift from it.", "",
        "1. Write the entry (below) in a folder of your own (`my_registry/models/your_model.yaml`); its `builder` is a "
        "registered builder or `your_package.module:function`, which receives the task's facts (input shape, number "
        "of classes) and the entry's `params` and returns a torch module.",
        "2. `reptopo validate my_registry/models/your_model.yaml` reports every problem with its file, line and field.",
        "3. `reptopo submit my_registry/models/your_model.yaml --task TASK --out BUNDLE` runs the protocol and writes a "
        "bundle (entry, record, diagrams, environment, manifest of hashes); `reptopo verify BUNDLE` re-derives it.",
        "4. A maintainer runs `reptopo publish BUNDLE --store STORE` on your pull request: the bundle is re-run, and "
        "only if every score re-derives is its record added, marked *verified submission* (or *self-reported* for "
        "submitted activations, whose training nobody re-ran); the leaderboard shows the mark as a badge and filters "
        "on it.", "",
        "## Model entry fields", "", schema_table(ModelEntry), "",
        "## Layer fields", "", schema_table(LayerSpec), "",
        "## Pretrained weights", "", schema_table(PretrainedSpec), "",
        "Checkpoints are safetensors files (never unpickled); YAML is read with a safe loader.", "",
        f"## What a record holds (schema version {SCHEMA_VERSION})", "",
        "Every record the leaderboard shows validates against this model (unknown fields refused); records of an "
        "earlier schema are migrated explicitly. `digest` hashes what the scores depend on (the measures, the "
        "training summary, the protocol, the entry, probe and checkpoint hashes), not timings or library versions, "
        "so a re-run reproduces it.", "",
        "### Record", "", schema_table(Record), "",
        "### Layer", "", schema_table(RecordLayer), "",
        "### Layer measures", "", schema_table(LayerMeasures), "",
        "### Training summary", "", schema_table(TrainSummary), ""])


def page_cite(t) -> str:
    cfg = protocol(CURRENT_VERSION)
    names = ["models", "layers", "scores", "correlations", "measures", "curves", "architectures", "nulls"]
    rows = "\n".join(f"| {n} | [CSV](downloads/{n}.csv) | [Parquet](downloads/{n}.parquet) |" for n in names)
    return "\n".join(["# Cite and download", "", "## The benchmark", "", "```bibtex", BENCHMARK_BIBTEX, "```", "",
                      f"Protocol version **{cfg.version}**, config digest `{cfg.digest()}`:", "",
                      "```json", json.dumps(cfg.model_dump(mode="json"), indent=1), "```", "",
                      "Each model's page gives a BibTeX entry for its scores, with the records' hashes; "
                      "`reptopo cite MODEL --task TASK` prints the same.", "",
                      "## Tables", "", "| table | CSV | Parquet |", "|---|---|---|", rows, ""])


def render_all(store: ResultStore, t: dict) -> dict[str, str]:
    notes_path = store.root / "tables" / "analysis.json"
    notes = json.loads(notes_path.read_text())["notes"] if notes_path.is_file() else []
    published = store.root / "entries"  # entries added by `reptopo publish`
    try:
        reg = Registry(published if published.is_dir() else None)
    except Exception:  # noqa: BLE001 - the site shows records even when the registry is elsewhere
        reg = None
    pages = {"index.md": page_home(t, notes), "leaderboard.md": page_leaderboard(t), "architectures.md": page_architectures(t),
             "measures.md": page_measures(t), "submit.md": page_submit(), "cite.md": page_cite(t)}
    names = sorted(set(t["models"]["model"])) if len(t["models"]) else []
    records = store.records()
    index = ["# Models", "", "<ul>"]
    for name in names:
        entry = reg.models.get(name) if reg else None
        path = reg.paths.get(("model", name)) if reg else None
        pages[f"models/{slug(name)}.md"] = page_model(name, entry, path, t, store, records)
        index.append(f'<li><a href="../{slug(name)}/">{esc(name)}</a></li>')
    pages["models/index.md"] = "\n".join(index + ["</ul>", ""])
    return pages
