"""Verdicts with their stability: the fast resampling statistics pinned to the frame-by-frame
bootstraps they replace and to scipy, the stability of a verdict against a binomial closed form,
and the verdicts table as the site and ``compare-runs`` read it."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reptopo.analysis.comparisons import ExcessSums, cluster_tau_interval, comparison_findings
from reptopo.analysis.findings import FRAGILE_BELOW, Claim, Finding, findings_of, findings_table
from reptopo.analysis.literature import ansuini_check
from reptopo.analysis.stability import Outcome, Population, assess
from reptopo.analysis.stats import (
    bootstrap_ci,
    cluster_bootstrap,
    kendall_matrices,
    kendall_tau,
    kendall_tau_counts,
    kendall_tau_interval,
)
from reptopo.submission.reproduce import compare_verdicts, describe_verdicts


def _tied_pairs(rng, n):
    """Scores with ties and a missing value, and a target correlated with them."""
    x = rng.integers(0, 6, n).astype(float)
    y = x + rng.normal(0, 2, n)
    x[1] = np.nan
    return x, y


@pytest.mark.parametrize("n", [3, 8, 31])
def test_kendall_tau_of_any_resample_is_scipys_tau_b_on_the_copied_sample(n):
    rng = np.random.default_rng(n)
    x, y = _tied_pairs(rng, n)
    matrices = kendall_matrices(x, y)
    for _ in range(20):
        counts = rng.multinomial(n, np.ones(n) / n)
        idx = np.repeat(np.arange(n), counts)
        assert kendall_tau_counts(matrices, counts)[0] == pytest.approx(kendall_tau(x[idx], y[idx]), nan_ok=True)
    # a constant side has no tau, as scipy's caller says
    assert np.isnan(kendall_tau_counts(kendall_matrices(np.ones(n), y), np.ones(n))[0])


@pytest.mark.parametrize("n", [6, 24, 48])
def test_the_fast_tau_interval_is_the_bootstrap_interval_it_replaces(n):
    """The measures board's interval: the same resamples as ``bootstrap_ci(kendall_tau, ...)``."""
    x, y = _tied_pairs(np.random.default_rng(100 + n), n)
    slow = bootstrap_ci(kendall_tau, x, y, n=300, seed=3)
    fast = kendall_tau_interval(x, y, n=300, seed=3)
    assert fast == pytest.approx(slow, abs=1e-12)


