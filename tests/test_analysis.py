import math

import numpy as np
import pandas as pd
import pytest

from reptopo.analysis import analyze, complete_axes
from reptopo.analysis.board import tie_groups
from reptopo.analysis.stats import bootstrap_ci, cmi_score, granulated_kendall, kendall_tau, mutual_information


def test_granulated_kendall_on_a_hand_computed_grid():
    df = pd.DataFrame({"model": "m", "seed": 0, "a": [0, 1, 0, 1], "b": [0, 0, 1, 1]})
    df["gap"] = df["a"] + 10 * df["b"]
    df["score"] = df["a"] - 10 * df["b"]
    # overall: 2 concordant and 4 discordant pairs of 6
    assert kendall_tau(df["score"], df["gap"]) == pytest.approx(-1 / 3)
    psi, per_axis = granulated_kendall(df, "score", "gap", ["a", "b"], ["model", "seed"])
    assert per_axis == {"a": 1.0, "b": -1.0} and psi == 0.0


def test_cmi_score_on_a_hand_computed_cell():
    df = pd.DataFrame({"a": [0, 0, 0, 1, 1, 1], "gap": [1, 2, 3, 1, 2, 3], "mu": [1, 3, 2, 1, 3, 2]})
    # ordered pairs of one cell: (V_gap, V_mu) = (0,0) x2, (1,1) x2, (0,1), (1,0)
    mi = 2 * math.log(2) - (2 / 3 * math.log(3) + 1 / 3 * math.log(6))
    assert mutual_information(np.array([0, 0, 1, 0, 1, 1]), np.array([0, 0, 1, 1, 1, 0])) == pytest.approx(mi)
    assert cmi_score(df, "mu", "gap", ["a"]) == pytest.approx(mi / math.log(2))
    df["same"] = df["gap"]
    assert cmi_score(df, "same", "gap", ["a"]) == pytest.approx(1.0)
    df["flat"] = 0.0
    assert cmi_score(df, "flat", "gap", ["a"]) == pytest.approx(0.0)


def test_cmi_takes_the_minimum_over_pairs_of_axes():
    rng = np.random.default_rng(0)
    grid = pd.DataFrame([(a, b, c) for a in range(2) for b in range(2) for c in range(3)], columns=["a", "b", "c"])
    grid["gap"] = grid["a"] + 2 * grid["b"] + 4 * grid["c"] + rng.normal(scale=0.01, size=len(grid))
    grid["mu"] = grid["c"] + 0.001 * grid["a"]  # tracks c only: conditioning on c leaves nothing to explain
    score = cmi_score(grid, "mu", "gap", ["a", "b", "c"])
    only_bc = cmi_score(grid, "mu", "gap", ["b", "c"])
    only_ab = cmi_score(grid, "mu", "gap", ["a", "b"])
    assert score == pytest.approx(min(only_bc, only_ab, cmi_score(grid, "mu", "gap", ["a", "c"])))
    assert only_ab > 0.5 and score < 0.2


def test_bootstrap_interval_contains_a_strong_correlation():
    x = np.arange(30.0)
    y = x + np.random.default_rng(1).normal(scale=3, size=30)
    lo, hi = bootstrap_ci(kendall_tau, x, y, n=300)
    assert 0.4 < lo < kendall_tau(x, y) < hi <= 1


def test_tie_groups_merge_overlapping_intervals():
    # intervals of |tau|: [0.7, 0.9], [0.5, 0.75], [0.1, 0.3], [0, 0.2] (contains 0), [0, 0.05]
    board = pd.DataFrame({"tau_ci_low": [0.7, 0.5, 0.1, -0.2, -0.05], "tau_ci_high": [0.9, 0.75, 0.3, 0.2, 0.05]})
    assert tie_groups(board).tolist() == [1, 1, 2, 2, 3]


