"""Telling float noise from real discrepancies: the measurement rule (tolerances, and the
sensitivity probe on a real estimator), the training rule (a seed population's spread), checked
against hand-computed values and the committed reference records."""

import json
from pathlib import Path

import numpy as np
import pytest

from reptopo.measures import mle, twonn
from reptopo.submission.reproduce import (
    ACTIVATION_NOISE,
    HEADLINE_LEVEL,
    MIN_REFERENCE_SEEDS,
    PREDICTION_LEVEL,
    SENSITIVITY_REPEATS,
    check_training,
    compare_measurement,
    is_discrete,
    measure_path,
    measurement_tolerance,
    perturb_rows,
    prediction_factor,
    score_leaves,
    seed_key,
    undecided_counts,
)

REFERENCE = Path(__file__).resolve().parents[1] / "site" / "reference" / "records"
POPULATION = "mlp__digits__s{}__label_noise-0.0__train_size-400__width-0.5__p3.json"


def _load(name):
    return json.loads((REFERENCE / name).read_text())


def test_score_leaves_name_each_value_of_a_record():
    rec = _load(POPULATION.format(0))
    leaves = score_leaves(rec, final_epoch_only=True)
    final = [l for l in rec["layers"] if l["epoch"] == rec["train"]["epochs_run"]]
    head = next(l for l in final if l["name"] == "head")
    assert leaves["train.test_accuracy"] == rec["train"]["test_accuracy"]
    assert leaves["head/raw/final/twonn.dimension"] == head["measures"]["twonn"]["dimension"]
    assert leaves["head/raw/final/persistence.betti.0"] == head["measures"]["persistence"]["betti"][0]
    # parameters and timings are not scores; the dynamics' layers are left out of a final-epoch view
    assert not any(k.endswith((".seconds", ".seed", "twonn.params.discard_fraction")) for k in leaves)
    defaults = _load(POPULATION.format(0).replace("train_size-400__width-0.5", "train_size-1197__width-1.0"))
    assert not any("/e0/" in k for k in score_leaves(defaults, final_epoch_only=True))
    assert any("/e0/" in k for k in score_leaves(defaults))  # they are there otherwise
    assert (
        measure_path("head/raw/final/class_topology.classes.3.betti_hops.1") == "class_topology.classes.*.betti_hops.*"
    )
    assert is_discrete("head/raw/final/class_topology.whole.b0") and is_discrete("x/raw/final/twonn.n_dropped")
    assert not is_discrete("head/raw/final/twonn.dimension") and not is_discrete("train.test_accuracy")


def test_a_changed_score_of_a_record_is_reported_by_name():
    rec = _load(POPULATION.format(0))
    other = json.loads(json.dumps(rec))
    hidden = next(l for l in other["layers"] if l["name"] == "hidden.1")
    hidden["measures"]["twonn"]["dimension"] += 0.5
    found = [f for f in compare_measurement(score_leaves(rec), score_leaves(other)) if f.verdict != "agrees"]
    assert [(f.key, f.verdict) for f in found] == [("hidden.1/raw/final/twonn.dimension", "differs")]
    assert "claimed" in str(found[0]) and "re-derived" in str(found[0])


def test_perturb_rows_keeps_zeros_separates_duplicates_and_has_the_stated_size():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20)).astype(np.float32)
    x[10] = x[3]  # a repeated input
    x[20:40] = 0.0  # dead ReLU rows
    y = perturb_rows(x, seed=1)
    assert y.dtype == x.dtype and not np.any(y[20:40]) and not np.array_equal(y[10], y[3])
    rel = (y.astype(np.float64) - x) / np.where(x == 0, 1, x)
    assert 0.5 * ACTIVATION_NOISE < rel[x != 0].std() < 2 * ACTIVATION_NOISE
    assert not np.array_equal(perturb_rows(x, seed=2), y)


