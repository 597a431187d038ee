"""The statistics of the analysis, on plain arrays and frames: rank correlations with bootstrap
intervals, granulated Kendall (Jiang et al. 2020), the PGDL CMI score, cluster and mean bootstraps."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats


def constant_note(x: np.ndarray) -> str | None:
    """Why a score has no rank correlation over these models, when it is constant."""
    finite = x[np.isfinite(x)]
    if len(finite) and np.ptp(finite) == 0:
        return f"constant over the {len(finite)} models (every one reads {finite[0]:.4g}): no ranking"
    return None


def _paired(x: ArrayLike, y: ArrayLike, min_n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The finite pairs of x and y, or None when too few remain or either side is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < min_n or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return None
    return x[ok], y[ok]


def kendall_tau(x: ArrayLike, y: ArrayLike) -> float:
    pair = _paired(x, y, 2)
    return float(stats.kendalltau(*pair).statistic) if pair else np.nan


def spearman_rho(x: ArrayLike, y: ArrayLike) -> float:
    pair = _paired(x, y, 3)
    return float(stats.spearmanr(*pair).statistic) if pair else np.nan


def kendall_matrices(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For items i, j: sign(x_i - x_j) * sign(y_i - y_j), |sign(x_i - x_j)| and |sign(y_i - y_j)|,
    zero on every pair that involves an item whose x or y is not finite (:func:`kendall_tau`
    drops such items). Their quadratic forms give tau-b of any resample (:func:`kendall_tau_counts`)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    sx[~ok, :] = sx[:, ~ok] = 0
    sy[~ok, :] = sy[:, ~ok] = 0
    return sx * sy, np.abs(sx), np.abs(sy)


def grouped_kendall_matrices(
    x: ArrayLike, y: ArrayLike, groups: np.ndarray, n_groups: int, *, block: int = 512
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`kendall_matrices` summed over groups of items (``groups``: each item's group), for
    resamples that draw whole groups: with counts per group, tau-b is the same quadratic form
    (:func:`kendall_tau_counts`) of these ``n_groups`` x ``n_groups`` matrices. Built ``block``
    items at a time, so memory grows with the items, not their square."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys, codes = xs[ok], ys[ok], np.asarray(groups)[ok]
    member = np.zeros((len(xs), n_groups))
    member[np.arange(len(xs)), codes] = 1.0
    out = [np.zeros((n_groups, n_groups)) for _ in range(3)]
    for lo in range(0, len(xs), block):
        sx = np.sign(xs[lo : lo + block, None] - xs[None, :])
        sy = np.sign(ys[lo : lo + block, None] - ys[None, :])
        for total, m in zip(out, (sx * sy, np.abs(sx), np.abs(sy))):
            total += member[lo : lo + block].T @ (m @ member)
    return out[0], out[1], out[2]


def kendall_tau_counts(matrices: tuple[np.ndarray, np.ndarray, np.ndarray], counts: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of the samples that hold ``counts[b, i]`` copies of item i, one per row b.

    Over the sample's pairs, tau-b = (P - Q) / sqrt((P + Q + U)(P + Q + T)) (T, U: pairs tied in x
    only, in y only); with c the counts, P - Q = c'(Sx o Sy)c / 2, P + Q + U = c'|Sx|c / 2 and
    P + Q + T = c'|Sy|c / 2 (two copies of one item tie in both and count in none), so every
    resample costs three quadratic forms instead of a sort. NaN where either side is constant,
    as :func:`kendall_tau`. ``matrices``: :func:`kendall_matrices`."""
    c = np.atleast_2d(np.asarray(counts, float))
    concordance, x_untied, y_untied = (np.einsum("bi,bi->b", c @ m, c) for m in matrices)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = concordance / np.sqrt(x_untied * y_untied)
    return np.where((x_untied > 0) & (y_untied > 0), tau, np.nan)


def resample_counts(n_items: int, n: int, rng: np.random.Generator, within: np.ndarray | None = None) -> np.ndarray:
    """``n`` bootstrap resamples of ``n_items`` items as counts (one row per resample): each
    resample draws ``n_items`` items with replacement, or with ``within`` (a population's counts
    per item) from the population those counts describe. The draws are the ones
    ``rng.integers(n_items, size=n_items)`` makes, resample after resample."""
    draws = rng.integers(n_items, size=(n, n_items))
    if within is not None:  # draw positions in the population expanded by its counts
        draws = np.repeat(np.arange(len(within)), np.asarray(within, int))[draws]
        n_items = len(within)
    return count_rows(draws, n_items)


def count_rows(draws: np.ndarray, n_items: int) -> np.ndarray:
    """Per row of ``draws`` (item indices), how often each of ``n_items`` items is drawn."""
    n = len(draws)
    flat = (np.arange(n)[:, None] * n_items + draws).ravel()
    return np.bincount(flat, minlength=n * n_items).reshape(n, n_items).astype(float)


def percentile_interval(values: np.ndarray, n: int, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the finite ``values`` of ``n`` resamples (NaN when fewer than
    half of them are finite)."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) < n // 2 or not len(values):
        return np.nan, np.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def kendall_tau_interval(
    x: ArrayLike,
    y: ArrayLike,
    *,
    n: int = 500,
    seed: int = 0,
    level: float = 0.95,
    within: np.ndarray | None = None,
) -> tuple[float, float]:
    """The percentile bootstrap interval of Kendall's tau-b: the one ``bootstrap_ci(kendall_tau,
    x, y, n=n, seed=seed)`` gives (the same resamples), computed as quadratic forms; with
    ``within`` (counts per item), of the population those counts describe."""
    matrices = kendall_matrices(x, y)
    m = len(matrices[0]) if within is None else int(np.sum(within))
    counts = resample_counts(m, n, np.random.default_rng(seed), within)
    return percentile_interval(kendall_tau_counts(matrices, counts), n, level)


def bootstrap_ci(
    fn: Callable[[np.ndarray, np.ndarray], float],
    x: ArrayLike,
    y: ArrayLike,
    *,
    n: int = 500,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
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


def granulated_kendall(
    df: pd.DataFrame, score: str, target: str, axes: list[str], fixed: list[str]
) -> tuple[float, dict[str, Any]]:
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


def _pair_indicators(values_gap: np.ndarray, values_mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def cluster_bootstrap(
    frame: pd.DataFrame, stat: Callable[[pd.DataFrame], float], *, n: int = 200, seed: int = 0
) -> tuple[float, float]:
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


def mean_ci(x: np.ndarray, *, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The mean and its 95% percentile bootstrap interval."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return (float(x.mean()) if len(x) else np.nan, np.nan, np.nan)
    boot = np.random.default_rng(seed).choice(x, size=(n, len(x)), replace=True).mean(axis=1)
    return float(x.mean()), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def fmt_value(v: float | None, spec: str = ".2f") -> str:
    return format(v, spec) if v is not None and np.isfinite(v) else "n/a"
