"""Which per-layer measure predicts accuracy and generalization? Scores, statistics, rankings.

Definitions (scores version 1):
- A model's per-layer curve uses one pooling per layer, the first present of
  raw > flat > mean > gap > cls (flattened conv maps as Ansuini et al.; mean-pooled tokens).
- Hidden layers are the measured layers other than the input and the head; the last hidden
  layer is the deepest of them.
- Kendall's tau is tau-b (scipy); Spearman's rho likewise; both with a percentile bootstrap
  interval over models (resampled with replacement).
- Granulated Kendall (Jiang et al. 2020): for each hyperparameter axis i, the mean tau within
  the groups of models that differ only in axis i (same architecture, seed and other axes);
  Psi is the mean over axes.
- CMI score (PGDL 2020): over ordered pairs of models in a cell, V_gap = [gap_1 > gap_2] and
  V_mu = [mu_1 > mu_2]; for every conditioning set S of two axes (one when there is one axis),
  the mean over the cells of S of MI(V_gap; V_mu) divided by the mean of H(V_gap); the
  minimum over S.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .protocol import CURRENT_VERSION, protocol
from .registry import CONTROLS

SCORES_VERSION = 1
POOLING_ORDER = ("raw", "flat", "mean", "gap", "cls")
TARGETS = ("test_accuracy", "generalization_gap")
BASELINES = ("weight_l2", "log_n_parameters", "train_loss")
MIN_MODELS = 6
TRAINED = ("trained", "pretrained_frozen", "pretrained_finetune")


@dataclass
class AnalysisReport:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"reptopo analysis (scores v{SCORES_VERSION})"]
        lines += [f"  note: {n}" for n in self.notes]
        board = self.tables.get("measures")
        if board is not None and len(board):
            for (task, target), grp in board.groupby(["task", "target"]):
                top = grp.sort_values("rank").head(5)
                cells = ", ".join(f"{r.score} {r.kendall_tau:+.2f}" for r in top.itertuples())
                lines.append(f"  {task} / {target}: {cells}")
        return "\n".join(lines)


def primary_layers(layers: pd.DataFrame) -> pd.DataFrame:
    """One row per (job, layer) at the final epoch, with the preferred pooling."""
    if layers.empty:
        return layers
    final = layers.groupby("job_id")["epoch"].transform("max")
    df = layers[layers["epoch"] == final].copy()
    df["_order"] = df["pooling"].map({p: i for i, p in enumerate(POOLING_ORDER)})
    return df.sort_values("_order").groupby(["job_id", "layer"], as_index=False).first().drop(columns="_order")


def model_scores(models: pd.DataFrame, layers: pd.DataFrame) -> pd.DataFrame:
    """Scalar scores per model from its per-layer curves, plus the baselines."""
    prim = primary_layers(layers)
    rows = []
    for job_id, grp in prim.groupby("job_id"):
        grp = grp.sort_values("depth")
        hidden = grp[~grp["role"].isin(["input", "head"])]
        if hidden.empty:
            continue
        last = hidden.iloc[-1]
        first = grp.iloc[0]
        row = {"job_id": job_id}
        for m in ("phdim", "twonn", "mle"):
            vals = hidden[m].astype(float)
            row[f"{m}_last"] = last[m]
            row[f"{m}_max"] = vals.max()
            row[f"{m}_mean"] = vals.mean()
            row[f"{m}_drop"] = first[m] - last[m]
        row["twonn_peak_depth"] = float(hidden.loc[hidden["twonn"].astype(float).idxmax(), "depth"]) if hidden["twonn"].notna().any() else np.nan
        row["phdim_peak_depth"] = float(hidden.loc[hidden["phdim"].astype(float).idxmax(), "depth"]) if hidden["phdim"].notna().any() else np.nan
        row["betti0_last"] = last.get("betti_0")
        row["betti1_last"] = last.get("betti_1")
        row["total_persistence_h0_last"] = last.get("total_persistence_0")
        row["total_persistence_h1_last"] = last.get("total_persistence_1")
        row["phdim_per_class_last"] = last.get("phdim_per_class")
        row["phdim_class_ratio_last"] = (last.get("phdim_per_class") or np.nan) / last["phdim"] if last["phdim"] else np.nan
        row["linear_probe_last"] = last.get("linear_probe_accuracy")
        row["linear_probe_mean"] = hidden["linear_probe_accuracy"].astype(float).mean()
        rows.append(row)
    scores = pd.DataFrame(rows)
    if scores.empty:
        return scores
    base = models.set_index("job_id")
    scores = scores.join(base, on="job_id")
    scores["log_n_parameters"] = np.log10(scores["n_parameters"].astype(float))
    return scores


SCORE_COLUMNS = (
    "phdim_last", "phdim_max", "phdim_mean", "phdim_drop", "phdim_peak_depth",
    "twonn_last", "twonn_max", "twonn_mean", "twonn_drop", "twonn_peak_depth",
    "mle_last", "mle_max", "mle_mean", "mle_drop",
    "betti0_last", "betti1_last", "total_persistence_h0_last", "total_persistence_h1_last",
    "phdim_per_class_last", "phdim_class_ratio_last", "linear_probe_last", "linear_probe_mean",
) + BASELINES


def _paired(x, y, min_n: int):
    """The finite pairs of x and y, or None when too few remain or either side is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < min_n or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return None
    return x[ok], y[ok]


