"""The measures board: every score ranked by its rank correlation with each target, per task and
over tasks, ties and constant scores said so."""

from __future__ import annotations

import numpy as np
import pandas as pd

ALL_TASKS = "(all tasks)"


def tie_groups(board: pd.DataFrame) -> pd.Series:
    """Rank groups: a measure joins the current group while its interval overlaps the leader's."""
    groups, leader, g = [], None, 0
    for row in board.itertuples():
        lo, hi = (
            sorted((abs(row.tau_ci_low), abs(row.tau_ci_high))) if np.isfinite(row.tau_ci_low) else (np.nan, np.nan)
        )
        if row.tau_ci_low <= 0 <= row.tau_ci_high:
            lo = 0.0
        if leader is None or not (np.isfinite(hi) and hi >= leader):
            g += 1
            leader = lo if np.isfinite(lo) else np.inf
        groups.append(g)
    return pd.Series(groups, index=board.index)


def measures_board(corr: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard of measures: per task and target by |tau|, and overall by |mean tau|."""
    if corr.empty:
        return corr

    def ranked(grp: pd.DataFrame) -> pd.DataFrame:
        grp = grp.assign(strength=grp["kendall_tau"].abs()).sort_values("strength", ascending=False)
        grp["rank"] = np.arange(1, len(grp) + 1)
        grp["tie_group"] = tie_groups(grp)
        best_baseline = grp.loc[grp["is_baseline"], "strength"].max()
        grp["beats_baselines"] = grp["strength"] > (best_baseline if np.isfinite(best_baseline) else -1)
        return grp

    boards = [ranked(grp) for _, grp in corr.groupby(["task", "target"])]
    overall = corr.groupby(["score", "target", "is_baseline"], as_index=False).agg(
        kendall_tau=("kendall_tau", "mean"),
        tau_ci_low=("tau_ci_low", "mean"),
        tau_ci_high=("tau_ci_high", "mean"),
        spearman_rho=("spearman_rho", "mean"),
        granulated_kendall=("granulated_kendall", "mean"),
        cmi=("cmi", "mean"),
        n_models=("n_models", "sum"),
        n_censored=("n_censored", "sum"),
        n_tasks=("task", "nunique"),
        n_ranked=("kendall_tau", "count"),
    )
    unranked = overall["n_tasks"] - overall["n_ranked"]
    overall["note"] = [
        None
        if u == 0
        else f"constant in {u} of {t} tasks; the mean is over the other {t - u}"
        if u < t
        else f"constant in every task ({t}): no ranking"
        for u, t in zip(unranked, overall["n_tasks"])
    ]
    boards += [ranked(grp.assign(task=ALL_TASKS)) for _, grp in overall.groupby("target")]
    return pd.concat(boards, ignore_index=True)
