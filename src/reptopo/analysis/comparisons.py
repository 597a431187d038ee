"""What the comparison maps say: CKA against RTD, and seeds against architectures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..store import Tables
from .findings import Finding
from .stats import cluster_bootstrap, fmt_value, kendall_tau

DEPTH_BINS = (0.0, 0.25, 0.5, 0.75, 1.0)


def cka_rtd_agreement(comparisons: pd.DataFrame, *, n_boot: int = 200) -> pd.DataFrame:
    """Kendall's tau between CKA and topological similarity (1 - RTD) over every layer pair with
    both, per comparison kind and over all, with an interval from resampling whole comparisons."""
    both = comparisons.dropna(subset=["cka", "rtd"])
    rows = []
    for kind, grp in [("all", both)] + list(both.groupby("kind")):
        if grp["comparison_id"].nunique() < 2:
            continue

        def tau(frame: pd.DataFrame) -> float:
            return kendall_tau(frame["cka"], 1 - frame["rtd"])

        lo, hi = cluster_bootstrap(grp, tau, n=n_boot)
        rows.append(
            {
                "kind": kind,
                "n_comparisons": int(grp["comparison_id"].nunique()),
                "n_layer_pairs": len(grp),
                "kendall_tau": tau(grp),
                "tau_ci_low": lo,
                "tau_ci_high": hi,
            }
        )
    return pd.DataFrame(
        rows, columns=["kind", "n_comparisons", "n_layer_pairs", "kendall_tau", "tau_ci_low", "tau_ci_high"]
    )


def matched_similarity(comparisons: pd.DataFrame) -> pd.DataFrame:
    """For every comparison and left layer, the similarity to the right layer at the nearest
    relative depth (the diagonal of the map), with the depth's bin."""
    if comparisons.empty:
        return comparisons.assign(depth_bin=pd.Series(dtype=str))
    comp = comparisons.assign(gap=(comparisons["left_depth"] - comparisons["right_depth"]).abs())
    nearest = comp.loc[comp.groupby(["comparison_id", "left_layer"])["gap"].idxmin()]
    labels = [f"{a:.2f}–{b:.2f}" for a, b in zip(DEPTH_BINS, DEPTH_BINS[1:])]
    nearest = nearest.assign(
        depth_bin=pd.cut(nearest["left_depth"], DEPTH_BINS, labels=labels, include_lowest=True).astype(str)
    )
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

        def excess(frame: pd.DataFrame) -> float:
            means = frame.groupby("kind")["cka"].mean()
            return float(means.get("seeds", np.nan) - means.get("architectures", np.nan))

        row["excess"] = excess(pair)
        row["excess_ci_low"], row["excess_ci_high"] = (
            cluster_bootstrap(pair, excess, n=n_boot) if pair["kind"].nunique() == 2 else (np.nan, np.nan)
        )
        rows.append(row)
    return pd.DataFrame(rows)


KINDS_ORDER = ("seeds", "architectures", "random_init")


def comparison_findings(t: Tables) -> list[Finding]:
    """What the comparison maps say, with the numbers: CKA against RTD, and seeds against architectures."""
    comp = t.get("comparisons")
    if comp is None or comp.empty:
        return []
    out = []
    agree = cka_rtd_agreement(comp)
    if len(agree):
        overall = agree[agree["kind"] == "all"].iloc[0]
        parts = [
            f"{r.kind} {r.kendall_tau:+.2f} [{r.tau_ci_low:+.2f}, {r.tau_ci_high:+.2f}] over {r.n_layer_pairs} layer pairs "
            f"of {r.n_comparisons} comparisons"
            for r in agree.itertuples()
        ]
        sig = overall["tau_ci_low"] > 0 or overall["tau_ci_high"] < 0
        out.append(
            Finding(
                title="Does topological similarity (1 − RTD) agree with CKA?",
                finding="Kendall's tau between linear CKA and 1 − RTD over the layer pairs where both are measured: "
                + "; ".join(parts)
                + ".",
                verdict=(
                    ("they agree" if overall["kendall_tau"] > 0 else "they disagree")
                    if sig
                    else "no significant agreement"
                )
                + f" (tau {overall['kendall_tau']:+.2f})",
                numbers={"tau": float(overall["kendall_tau"])},
            )
        )
    seeds = seeds_against_architectures(comp)
    if len(seeds) and seeds["excess"].notna().any():
        parts = [
            f"depth {r.depth_bin}: seeds {fmt_value(r.seeds_cka)} ({r.seeds_n} pairs), architectures "
            f"{fmt_value(r.architectures_cka)} ({r.architectures_n}), random init {fmt_value(r.random_init_cka)} "
            f"({r.random_init_n}); excess {fmt_value(r.excess, '+.2f')} [{fmt_value(r.excess_ci_low, '+.2f')}, "
            f"{fmt_value(r.excess_ci_high, '+.2f')}]"
            for r in seeds.itertuples()
        ]
        more = int((seeds["excess_ci_low"] > 0).sum())
        out.append(
            Finding(
                title="Are two seeds of one architecture more alike than two architectures?",
                finding="Mean linear CKA between layers at matching relative depth: " + "; ".join(parts) + ".",
                verdict=f"seed pairs are significantly more similar in {more} of {len(seeds)} depth bins",
                numbers={"bins_more_similar": more},
            )
        )
    return out
