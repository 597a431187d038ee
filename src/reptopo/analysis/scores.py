"""Scores: per-model scalar scores from the per-layer curves (with the baselines), their rank
correlations with the targets, the curves over depth and the learning dynamics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..record import TRAINED_STATUSES, pooling_rank
from .stats import cmi_score, constant_note, granulated_kendall, kendall_tau, kendall_tau_interval, spearman_rho

SCORES_VERSION = 2


TARGETS = ("test_accuracy", "generalization_gap")


BASELINES = ("weight_l2", "log_n_parameters", "train_loss")


MIN_MODELS = 6


def primary_layers(layers: pd.DataFrame, *, final_only: bool = True) -> pd.DataFrame:
    """One row per (job, layer), at the final epoch (or per epoch), with the preferred pooling."""
    if layers.empty:
        return layers
    df = layers
    if final_only:
        final = layers.groupby("job_id")["epoch"].transform("max")
        df = layers[layers["epoch"] == final]
    df = df.copy()
    df["_order"] = df["pooling"].map(pooling_rank)
    keys = ["job_id", "layer"] + ([] if final_only else ["epoch"])
    # dropna=False keeps each group's first row whole (a censored PHdim stays empty, not filled)
    first = df.sort_values("_order").groupby(keys, as_index=False).nth(0)
    return first.drop(columns="_order").reset_index(drop=True)


def censored_mask(frame: pd.DataFrame, column: str) -> pd.Series:
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
            cens = censored_mask(hidden, m)
            row[f"{m}_last"] = last[m]
            row[f"{m}_max"] = np.nan if cens.any() else vals.max()
            row[f"{m}_mean"] = np.nan if cens.any() else vals.mean()
            first_censored = bool(censored_mask(grp.iloc[:1], m).iloc[0])
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


CLASS_TOPOLOGY_SCORES = (
    "class_betti_sum",
    "class_trivial_fraction",
    "whole_b0",
    "whole_b0_large",
    "class_tp_h0",
    "class_tp_h1",
    "whole_tp_h0",
    "whole_tp_h1",
    # protocol v3: the DTM filtration's significant counts
    "whole_b0_dtm",
    "class_betti_dtm_sum",
)


CENSORABLE = ("phdim_last", "phdim_max", "phdim_per_class_last")


SCORE_COLUMNS = (
    (
        "phdim_last",
        "phdim_max",
        "phdim_mean",
        "phdim_drop",
        "phdim_peak_depth",
        "twonn_last",
        "twonn_max",
        "twonn_mean",
        "twonn_drop",
        "twonn_peak_depth",
        "mle_last",
        "mle_max",
        "mle_mean",
        "mle_drop",
        "betti0_last",
        "betti1_last",
        "total_persistence_h0_last",
        "total_persistence_h1_last",
        "phdim_per_class_last",
        "phdim_class_ratio_last",
        "linear_probe_last",
        "linear_probe_mean",
    )
    + tuple(f"{c}_last" for c in CLASS_TOPOLOGY_SCORES)
    + BASELINES
)


def rank_values(frame: pd.DataFrame, score: str) -> np.ndarray:
    """The values of ``score`` for rank statistics: a censored value (a lower bound) becomes one
    number above every measured value, so that censored models tie at the top."""
    x: np.ndarray = frame[score].to_numpy(float)
    if score not in CENSORABLE or f"{score}_censored" not in frame:
        return x
    cens = censored_mask(frame, score).to_numpy()
    if cens.any():
        top = np.nanmax(x[~cens]) if np.isfinite(x[~cens]).any() else 0.0
        x = np.where(cens, top + 1.0, x)
    return x


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
    mean in trained models, in random-initialisation and in shuffled-label controls. Runs on an
    unlabelled task (no accuracy) have nothing to correlate with and are left out, saying so."""
    rows, notes = [], []
    trained = scores[scores["status"].isin(TRAINED_STATUSES)]
    unscored = trained["test_accuracy"].isna() if "test_accuracy" in trained else pd.Series(False, index=trained.index)
    if unscored.any():
        tasks = ", ".join(sorted(map(str, trained.loc[unscored, "task"].unique())))
        notes.append(
            f"{int(unscored.sum())} runs on unlabelled tasks ({tasks}) have no accuracy: left out of the correlations"
        )
        trained = trained[~unscored]
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
            n_censored = int(censored_mask(grp, score).sum()) if score in CENSORABLE else 0
            note = (
                f"censored in all {n_censored} models (above what the probe resolves): no ranking"
                if n_censored and n_censored == np.isfinite(x).sum()
                else constant_note(x)
            )
            for target in TARGETS:
                y = grp[target].to_numpy(float)
                target_note = constant_note(y)
                lo, hi = kendall_tau_interval(x, y, n=n_boot)
                psi, per_axis = (
                    granulated_kendall(ranked, score, target, axes, ["model", "seed"]) if axes else (np.nan, {})
                )
                rows.append(
                    {
                        "task": task,
                        "score": score,
                        "target": target,
                        "n_models": int(np.isfinite(x).sum()),
                        "n_censored": n_censored,
                        "note": note or (f"{target.replace('_', ' ')} is {target_note}" if target_note else None),
                        "kendall_tau": kendall_tau(x, y),
                        "tau_ci_low": lo,
                        "tau_ci_high": hi,
                        "spearman_rho": spearman_rho(x, y),
                        "granulated_kendall": psi,
                        "granulated_per_axis": json.dumps(per_axis),
                        "cmi": cmi_score(ranked, score, "generalization_gap", axes)
                        if target == "generalization_gap"
                        else np.nan,
                        "is_baseline": score in BASELINES,
                        # measured values only: a censored one is a bound and is never averaged
                        "trained_mean": float(np.nanmean(grp[score].to_numpy(float)))
                        if grp[score].notna().any()
                        else np.nan,
                        "random_init_mean": null_means[score].get((task, "random_init"), np.nan),
                        "shuffled_labels_mean": null_means[score].get((task, "shuffled_labels"), np.nan),
                    }
                )
    return pd.DataFrame(rows), notes