def _population(n_seeds=3, versions=(1,), complete=True):
    rows, layers = [], []
    k = 0
    for v in versions:
        for model, fam in (("a", "mlp"), ("b", "cnn")):
            for seed in range(n_seeds):
                for width in (0.5, 1.0):
                    if not complete and model == "b" and width == 1.0 and seed == 0:
                        continue
                    k += 1
                    job = f"j{k}"
                    acc = 0.8 + 0.05 * width + 0.01 * seed + (0.05 if model == "b" else 0)
                    rows.append(
                        {
                            "job_id": job,
                            "model": model,
                            "task": "t",
                            "seed": seed,
                            "family": fam,
                            "modality": "vision",
                            "status": "trained",
                            "protocol_version": v,
                            "train_accuracy": 1.0,
                            "test_accuracy": acc,
                            "train_loss": 0.01,
                            "test_loss": 0.3,
                            "generalization_gap": 1 - acc,
                            "n_parameters": 1000 * (1 + width),
                            "weight_l2": 10 + seed,
                            "train_seconds": 1,
                            "measure_seconds": 1,
                            "peak_rss_mb": 1,
                            "axis_width": width,
                        }
                    )
                    for depth, role, dim in ((0.0, "input", 12.0), (0.5, "block", 10 - 4 * acc), (1.0, "head", 3.0)):
                        layers.append(
                            {
                                "job_id": job,
                                "model": model,
                                "task": "t",
                                "seed": seed,
                                "family": fam,
                                "status": "trained",
                                "protocol_version": v,
                                "layer": role,
                                "pooling": "raw",
                                "depth": depth,
                                "role": role,
                                "epoch": 5,
                                "phdim": dim,
                                "twonn": dim,
                                "mle": dim,
                                "betti_0": 1,
                                "betti_1": 0,
                                "total_persistence_0": 1.0,
                                "total_persistence_1": 0.1,
                                "phdim_per_class": dim,
                                "linear_probe_accuracy": acc,
                            }
                        )
    return pd.DataFrame(rows), pd.DataFrame(layers)


def test_analysis_ranks_a_planted_predictor_first():
    models, layers = _population()
    report = analyze(models, layers, n_boot=100)
    board = report.tables["measures"]
    acc = board[(board["task"] == "t") & (board["target"] == "test_accuracy")].sort_values("rank")
    assert abs(acc.iloc[0]["kendall_tau"]) == pytest.approx(1.0)
    by_score = acc.set_index("score")["kendall_tau"]
    assert by_score["linear_probe_last"] == pytest.approx(1.0) and by_score["twonn_last"] == pytest.approx(-1.0)
    assert abs(by_score["weight_l2"]) < 0.5 and acc.set_index("score").loc["twonn_last", "beats_baselines"]
    assert set(report.tables) >= {"scores", "correlations", "measures", "curves", "architectures", "nulls"}
    curves = report.tables["curves"]
    assert set(curves["n_seeds"]) == {3}


def test_bad_populations_give_clear_notes_and_what_can_be_computed():
    models, layers = _population(n_seeds=1)
    report = analyze(models, layers, n_boot=50)
    assert any("trained models; correlations need at least" in n for n in report.notes)
    models, layers = _population(versions=(1, 2))
    report = analyze(models, layers, n_boot=50)
    assert any("protocol versions [1, 2]" in n for n in report.notes)
    assert set(report.tables["scores"]["protocol_version"]) == {2}
    models, layers = _population(complete=False)
    axes, notes = complete_axes(models)
    assert axes == ["axis_width"] and "incomplete" in notes[0]
    report = analyze(models, layers, n_boot=50)
    assert len(report.tables["correlations"]) > 0


def test_a_censored_phdim_ranks_above_every_value_and_is_never_averaged():
    """The most accurate third of the models have a censored PHdim at the block layer: the scores
    leave it empty and flag it, rank statistics tie it above every measured value (tau checked
    against scipy on a hand-made encoding), and no mean, drop or curve averages it."""
    from scipy import stats

    from reptopo.analysis import architecture_table, curves, model_scores, rank_values

    models, layers = _population()
    top = set(models.sort_values("test_accuracy").tail(4)["job_id"])
    block = (layers["role"] == "block") & layers["job_id"].isin(top)
    layers["phdim_censored"] = block
    layers.loc[block, "phdim"] = np.nan
    scores = model_scores(models, layers)
    cens = scores[scores["job_id"].isin(top)]
    assert cens["phdim_last"].isna().all() and cens["phdim_last_censored"].all()
    assert cens["phdim_mean"].isna().all() and cens["phdim_drop"].isna().all() and cens["phdim_max_censored"].all()
    ranked = rank_values(scores, "phdim_last")
    assert np.isfinite(ranked).all() and (ranked[scores["job_id"].isin(top)] > np.nanmax(scores["phdim_last"])).all()
    hand = np.where(scores["phdim_last_censored"], 1e9, scores["phdim_last"])
    report = analyze(models, layers, n_boot=50)
    row = report.tables["correlations"].query("score == 'phdim_last' and target == 'test_accuracy'").iloc[0]
    assert row["kendall_tau"] == pytest.approx(stats.kendalltau(hand, scores["test_accuracy"]).statistic)
    assert row["n_censored"] == 4 and row["trained_mean"] == pytest.approx(scores["phdim_last"].mean())
    arch = architecture_table(scores)
    assert arch.loc[arch["phdim_last_n_censored"] > 0, "phdim_last_mean"].isna().all()
    curve = curves(layers)
    assert curve.loc[(curve["role"] == "block") & (curve["phdim_n_censored"] > 0), "phdim_mean"].isna().all()


