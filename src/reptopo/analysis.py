"""Which per-layer measure predicts accuracy and generalization? Scores, statistics, rankings.

Definitions (scores version 2):
- A model's per-layer curve uses one pooling per layer, the first present of
  raw > flat > mean > gap > cls (flattened conv maps as Ansuini et al.; mean-pooled tokens).
- Hidden layers are the measured layers other than the input and the head; the last hidden
  layer is the deepest of them.
- A censored PHdim (protocol v2: beyond what the sample resolves) is a bound, not a value: its
  score column is empty and ``<score>_censored`` is True. For ranks (Kendall, Spearman, the
  granulated and CMI scores) a censored value ranks above every measured one, censored values
  tied among themselves; no mean, drop or ratio is taken over a censored value.
- Per-class topology (protocol v2): ``class_betti_sum`` is the mean over classes of b0 + b1 on
  the hop metric; ``class_trivial_fraction`` the share of classes reading (1, 0);
  ``whole_b0`` the whole cloud's components at its resolution; ``class_tp_h*`` and
  ``whole_tp_h*`` total persistence normalised by the layer's RMS radius.
- A score that is constant over a task's trained models has no rank correlation: its row says
  so in ``note`` instead of leaving a blank.
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

from .record import POOLING_ORDER, TRAINED_STATUSES, latest_version
from .registry import CONTROLS

SCORES_VERSION = 2
ALL_TASKS = "(all tasks)"
TARGETS = ("test_accuracy", "generalization_gap")
BASELINES = ("weight_l2", "log_n_parameters", "train_loss")
MIN_MODELS = 6


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


def primary_layers(layers: pd.DataFrame, *, final_only: bool = True) -> pd.DataFrame:
    """One row per (job, layer), at the final epoch (or per epoch), with the preferred pooling."""
    if layers.empty:
        return layers
    df = layers
    if final_only:
        final = layers.groupby("job_id")["epoch"].transform("max")
        df = layers[layers["epoch"] == final]
    df = df.copy()
    df["_order"] = df["pooling"].map({p: i for i, p in enumerate(POOLING_ORDER)})
    keys = ["job_id", "layer"] + ([] if final_only else ["epoch"])
    # dropna=False keeps each group's first row whole (a censored PHdim stays empty, not filled)
    first = df.sort_values("_order").groupby(keys, as_index=False).nth(0)
    return first.drop(columns="_order").reset_index(drop=True)


def _censored(frame: pd.DataFrame, column: str) -> pd.Series:
    """Whether each row's ``column`` is censored (False for records without the flag)."""
    flag = frame.get(f"{column}_censored")
    return flag.fillna(False).astype(bool) if flag is not None else pd.Series(False, index=frame.index)


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
            cens = _censored(hidden, m)
            row[f"{m}_last"] = last[m]
            row[f"{m}_max"] = np.nan if cens.any() else vals.max()
            row[f"{m}_mean"] = np.nan if cens.any() else vals.mean()
            first_censored = bool(_censored(grp.iloc[:1], m).iloc[0])
            row[f"{m}_drop"] = np.nan if first_censored or bool(cens.iloc[-1]) else first[m] - last[m]
            if m == "phdim":
                # censored: ranks above every measured value; no mean or drop over it
                row["phdim_last_censored"], row["phdim_max_censored"] = bool(cens.iloc[-1]), bool(cens.any())
            peak_ok = vals.notna().any() and not cens.any()
            row[f"{m}_peak_depth"] = float(hidden.loc[vals.idxmax(), "depth"]) if peak_ok else np.nan
        row["betti0_last"] = last.get("betti_0")
        row["betti1_last"] = last.get("betti_1")
        row["total_persistence_h0_last"] = last.get("total_persistence_0")
        row["total_persistence_h1_last"] = last.get("total_persistence_1")
        row["phdim_per_class_last"] = last.get("phdim_per_class")
        row["phdim_per_class_last_censored"] = bool(last.get("phdim_per_class_censored") or False)
        ratio_ok = pd.notna(last.get("phdim_per_class")) and pd.notna(last["phdim"]) and last["phdim"]
        row["phdim_class_ratio_last"] = last["phdim_per_class"] / last["phdim"] if ratio_ok else np.nan
        # the interval of the last hidden layer's PHdim (protocol v3: the calibrated one)
        row["phdim_last_ci_low"], row["phdim_last_ci_high"] = last.get("phdim_ci_low"), last.get("phdim_ci_high")
        row["phdim_last_bound"] = last.get("phdim_bound")
        row["linear_probe_last"] = last.get("linear_probe_accuracy")
        row["linear_probe_mean"] = hidden["linear_probe_accuracy"].astype(float).mean()
        for col in CLASS_TOPOLOGY_SCORES:
            row[f"{col}_last"] = last.get(col)
        rows.append(row)
    scores = pd.DataFrame(rows)
    if scores.empty:
        return scores
    base = models.set_index("job_id")
    scores = scores.join(base, on="job_id")
    scores["log_n_parameters"] = np.log10(scores["n_parameters"].astype(float))
    return scores


CLASS_TOPOLOGY_SCORES = ("class_betti_sum", "class_trivial_fraction", "whole_b0", "whole_b0_large",
                         "class_tp_h0", "class_tp_h1", "whole_tp_h0", "whole_tp_h1",
                         # protocol v3: the DTM filtration's significant counts
                         "whole_b0_dtm", "class_betti_dtm_sum")
CENSORABLE = ("phdim_last", "phdim_max", "phdim_per_class_last")


SCORE_COLUMNS = (
    "phdim_last", "phdim_max", "phdim_mean", "phdim_drop", "phdim_peak_depth",
    "twonn_last", "twonn_max", "twonn_mean", "twonn_drop", "twonn_peak_depth",
    "mle_last", "mle_max", "mle_mean", "mle_drop",
    "betti0_last", "betti1_last", "total_persistence_h0_last", "total_persistence_h1_last",
    "phdim_per_class_last", "phdim_class_ratio_last", "linear_probe_last", "linear_probe_mean",
) + tuple(f"{c}_last" for c in CLASS_TOPOLOGY_SCORES) + BASELINES


def rank_values(frame: pd.DataFrame, score: str) -> np.ndarray:
    """The values of ``score`` for rank statistics: a censored value (a lower bound) becomes one
    number above every measured value, so that censored models tie at the top."""
    x = frame[score].to_numpy(float)
    if score not in CENSORABLE or f"{score}_censored" not in frame:
        return x
    cens = _censored(frame, score).to_numpy()
    if cens.any():
        top = np.nanmax(x[~cens]) if np.isfinite(x[~cens]).any() else 0.0
        x = np.where(cens, top + 1.0, x)
    return x