# columns that only protocol v3's records fill: tables and curves show them where measured
V3_COLUMNS = ("whole_b0_dtm", "class_betti_dtm_sum")


CURVE_MEASURES = (
    "phdim",
    "twonn",
    "mle",
    "betti_0",
    "betti_1",
    "linear_probe_accuracy",
    "phdim_per_class",
    "class_betti_sum",
    "class_trivial_fraction",
    "whole_b0",
    "class_tp_h0",
    "class_tp_h1",
    "whole_b0_dtm",
    "class_betti_dtm_sum",
    "phdim_ci_low",
    "phdim_ci_high",
)


def curves(layers: pd.DataFrame) -> pd.DataFrame:
    """Per-layer curves on relative depth, mean and spread over seeds, per task/model/status.

    A layer whose PHdim is censored in any seed has no PHdim mean (a bound is not averaged);
    ``phdim_n_censored`` counts those seeds and ``phdim_bound`` is the bound they exceed."""
    prim = primary_layers(layers)
    if prim.empty:
        return prim
    prim = prim.assign(phdim_censored=censored_mask(prim, "phdim").astype(int))
    measures = [m for m in CURVE_MEASURES if m in prim]
    g = prim.groupby(["task", "model", "family", "status", "layer", "depth", "role", "pooling"], as_index=False)
    agg = {f"{m}_{s}": (m, s) for m in measures for s in ("mean", "std", "min", "max")}
    bound = {"phdim_bound": ("phdim_bound", "max")} if "phdim_bound" in prim else {}
    measures = [m for m in measures if m not in V3_COLUMNS or prim[m].notna().any()]  # v3's only where measured
    agg = {f"{m}_{s}": (m, s) for m in measures for s in ("mean", "std", "min", "max")}
    out = g.agg(n_seeds=("seed", "nunique"), phdim_n_censored=("phdim_censored", "sum"), **bound, **agg)
    censored = [
        f"{m}_{s}"
        for m in ("phdim", "phdim_ci_low", "phdim_ci_high")
        if m in measures
        for s in ("mean", "std", "min", "max")
    ]
    out.loc[out["phdim_n_censored"] > 0, censored] = np.nan
    return out.sort_values(["task", "model", "status", "depth"])