def test_perturb_rows_can_keep_identical_rows_identical():
    x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    x[7] = x[2]
    y = perturb_rows(x, seed=3, keep_duplicates=True)
    assert np.array_equal(y[7], y[2]) and not np.array_equal(y[2], x[2])
    assert len(np.unique(y, axis=0)) == len(np.unique(x, axis=0))


def test_an_estimate_over_a_point_set_that_float_noise_changed_follows_its_count():
    """TwoNN dropped 8 points on one machine and 10 on the other, and the probe shows float noise
    decides that count: the dimension, computed on other points, is float noise too, even where
    the probe moved it less; without that count's verdict it differs."""
    claimed = {"l/raw/final/twonn.dimension": 14.85, "l/raw/final/twonn.n_dropped": 8.0}
    rerun = {"l/raw/final/twonn.dimension": 15.08, "l/raw/final/twonn.n_dropped": 10.0}

    def probe(layer):
        return [{"l/raw/final/twonn.dimension": 15.07, "l/raw/final/twonn.n_dropped": 0.0}]

    found = {f.key: f for f in compare_measurement(claimed, rerun, sensitivity=probe)}
    assert found["l/raw/final/twonn.n_dropped"].verdict == "float noise"
    assert found["l/raw/final/twonn.dimension"].verdict == "float noise"
    assert "computed on another point set: twonn.n_dropped 8 against 10" in found["l/raw/final/twonn.dimension"].detail

    def count_stable(layer):
        return [{"l/raw/final/twonn.dimension": 15.07, "l/raw/final/twonn.n_dropped": 10.0}]

    found = {f.key: f for f in compare_measurement(claimed, rerun, sensitivity=count_stable)}
    assert {f.verdict for f in found.values()} == {"differs"}


def test_a_value_within_its_tolerance_agrees_and_beyond_it_differs():
    claimed = {"l/raw/final/twonn.dimension": 10.0, "l/raw/final/persistence.betti.0": 1.0, "train.test_accuracy": 0.9}
    tol = measurement_tolerance("l/raw/final/twonn.dimension")
    near = {**claimed, "l/raw/final/twonn.dimension": 10.0 * (1 + tol / 2)}
    assert {f.verdict for f in compare_measurement(claimed, near)} == {"agrees"}
    far = {**claimed, "l/raw/final/twonn.dimension": 10.0 * (1 + 10 * tol)}
    bad = [f for f in compare_measurement(claimed, far) if f.verdict != "agrees"]
    assert [(f.key, f.verdict) for f in bad] == [("l/raw/final/twonn.dimension", "differs")]
    # a count must be equal, and a leaf the re-run lacks is named
    flipped = {**claimed, "l/raw/final/persistence.betti.0": 2.0}
    assert [f.verdict for f in compare_measurement(claimed, flipped) if f.key.endswith("betti.0")] == ["differs"]
    gone = {k: v for k, v in claimed.items() if k != "train.test_accuracy"}
    assert [f.verdict for f in compare_measurement(claimed, gone) if f.key == "train.test_accuracy"] == ["missing"]


def test_the_sensitivity_probe_decides_from_what_the_perturbation_moves():
    claimed = {"l/raw/final/twonn.dimension": 10.0, "l/raw/final/twonn.n_dropped": 3.0}
    rerun = {"l/raw/final/twonn.dimension": 10.05, "l/raw/final/twonn.n_dropped": 4.0}
    calls = []

    def unstable(layer):
        calls.append(layer)
        # moves the dimension by 0.02: claimed is 0.05 away, within SENSITIVITY_FACTOR (4) x 0.02
        return [{"l/raw/final/twonn.dimension": 10.03, "l/raw/final/twonn.n_dropped": 3.0}]

    found = {f.key: f for f in compare_measurement(claimed, rerun, sensitivity=unstable)}
    assert calls == ["l/raw/final"]  # one probe per layer, not per leaf
    assert found["l/raw/final/twonn.dimension"].verdict == "float noise"
    assert found["l/raw/final/twonn.n_dropped"].verdict == "float noise"

    def slightly(layer):  # moves it by 0.01: 4 x 0.01 < 0.05
        return [{"l/raw/final/twonn.dimension": 10.04, "l/raw/final/twonn.n_dropped": 4.0}]

    found = {f.key: f for f in compare_measurement(claimed, rerun, sensitivity=slightly)}
    assert found["l/raw/final/twonn.dimension"].verdict == "differs"
    assert found["l/raw/final/twonn.n_dropped"].verdict == "differs"

    def stable(layer):
        return [{"l/raw/final/twonn.dimension": 10.05, "l/raw/final/twonn.n_dropped": 4.0}]

    found = {f.key: f for f in compare_measurement(claimed, rerun, sensitivity=stable)}
    assert {f.verdict for f in found.values()} == {"differs"}
    assert "leaves it unchanged" in found["l/raw/final/twonn.dimension"].detail