def _comparisons(rng, n_comp=9, rows=12):
    frames = []
    for k in range(n_comp):
        kind = ("seeds", "architectures", "random_init")[k % 3]
        cka = rng.uniform(0, 1, rows) + (0.2 if kind == "seeds" else 0)
        frames.append(
            pd.DataFrame(
                {
                    "comparison_id": f"c{k}",
                    "kind": kind,
                    "cka": cka,
                    "rtd": 1 - cka + rng.normal(0, 0.3, rows),
                    "left_depth": np.linspace(0, 1, rows),
                    "right_depth": np.linspace(0, 1, rows),
                    "left_layer": [f"l{i}" for i in range(rows)],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_comparison_intervals_are_the_cluster_bootstraps_they_replace():
    comp = _comparisons(np.random.default_rng(7))

    def tau(frame):
        return kendall_tau(frame["cka"], 1 - frame["rtd"])

    slow = cluster_bootstrap(comp, tau, n=200)
    assert cluster_tau_interval(comp, np.ones(comp["comparison_id"].nunique()), 200) == pytest.approx(slow, abs=1e-12)
    pair = comp[comp["kind"].isin(["seeds", "architectures"])]

    def excess(frame):
        means = frame.groupby("kind")["cka"].mean()
        return float(means.get("seeds", np.nan) - means.get("architectures", np.nan))

    sums = ExcessSums.of(pair)
    ones = np.ones(len(sums.seeds))
    assert sums.excess(ones)[0] == pytest.approx(excess(pair))
    assert sums.interval(ones, 200) == pytest.approx(cluster_bootstrap(pair, excess, n=200), abs=1e-12)


def test_resamples_keep_every_stratum_at_its_size_and_are_seeded():
    strata = ["a"] * 5 + ["b"] * 2 + ["c"]
    population = Population(strata)
    counts = population.resamples(300)
    assert (counts[:, :5].sum(axis=1) == 5).all() and (counts[:, 5:7].sum(axis=1) == 2).all()
    assert (counts[:, 7] == 1).all()  # a stratum of one is always itself
    assert counts[:, :5].std(axis=0).min() > 0  # and the others vary
    assert (population.resamples(300) == counts).all()


def test_a_verdicts_stability_is_the_binomial_probability_of_the_same_verdict():
    """A claim 'the majority of units are 1' on 9 of 16 units: each resample's count of ones is
    Binomial(16, 9/16), so the share of resamples that keep the majority is its tail."""
    flags = np.array([1.0] * 9 + [0.0] * 7)

    def decide(counts):
        share = float((counts * flags).sum() / counts.sum())
        return {"majority": Outcome("yes" if share > 0.5 else "no", share)}

    (claim,) = assess({"majority": "share of ones"}, decide, Population(["x"] * 16), n=2000)
    expected = stats.binom.sf(8, 16, 9 / 16)  # P(more than 8 ones)
    assert claim.outcome == "yes" and claim.value == pytest.approx(9 / 16)
    assert claim.stability == pytest.approx(expected, abs=3 * np.sqrt(expected * (1 - expected) / 2000))
    assert claim.fragile and "fragile" in claim.describe_stability()
    lo, hi = stats.binom.ppf([0.025, 0.975], 16, 9 / 16) / 16
    assert claim.ci_low == pytest.approx(lo, abs=1 / 16) and claim.ci_high == pytest.approx(hi, abs=1 / 16)


def _vision_runs(hunch: list[bool]) -> pd.DataFrame:
    """Final layers of trained CNNs on one task, TwoNN rising then falling in the runs marked."""
    rows = []
    for j, h in enumerate(hunch):
        dims = (5.0, 6.0, 8.0, 4.0, 2.0) if h else (5.0, 4.0, 3.0, 2.5, 2.0)
        for depth, (role, dim) in zip(np.linspace(0, 1, 5), zip(("input", "block", "block", "block", "head"), dims)):
            rows.append(
                {
                    "job_id": f"j{j}",
                    "task": "t",
                    "status": "trained",
                    "modality": "vision",
                    "family": "cnn",
                    "role": role,
                    "depth": depth,
                    "twonn": dim,
                }
            )
    return pd.DataFrame(rows)


def test_a_borderline_literature_verdict_reads_fragile_and_a_clear_one_stable():
    """Ansuini's hunchback in 10 of 20 runs: 'partly reproduced' (a half is not a majority), and a
    resample gives it again only when it draws at most 10 hunchbacks (Binomial(20, 1/2) <= 10)."""
    border = ansuini_check({}, final=_vision_runs([True] * 10 + [False] * 10))
    claim = border.claims[0]
    assert claim.outcome == "partly reproduced" and claim.fragile
    assert claim.stability == pytest.approx(stats.binom.cdf(10, 20, 0.5), abs=0.11)
    assert border.claims[1].outcome == "not testable"  # no random-init controls
    assert "fragile" in border.stability_note()
    clear = ansuini_check({}, final=_vision_runs([True] * 19 + [False]))
    assert clear.claims[0].outcome == "reproduced" and clear.claims[0].stability == 1.0
    assert not clear.claims[0].fragile


def test_comparison_findings_carry_their_claims():
    found = comparison_findings({"comparisons": _comparisons(np.random.default_rng(3), n_comp=12)})
    agree, seeds = (f.claims[0] for f in found)
    assert agree.outcome == "yes" and agree.stability >= FRAGILE_BELOW  # CKA and 1 - RTD planted together
    assert seeds.n_resamples == 200 and seeds.outcome in ("yes", "in part", "no")


def test_the_verdicts_table_round_trips_and_keeps_the_order():
    claims = (
        Claim("a holds", "reproduced", "share", 0.8, 0.6, 0.9, 0.97, 200),
        Claim("b holds", "not reproduced", "p", 0.3, 0.1, 0.5, 0.55, 200),
    )
    table = findings_table(
        {
            "measures": [Finding("Z 2020: a and b", "text", "verdict", claims=claims)],
            "compare": [Finding("A?", "t", "v", claims=claims[:1])],
        }
    )
    assert list(table["fragile"]) == [False, True, False] and list(table["badge"])[:2] == [
        "reproduced",
        "not-reproduced",
    ]
    (back,) = findings_of(table, "measures")
    assert back.title == "Z 2020: a and b" and back.claims == claims
    assert back.stability_note() == "fragile: b holds (55% of 200 resamples)"


def _verdicts(outcome: str, stability: float) -> pd.DataFrame:
    claims = (
        Claim("steady", "reproduced", "s", 1.0, stability=1.0, n_resamples=200),
        Claim("shaky", outcome, "s", 0.5, stability=stability, n_resamples=200),
    )
    return findings_table({"measures": [Finding("X 2021: claims", "f", "v", claims=claims)]})


def test_compare_runs_flags_a_verdict_that_differs_unless_it_is_fragile_in_both_runs():
    same = compare_verdicts(_verdicts("reproduced", 0.95), _verdicts("reproduced", 0.97))
    assert same["agree"].all()
    honest = compare_verdicts(_verdicts("partly reproduced", 0.6), _verdicts("not reproduced", 0.7))
    assert list(honest["agree"]) == [True, False] and honest["fragile_in_both"].iloc[1]
    assert "1 of them marked fragile in both runs" in describe_verdicts(honest)[0]
    dishonest = compare_verdicts(_verdicts("partly reproduced", 0.95), _verdicts("not reproduced", 0.7))
    lines = describe_verdicts(dishonest)
    assert "1 NOT marked fragile in both" in lines[0] and any(line.startswith("  DIFFER: X 2021") for line in lines)
    gone = compare_verdicts(_verdicts("reproduced", 1.0).iloc[:1], _verdicts("reproduced", 1.0))
    assert list(gone["present"]) == ["both", "reference only"] and not gone["agree"].iloc[1]


@pytest.mark.slow
def test_a_run_on_another_cpu_gives_the_same_verdicts_or_marks_them_fragile_in_both(tmp_path):
    """A population trained, measured and analysed here and again on the emulated CPU (torch's
    kernels without SIMD, oneDNN at SSE4.1, MKL at SSE4.2): ``compare-runs`` lists the verdicts
    claim by claim, and every one agrees or is marked fragile in both runs."""
    import os
    import subprocess
    import sys

    from helpers import grid_registry, other_cpu

    from reptopo.submission.reproduce import compare_runs

    reg = grid_registry(tmp_path / "reg")
    stores = {"native": tmp_path / "native", "emulated": tmp_path / "emulated"}
    for name, store in stores.items():
        env = {**os.environ, **(other_cpu() if name == "emulated" else {})}
        for command in (
            ["run", "--suite", "grid", "--store", str(store), "--workers", "2"],
            ["analyze", "--store", str(store)],
        ):
            res = subprocess.run(
                [sys.executable, "-m", "reptopo.cli", "--registry", str(reg), *command],
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert res.returncode == 0, (name, res.stderr[-2000:])
    result = compare_runs(stores["emulated"], stores["native"], n_boot=50)
    verdicts = result.verdicts
    assert len(verdicts) >= 8 and (verdicts["present"] == "both").all()
    assert (verdicts["agree"] | verdicts["fragile_in_both"]).all(), result.describe()
    assert result.summary["verdicts_differ_not_fragile"] == 0
    assert "verdicts:" in result.describe() and "Birdal et al. 2021" in result.describe()
