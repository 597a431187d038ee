"""The analysis of a store: its tables (written to the store's ``tables/``) and notes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..record import latest_version
from ..store import ResultStore, collect, collect_comparisons
from .board import measures_board
from .headlines import verdicts
from .scores import SCORES_VERSION, architecture_table, correlate, curves, dynamics, model_scores, null_checks


@dataclass
class AnalysisReport:
    """The analysis of one store's records: its tables by name, and notes on what it left out."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"reptopo analysis (scores v{SCORES_VERSION})"]
        lines += [f"  note: {n}" for n in self.notes]
        board = self.tables.get("measures")
        if board is not None and len(board):
            for (task, target), grp in board.groupby(["task", "target"]):
                top = grp[grp["kendall_tau"].notna()].sort_values("rank").head(5)
                if top.empty:  # a constant target (or constant scores): no tau to rank by
                    why = f"Kendall tau undefined: {target} or every score is constant across its models"
                    lines.append(f"  {task} / {target}: no correlation ({why})")
                    continue
                cells = ", ".join(f"{r.score} {r.kendall_tau:+.2f}" for r in top.itertuples())
                lines.append(f"  {task} / {target}: {cells}")
        return "\n".join(lines)


def analyze(models: pd.DataFrame, layers: pd.DataFrame, *, n_boot: int = 500) -> AnalysisReport:
    """Every analysis table from the models and layers tables (:func:`reptopo.store.collect`),
    of the latest protocol version only when several are present (never mixed)."""
    report = AnalysisReport()
    if models.empty:
        report.notes.append("the store has no records")
        return report
    versions = sorted(int(v) for v in models["protocol_version"].unique())
    if len(versions) > 1:
        latest = latest_version(versions)
        report.notes.append(f"records of protocol versions {versions}; analysing version {latest} only (never mixed)")
        models = models[models["protocol_version"] == latest]
        layers = layers[layers["protocol_version"] == latest]
    scores = model_scores(models, layers)
    corr, notes = correlate(scores, n_boot=n_boot)
    report.notes += notes
    report.tables = {
        "scores": scores,
        "correlations": corr,
        "measures": measures_board(corr),
        "curves": curves(layers),
        "dynamics": dynamics(layers),
        "architectures": architecture_table(scores),
        "nulls": null_checks(scores),
    }
    return report


def analyze_store(store: ResultStore | str | Path, *, n_boot: int = 500) -> str:
    """Analyse every record of ``store`` (a :class:`ResultStore` or its folder; its records are
    parsed once) and write the tables and notes to its ``tables/``; returns the summary."""
    if not isinstance(store, ResultStore):
        store = ResultStore(store)
    store.require_records()  # a missing or empty store: one clear error naming what to run
    models, layers = collect(store)
    report = analyze(models, layers, n_boot=n_boot)
    comparisons = collect_comparisons(store)
    if len(models):  # the analysis never mixes protocol versions: nor do the comparisons and verdicts
        latest = latest_version(models["protocol_version"])
        comparisons = comparisons[comparisons["protocol_version"] == latest]
        models, layers = models[models["protocol_version"] == latest], layers[layers["protocol_version"] == latest]
    report.tables["comparisons"] = comparisons
    report.tables["verdicts"] = verdicts({**report.tables, "models": models, "layers": layers})
    out = store.tables_dir()
    for name, table in report.tables.items():
        table.to_parquet(out / f"{name}.parquet", index=False)
    (out / "analysis.json").write_text(json.dumps({"scores_version": SCORES_VERSION, "notes": report.notes}, indent=1))
    return report.summary()


def tables_of(store: ResultStore) -> dict[str, pd.DataFrame]:
    """The store's analysis tables, analysed first when any is missing (``reptopo analyze``
    refreshes them after new records)."""
    if not store.has_tables():
        analyze_store(store)
    return store.read_tables()
