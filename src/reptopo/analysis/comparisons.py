"""What the comparison maps say: CKA against RTD, and seeds against architectures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..store import Tables
from .findings import Claim, Finding
from .stability import Outcome, Population, assess
from .stats import (
    fmt_value,
    grouped_kendall_matrices,
    kendall_tau,
    kendall_tau_counts,
    percentile_interval,
    resample_counts,
)

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

        lo, hi = cluster_tau_interval(grp, np.ones(grp["comparison_id"].nunique()), n_boot)
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


def _comparison_codes(frame: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Each row's comparison, numbered in order of first appearance (the order
    :func:`~reptopo.analysis.stats.cluster_bootstrap` draws them in)."""
    codes, ids = pd.factorize(frame["comparison_id"])
    return codes, len(ids)


def cluster_tau_interval(frame: pd.DataFrame, counts: np.ndarray, n_boot: int) -> tuple[float, float]:
    """The 95% interval of Kendall's tau between CKA and 1 - RTD resampling whole comparisons (the
    one :func:`cluster_bootstrap` gives, as quadratic forms), of the sample holding ``counts``
    copies of each comparison."""
    codes, n = _comparison_codes(frame)
    matrices = grouped_kendall_matrices(frame["cka"], 1 - frame["rtd"], codes, n)
    inner = resample_counts(int(counts.sum()), n_boot, np.random.default_rng(0), within=counts)
    return percentile_interval(kendall_tau_counts(matrices, inner), n_boot)


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
        sums = ExcessSums.of(grp[grp["kind"].isin(["seeds", "architectures"])])
        ones = np.ones(len(sums.seeds))
        row["excess"] = float(sums.excess(ones)[0])
        row["excess_ci_low"], row["excess_ci_high"] = sums.interval(ones, n_boot)
        rows.append(row)
    return pd.DataFrame(rows)


KINDS_ORDER = ("seeds", "architectures", "random_init")


class ExcessSums:
    """Seeds' mean CKA minus architectures' over the matched layers of one depth bin, for samples
    of whole comparisons: per comparison (in order of first appearance), the sum of its CKA
    values, their number and whether it is a seed pair."""

    def __init__(self, ids: pd.Index, total: np.ndarray, n: np.ndarray, seeds: np.ndarray):
        self.ids, self.total, self.n, self.seeds = ids, total, n, seeds

    @classmethod
    def of(cls, pair: pd.DataFrame) -> ExcessSums:
        codes, ids = pd.factorize(pair["comparison_id"])
        cka = pair["cka"].to_numpy(float)
        finite = np.isfinite(cka)
        total = np.bincount(codes, weights=np.where(finite, cka, 0.0), minlength=len(ids))
        n = np.bincount(codes, weights=finite.astype(float), minlength=len(ids))
        seeds = np.zeros(len(ids), bool)
        seeds[codes[pair["kind"].to_numpy() == "seeds"]] = True
        return cls(pd.Index(ids), total, n, seeds)

    def excess(self, counts: np.ndarray) -> np.ndarray:
        """The excess of each sample (``counts``: copies of each comparison, one row per sample)."""
        c = np.atleast_2d(counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            seeds = (c @ (self.total * self.seeds)) / (c @ (self.n * self.seeds))
            archs = (c @ (self.total * ~self.seeds)) / (c @ (self.n * ~self.seeds))
        excess: np.ndarray = seeds - archs
        return excess

    def interval(self, counts: np.ndarray, n_boot: int) -> tuple[float, float]:
        """The excess's 95% interval over ``n_boot`` resamples of the sample's comparisons (the
        one :func:`~reptopo.analysis.stats.cluster_bootstrap` gives): NaN unless both kinds are present."""
        if not (counts * self.seeds).sum() or not (counts * ~self.seeds).sum():
            return np.nan, np.nan
        inner = resample_counts(int(counts.sum()), n_boot, np.random.default_rng(0), within=counts)
        return percentile_interval(self.excess(inner), n_boot)


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
                claims=_agreement_claims(comp),
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
                claims=_seeds_claims(comp),
                title="Are two seeds of one architecture more alike than two architectures?",
                finding="Mean linear CKA between layers at matching relative depth: " + "; ".join(parts) + ".",
                verdict=f"seed pairs are significantly more similar in {more} of {len(seeds)} depth bins",
                numbers={"bins_more_similar": more},
            )
        )
    return out


AGREEMENT_CLAIM = {
    "topological similarity (1 - RTD) agrees with CKA": "Kendall tau between CKA and 1 - RTD over the layer pairs",
}
SEEDS_CLAIM = {
    "two seeds of one architecture are more alike than two architectures, at every depth": "share of depth bins "
    "where seed pairs' matched CKA is significantly above architecture pairs'",
}


def _comparison_population(comp: pd.DataFrame) -> tuple[pd.Index, Population]:
    """The comparisons (each a unit, in order of first appearance), resampled within their kind."""
    first = comp.drop_duplicates("comparison_id")
    return pd.Index(first["comparison_id"]), Population(list(first["kind"]))


def _agreement_claims(comp: pd.DataFrame, *, n_boot: int = 200) -> tuple[Claim, ...]:
    """Whether CKA and 1 - RTD agree (tau's interval above 0: yes; below: the opposite; else no),
    re-derived on resamples of the comparisons within their kind."""
    ids, population = _comparison_population(comp)
    both = comp.dropna(subset=["cka", "rtd"])
    codes = ids.get_indexer(both["comparison_id"])
    matrices = grouped_kendall_matrices(both["cka"], 1 - both["rtd"], codes, len(ids))
    (claim,) = AGREEMENT_CLAIM

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        tau = float(kendall_tau_counts(matrices, counts)[0])
        inner = resample_counts(int(counts.sum()), n_boot, np.random.default_rng(0), within=counts)
        lo, hi = percentile_interval(kendall_tau_counts(matrices, inner), n_boot)
        return {claim: Outcome("yes" if lo > 0 else "the opposite" if hi < 0 else "no", tau)}

    return assess(AGREEMENT_CLAIM, decide, population)


def _seeds_claims(comp: pd.DataFrame, *, n_boot: int = 200) -> tuple[Claim, ...]:
    """Whether seed pairs are significantly more alike than architecture pairs in every depth bin
    (yes), in some (in part) or in none (no), re-derived on resamples of the comparisons within
    their kind."""
    ids, population = _comparison_population(comp)
    matched = matched_similarity(comp)
    bins = []
    for _, grp in matched.groupby("depth_bin"):
        sums = ExcessSums.of(grp[grp["kind"].isin(["seeds", "architectures"])])
        bins.append((ids.get_indexer(sums.ids), sums))
    (claim,) = SEEDS_CLAIM

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        more = sum(bool(sums.interval(counts[where], n_boot)[0] > 0) for where, sums in bins)
        share = more / len(bins) if bins else np.nan
        return {claim: Outcome("yes" if bins and more == len(bins) else "in part" if more else "no", share)}

    return assess(SEEDS_CLAIM, decide, population)