def kendall_tau(x, y) -> float:
    pair = _paired(x, y, 2)
    return float(stats.kendalltau(*pair).statistic) if pair else np.nan


def spearman_rho(x, y) -> float:
    pair = _paired(x, y, 3)
    return float(stats.spearmanr(*pair).statistic) if pair else np.nan


def bootstrap_ci(fn, x, y, *, n: int = 500, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    x, y = np.asarray(x, float), np.asarray(y, float)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        idx = rng.integers(len(x), size=len(x))
        v = fn(x[idx], y[idx])
        if np.isfinite(v):
            vals.append(v)
    if len(vals) < n // 2:
        return np.nan, np.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(vals, [tail, 100 - tail])
    return float(lo), float(hi)


def granulated_kendall(df: pd.DataFrame, score: str, target: str, axes: list[str], fixed: list[str]) -> tuple[float, dict]:
    """Psi and the per-axis psi_i; groups are models equal in ``fixed`` and every other axis."""
    per_axis = {}
    for axis in axes:
        keys = [c for c in fixed + axes if c != axis]
        taus = []
        for _, grp in df.groupby(keys, dropna=False) if keys else [(None, df)]:
            if grp[axis].nunique() < 2:
                continue
            t = kendall_tau(grp[score], grp[target])
            if np.isfinite(t):
                taus.append(t)
        per_axis[axis] = float(np.mean(taus)) if taus else np.nan
    vals = [v for v in per_axis.values() if np.isfinite(v)]
    return (float(np.mean(vals)) if vals else np.nan), per_axis


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _pair_indicators(values_gap: np.ndarray, values_mu: np.ndarray):
    i, j = np.where(~np.eye(len(values_gap), dtype=bool))
    return (values_gap[i] > values_gap[j]).astype(int), (values_mu[i] > values_mu[j]).astype(int)


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    joint = np.zeros((2, 2))
    np.add.at(joint, (a, b), 1)
    joint /= joint.sum()
    return _entropy(joint.sum(1)) + _entropy(joint.sum(0)) - _entropy(joint.ravel())


def cmi_score(df: pd.DataFrame, score: str, gap: str, axes: list[str]) -> float:
    """PGDL's conditional mutual information score (see the module docstring)."""
    if not axes:
        return np.nan
    subsets = list(itertools.combinations(axes, 2)) if len(axes) >= 2 else [(axes[0],)]
    results = []
    for subset in subsets:
        mis, hs = [], []
        for _, cell in df.groupby(list(subset)):
            if len(cell) < 2:
                continue
            vg, vm = _pair_indicators(cell[gap].to_numpy(float), cell[score].to_numpy(float))
            mis.append(mutual_information(vg, vm))
            hs.append(_entropy(np.bincount(vg, minlength=2) / len(vg)))
        if hs and np.mean(hs) > 0:
            results.append(np.mean(mis) / np.mean(hs))
    return float(min(results)) if results else np.nan


def tie_groups(board: pd.DataFrame) -> pd.Series:
    """Rank groups: a measure joins the current group while its interval overlaps the leader's."""
    groups, leader, g = [], None, 0
    for row in board.itertuples():
        lo, hi = sorted((abs(row.tau_ci_low), abs(row.tau_ci_high))) if np.isfinite(row.tau_ci_low) else (np.nan, np.nan)
        if row.tau_ci_low <= 0 <= row.tau_ci_high:
            lo = 0.0
        if leader is None or not (np.isfinite(hi) and hi >= leader):
            g += 1
            leader = lo if np.isfinite(lo) else np.inf
        groups.append(g)
    return pd.Series(groups, index=board.index)


def complete_axes(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Hyperparameter axes that vary, and notes on those whose grid is incomplete."""
    axes = [c for c in df.columns if c.startswith("axis_") and df[c].nunique(dropna=True) > 1]
    notes = []
    if axes:
        filled = df.dropna(subset=axes)
        expected = np.prod([filled[a].nunique() for a in axes]) * filled.groupby(["model", "seed"]).ngroups
        if len(filled.drop_duplicates(["model", "seed"] + axes)) < expected:
            notes.append(f"hyperparameter grid over {axes} is incomplete ({len(filled)} of {int(expected)} models)")
    return axes, notes


def correlate(scores: pd.DataFrame, *, n_boot: int = 500) -> tuple[pd.DataFrame, list[str]]:
    """Every score against every target per task, with the null checks beside each: the score's
    mean in trained models, in random-initialisation and in shuffled-label controls."""
    rows, notes = [], []
    trained = scores[scores["status"].isin(TRAINED)]
    null_means = scores.groupby(["task", "status"])[[c for c in SCORE_COLUMNS if c in scores]].mean()
    for task, grp in trained.groupby("task"):
        if len(grp) < MIN_MODELS:
            notes.append(f"task {task}: {len(grp)} trained models; correlations need at least {MIN_MODELS}")
            continue
        axes, axis_notes = complete_axes(grp)
        notes += [f"task {task}: {n}; granulated and CMI scores use the cells present" for n in axis_notes]
        for score in SCORE_COLUMNS:
            if score not in grp or grp[score].notna().sum() < MIN_MODELS:
                continue
            for target in TARGETS:
                x, y = grp[score].to_numpy(float), grp[target].to_numpy(float)
                lo, hi = bootstrap_ci(kendall_tau, x, y, n=n_boot)
                psi, per_axis = granulated_kendall(grp, score, target, axes, ["model", "seed"]) if axes else (np.nan, {})
                rows.append({
                    "task": task, "score": score, "target": target, "n_models": int(np.isfinite(x).sum()),
                    "kendall_tau": kendall_tau(x, y), "tau_ci_low": lo, "tau_ci_high": hi,
                    "spearman_rho": spearman_rho(x, y),
                    "granulated_kendall": psi, "granulated_per_axis": json.dumps(per_axis),
                    "cmi": cmi_score(grp, score, "generalization_gap", axes) if target == "generalization_gap" else np.nan,
                    "is_baseline": score in BASELINES,
                    "trained_mean": float(np.nanmean(x)),
                    "random_init_mean": null_means[score].get((task, "random_init"), np.nan),
                    "shuffled_labels_mean": null_means[score].get((task, "shuffled_labels"), np.nan),
                })
    return pd.DataFrame(rows), notes


def measures_board(corr: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard of measures: per task and target by |tau|, and overall by |mean tau|."""
    if corr.empty:
        return corr
    def ranked(grp):
        grp = grp.assign(strength=grp["kendall_tau"].abs()).sort_values("strength", ascending=False)
        grp["rank"] = np.arange(1, len(grp) + 1)
        grp["tie_group"] = tie_groups(grp)
        best_baseline = grp.loc[grp["is_baseline"], "strength"].max()
        grp["beats_baselines"] = grp["strength"] > (best_baseline if np.isfinite(best_baseline) else -1)
        return grp

    boards = [ranked(grp) for _, grp in corr.groupby(["task", "target"])]
    overall = corr.groupby(["score", "target", "is_baseline"], as_index=False).agg(
        kendall_tau=("kendall_tau", "mean"), tau_ci_low=("tau_ci_low", "mean"), tau_ci_high=("tau_ci_high", "mean"),
        spearman_rho=("spearman_rho", "mean"), granulated_kendall=("granulated_kendall", "mean"),
        cmi=("cmi", "mean"), n_models=("n_models", "sum"))
    boards += [ranked(grp.assign(task="(all tasks)")) for _, grp in overall.groupby("target")]
    return pd.concat(boards, ignore_index=True)


CURVE_MEASURES = ("phdim", "twonn", "mle", "betti_0", "betti_1", "linear_probe_accuracy", "phdim_per_class")


def curves(layers: pd.DataFrame) -> pd.DataFrame:
    """Per-layer curves on relative depth, mean and spread over seeds, per task/model/status."""
    prim = primary_layers(layers)
    if prim.empty:
        return prim
    g = prim.groupby(["task", "model", "family", "status", "layer", "depth", "role", "pooling"], as_index=False)
    agg = {f"{m}_{s}": (m, s) for m in CURVE_MEASURES for s in ("mean", "std", "min", "max")}
    return g.agg(n_seeds=("seed", "nunique"), **agg).sort_values(["task", "model", "status", "depth"])


def null_checks(scores: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in SCORE_COLUMNS if c in scores]
    return scores.groupby(["task", "model", "status"], as_index=False)[cols + ["test_accuracy", "generalization_gap"]].mean()


def architecture_table(scores: pd.DataFrame) -> pd.DataFrame:
    cols = ["test_accuracy", "generalization_gap", "phdim_last", "twonn_last", "betti0_last", "betti1_last", "linear_probe_last", "n_parameters"]
    keys = ["task", "model", "family", "status"] + (["provenance"] if "provenance" in scores else [])
    g = scores.groupby(keys, as_index=False)
    return g.agg(n_runs=("job_id", "count"), **{f"{c}_{s}": (c, s) for c in cols for s in ("mean", "std")})


def analyze(models: pd.DataFrame, layers: pd.DataFrame, *, n_boot: int = 500) -> AnalysisReport:
    report = AnalysisReport()
    if models.empty:
        report.notes.append("the store has no records")
        return report
    versions = sorted(int(v) for v in models["protocol_version"].unique())
    if len(versions) > 1:
        latest = versions[-1]
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
        "architectures": architecture_table(scores),
        "nulls": null_checks(scores),
    }
    return report


def analyze_store(store_root: str | Path, *, n_boot: int = 500) -> str:
    from .store import ResultStore, collect

    store = ResultStore(store_root)
    store.require_records()  # a missing or empty store: one clear error naming what to run
    models, layers = collect(store)
    report = analyze(models, layers, n_boot=n_boot)
    out = store.root / "tables"
    for name, table in report.tables.items():
        table.to_parquet(out / f"{name}.parquet", index=False)
    (out / "analysis.json").write_text(json.dumps({"scores_version": SCORES_VERSION, "notes": report.notes}, indent=1))
    return report.summary()


def headline_findings(t) -> list[str]:
    out = []
    board = t["measures"]
    if len(board):
        for target in ("generalization_gap", "test_accuracy"):
            overall = board[(board["task"] == "(all tasks)") & (board["target"] == target)].sort_values("rank")
            if len(overall):
                top = overall.iloc[0]
                base = overall[overall["is_baseline"]].sort_values("rank").head(1)
                bl = f"; the best baseline, {base.iloc[0]['score']}, has tau {base.iloc[0]['kendall_tau']:+.2f}" if len(base) else ""
                out.append(f"Across tasks, the score most rank-correlated with {target.replace('_', ' ')} is "
                           f"{top['score']} (mean Kendall tau {top['kendall_tau']:+.2f}){bl}.")
    out += [f"{c['title']}: {c['verdict']} (details on the Measures page)." for c in literature_checks(t)]
    return out or ["No analysis yet: run `reptopo run` and `reptopo analyze`."]


def _share(mask) -> str:
    mask = pd.Series(mask).dropna()
    return f"{int(mask.sum())} of {len(mask)}" if len(mask) else "none"


def literature_checks(t) -> list[dict]:
    """Each check: a title, a finding computed from the records, and a verdict read off the numbers."""
    scores, board = t["scores"], t["measures"]
    checks: list[dict] = []
    if scores.empty:
        return checks
    input_twonn = t["curves"][t["curves"]["role"] == "input"].groupby(["task", "model", "status"])["twonn_mean"].mean()
    vision = scores[(scores["modality"] == "vision") & ~scores["family"].isin(["mlp"])].copy()
    vision["input_twonn"] = [input_twonn.get((r.task, r.model, r.status), np.nan) for r in vision.itertuples()]
    # a hunchback: some hidden layer above both the input and the last hidden layer
    vision["hunch"] = (vision["twonn_max"] > vision["input_twonn"]) & (vision["twonn_max"] > vision["twonn_last"])
    vision["falls"] = vision["twonn_last"] < vision["input_twonn"]
    trained = vision[vision["status"].isin(["trained", "pretrained_frozen"])]
    nulls = vision[vision["status"].isin(CONTROLS)]
    if len(trained):
        drop_t = (trained["input_twonn"] - trained["twonn_last"]).mean()
        drop_n = (nulls["input_twonn"] - nulls["twonn_last"]).mean() if len(nulls) else np.nan
        hunch = trained["hunch"].mean()
        checks.append({
            "title": "Ansuini et al. 2019: the intrinsic dimension rises, then falls with depth (a hunchback)",
            "finding": (f"Convolutional and Transformer vision models: a hidden layer's TwoNN dimension exceeds both the "
                        f"input's and the last hidden layer's in {_share(trained['hunch'])} trained or pretrained models "
                        f"(hunchback), and the last hidden layer lies below the input in {_share(trained['falls'])}. "
                        f"Mean fall from input to last hidden layer: {drop_t:.1f} in trained models against {drop_n:.1f} in "
                        f"{len(nulls)} random-init and shuffled-label controls, whose hunchback share is {_share(nulls['hunch'])}."),
            "verdict": ("reproduced" if hunch > 0.5 else "partly reproduced: a minority of models" if hunch > 0.2
                        else "not reproduced for these shallow networks: the dimension falls from the input on")
                       + ("; the controls' profile is flatter" if np.isfinite(drop_n) and drop_n < drop_t else ""),
        })
        classes = trained["task"].map({"mnist": 10, "digits": 10, "mnist1d": 10})
        b0, b1 = trained["betti0_last"].astype(float), trained["betti1_last"].astype(float)
        inputs = t["curves"][(t["curves"]["role"] == "input") & t["curves"]["model"].isin(trained["model"])]
        b1_in = inputs["betti_1_mean"].median() if len(inputs) else np.nan
        checks.append({
            "title": "Magai and Ayzenberg 2022: topology simplifies with depth",
            "finding": (f"Last hidden layer of trained vision models: b0 = number of classes in {_share(b0 == classes)}, "
                        f"b0 = 1 in {_share(b0 == 1)}; b1 = 0 in {_share(b1 == 0)} (median b1 {np.nanmedian(b1):.0f}; at the input "
                        f"{b1_in:.0f}, so there is little H1 to simplify at this resolution). "
                        f"Under the covering-radius rule with {protocol(CURRENT_VERSION).n_landmarks} landmarks the class "
                        "clusters of a 1,000-point probe stay connected at the landmark scale, so b0 does not reach the "
                        "number of classes."),
            "verdict": ("reproduced for b1" if (b1 == 0).mean() > 0.5 else "not reproduced for b1")
                       + ("; not reproduced for b0" if (b0 == classes).mean() < 0.5 else "; reproduced for b0"),
        })
    fam = scores[scores["status"] == "trained"].groupby("family")["phdim_drop"].mean().dropna()
    if len(fam):
        cnn = fam[fam.index.isin(["cnn", "resnet", "cnn1d"])].mean()
        tr = fam[fam.index.isin(["vit", "transformer"])].mean()
        checks.append({
            "title": "Magai 2023: PHdim changes across layers differently in CNNs and Transformers",
            "finding": "Mean PHdim fall from the first measured layer to the last hidden layer, by family: "
                       + ", ".join(f"{f} {v:+.1f}" for f, v in fam.items()) + ".",
            "verdict": (f"CNNs fall by {cnn:.1f} on average and Transformers by {tr:.1f}" if np.isfinite(cnn) and np.isfinite(tr) else "not enough families"),
        })
    for score in ("twonn_last", "phdim_last"):
        sub = board[(board["score"] == score) & (board["target"] == "test_accuracy") & (board["task"] != "(all tasks)")]
        if len(sub):
            parts = [f"{r.task} {r.kendall_tau:+.2f} [{r.tau_ci_low:+.2f}, {r.tau_ci_high:+.2f}]"
                     + (f", granulated {r.granulated_kendall:+.2f}" if np.isfinite(r.granulated_kendall) else "")
                     + ("" if r.beats_baselines else ", below the best baseline") for r in sub.itertuples()]
            neg, pos = (sub["tau_ci_high"] < 0).sum(), (sub["tau_ci_low"] > 0).sum()
            checks.append({
                "title": f"Last-layer dimension ({score}) against test accuracy",
                "finding": f"Kendall tau per task: {'; '.join(parts)}.",
                "verdict": (f"significantly negative (lower dimension, higher accuracy, as Ansuini et al. report) in {neg} of "
                            f"{len(sub)} tasks, significantly positive (the opposite) in {pos}"),
            })
    return checks


TABLES = ("models", "layers", "scores", "correlations", "measures", "curves", "architectures", "nulls")


def load_tables(store_root) -> dict[str, pd.DataFrame]:
    """The analysis tables of a store, computed first when any is missing (``reptopo analyze``
    refreshes them after new records)."""
    tables = Path(store_root) / "tables"
    if not all((tables / f"{n}.parquet").is_file() for n in TABLES):
        analyze_store(store_root)
    return {n: pd.read_parquet(tables / f"{n}.parquet") for n in TABLES}


ALL_TASKS = "(all tasks)"


def measures_matrix(board: pd.DataFrame) -> dict:
    """Kendall's tau of every score against every (target, task), the overall columns first, rows
    sorted by the strength of the first target's overall column. Returns ``scores``, ``columns``
    ((target, task) pairs), ``tau`` (rows of floats or None) and ``cells`` (rows of board rows or None)."""
    targets = [tg for tg in ("generalization_gap", "test_accuracy") if tg in set(board["target"])]
    tasks = sorted(set(board["task"]) - {ALL_TASKS})
    columns = [(tg, task) for tg in targets for task in [ALL_TASKS] + tasks]
    cell = {(r.score, r.target, r.task): r for r in board.itertuples()}
    overall = {r.score: abs(r.kendall_tau) for r in board.itertuples()
               if targets and r.task == ALL_TASKS and r.target == targets[0] and np.isfinite(r.kendall_tau)}
    scores = sorted(set(board["score"]), key=lambda sc: (-overall.get(sc, -1.0), sc))
    cells = [[cell.get((sc, tg, task)) for tg, task in columns] for sc in scores]
    tau = [[float(r.kendall_tau) if r is not None and np.isfinite(r.kendall_tau) else None for r in row] for row in cells]
    return {"scores": scores, "columns": columns, "tau": tau, "cells": cells}


def matrix_mark(row) -> str:
    """``*`` where the interval excludes 0, ``†`` where a measure beats the best baseline."""
    return ("*" if row.tau_ci_low > 0 or row.tau_ci_high < 0 else "") + ("†" if row.beats_baselines and not row.is_baseline else "")