DYNAMICS_MEASURES = (
    "phdim",
    "twonn",
    "class_betti_sum",
    "whole_b0",
    "class_tp_h0",
    "class_tp_h1",
    "linear_probe_accuracy",
    "betti_1",
    "whole_b0_dtm",
    "class_betti_dtm_sum",
)


def dynamics(layers: pd.DataFrame) -> pd.DataFrame:
    """The learning dynamics: every layer of every job measured at more than one epoch, one row
    per (job, layer, epoch) with the preferred pooling (censored PHdim left empty, flagged)."""
    if layers.empty:
        return layers
    several = layers.groupby("job_id")["epoch"].transform("nunique") > 1
    prim = primary_layers(layers[several], final_only=False)
    if prim.empty:
        return pd.DataFrame(
            columns=["task", "model", "family", "status", "seed", "job_id", "layer", "depth", "role", "epoch"]
        )
    prim = prim.assign(phdim_censored=censored_mask(prim, "phdim"))
    keep = ["task", "model", "family", "status", "seed", "job_id", "layer", "depth", "role", "epoch", "phdim_censored"]
    cols = keep + [m for m in DYNAMICS_MEASURES + ("phdim_ci_low", "phdim_ci_high", "phdim_bound") if m in prim]
    return prim[cols].sort_values(["task", "model", "seed", "epoch", "depth"]).reset_index(drop=True)


def null_checks(scores: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in SCORE_COLUMNS if c in scores]
    return scores.groupby(["task", "model", "status"], as_index=False)[
        cols + ["test_accuracy", "generalization_gap"]
    ].mean()


def architecture_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread of the main scores per (task, model, status): a row of the leaderboard.

    A PHdim censored in any run has no mean (``phdim_last_n_censored`` counts those runs)."""
    cols = [
        "test_accuracy",
        "generalization_gap",
        "phdim_last",
        "twonn_last",
        "betti0_last",
        "betti1_last",
        "class_betti_sum_last",
        "whole_b0_last",
        "whole_b0_dtm_last",
        "class_betti_dtm_sum_last",
        "linear_probe_last",
        "n_parameters",
    ]
    cols = [c for c in cols if c in scores and (c.removesuffix("_last") not in V3_COLUMNS or scores[c].notna().any())]
    keys = ["task", "model", "family", "status"] + (["provenance"] if "provenance" in scores else [])
    frame = scores.assign(phdim_last_censored=censored_mask(scores, "phdim_last").astype(int))
    g = frame.groupby(keys, as_index=False)
    # the PHdim interval: the mean of the runs' interval ends; a censored run's lower bound
    interval = {
        f"phdim_last_{end}_mean": (f"phdim_last_{end}", "mean")
        for end in ("ci_low", "ci_high")
        if f"phdim_last_{end}" in frame
    }
    bound = {"phdim_last_bound_min": ("phdim_last_bound", "min")} if "phdim_last_bound" in frame else {}
    out = g.agg(
        n_runs=("job_id", "count"),
        phdim_last_n_censored=("phdim_last_censored", "sum"),
        **interval,
        **bound,
        **{f"{c}_{s}": (c, s) for c in cols for s in ("mean", "std")},
    )
    out.loc[out["phdim_last_n_censored"] > 0, ["phdim_last_mean", "phdim_last_std"] + list(interval)] = np.nan
    return out