def _near_duplicates_cloud():
    """300 points in R^5 and 30 near-copies of them, 1e-6 away: float32 noise decides the
    distances the MLE divides by, as in a layer where two inputs map almost to one point."""
    rng = np.random.default_rng(5)
    base = rng.normal(size=(300, 5)).astype(np.float32)
    return np.concatenate([base, base[:30] + (1e-6 * rng.normal(size=(30, 5))).astype(np.float32)])


def test_mle_on_near_duplicates_is_told_from_a_real_discrepancy():
    """The MLE of a cloud with near-duplicates, as another CPU would see it (each entry moved by
    2e-5 relative, the largest deviation of activations bench/isa_spread.py measured across
    instruction sets): it moves beyond its tolerance, so the old exact check would fail; the
    sensitivity probe attributes the move to float noise; a fabricated value is still a
    discrepancy. On a cloud without near-duplicates the same move stays within tolerance."""
    x = _near_duplicates_cloud()
    key = "l/raw/final/mle.dimension"

    def leaves(cloud):
        return {key: mle(cloud).dimension}

    mine, other_cpu = leaves(x), leaves(perturb_rows(x, seed=99, size=2e-5))
    assert abs(other_cpu[key] - mine[key]) / mine[key] > measurement_tolerance(key)

    def probe(layer):
        return [leaves(perturb_rows(x, seed=s)) for s in range(SENSITIVITY_REPEATS)]

    assert [f.verdict for f in compare_measurement(other_cpu, mine)] == ["differs"]
    assert [f.verdict for f in compare_measurement(other_cpu, mine, sensitivity=probe)] == ["float noise"]
    clean = x[:300]
    fabricated = leaves(clean)  # the value of the cloud without its near-copies, claimed for this one
    assert [f.verdict for f in compare_measurement(fabricated, mine, sensitivity=probe)] == ["differs"]
    assert [f.verdict for f in compare_measurement(leaves(perturb_rows(clean, seed=99, size=2e-5)), leaves(clean))] == [
        "agrees"
    ]