def test_a_constant_score_is_reported_as_constant_not_blank():
    models, layers = _population()
    report = analyze(models, layers, n_boot=50)
    rows = report.tables["correlations"].query("score == 'betti0_last'")
    assert len(rows) == 2 and rows["kendall_tau"].isna().all()
    assert rows["note"].str.contains("constant over the 12 models").all() and rows["note"].str.contains("reads 1").all()
    overall = report.tables["measures"].query("score == 'betti0_last' and task == '(all tasks)'")
    assert overall["note"].str.contains("constant in every task").all()


def _synthetic_population(relu_trivial_from: float, tanh_trivial_from: float):
    """Two trained runs on a two-class synthetic task: every class reads (1, 0) from the given depth on."""
    rows, layers = [], []
    for model, start in (("fc_relu_narrow", relu_trivial_from), ("fc_tanh_narrow", tanh_trivial_from)):
        job = f"{model}__s0"
        rows.append(
            {
                "job_id": job,
                "model": model,
                "task": "naitzat_d1",
                "seed": 0,
                "family": "mlp",
                "modality": "synthetic",
                "status": "trained",
                "protocol_version": 2,
                "train_accuracy": 1.0,
                "test_accuracy": 0.99,
                "train_loss": 0.0,
                "test_loss": 0.0,
                "generalization_gap": 0.01,
                "n_parameters": 100,
                "weight_l2": 1.0,
                "train_seconds": 1,
                "measure_seconds": 1,
                "peak_rss_mb": 1,
            }
        )
        for epoch in (0, 10):
            for k, depth in enumerate(np.linspace(0, 1, 6)):
                role = "input" if k == 0 else "head" if k == 5 else "block"
                trivial = epoch == 10 and depth >= start
                layers.append(
                    {
                        "job_id": job,
                        "model": model,
                        "task": "naitzat_d1",
                        "seed": 0,
                        "family": "mlp",
                        "status": "trained",
                        "protocol_version": 2,
                        "layer": f"l{k}",
                        "pooling": "raw",
                        "depth": depth,
                        "role": role,
                        "epoch": epoch,
                        "phdim": 2.0,
                        "twonn": 2.0,
                        "mle": 2.0,
                        "phdim_censored": False,
                        "trivial_classes": "0,1" if trivial else "",
                        "n_classes_measured": 2,
                        "class_betti_sum": 1.0 if trivial else 9.5,
                        "class_tp_h0": 30.0 - 20 * depth,
                        "class_tp_h1": 3.0,
                        "whole_b0": 1,
                        "whole_b0_large": 1,
                        "linear_probe_accuracy": 0.9,
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(layers)


def test_dynamics_and_the_naitzat_check_read_the_records():
    from reptopo.analysis import literature_checks, reach_depth

    models, layers = _synthetic_population(relu_trivial_from=0.4, tanh_trivial_from=0.8)
    report = analyze(models, layers, n_boot=20)
    t = {**report.tables, "models": models, "layers": layers}
    dyn = t["dynamics"]
    assert set(dyn["epoch"]) == {0, 10} and len(dyn) == 2 * 2 * 6
    job = layers[(layers["job_id"] == "fc_relu_narrow__s0") & (layers["epoch"] == 10)]
    assert reach_depth(job, "0") == pytest.approx(0.4) and reach_depth(job, "2") != reach_depth(job, "2")  # NaN
    check = next(c for c in literature_checks(t) if c.title.startswith("Naitzat"))
    numbers = check.numbers
    assert numbers["relu_depth"] == pytest.approx(0.4) and numbers["tanh_depth"] == pytest.approx(0.8)
    assert numbers["relu_halfway"] == pytest.approx(0.4) and numbers["tanh_halfway"] == pytest.approx(0.8)
    assert numbers["relu_reached"] == "2 of 2" and numbers["mann_whitney_p"] < 0.5
    assert check.verdict.startswith("reproduced") and "faster with ReLU" in check.verdict
    models, layers = _synthetic_population(relu_trivial_from=0.8, tanh_trivial_from=0.4)
    report = analyze(models, layers, n_boot=20)
    check = next(
        c
        for c in literature_checks({**report.tables, "models": models, "layers": layers})
        if c.title.startswith("Naitzat")
    )
    assert "not faster with ReLU, not reproduced" in check.verdict
    # the activation is the entry's parameter, never read off the name: swapped entries swap the verdict
    from reptopo.analysis.literature import RegistryFacts

    swapped = RegistryFacts(
        loaders={"naitzat_d1": "naitzat"}, activations={"fc_relu_narrow": "tanh", "fc_tanh_narrow": "relu"}
    )
    check = next(
        c
        for c in literature_checks({**report.tables, "models": models, "layers": layers}, facts=swapped)
        if c.title.startswith("Naitzat")
    )
    assert check.verdict.startswith("reproduced") and "faster with ReLU" in check.verdict
    unknown = RegistryFacts(loaders={}, activations={})  # a task no entry calls Naitzat's is not checked as one
    assert not [
        c
        for c in literature_checks({**report.tables, "models": models, "layers": layers}, facts=unknown)
        if c.title.startswith("Naitzat")
    ]


def _depth_population(slopes: dict, modality: str, noise: float, rng) -> pd.DataFrame:
    """Final layers of trained models whose PHdim changes linearly over relative depth: ``slopes``
    maps a family to the slopes of its models."""
    rows = []
    for family, values in slopes.items():
        for i, slope in enumerate(values):
            for role, depth in (("input", 0.0), ("block", 0.25), ("block", 0.5), ("block", 0.75), ("head", 1.0)):
                rows.append(
                    {
                        "job_id": f"{family}{i}",
                        "model": family,
                        "family": family,
                        "modality": modality,
                        "status": "trained",
                        "role": role,
                        "depth": depth,
                        "task": "t",
                        "phdim": 10 + slope * depth + rng.normal(scale=noise),
                        "phdim_censored": False,
                    }
                )
    return pd.DataFrame(rows)


def test_magai_2023_check_reads_the_paired_depth_profiles():
    from reptopo.analysis import magai2023_check

    rng = np.random.default_rng(0)
    differ = pd.concat(
        [
            _depth_population({"cnn": [-8, -7, -9, -8], "vit": [2, 3, 1, 2]}, "vision", 0.1, rng),
            _depth_population({"cnn1d": [-1, -1.2, -0.8], "transformer": [-1.1, -0.9, -1.0]}, "text", 0.05, rng),
        ]
    )
    check = magai2023_check({}, final=differ)
    cv, nlp = check.verdict.split("; ")
    assert cv.startswith("CV: reproduced") and nlp.startswith("NLP: refuted")
    lo, hi = check.numbers["CV_interval"]
    assert lo < 10 < hi  # the difference is +10 per unit depth
    assert check.numbers["CV_difference"] == pytest.approx(10, abs=1)
    # one Transformer only: not testable, said so; a noisy split: inconclusive
    few = _depth_population({"cnn": [-8, -7], "vit": [2]}, "vision", 0.1, rng)
    assert "not testable (2 CNNs and 1 Transformers" in magai2023_check({}, final=few).verdict
    noisy = _depth_population({"cnn": [-20, 15, -5], "vit": [10, -18, 4]}, "vision", 0.1, rng)
    assert "CV: inconclusive" in magai2023_check({}, final=noisy).verdict


def test_head_components_check_reports_the_acceptance_figures():
    from reptopo.analysis import head_components_check

    rows = []
    for i, (status, acc, b0, dtm, near) in enumerate(
        [
            ("trained", 0.97, 1, 10, 0),
            ("trained", 0.95, 1, 10, 0),
            ("trained", 0.96, 1, 8, 2),
            ("trained", 0.5, 1, 3, 0),
            ("random_init", 0.1, 1, 1, 0),
            ("random_init", 0.1, 1, 10, 0),
        ]
    ):
        rows.append(
            {
                "job_id": f"j{i}",
                "task": "mnist",
                "status": status,
                "role": "head",
                "test_accuracy": acc,
                "whole_b0": b0,
                "whole_b0_large": b0,
                "whole_b0_dtm": dtm,
                "whole_b0_dtm_near": near,
                "n_classes_measured": 10,
            }
        )
    check = head_components_check({}, final=pd.DataFrame(rows))
    n = check.numbers
    assert n["dtm_share_well_trained"] == pytest.approx(2 / 3) and n["dtm_share_random_init"] == pytest.approx(0.5)
    assert "2 of 3 trained MNIST and digits models" in check.verdict and "1 of 2 of their random-init" in check.verdict


def test_a_version_3_citation_quotes_each_calibrated_value_with_its_interval_or_bound():
    from reptopo.cite import score_bibtex

    scores = pd.DataFrame(
        {
            "test_accuracy": [0.97, 0.96],
            "phdim_last": [6.2, None],
            "phdim_last_censored": [False, True],
            "phdim_last_ci_low": [5.5, None],
            "phdim_last_ci_high": [7.3, None],
            "phdim_last_bound": [None, 311.0],
        }
    )
    bib = score_bibtex("lenet", "mnist", 3, ["a" * 64, "b" * 64], scores, date="2026-12-01")
    assert "PHdim (last hidden layer) calibrated, 95\\% interval, per record: 6.2 [5.5, 7.3], at least 311" in bib
    assert "protocol version 3" in bib
    v2 = score_bibtex("lenet", "mnist", 2, ["a" * 64], scores.iloc[:1], date="2026-12-01")
    assert "6.2" in v2 and "interval" not in v2  # version 2 keeps its plain value


def test_the_dynamics_check_says_what_moved_over_training():
    from reptopo.analysis import dynamics_check

    rows = []
    for family, ph, comp in (("cnn", (10, 5, 4), (1, 3, 8)), ("transformer", (30, 20, 12), (1, 1, 1))):
        for epoch, p, c in zip((0, 1, 5), ph, comp):
            for role, depth, value in (("block", 0.5, p), ("head", 1.0, None)):
                rows.append(
                    {
                        "job_id": family,
                        "family": family,
                        "status": "trained",
                        "epoch": epoch,
                        "role": role,
                        "depth": depth,
                        "phdim": value if value is not None else 2.0,
                        "phdim_censored": False,
                        "whole_b0_dtm": c if role == "head" else None,
                    }
                )
    check = dynamics_check({"dynamics": pd.DataFrame(rows)})
    assert "components rise in cnn and stay put in transformer" in check.verdict
    assert "PHdim falls in cnn, transformer and rises in no family" in check.verdict
    assert (
        "cnn: PHdim of the last hidden layer 10 → 5 → 4 (epochs 0, 1, last); components at the head 1 → 3 → 8"
        in check.finding
    )


def test_the_summary_never_prints_a_correlation_that_is_not_a_number():
    """A task whose target does not vary (every Naitzat network at 100%) has no correlation: the
    summary says so instead of printing '+nan'."""
    from reptopo.analysis.tables import AnalysisReport

    board = pd.DataFrame(
        {
            "task": ["a", "a", "b", "b"],
            "target": ["test_accuracy"] * 4,
            "score": ["phdim_last", "twonn_last", "phdim_last", "twonn_last"],
            "kendall_tau": [0.5, -0.25, float("nan"), float("nan")],
            "rank": [1, 2, 1, 2],
        }
    )
    text = AnalysisReport(tables={"measures": board}).summary()
    assert "nan" not in text
    assert "a / test_accuracy: phdim_last +0.50, twonn_last -0.25" in text
    assert (
        "b / test_accuracy: no correlation (Kendall tau undefined: test_accuracy or every score is constant across its models)"
        in text
    )