def constant_note(x: np.ndarray) -> str | None:
    """Why a score has no rank correlation over these models, when it is constant."""
    finite = x[np.isfinite(x)]
    if len(finite) and np.ptp(finite) == 0:
        return f"constant over the {len(finite)} models (every one reads {finite[0]:.4g}): no ranking"
    return None


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
    trained = scores[scores["status"].isin(TRAINED_STATUSES)]
    null_means = scores.groupby(["task", "status"])[[c for c in SCORE_COLUMNS if c in scores]].mean()
    for task, grp in trained.groupby("task"):
        if len(grp) < MIN_MODELS:
            notes.append(f"task {task}: {len(grp)} trained models; correlations need at least {MIN_MODELS}")
            continue
        axes, axis_notes = complete_axes(grp)
        notes += [f"task {task}: {n}; granulated and CMI scores use the cells present" for n in axis_notes]
        for score in SCORE_COLUMNS:
            if score not in grp:
                continue
            x = rank_values(grp, score)
            if np.isfinite(x).sum() < MIN_MODELS:
                continue
            ranked = grp.assign(**{score: x})
            n_censored = int(_censored(grp, score).sum()) if score in CENSORABLE else 0
            note = (f"censored in all {n_censored} models (above what the probe resolves): no ranking"
                    if n_censored and n_censored == np.isfinite(x).sum() else constant_note(x))
            for target in TARGETS:
                y = grp[target].to_numpy(float)
                target_note = constant_note(y)
                lo, hi = bootstrap_ci(kendall_tau, x, y, n=n_boot)
                psi, per_axis = granulated_kendall(ranked, score, target, axes, ["model", "seed"]) if axes else (np.nan, {})
                rows.append({
                    "task": task, "score": score, "target": target, "n_models": int(np.isfinite(x).sum()),
                    "n_censored": n_censored,
                    "note": note or (f"{target.replace('_', ' ')} is {target_note}" if target_note else None),
                    "kendall_tau": kendall_tau(x, y), "tau_ci_low": lo, "tau_ci_high": hi,
                    "spearman_rho": spearman_rho(x, y),
                    "granulated_kendall": psi, "granulated_per_axis": json.dumps(per_axis),
                    "cmi": cmi_score(ranked, score, "generalization_gap", axes) if target == "generalization_gap" else np.nan,
                    "is_baseline": score in BASELINES,
                    # measured values only: a censored one is a bound and is never averaged
                    "trained_mean": float(np.nanmean(grp[score].to_numpy(float))) if grp[score].notna().any() else np.nan,
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
        cmi=("cmi", "mean"), n_models=("n_models", "sum"), n_censored=("n_censored", "sum"),
        n_tasks=("task", "nunique"), n_ranked=("kendall_tau", "count"))
    unranked = overall["n_tasks"] - overall["n_ranked"]
    overall["note"] = [
        None if u == 0 else f"constant in {u} of {t} tasks; the mean is over the other {t - u}" if u < t
        else f"constant in every task ({t}): no ranking" for u, t in zip(unranked, overall["n_tasks"])]
    boards += [ranked(grp.assign(task=ALL_TASKS)) for _, grp in overall.groupby("target")]
    return pd.concat(boards, ignore_index=True)


# columns that only protocol v3's records fill: tables and curves show them where measured
V3_COLUMNS = ("whole_b0_dtm", "class_betti_dtm_sum")
CURVE_MEASURES = ("phdim", "twonn", "mle", "betti_0", "betti_1", "linear_probe_accuracy", "phdim_per_class",
                  "class_betti_sum", "class_trivial_fraction", "whole_b0", "class_tp_h0", "class_tp_h1",
                  "whole_b0_dtm", "class_betti_dtm_sum", "phdim_ci_low", "phdim_ci_high")


def curves(layers: pd.DataFrame) -> pd.DataFrame:
    """Per-layer curves on relative depth, mean and spread over seeds, per task/model/status.

    A layer whose PHdim is censored in any seed has no PHdim mean (a bound is not averaged);
    ``phdim_n_censored`` counts those seeds and ``phdim_bound`` is the bound they exceed."""
    prim = primary_layers(layers)
    if prim.empty:
        return prim
    prim = prim.assign(phdim_censored=_censored(prim, "phdim").astype(int))
    measures = [m for m in CURVE_MEASURES if m in prim]
    g = prim.groupby(["task", "model", "family", "status", "layer", "depth", "role", "pooling"], as_index=False)
    agg = {f"{m}_{s}": (m, s) for m in measures for s in ("mean", "std", "min", "max")}
    bound = {"phdim_bound": ("phdim_bound", "max")} if "phdim_bound" in prim else {}
    measures = [m for m in measures if m not in V3_COLUMNS or prim[m].notna().any()]  # v3's only where measured
    agg = {f"{m}_{s}": (m, s) for m in measures for s in ("mean", "std", "min", "max")}
    out = g.agg(n_seeds=("seed", "nunique"), phdim_n_censored=("phdim_censored", "sum"), **bound, **agg)
    censored = [f"{m}_{s}" for m in ("phdim", "phdim_ci_low", "phdim_ci_high") if m in measures
                for s in ("mean", "std", "min", "max")]
    out.loc[out["phdim_n_censored"] > 0, censored] = np.nan
    return out.sort_values(["task", "model", "status", "depth"])


DYNAMICS_MEASURES = ("phdim", "twonn", "class_betti_sum", "whole_b0", "class_tp_h0", "class_tp_h1",
                     "linear_probe_accuracy", "betti_1", "whole_b0_dtm", "class_betti_dtm_sum")


def dynamics(layers: pd.DataFrame) -> pd.DataFrame:
    """The learning dynamics: every layer of every job measured at more than one epoch, one row
    per (job, layer, epoch) with the preferred pooling (censored PHdim left empty, flagged)."""
    if layers.empty:
        return layers
    several = layers.groupby("job_id")["epoch"].transform("nunique") > 1
    prim = primary_layers(layers[several], final_only=False)
    if prim.empty:
        return pd.DataFrame(columns=["task", "model", "family", "status", "seed", "job_id", "layer", "depth", "role", "epoch"])
    prim = prim.assign(phdim_censored=_censored(prim, "phdim"))
    keep = ["task", "model", "family", "status", "seed", "job_id", "layer", "depth", "role", "epoch", "phdim_censored"]
    cols = keep + [m for m in DYNAMICS_MEASURES + ("phdim_ci_low", "phdim_ci_high", "phdim_bound") if m in prim]
    return prim[cols].sort_values(["task", "model", "seed", "epoch", "depth"]).reset_index(drop=True)


def null_checks(scores: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in SCORE_COLUMNS if c in scores]
    return scores.groupby(["task", "model", "status"], as_index=False)[cols + ["test_accuracy", "generalization_gap"]].mean()


def architecture_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread of the main scores per (task, model, status): a row of the leaderboard.

    A PHdim censored in any run has no mean (``phdim_last_n_censored`` counts those runs)."""
    cols = ["test_accuracy", "generalization_gap", "phdim_last", "twonn_last", "betti0_last", "betti1_last",
            "class_betti_sum_last", "whole_b0_last", "whole_b0_dtm_last", "class_betti_dtm_sum_last",
            "linear_probe_last", "n_parameters"]
    cols = [c for c in cols if c in scores and (c.removesuffix("_last") not in V3_COLUMNS or scores[c].notna().any())]
    keys = ["task", "model", "family", "status"] + (["provenance"] if "provenance" in scores else [])
    frame = scores.assign(phdim_last_censored=_censored(scores, "phdim_last").astype(int))
    g = frame.groupby(keys, as_index=False)
    # the PHdim interval: the mean of the runs' interval ends; a censored run's lower bound
    interval = {f"phdim_last_{end}_mean": (f"phdim_last_{end}", "mean") for end in ("ci_low", "ci_high")
                if f"phdim_last_{end}" in frame}
    bound = {"phdim_last_bound_min": ("phdim_last_bound", "min")} if "phdim_last_bound" in frame else {}
    out = g.agg(n_runs=("job_id", "count"), phdim_last_n_censored=("phdim_last_censored", "sum"), **interval, **bound,
                **{f"{c}_{s}": (c, s) for c in cols for s in ("mean", "std")})
    out.loc[out["phdim_last_n_censored"] > 0, ["phdim_last_mean", "phdim_last_std"] + list(interval)] = np.nan
    return out


DEPTH_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _cluster_bootstrap(frame: pd.DataFrame, stat, *, n: int = 200, seed: int = 0) -> tuple[float, float]:
    """A 95% percentile interval of ``stat(frame)`` resampling whole comparisons (rows of one
    comparison are not independent)."""
    ids = frame["comparison_id"].unique()
    groups = {k: g for k, g in frame.groupby("comparison_id")}
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        pick = rng.choice(ids, size=len(ids), replace=True)
        v = stat(pd.concat([groups[k] for k in pick], ignore_index=True))
        if np.isfinite(v):
            vals.append(v)
    if len(vals) < n // 2:
        return np.nan, np.nan
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def cka_rtd_agreement(comparisons: pd.DataFrame, *, n_boot: int = 200) -> pd.DataFrame:
    """Kendall's tau between CKA and topological similarity (1 - RTD) over every layer pair with
    both, per comparison kind and over all, with an interval from resampling whole comparisons."""
    both = comparisons.dropna(subset=["cka", "rtd"])
    rows = []
    for kind, grp in [("all", both)] + list(both.groupby("kind")):
        if grp["comparison_id"].nunique() < 2:
            continue

        def tau(frame):
            return kendall_tau(frame["cka"], 1 - frame["rtd"])

        lo, hi = _cluster_bootstrap(grp, tau, n=n_boot)
        rows.append({"kind": kind, "n_comparisons": int(grp["comparison_id"].nunique()), "n_layer_pairs": len(grp),
                     "kendall_tau": tau(grp), "tau_ci_low": lo, "tau_ci_high": hi})
    return pd.DataFrame(rows, columns=["kind", "n_comparisons", "n_layer_pairs", "kendall_tau", "tau_ci_low", "tau_ci_high"])


def matched_similarity(comparisons: pd.DataFrame) -> pd.DataFrame:
    """For every comparison and left layer, the similarity to the right layer at the nearest
    relative depth (the diagonal of the map), with the depth's bin."""
    if comparisons.empty:
        return comparisons.assign(depth_bin=pd.Series(dtype=str))
    comp = comparisons.assign(gap=(comparisons["left_depth"] - comparisons["right_depth"]).abs())
    nearest = comp.loc[comp.groupby(["comparison_id", "left_layer"])["gap"].idxmin()]
    labels = [f"{a:.2f}–{b:.2f}" for a, b in zip(DEPTH_BINS, DEPTH_BINS[1:])]
    nearest = nearest.assign(depth_bin=pd.cut(nearest["left_depth"], DEPTH_BINS, labels=labels, include_lowest=True).astype(str))
    return nearest.drop(columns="gap").reset_index(drop=True)


def seeds_against_architectures(comparisons: pd.DataFrame, *, n_boot: int = 200) -> pd.DataFrame:
    """Per depth bin: the mean CKA of matched layers in seed pairs, in architecture pairs and in
    trained-against-random-init pairs, and the seeds' excess over architectures with an interval
    from resampling whole comparisons."""
    matched = matched_similarity(comparisons)
    rows = []
    for depth_bin, grp in matched.groupby("depth_bin"):
        row = {"depth_bin": depth_bin}
        for kind in KINDS_ORDER:
            sub = grp[grp["kind"] == kind]
            row[f"{kind}_cka"] = float(sub["cka"].mean()) if len(sub) else np.nan
            row[f"{kind}_n"] = int(sub["comparison_id"].nunique())
        pair = grp[grp["kind"].isin(["seeds", "architectures"])]

        def excess(frame):
            means = frame.groupby("kind")["cka"].mean()
            return float(means.get("seeds", np.nan) - means.get("architectures", np.nan))

        row["excess"] = excess(pair)
        row["excess_ci_low"], row["excess_ci_high"] = (_cluster_bootstrap(pair, excess, n=n_boot)
                                                       if pair["kind"].nunique() == 2 else (np.nan, np.nan))
        rows.append(row)
    return pd.DataFrame(rows)


KINDS_ORDER = ("seeds", "architectures", "random_init")


def comparison_findings(t) -> list[dict]:
    """What the comparison maps say, with the numbers: CKA against RTD, and seeds against architectures."""
    comp = t.get("comparisons")
    if comp is None or comp.empty:
        return []
    out = []
    agree = cka_rtd_agreement(comp)
    if len(agree):
        overall = agree[agree["kind"] == "all"].iloc[0]
        parts = [f"{r.kind} {r.kendall_tau:+.2f} [{r.tau_ci_low:+.2f}, {r.tau_ci_high:+.2f}] over {r.n_layer_pairs} layer pairs "
                 f"of {r.n_comparisons} comparisons" for r in agree.itertuples()]
        sig = overall["tau_ci_low"] > 0 or overall["tau_ci_high"] < 0
        out.append({"title": "Does topological similarity (1 − RTD) agree with CKA?",
                    "finding": "Kendall's tau between linear CKA and 1 − RTD over the layer pairs where both are measured: "
                               + "; ".join(parts) + ".",
                    "verdict": (("they agree" if overall["kendall_tau"] > 0 else "they disagree") if sig
                                else "no significant agreement") + f" (tau {overall['kendall_tau']:+.2f})",
                    "numbers": {"tau": float(overall["kendall_tau"])}})
    seeds = seeds_against_architectures(comp)
    if len(seeds) and seeds["excess"].notna().any():
        parts = [f"depth {r.depth_bin}: seeds {_fmt(r.seeds_cka)} ({r.seeds_n} pairs), architectures "
                 f"{_fmt(r.architectures_cka)} ({r.architectures_n}), random init {_fmt(r.random_init_cka)} "
                 f"({r.random_init_n}); excess {_fmt(r.excess, '+.2f')} [{_fmt(r.excess_ci_low, '+.2f')}, "
                 f"{_fmt(r.excess_ci_high, '+.2f')}]" for r in seeds.itertuples()]
        more = int((seeds["excess_ci_low"] > 0).sum())
        out.append({"title": "Are two seeds of one architecture more alike than two architectures?",
                    "finding": "Mean linear CKA between layers at matching relative depth: " + "; ".join(parts) + ".",
                    "verdict": f"seed pairs are significantly more similar in {more} of {len(seeds)} depth bins",
                    "numbers": {"bins_more_similar": more}})
    return out


def analyze(models: pd.DataFrame, layers: pd.DataFrame, *, n_boot: int = 500) -> AnalysisReport:
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


def analyze_store(store_root: str | Path, *, n_boot: int = 500) -> str:
    from .store import ResultStore, collect, collect_comparisons

    store = ResultStore(store_root)
    store.require_records()  # a missing or empty store: one clear error naming what to run
    models, layers = collect(store)
    report = analyze(models, layers, n_boot=n_boot)
    comparisons = collect_comparisons(store)
    if len(models):  # the analysis never mixes protocol versions: nor do the comparisons
        comparisons = comparisons[comparisons["protocol_version"] == latest_version(models["protocol_version"])]
    report.tables["comparisons"] = comparisons
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
            overall = board[(board["task"] == ALL_TASKS) & (board["target"] == target)].sort_values("rank")
            if len(overall):
                top = overall.iloc[0]
                base = overall[overall["is_baseline"]].sort_values("rank").head(1)
                bl = f"; the best baseline, {base.iloc[0]['score']}, has tau {base.iloc[0]['kendall_tau']:+.2f}" if len(base) else ""
                out.append(f"Across tasks, the score most rank-correlated with {target.replace('_', ' ')} is "
                           f"{top['score']} (mean Kendall tau {top['kendall_tau']:+.2f}){bl}.")
    out += [f"{c['title']}: {c['verdict']} (details on the Measures page)." for c in literature_checks(t)]
    out += [f"{c['title']} {c['verdict'][0].upper() + c['verdict'][1:]} (details on the Compare page)."
            for c in comparison_findings(t)]
    return out or ["No analysis yet: run `reptopo run` and `reptopo analyze`."]


def _share(mask) -> str:
    mask = pd.Series(mask).dropna()
    return f"{int(mask.sum())} of {len(mask)}" if len(mask) else "no runs"


def _fmt(v, spec=".2f") -> str:
    return format(v, spec) if v is not None and np.isfinite(v) else "n/a"


def _final_layers(t) -> pd.DataFrame:
    """Primary layers at each job's final epoch, with the job's status and accuracy (the literature
    checks' input; ``final=`` passes it to a check that would compute it again)."""
    layers = primary_layers(t["layers"])
    if layers.empty:
        return layers
    info = t["models"].set_index("job_id")[["test_accuracy", "train_accuracy", "modality"]]
    return layers.join(info, on="job_id")


def reach_depth(job_layers: pd.DataFrame, cls: str) -> float:
    """The relative depth from which class ``cls`` reads (1, 0) on the hop metric at every deeper
    layer (NaN: never, or its homology was not measured)."""
    rows = job_layers.sort_values("depth")
    trivial = [cls in str(v).split(",") if isinstance(v, str) else False for v in rows["trivial_classes"]]
    if not trivial or not trivial[-1]:
        return np.nan
    k = len(trivial)
    while k > 0 and trivial[k - 1]:
        k -= 1
    return float(rows["depth"].iloc[k])


def _halfway_depth(curve: pd.Series) -> float:
    """The first relative depth at which a curve (indexed by depth) is at most half its first value."""
    curve = curve.sort_index().dropna()
    below = curve[curve <= curve.iloc[0] / 2] if len(curve) else curve
    return float(below.index[0]) if len(below) else np.nan


def naitzat_check(t, final: pd.DataFrame | None = None) -> dict | None:
    """Naitzat et al. 2020: each class's Betti numbers fall to (1, 0) through a well-trained
    network, faster with ReLU than with tanh.

    Per class, the reach depth is the relative depth from which it reads (1, 0) on the hop metric
    at every deeper layer; a class that never does ranks after every one that does (Mann-Whitney
    U between the activations' reach depths, "not reached" as +inf). The per-class complexity
    b0 + b1, averaged over classes and runs, gives the depth at which it halves."""
    layers = _final_layers(t) if final is None else final
    if layers.empty or "trivial_classes" not in layers:
        return None
    syn = layers[layers["task"].str.startswith("naitzat") & (layers["status"] == "trained")]
    if syn.empty:
        return None
    rows = []
    for (task, model, job), grp in syn.groupby(["task", "model", "job_id"]):
        named = set().union(*[set(str(v).split(",")) for v in grp["trivial_classes"].dropna()]) - {""}
        n_classes = int(grp["n_classes_measured"].max()) if grp["n_classes_measured"].notna().any() else 0
        for c in sorted(named | {str(c) for c in range(n_classes)}):
            rows.append({"task": task, "model": model, "job_id": job, "class": c,
                         "test_accuracy": grp["test_accuracy"].iloc[0], "depth": reach_depth(grp, c)})
    df = pd.DataFrame(rows)

    def activation(model):
        return "relu" if "relu" in model else "tanh" if "tanh" in model else "other"

    df["activation"] = df["model"].map(activation)
    well = df[df["test_accuracy"] >= 0.95]
    well_jobs = set(well["job_id"])
    curve = syn[syn["job_id"].isin(well_jobs)].assign(activation=lambda d: d["model"].map(activation))
    complexity = curve.groupby(["activation", "depth"])["class_betti_sum"].mean()
    acts = sorted(set(well["activation"]))
    numbers: dict = {"share_reached": float(well["depth"].notna().mean()) if len(well) else np.nan}
    parts = []
    for a in acts:
        d = well[well["activation"] == a]["depth"]
        c = complexity.loc[a]
        numbers[f"{a}_reached"] = f"{int(d.notna().sum())} of {len(d)}"
        numbers[f"{a}_depth"] = float(d.fillna(np.inf).median())
        numbers[f"{a}_halfway"] = _halfway_depth(c)
        parts.append(f"{a}: {int(d.notna().sum())} of {len(d)} classes reach (1, 0), median reach depth "
                     f"{'not reached' if not np.isfinite(numbers[f'{a}_depth']) else format(numbers[f'{a}_depth'], '.2f')}; "
                     f"mean per-class b0 + b1 {c.iloc[0]:.1f} at the input, {c.iloc[-1]:.1f} at the head, halved by depth "
                     f"{_fmt(numbers[f'{a}_halfway'])}")
    acc = df.drop_duplicates("job_id").groupby(["task", "activation"])["test_accuracy"].mean()
    acc_parts = [f"{task} {a} {v:.3f}" for (task, a), v in acc.items()]
    if not len(well):
        verdict = "not tested: no synthetic model reached 95% test accuracy"
    else:
        share = numbers["share_reached"]
        head = curve[curve["role"] == "head"]["class_betti_sum"].mean()
        start = curve[curve["role"] == "input"]["class_betti_sum"].mean()
        first = ("reproduced" if share >= 0.9 else
                 "partly reproduced: the per-class topology simplifies" if head <= start / 2 else "not reproduced")
        first += (f" (mean b0 + b1 from {start:.1f} at the input to {head:.1f} at the head), and "
                  f"{int(well['depth'].notna().sum())} of {len(well)} classes end at (1, 0)")
        if {"relu", "tanh"} <= set(acts):
            relu = well[well["activation"] == "relu"]["depth"].fillna(np.inf)
            tanh = well[well["activation"] == "tanh"]["depth"].fillna(np.inf)
            test = stats.mannwhitneyu(relu.replace(np.inf, 2.0), tanh.replace(np.inf, 2.0), alternative="less")
            numbers["mann_whitney_p"] = float(test.pvalue)
            faster = (numbers["relu_halfway"] < numbers["tanh_halfway"]) if np.isfinite(numbers["tanh_halfway"]) else np.isfinite(numbers["relu_halfway"])
            second = ("faster with ReLU, reproduced" if faster and test.pvalue < 0.05 else
                      "faster with ReLU in the complexity curve, but the classes' reach depths do not differ significantly"
                      if faster else "not faster with ReLU, not reproduced")
            second += (f" (complexity halved at depth {_fmt(numbers['relu_halfway'])} with ReLU, "
                       f"{_fmt(numbers['tanh_halfway'])} with tanh; reach depths, one-sided Mann-Whitney p = {test.pvalue:.3f})")
        else:
            second = "ReLU against tanh not testable"
        verdict = f"{first}; {second}"
    return {
        "title": "Naitzat et al. 2020: each class's Betti numbers fall to (1, 0) through the layers, faster with ReLU than tanh",
        "finding": (f"Per-class Betti numbers on the k-NN hop metric of the synthetic two-class tasks, trained networks of "
                    f"test accuracy at least 0.95 ({len(well_jobs)} of {df['job_id'].nunique()} runs; mean test "
                    f"accuracy {'; '.join(acc_parts)}). By activation: {'; '.join(parts)}."),
        "verdict": verdict,
        "numbers": numbers,
    }


def _falls(grp: pd.DataFrame, col: str) -> float:
    """Whether ``col`` at the last hidden layer is below the input's (NaN when either is missing)."""
    grp = grp.sort_values("depth")
    inp, hidden = grp[grp["role"] == "input"], grp[~grp["role"].isin(["input", "head"])]
    if inp.empty or hidden.empty or pd.isna(inp[col].iloc[0]) or pd.isna(hidden[col].iloc[-1]):
        return np.nan
    return float(hidden[col].iloc[-1] < inp[col].iloc[0])


def _hunch(grp: pd.DataFrame, col: str, *, from_input: bool = True) -> float:
    """Whether a hidden layer's ``col`` exceeds both the first layer's (the input, or with
    ``from_input=False`` the first hidden layer) and the last hidden layer's; NaN unless every
    layer compared has a value."""
    grp = grp.sort_values("depth")
    hidden = grp[~grp["role"].isin(["input", "head"])][col].astype(float)
    if not from_input:
        first, hidden = (hidden.iloc[0], hidden.iloc[1:]) if len(hidden) else (np.nan, hidden)
    else:
        first = grp[col].astype(float).iloc[0]
    if len(hidden) < 2 or hidden.isna().any() or not np.isfinite(first):
        return np.nan
    return float(hidden.max() > first and hidden.max() > hidden.iloc[-1])


def magai_check(t, final: pd.DataFrame | None = None) -> dict | None:
    """Magai & Ayzenberg 2022: per-class total persistence falls with depth; PHdim rises, then falls."""
    layers = _final_layers(t) if final is None else final
    if layers.empty or "class_tp_h0" not in layers or layers["class_tp_h0"].isna().all():
        return None
    real = layers[~layers["task"].str.startswith(("naitzat", "synthetic"))]
    by_status = {}
    for group, statuses in (("trained", TRAINED_STATUSES), ("controls", CONTROLS)):
        sub = real[real["status"].isin(statuses)]
        jobs = sub.groupby("job_id")
        by_status[group] = {
            "h0": pd.Series([_falls(g, "class_tp_h0") for _, g in jobs]),
            "h1": pd.Series([_falls(g, "class_tp_h1") for _, g in jobs]),
            "hunch": pd.Series([_hunch(g, "phdim", from_input=False) for _, g in jobs]),
            "censored": int(sub[~sub["role"].isin(["input", "head"])].groupby("job_id")["phdim_censored"].any().sum())
            if "phdim_censored" in sub else 0,
            "n": sub["job_id"].nunique(),
        }
    tr, ctl = by_status["trained"], by_status["controls"]
    h0 = tr["h0"].mean()
    hunch = tr["hunch"].mean()
    verdict = ("reproduced" if h0 >= 0.75 else "partly reproduced" if h0 >= 0.5 else "not reproduced") + " for H0"
    verdict += f" ({_share(tr['h0'])} trained models)"
    if ctl["h0"].mean() >= 0.5:
        verdict += f", but it falls in {_share(ctl['h0'])} random-init and shuffled-label controls too, so not because of training"
    h1 = tr["h1"].mean()
    verdict += "; " + ("reproduced" if h1 >= 0.75 else "partly reproduced" if h1 >= 0.5 else "not reproduced") + f" for H1 ({_share(tr['h1'])})"
    testable = int(tr["hunch"].notna().sum())
    if testable < 3:
        verdict += (f"; PHdim rising then falling not testable at this probe size: {tr['censored']} of {tr['n']} trained "
                    f"models have a hidden layer whose PHdim is censored (beyond what the probe resolves)")
    else:
        verdict += "; PHdim " + ("rises then falls in most models, reproduced" if hunch > 0.5 else
                                 "rises then falls in a minority, partly reproduced" if hunch > 0.2 else
                                 "does not rise then fall, not reproduced") + f" ({_share(tr['hunch'])} with every layer resolved)"
    return {
        "title": "Magai and Ayzenberg 2022: per-class total persistence falls with depth; PHdim rises, then falls",
        "finding": (f"Real tasks. Per-class total persistence (normalised by the layer's RMS radius) at the last hidden "
                    f"layer is below the input's in {_share(tr['h0'])} trained or pretrained models for H0 and "
                    f"{_share(tr['h1'])} for H1; in the random-init and shuffled-label controls in {_share(ctl['h0'])} "
                    f"(H0) and {_share(ctl['h1'])} (H1). A middle hidden layer's PHdim exceeds both the first and the "
                    f"last hidden layer's in {_share(tr['hunch'])} trained models whose hidden layers' PHdim all resolve "
                    f"({tr['censored']} of {tr['n']} have a censored hidden layer and are left out) and in "
                    f"{_share(ctl['hunch'])} controls."),
        "verdict": verdict,
        "numbers": {"h0_falls": h0, "h1_falls": h1, "phdim_hunch": hunch},
    }


def ansuini_check(t, final: pd.DataFrame | None = None) -> dict | None:
    """Ansuini et al. 2019: the intrinsic dimension rises, then falls (a hunchback), not in untrained networks."""
    layers = _final_layers(t) if final is None else final
    if layers.empty:
        return None
    vision = layers[(layers["modality"] == "vision") & (layers["family"] != "mlp")]
    out = {}
    for group, statuses in (("trained", TRAINED_STATUSES), ("random_init", ("random_init",)), ("shuffled", ("shuffled_labels",))):
        jobs = vision[vision["status"].isin(statuses)].groupby("job_id")
        out[group] = (pd.Series([_hunch(g, "twonn") for _, g in jobs]), pd.Series([_falls(g, "twonn") for _, g in jobs]))
    if not len(out["trained"][0]):
        return None
    hunch, rnd = out["trained"][0].mean(), out["random_init"][0].mean()
    calibrated = ""
    if "phdim_calibrated" in vision and vision["phdim_calibrated"].notna().any():  # protocol v3
        cal = {g: pd.Series([_hunch(grp, "phdim") for _, grp in vision[vision["status"].isin(st)].groupby("job_id")])
               for g, st in (("trained", TRAINED_STATUSES), ("random_init", ("random_init",)))}
        calibrated = (f" With calibrated PHdim as the intrinsic dimension: a hunchback in {_share(cal['trained'])} "
                      f"trained or pretrained models and {_share(cal['random_init'])} random-init controls.")
    verdict = ("reproduced" if hunch > 0.5 else "partly reproduced: a minority of models" if hunch > 0.2
               else "not reproduced for these shallow networks: the dimension falls from the input on")
    verdict += ("; absent in untrained networks, reproduced" if np.isfinite(rnd) and rnd < min(0.5, hunch)
                else "; present in untrained networks as well, not reproduced" if np.isfinite(rnd) else "; no untrained controls")
    return {
        "title": "Ansuini et al. 2019: the intrinsic dimension rises, then falls with depth (a hunchback), unlike in untrained networks",
        "finding": (f"Convolutional and Transformer vision models, TwoNN: a hidden layer above both the input and the last "
                    f"hidden layer in {_share(out['trained'][0])} trained or pretrained models, {_share(out['random_init'][0])} "
                    f"random-init and {_share(out['shuffled'][0])} shuffled-label controls; the last hidden layer below the "
                    f"input in {_share(out['trained'][1])} trained models and {_share(out['random_init'][1])} random-init ones."
                    + calibrated),
        "verdict": verdict,
        "numbers": {"trained_hunch": hunch, "random_init_hunch": rnd},
    }


def head_components_check(t, final: pd.DataFrame | None = None) -> dict | None:
    """The whole cloud's components at the head of trained classifiers against the number of
    classes: b0 at the cloud's resolution (protocol v2's rule) and, under protocol v3, the DTM
    filtration's significant count. The acceptance figure: the share of trained MNIST and digits
    models of test accuracy at least 0.9 whose count equals the number of classes, against the
    random-init controls."""
    layers = _final_layers(t) if final is None else final
    if layers.empty or "whole_b0" not in layers or layers["whole_b0"].isna().all():
        return None
    classes = layers.groupby("task")["n_classes_measured"].max()
    heads = layers[layers["role"] == "head"].copy()
    heads["classes"] = heads["task"].map(classes)
    dtm = "whole_b0_dtm" in heads and heads["whole_b0_dtm"].notna().any()
    rows = []
    for (task, group), sub in heads.assign(group=np.where(heads["status"].isin(TRAINED_STATUSES), "trained", heads["status"])).groupby(["task", "group"]):
        b0 = sub["whole_b0"].astype(float)
        row = {"task": task, "group": group, "classes": int(sub["classes"].iloc[0]), "n": len(sub),
               "equal": int((b0 == sub["classes"]).sum()), "one": int((b0 == 1).sum()),
               "unresolved": int(b0.isna().sum()), "median": float(np.nanmedian(b0)) if b0.notna().any() else np.nan,
               "median_large": float(np.nanmedian(sub["whole_b0_large"].astype(float)))}
        if dtm:
            d = sub["whole_b0_dtm"].astype(float)
            row.update(dtm_equal=int((d == sub["classes"]).sum()), dtm_median=float(np.nanmedian(d)) if d.notna().any() else np.nan)
        rows.append(row)
    df = pd.DataFrame(rows)
    tr = df[df["group"] == "trained"]
    parts = [f"{r.task} ({r.classes} classes): {r.group} median b0 {_fmt(r.median, '.0f')} (components of at least 1% of "
             f"the points: {_fmt(r.median_large, '.0f')}), b0 = classes in {r.equal} of {r.n}, b0 = 1 in {r.one}"
             + (f", unresolved in {r.unresolved}" if r.unresolved else "")
             + (f"; DTM count: median {_fmt(r.dtm_median, '.0f')}, = classes in {r.dtm_equal} of {r.n}" if dtm else "")
             for r in df.itertuples()]
    share = tr["equal"].sum() / tr["n"].sum() if len(tr) else np.nan
    numbers: dict = {"share_equal": share}
    verdict = (f"b0 equals the number of classes in {int(tr['equal'].sum())} of {int(tr['n'].sum())} trained heads"
               + ("" if not np.isfinite(share) else "; " + ("the classes separate into components" if share > 0.5
                  else "most trained heads keep classes connected: stray and misclassified probe points bridge them")))
    if dtm:
        well = heads[heads["task"].isin(["mnist", "digits"]) & heads["status"].isin(["trained"])
                     & (heads["test_accuracy"] >= 0.9)]
        ctl = heads[heads["task"].isin(["mnist", "digits"]) & (heads["status"] == "random_init")]
        eq_w = (well["whole_b0_dtm"] == well["classes"]).astype(float)
        eq_c = (ctl["whole_b0_dtm"] == ctl["classes"]).astype(float)
        numbers.update(dtm_share_well_trained=float(eq_w.mean()) if len(eq_w) else np.nan,
                       dtm_share_random_init=float(eq_c.mean()) if len(eq_c) else np.nan,
                       dtm_median_well_trained=float(well["whole_b0_dtm"].median()) if len(well) else np.nan)
        verdict += (f". Under the DTM rule the count equals the number of classes in {_share(eq_w)} trained MNIST and "
                    f"digits models of test accuracy at least 0.9 (median {_fmt(numbers['dtm_median_well_trained'], '.0f')}) "
                    f"and in {_share(eq_c)} of their random-init controls")
    return {
        "title": "The trained classifier's head: one component per class?",
        "finding": ("Whole-cloud components at the head layer (b0 at the cloud's own resolution"
                    + ("; the DTM filtration's count above its bootstrap band" if dtm else "") + "): "
                    + "; ".join(parts) + "."),
        "verdict": verdict,
        "numbers": numbers,
    }


CNN_FAMILIES = ("cnn", "cnn1d", "resnet", "pretrained_cnn", "mobilenet", "vgg")
TRANSFORMER_FAMILIES = ("vit", "transformer", "pretrained_transformer")


def _depth_slope(grp: pd.DataFrame, col: str = "phdim") -> float:
    """The least-squares slope of ``col`` over relative depth across a job's layers after the
    input (NaN with fewer than three values or a censored one)."""
    grp = grp[grp["role"] != "input"].sort_values("depth")
    if len(grp) < 3 or grp[col].isna().any() or bool(_censored(grp, col).any()):
        return np.nan
    return float(np.polyfit(grp["depth"].astype(float), grp[col].astype(float), 1)[0])


def _mean_ci(x: np.ndarray, *, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The mean and its 95% percentile bootstrap interval."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return (float(x.mean()) if len(x) else np.nan, np.nan, np.nan)
    boot = np.random.default_rng(seed).choice(x, size=(n, len(x)), replace=True).mean(axis=1)
    return float(x.mean()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def _depth_rank_correlation(grp: pd.DataFrame, col: str = "phdim") -> float:
    """Spearman's rho between relative depth and ``col`` over a job's layers after the input, a
    censored value ranking above every measured one (a lower bound's rank is known)."""
    grp = grp[grp["role"] != "input"].sort_values("depth")
    if len(grp) < 3:
        return np.nan
    return spearman_rho(grp["depth"].astype(float), rank_values(grp.rename(columns={col: "phdim_last",
                        f"{col}_censored": "phdim_last_censored"}), "phdim_last"))


def magai2023_check(t, final: pd.DataFrame | None = None) -> dict | None:
    """Magai 2023: PHdim changes across depth differently in CNNs and in Transformers, in CV and NLP.

    Per trained model, the slope of PHdim (calibrated under protocol v3) over relative depth;
    per modality, the difference of the two families' mean slopes with a bootstrap interval
    (models resampled within each family). Reproduced where the interval excludes 0; refuted
    where it holds 0 and is narrower than half the mean absolute statistic (a difference of that
    size would have been seen); inconclusive otherwise. Where a family has fewer than two models
    with every layer's PHdim measured (a censored layer is a lower bound, and a slope through it
    is not a number), the same test runs on Spearman's rho between depth and PHdim, in which a
    censored layer ranks above every measured one."""
    layers = _final_layers(t) if final is None else final
    if layers.empty or "phdim" not in layers:
        return None
    trained = layers[layers["status"].isin(TRAINED_STATUSES) & layers["family"].isin(CNN_FAMILIES + TRANSFORMER_FAMILIES)]
    if trained.empty:
        return None
    per_job = pd.DataFrame([{"job_id": j, "family": g["family"].iloc[0], "modality": g["modality"].iloc[0],
                             "slope": _depth_slope(g), "rho": _depth_rank_correlation(g)}
                            for j, g in trained.groupby("job_id")])
    per_job["kind"] = np.where(per_job["family"].isin(CNN_FAMILIES), "CNN", "Transformer")
    parts, verdicts, numbers = [], [], {}
    rng = np.random.default_rng(0)
    for modality, label in (("vision", "CV"), ("text", "NLP")):
        sub = per_job[per_job["modality"] == modality]
        for stat, unit in (("slope", "per unit of relative depth"),
                           ("rho", "in Spearman's rho of PHdim with depth (censored layers ranked on top)")):
            c, tr = (sub[sub["kind"] == kind][stat].dropna().to_numpy() for kind in ("CNN", "Transformer"))
            if len(c) >= 2 and len(tr) >= 2:
                break
        if len(c) < 2 or len(tr) < 2:
            verdicts.append(f"{label}: not testable ({len(c)} CNNs and {len(tr)} Transformers measured)")
            continue
        mc, mt = _mean_ci(c), _mean_ci(tr)
        boot = np.array([rng.choice(tr, len(tr)).mean() - rng.choice(c, len(c)).mean() for _ in range(2000)])
        lo, hi = np.percentile(boot, [2.5, 97.5])
        diff = float(tr.mean() - c.mean())
        scale = float(np.mean(np.abs(np.r_[c, tr])))
        verdict = ("reproduced: they differ" if lo > 0 or hi < 0 else
                   "refuted: they change alike" if (hi - lo) / 2 < 0.5 * scale else "inconclusive")
        numbers[f"{label}_statistic"] = stat
        numbers[f"{label}_difference"] = diff
        numbers[f"{label}_interval"] = [float(lo), float(hi)]
        name = "slope" if stat == "slope" else "Spearman's rho"
        parts.append(f"{label} ({name}): CNNs {mc[0]:+.2f} [{mc[1]:+.2f}, {mc[2]:+.2f}] over {len(c)} models, Transformers "
                     f"{mt[0]:+.2f} [{mt[1]:+.2f}, {mt[2]:+.2f}] over {len(tr)}; difference {diff:+.2f} [{lo:+.2f}, {hi:+.2f}]")
        verdicts.append(f"{label}: {verdict} (difference {diff:+.2f} [{lo:+.2f}, {hi:+.2f}] {unit})")
    return {
        "title": "Magai 2023: PHdim changes across depth differently in CNNs and Transformers, in CV and NLP",
        "finding": ("The depth profile of PHdim per trained model (layers after the input; calibrated where the protocol "
                    "calibrates): its slope over relative depth, or where censored layers leave a family without slopes, "
                    "Spearman's rho with depth; mean over models with a 95% bootstrap interval. " + "; ".join(parts) + "."),
        "verdict": "; ".join(verdicts),
        "numbers": numbers,
    }


def birdal_check(t) -> dict | None:
    """Birdal et al. 2021: PHdim predicts the generalization gap. Read off the measures board on
    the task with a complete width x train-size x label-noise grid, against the baselines."""
    board = t["measures"]
    if board.empty:
        return None
    gap = board[(board["target"] == "generalization_gap") & (board["task"] != ALL_TASKS)]
    grid = gap[gap["cmi"].notna()]["task"].unique() if "cmi" in gap else []
    rows = []
    for task in grid:
        sub = gap[gap["task"] == task].set_index("score")
        if "phdim_last" not in sub.index:
            continue
        r = sub.loc["phdim_last"]
        base = sub[sub["is_baseline"]]
        best = base["strength"].idxmax() if len(base) and base["strength"].notna().any() else None
        rows.append((task, r, best, base.loc[best] if best is not None else None))
    if not rows:
        return None
    parts, wins = [], 0
    for task, r, best, b in rows:
        wins += bool(r["beats_baselines"])
        parts.append(f"{task}: PHdim (last) Kendall {r['kendall_tau']:+.2f} [{r['tau_ci_low']:+.2f}, {r['tau_ci_high']:+.2f}], "
                     f"granulated {_fmt(r['granulated_kendall'], '+.2f')}, CMI {_fmt(r['cmi'], '.3f')}"
                     + (f"; best baseline {best}: Kendall {b['kendall_tau']:+.2f}, granulated "
                        f"{_fmt(b['granulated_kendall'], '+.2f')}, CMI {_fmt(b['cmi'], '.3f')}" if b is not None else ""))
    return {
        "title": "Birdal et al. 2021: PHdim predicts the generalization gap",
        "finding": "On the complete width x train-size x label-noise grid: " + "; ".join(parts) + ".",
        "verdict": (f"PHdim beats the best baseline in {wins} of {len(rows)} grid tasks"
                    + ("; not reproduced: a baseline predicts the gap at least as well" if wins == 0 else
                       "; reproduced" if wins == len(rows) else "; partly reproduced")),
        "numbers": {"wins": wins, "tasks": len(rows)},
    }


def dynamics_check(t) -> dict | None:
    """The learning dynamics (Magai 2023's emphasis): by family, the median over runs of the last
    hidden layer's PHdim and the head's component count at each measured epoch."""
    dyn = t["dynamics"]
    if dyn.empty or "phdim" not in dyn:
        return None
    dyn = dyn[dyn["status"] == "trained"]
    rows = []
    for job, grp in dyn.groupby("job_id"):
        last_epoch = grp["epoch"].max()
        hidden = grp[~grp["role"].isin(["input", "head"])]
        head = grp[grp["role"] == "head"]
        if hidden.empty:
            continue
        deepest = hidden[hidden["depth"] == hidden["depth"].max()]
        for epoch, e in deepest.groupby("epoch"):
            h = head[head["epoch"] == epoch]
            rows.append({"family": grp["family"].iloc[0], "epoch": "last" if epoch == last_epoch else str(int(epoch)),
                         "phdim": np.nan if bool(e["phdim_censored"].iloc[0]) else float(e["phdim"].iloc[0]),
                         "components": float(h["whole_b0_dtm"].iloc[0]) if len(h) and "whole_b0_dtm" in h
                         and pd.notna(h["whole_b0_dtm"].iloc[0]) else np.nan})
    if not rows:
        return None
    df = pd.DataFrame(rows)
    order = ["0", "1", "2", "5", "last"]
    sentences = []
    moves: dict = {"components rise": [], "components stay": [], "PHdim falls": [], "PHdim rises": []}
    for family, grp in df.groupby("family"):
        med = grp.groupby("epoch")[["phdim", "components"]].median()
        first, last = med.iloc[0] if "0" not in med.index else med.loc["0"], med.loc["last"] if "last" in med.index else med.iloc[-1]
        if np.isfinite(first["components"]) and np.isfinite(last["components"]):
            moves["components rise" if last["components"] > first["components"] else "components stay"].append(family)
        if np.isfinite(first["phdim"]) and np.isfinite(last["phdim"]):
            moves["PHdim falls" if last["phdim"] < first["phdim"] else "PHdim rises"].append(family)
    for family, grp in df.groupby("family"):
        med = grp.groupby("epoch")[["phdim", "components"]].median()
        epochs = [e for e in order if e in med.index]
        ph = " → ".join(_fmt(med.loc[e, "phdim"], ".3g") for e in epochs)
        text = f"{family}: PHdim of the last hidden layer {ph} (epochs {', '.join(epochs)})"
        if med["components"].notna().any():
            text += "; components at the head " + " → ".join(_fmt(med.loc[e, "components"], ".0f") for e in epochs)
        sentences.append(text)
    return {
        "title": "The learning dynamics: PHdim and the head's components over training",
        "finding": "Median over the seed-0 runs at default hyperparameters, by family. " + "; ".join(sentences) + ".",
        "verdict": ("from initialisation to the last epoch, the head's components rise in "
                    + (", ".join(moves["components rise"]) or "no family") + " and stay put in "
                    + (", ".join(moves["components stay"]) or "no family") + "; the last hidden layer's PHdim falls in "
                    + (", ".join(moves["PHdim falls"]) or "no family") + " and rises in "
                    + (", ".join(moves["PHdim rises"]) or "no family") + " (the Architectures page maps every run)"),
        "numbers": {k: v for k, v in moves.items()},
    }


def literature_checks(t) -> list[dict]:
    """Each check: a title, a finding computed from the records, a verdict read off the numbers
    and the numbers behind it."""
    scores, board = t["scores"], t["measures"]
    if scores.empty:
        return []
    final = _final_layers(t)  # the four checks read the same final layers
    checks = [c for c in (check(t, final) for check in (naitzat_check, magai_check, ansuini_check, head_components_check,
                                                         magai2023_check)) if c]
    checks += [c for c in (birdal_check(t), dynamics_check(t)) if c]
    fam = scores[scores["status"] == "trained"].groupby("family")["phdim_drop"].mean().dropna()
    # protocol v2's family means of the PHdim drop; version 3 has the paired check above instead
    calibrated = "phdim_calibrated" in final and final["phdim_calibrated"].notna().any()
    if len(fam) and not calibrated:
        cnn = fam[fam.index.isin(["cnn", "resnet", "cnn1d"])].mean()
        tr = fam[fam.index.isin(["vit", "transformer"])].mean()
        checks.append({
            "title": "Magai 2023: PHdim changes across layers differently in CNNs and Transformers",
            "finding": "Mean PHdim fall from the first measured layer to the last hidden layer (models with both resolved), by family: "
                       + ", ".join(f"{f} {v:+.1f}" for f, v in fam.items()) + ".",
            "verdict": (f"CNNs fall by {cnn:.1f} on average and Transformers by {tr:.1f}" if np.isfinite(cnn) and np.isfinite(tr)
                        else "not testable: the PHdim of the first or last hidden layer of the CNNs or Transformers is "
                             "censored (beyond what the probe resolves) in every run"),
        })
    for score in ("twonn_last", "phdim_last") if len(board) else ():
        sub = board[(board["score"] == score) & (board["target"] == "test_accuracy") & (board["task"] != ALL_TASKS)]
        if len(sub):
            parts = [(f"{r.task} {r.kendall_tau:+.2f} [{r.tau_ci_low:+.2f}, {r.tau_ci_high:+.2f}]"
                      + (f", granulated {r.granulated_kendall:+.2f}" if np.isfinite(r.granulated_kendall) else "")
                      + ("" if r.beats_baselines else ", below the best baseline")) if np.isfinite(r.kendall_tau)
                     else f"{r.task}: no ranking ({getattr(r, 'note', None) or 'too few values'})" for r in sub.itertuples()]
            neg, pos = (sub["tau_ci_high"] < 0).sum(), (sub["tau_ci_low"] > 0).sum()
            checks.append({
                "title": f"Last-layer dimension ({score}) against test accuracy",
                "finding": f"Kendall tau per task: {'; '.join(parts)}.",
                "verdict": (f"significantly negative (lower dimension, higher accuracy, as Ansuini et al. report) in {neg} of "
                            f"{len(sub)} tasks, significantly positive (the opposite) in {pos}"),
            })
    return checks


TABLES = ("models", "layers", "scores", "correlations", "measures", "curves", "dynamics", "architectures", "nulls",
          "comparisons")


def load_tables(store_root) -> dict[str, pd.DataFrame]:
    """The analysis tables of a store, computed first when any is missing (``reptopo analyze``
    refreshes them after new records)."""
    tables = Path(store_root) / "tables"
    if not all((tables / f"{n}.parquet").is_file() for n in TABLES):
        analyze_store(store_root)
    return {n: pd.read_parquet(tables / f"{n}.parquet") for n in TABLES}


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