def test_duplicates_at_a_rounding_residue_are_float_noise_for_twonn_and_mle():
    """Repeated inputs (the debate statements repeat 5 texts in 300): the nearest-neighbour
    distance of two identical rows is computed as |x|^2 + |y|^2 - 2 x.y, exactly 0 on one
    machine and a rounding residue of 1e-7 on another (what bench/isa_spread.py saw in MiniLM's
    and the BERT-style encoder's layers). TwoNN and the MLE drop a point at distance 0 and keep
    it at the residue, and the MLE then divides by it. Here the residue is made by moving half
    of the copies by one ulp. Counts and values change far beyond tolerance; the probe, which
    moves every entry, calls it float noise."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    x[380:] = x[:20]  # twenty repeated inputs
    other = x.copy()
    other[380:390] = np.nextafter(other[380:390], np.float32(np.inf))  # half of them at a residue

    def leaves(cloud):
        t, m = twonn(cloud), mle(cloud)
        return {
            "l/raw/final/twonn.dimension": t.dimension,
            "l/raw/final/twonn.n_dropped": float(t.n_dropped),
            "l/raw/final/mle.dimension": m.dimension,
            "l/raw/final/mle.n_dropped": float(m.n_dropped),
        }

    mine, theirs = leaves(x), leaves(other)
    assert mine["l/raw/final/mle.n_dropped"] - theirs["l/raw/final/mle.n_dropped"] == 20  # both copies of each pair
    assert abs(theirs["l/raw/final/mle.dimension"] / mine["l/raw/final/mle.dimension"] - 1) > 0.1
    plain = {f.key: f.verdict for f in compare_measurement(theirs, mine)}
    assert plain["l/raw/final/mle.dimension"] == plain["l/raw/final/mle.n_dropped"] == "differs"

    def probe(layer):
        return [leaves(perturb_rows(x, seed=s)) for s in range(SENSITIVITY_REPEATS)]

    verdicts = {f.key: f.verdict for f in compare_measurement(theirs, mine, sensitivity=probe)}
    assert verdicts == {k: "float noise" for k in mine}, verdicts
    # the same layer without repeated inputs: its TwoNN and MLE move by less than their tolerance
    clean = leaves(x[:380]), leaves(perturb_rows(x[:380], seed=7, size=2e-5))
    assert {f.verdict for f in compare_measurement(*clean)} == {"agrees"}


def test_undecided_counts_are_the_points_rounding_decides_for_twonn_and_mle():
    """Rows 0-4 each have an identical twin (rows 5-9) and rows 11, 12 are twins: their computed
    nearest-neighbour distance is 0 or a residue by machine (12 points for the MLE). For TwoNN,
    also every point whose two nearest neighbours are one row twice (r1 = r2 exactly, so the tie
    is rounding's call): point 10 beside 11 and 12, and any point next to a pair; the reference
    finds those from an exact distance matrix, point by point."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 3)) * 100
    x[5:10] = x[0:5]
    x[11] = x[12] = [1000.0, 0.0, 0.0]
    x[10] = [1000.0, 0.5, 0.0]
    counts = undecided_counts(x)
    assert counts["mle.n_dropped"] == counts["mle.n_used"] == 12  # the five pairs and 11, 12
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    has_twin = (d == 0).any(axis=1)
    first_two = np.argsort(d, axis=1, kind="stable")[:, :2]
    tie = np.array([np.array_equal(x[a], x[b]) for a, b in first_two])
    assert tie[10] and (has_twin | tie).sum() > 13
    assert counts["twonn.n_dropped"] == counts["twonn.n_used"] == (has_twin | tie).sum()
    claimed = {"l/raw/final/mle.n_dropped": 12.0, "l/raw/final/mle.n_used": 48.0}
    rederived = {"l/raw/final/mle.n_dropped": 0.0, "l/raw/final/mle.n_used": 60.0}
    found = compare_measurement(claimed, rederived, undecided=lambda layer: counts)
    assert [f.verdict for f in found] == ["float noise", "float noise"] and "12 points have an identical row" in found[
        0
    ].detail
    too_many = {**claimed, "l/raw/final/mle.n_dropped": 13.0}
    assert [f.verdict for f in compare_measurement(too_many, rederived, undecided=lambda layer: counts)][0] == "differs"


def test_a_retrained_seed_is_judged_against_the_population_spread():
    seeds = [_load(POPULATION.format(s)) for s in range(3)]
    assert len({seed_key(r) for r in seeds}) == 1
    # one of the population itself is consistent with it
    verdict = check_training(seeds[0], seeds)
    assert verdict.can_judge and verdict.consistent and verdict.n_seeds == 3
    # hand-computed z of the test accuracy
    acc = np.array([r["train"]["test_accuracy"] for r in seeds])
    assert verdict.z == pytest.approx((acc[0] - acc.mean()) / acc.std(ddof=1))
    assert "consistent with 3 reference seeds" in verdict.describe()
    # the test accuracy's 99% prediction interval for three seeds, by hand: t(0.995; 2) = 9.9248,
    # times sqrt(1 + 1/3); just inside passes, just outside fails
    assert prediction_factor(3, HEADLINE_LEVEL) == pytest.approx(9.9248 * np.sqrt(4 / 3), rel=1e-4)
    assert prediction_factor(3, PREDICTION_LEVEL) == pytest.approx(4.3027 * np.sqrt(4 / 3), rel=1e-4)
    edge = (
        acc.mean()
        + 9.9248 * np.sqrt(4 / 3) * acc.std(ddof=1)
        + measurement_tolerance("train.test_accuracy") * acc.max()
    )
    for shift, ok in ((-1e-3, True), (1e-3, False)):
        moved = json.loads(json.dumps(seeds[0]))
        moved["train"]["test_accuracy"] = edge + shift
        verdict = check_training(moved, seeds)
        assert verdict.headline_inside is ok and verdict.consistent is ok, shift
    # a model of another population (twice the width), relabelled as this one, is not consistent
    wider = _load(POPULATION.format(0).replace("width-0.5", "width-1.0"))
    verdict = check_training({**wider, "axes": seeds[0]["axes"]}, seeds)
    assert verdict.consistent is False and verdict.fraction_inside < 0.9
    # too few seeds: no verdict, said so
    few = check_training(seeds[0], seeds[: MIN_REFERENCE_SEEDS - 1])
    assert few.consistent is None and "cannot judge" in few.describe()
    # records of other populations are not counted as seeds
    assert check_training(seeds[0], seeds[:2] + [wider]).n_seeds == 2
    # nor is one seed counted twice
    assert check_training(seeds[0], seeds[:2] + [seeds[1]]).n_seeds == 2


@pytest.mark.slow
def test_compare_runs_reports_each_task_and_names_what_is_not_consistent(tmp_path, capsys):
    """Two copies of the digits task's reference records, one population moved in the 'new run'
    (its test accuracy raised by 0.2): 45 of 48 records are consistent, the three moved ones are
    named, and the correlations of the two runs agree but for that population."""
    import shutil

    from reptopo.cli import main

    run, ref = tmp_path / "run", tmp_path / "ref"
    for store in (run, ref):
        (store / "records").mkdir(parents=True)
        for path in REFERENCE.glob("*__digits__*.json"):
            shutil.copy(path, store / "records")
    moved = "lenet__digits__s{}__label_noise-0.2__train_size-1197__width-1.0__p3.json"
    for s in range(3):
        path = run / "records" / moved.format(s)
        rec = json.loads(path.read_text())
        rec["train"]["test_accuracy"] += 0.2
        path.write_text(json.dumps(rec))
    assert main(["compare-runs", str(run), str(ref), "--n-boot", "20"]) == 0
    out = capsys.readouterr().out
    # 16 populations of 3 seeds (MLP and LeNet over the width x train size x label noise grid);
    # the two pretrained ImageNet models have one seed each and cannot be judged
    assert "digits: 45/48 consistent" in out and "2 cannot be judged" in out
    assert out.count("not consistent: lenet__digits__s") == 3 and "label_noise-0.2__train_size-1197__width-1.0" in out
    assert "significant correlation(s) flip sign" in out and "measures board rank agreement" in out


def test_compare_runs_of_a_few_records_compares_them_without_correlations(tmp_path, capsys):
    """A run of three seeds of one population has no correlation to compare: the records are
    still judged, and the correlations read nan instead of failing."""
    import shutil

    from reptopo.cli import main

    run = tmp_path / "run"
    (run / "records").mkdir(parents=True)
    for s in range(3):
        name = f"lenet__digits__s{s}__label_noise-0.2__train_size-1197__width-1.0__p3"
        for path in REFERENCE.glob(f"{name}.*"):
            shutil.copy(path, run / "records")
    ref = REFERENCE.parent
    assert main(["compare-runs", str(run), str(ref), "--n-boot", "20"]) == 0
    out = capsys.readouterr().out
    assert "3 records judged against >= 3 reference seeds: 3 consistent" in out
    assert "Pearson r of the two runs' Kendall tau nan" in out
