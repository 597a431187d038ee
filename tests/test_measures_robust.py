"""Measures that see real networks: calibrated PHdim and the DTM filtration's significant Betti
numbers, checked against independent references (scikit-dimension, gudhi, closed forms) and
across regimes (low and high dimension, small and large samples, outliers, uneven density,
far-apart clusters)."""

import json

import numpy as np
import pytest
import skdim
from clouds import circle, gaussian_clusters, random_isometry, sphere

from reptopo.measures import (
    CalibrationMismatch,
    CloudError,
    DTMRule,
    calibrate,
    calibration_table,
    class_topology,
    default_schedule,
    dtm_persistence,
    mle,
    persistence,
    phdim,
    twonn,
)
from reptopo.measures.dtm import pairwise_distances64

# --- TwoNN and MLE against scikit-dimension ---------------------------------------------------

CLOUDS = [  # (name, n, generator): low and high ambient dimension, flat and curved
    ("cube3", 500, lambda r: r.uniform(size=(500, 3))),
    ("cube6", 1000, lambda r: r.uniform(size=(1000, 6))),
    ("gauss10", 800, lambda r: r.normal(size=(800, 10))),
    ("gauss40", 600, lambda r: r.normal(size=(600, 40))),
    ("sphere2", 1000, lambda r: sphere(1000, r, dim=2)),
    ("sphere5_in_60", 700, lambda r: random_isometry(sphere(700, r, dim=5), r, ambient=60)),
    ("circle", 400, lambda r: circle(400, r)),
    ("clusters", 1000, lambda r: gaussian_clusters(1000, r, n_clusters=5, dim=8)[0]),
    ("ball20", 900, lambda r: r.normal(size=(900, 20)) * r.uniform(size=(900, 1)) ** (1 / 20)),
    ("plane_in_100", 500, lambda r: random_isometry(r.normal(size=(500, 2)), r, ambient=100)),
    ("uneven", 600, lambda r: np.r_[r.normal(size=(300, 4)) * 0.1, r.normal(size=(300, 4)) * 3 + 10]),
    ("torus", 800, lambda r: np.c_[np.cos(r.uniform(0, 6.3, (800, 2))), np.sin(r.uniform(0, 6.3, (800, 2)))]),
]


@pytest.mark.parametrize("name,n,gen", CLOUDS, ids=[c[0] for c in CLOUDS])
def test_twonn_and_mle_equal_scikit_dimension(name, n, gen):
    pts = gen(np.random.default_rng(len(name)))
    assert twonn(pts).dimension == pytest.approx(skdim.id.TwoNN(discard_fraction=0.1).fit(pts).dimension_, rel=1e-6)
    assert mle(pts, k=20).dimension == pytest.approx(skdim.id.MLE(K=20).fit(pts).dimension_, rel=1e-6)


# --- raw PHdim against scikit-dimension's PH -------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("d", [3, 8])
def test_raw_phdim_lies_within_the_sampling_spread_of_scikit_dimension_ph(d):
    """Both estimators on the protocol's schedule (pool 1,000: sizes 100..500, 16 sizes, 7
    subsamples each); scikit-dimension fits all subsamples, reptopo their medians, so they agree
    within the spread of scikit-dimension's own estimate over subsample draws."""
    pts = np.random.default_rng(d).normal(size=(1000, d))
    sizes = default_schedule(1000)
    ref = [
        skdim.id.PH(
            n_range_min=int(sizes[0]),
            n_range_max=int(sizes[-1]),
            range_type="num",
            nsteps=16,
            subsamples=7,
            random_state=seed,
        )
        .fit(pts)
        .dimension_
        for seed in range(5)
    ]
    ours = phdim(pts, pool_size=1000, n_bootstrap=0).dimension
    spread = max(np.std(ref, ddof=1), 0.02 * d)
    assert abs(ours - np.mean(ref)) < 3 * spread, (ours, ref)


# --- calibrated PHdim -------------------------------------------------------------------------


def test_every_table_matches_the_schedule_it_is_used_with():
    for pool in (1000, 2000):
        for family in ("gaussian", "ball"):
            t = calibration_table(pool, default_schedule(pool), 7, 1.0, family)
            assert t["sizes"] == [int(s) for s in default_schedule(pool)] and t["n_repeats"] == 7
            assert t["n_clouds"] >= 20 and t["dims"][0] == 1 and t["dims"][-1] >= 300
            assert np.all(np.diff(t["belt_centre"]) > 0)  # invertible: strictly increasing in d
    with pytest.raises(CalibrationMismatch, match="pool of 1000 points, sizes 100..400"):
        calibration_table(1000, np.linspace(100, 400, 16).round().astype(int), 7, 1.0)
    with pytest.raises(CalibrationMismatch, match="5 repeats"):
        calibration_table(1000, default_schedule(1000), 5, 1.0)
    # a fit with another schedule is never read through a table built for the default one
    other = phdim(np.random.default_rng(0).normal(size=(1000, 5)), pool_size=1000, sizes=range(50, 500, 30))
    assert other.calibrated is None and other.to_dict()["calibrated"] is None
    with pytest.raises(CalibrationMismatch):
        calibrate(other)


@pytest.mark.parametrize("family,pool,d", [("gaussian", 1000, 12), ("ball", 2000, 40)])
def test_table_entries_are_rederived_from_fresh_simulations(family, pool, d):
    """Fresh clouds (seeds the table did not use) give a mean log raw PHdim within four
    standard errors of the table's entry."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from phdim_calibration import cloud

    t = calibration_table(pool, default_schedule(pool), 7, 1.0, family)
    i = t["dims"].index(d)
    z = [
        np.log(
            phdim(
                cloud(family, pool, d, 1000 + s), pool_size=pool, seed=1000 + s, n_bootstrap=0, ceiling=None
            ).dimension
        )
        for s in range(10)
    ]
    se = np.hypot(t["log_sd"][i] / np.sqrt(10), t["log_sd"][i] / np.sqrt(t["n_clouds"]))
    assert abs(np.mean(z) - t["log_mean"][i]) < 4 * se
    assert abs(t["belt_centre"][i] - t["log_mean"][i]) < 4 * t["log_sd"][i] / np.sqrt(t["n_clouds"])


def _family(name, n, d, rng):
    g = rng.normal(size=(n, d + (name == "sphere")))
    if name == "gauss":
        return g
    if name == "ball":
        return g / np.linalg.norm(g, axis=1, keepdims=True) * rng.uniform(size=(n, 1)) ** (1 / d)
    if name == "cube":
        return rng.uniform(size=(n, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


@pytest.mark.slow
def test_calibrated_intervals_cover_the_true_dimension():
    """At least 90% of fresh Gaussian, ball, cube and sphere clouds of d = 2 to 100, at pools of
    1,000 and 2,000 points, have the true d inside the interval (measured: 135 of 136)."""
    hits = []
    for pool in (1000, 2000):
        for name in ("gauss", "ball", "cube", "sphere"):
            for d in (2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 50, 64, 80, 100):
                c = phdim(
                    _family(name, pool, d, np.random.default_rng([d, pool, len(name), 11])), pool_size=pool
                ).calibrated
                hits.append(not c.censored and c.ci_low <= d <= c.ci_high)
    assert np.mean(hits) >= 0.9, np.mean(hits)


def test_calibrated_phdim_orders_nested_gaussians_none_censored(rng):
    g = rng.normal(size=(2000, 80))
    res = [phdim(g[:, :d], pool_size=2000) for d in (5, 10, 20, 40, 80)]
    values = [r.calibrated.dimension for r in res]
    assert not any(r.censored for r in res)
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert [r.slope for r in res] == sorted(r.slope for r in res)  # the raw slope orders them alike
    for d, r in zip((5, 10, 20, 40, 80), res):
        assert r.calibrated.ci_low <= d <= r.calibrated.ci_high


def _manifold(kind, n, d, rng):
    """Manifolds of dimension d embedded non-linearly in R^100 (curvature radius at least twice
    the spread: a sample of 1,000 points in 24 dimensions cannot resolve tighter curvature)."""
    if kind == "helix":
        t = rng.uniform(0, 4 * np.pi, n)
        x = np.c_[np.cos(t), np.sin(t), 0.2 * t]
    elif kind == "roll":  # a d-dimensional sheet rolled up along its first coordinate
        u = rng.uniform(3 * np.pi, 6 * np.pi, n)
        x = np.c_[u * np.cos(u), u * np.sin(u), 3 * rng.normal(size=(n, d - 1))]
    elif kind == "arcs":  # a curved product: d Gaussian coordinates each bent onto an arc of radius 3
        z = rng.normal(size=(n, d))
        x = np.c_[3 * np.cos(z / 3), 3 * np.sin(z / 3)]
    else:  # paraboloid over a d-dimensional Gaussian
        z = rng.normal(size=(n, d))
        x = np.c_[z, (z**2).sum(axis=1, keepdims=True) / np.sqrt(d)]
    return random_isometry(x, rng, ambient=100)


@pytest.mark.parametrize(
    "kind,d",
    [
        ("helix", 1),
        ("roll", 2),
        ("roll", 12),
        ("roll", 24),
        ("arcs", 6),
        ("arcs", 24),
        ("paraboloid", 6),
        ("paraboloid", 24),
    ],
)
def test_non_linear_manifolds_are_calibrated_within_a_quarter(kind, d):
    rng = np.random.default_rng(d)
    for pool in (1000, 2000):
        res = phdim(_manifold(kind, pool, d, rng), pool_size=pool)
        assert not res.censored
        assert abs(res.calibrated.dimension - d) <= 0.25 * d, (pool, res.calibrated)


def test_a_500_dimensional_gaussian_reads_a_lower_bound_below_500(rng):
    for pool in (1000, 2000):
        res = phdim(rng.normal(size=(pool, 500)), pool_size=pool)
        c = res.calibrated
        assert (c.censored and c.lower_bound <= 500) or (c.ci_low <= 500 <= c.ci_high)
        if c.censored:
            assert c.dimension is None and c.ci_high is None and res.describe() == f">= {c.lower_bound:.3g}"
            assert res.dimension is not None and np.isfinite(res.dimension)  # the raw fit stays the measurement
        json.dumps(res.to_dict(), allow_nan=False)


def test_censoring_only_where_the_interval_has_no_finite_upper_end(rng):
    base = phdim(rng.normal(size=(1000, 40)), pool_size=1000)
    assert not base.censored and base.calibrated.ci_high < np.inf
    # a fit whose bootstrap reaches a slope of 1: the upper end is lost, the lower one measured
    base.log_spread = (base.log_spread[0], np.inf)
    c = calibrate(base)
    assert c.censored and c.lower_bound == pytest.approx(base.calibrated.ci_low) and "slope of 1" in c.why
    base.slope = 1.02
    c = calibrate(base)
    assert c.censored and c.lower_bound == calibration_table(1000, base.sizes, 7, 1.0)["dims"][-1]


def test_resolution_limit_and_family_gap_are_reported(rng):
    small = phdim(rng.normal(size=(1000, 10)), pool_size=1000).calibrated
    large = phdim(rng.normal(size=(2000, 10)), pool_size=2000).calibrated
    assert 5 < small.resolution_limit < large.resolution_limit < 100  # a larger pool resolves higher
    assert small.family_gap is not None and abs(small.family_gap) < 0.3 * small.dimension
    assert small.ci_low < small.dimension < small.ci_high


def test_scale_drift_flags_a_dimension_that_changes_with_scale(rng):
    # A plane with small 30-d noise: sparse subsamples see the plane, dense ones the noise.
    plane = np.c_[rng.uniform(size=(2000, 2)) * 10, rng.normal(size=(2000, 30)) * 0.03]
    assert phdim(plane).scale_drift is True
    assert phdim(rng.normal(size=(2000, 6))).scale_drift is False
    halves = phdim(plane).halves
    assert halves["lower"]["slope"] < halves["upper"]["slope"]


# --- the DTM filtration against gudhi -----------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dtm_persistence_equals_gudhi_dtm_rips(seed):
    gudhi = pytest.importorskip("gudhi")
    from gudhi.dtm_rips_complex import DTMRipsComplex

    pts = np.random.default_rng(seed).normal(size=(70, 3))
    rule = DTMRule(mass=0.07, min_k=2)
    ours = dtm_persistence(pts, rule=rule, n_landmarks=1000)
    st = DTMRipsComplex(points=pts, k=ours.k, q=2).create_simplex_tree(max_dimension=2)
    st.compute_persistence()
    # gudhi's weighted Rips complex reads diameters where Anai et al. read radii: twice ours
    for dim in (0, 1):
        ref = np.array(st.persistence_intervals_in_dimension(dim)).reshape(-1, 2) / 2
        ref = ref[ref[:, 1] > ref[:, 0]]
        mine = ours.diagrams[dim]
        assert len(ref) == len(mine)
        assert gudhi.bottleneck_distance(ref, mine) < 1e-12


def test_dtm_h0_band_and_counts_scale_with_the_cloud(rng):
    pts = gaussian_clusters(600, rng, n_clusters=3, dim=5, radius=15.0)[0]
    a, b = dtm_persistence(pts), dtm_persistence(pts * 37.5 + 4.0)
    assert a.betti == b.betti == [3, 0]
    np.testing.assert_allclose(np.array(b.bands), 37.5 * np.array(a.bands), rtol=1e-9)


# --- robust Betti numbers across regimes ----------------------------------------------------------


def uneven_clusters(n, rng, dim):
    """Three Gaussian clusters of spreads 0.2, 1 and 3, 40 apart."""
    lab = np.arange(n) % 3
    centres = np.zeros((3, dim))
    centres[1, 0], centres[2, :2] = 40.0, (20.0, 34.64)
    return centres[lab] + rng.normal(size=(n, dim)) * np.array([0.2, 1.0, 3.0])[lab][:, None]


@pytest.mark.parametrize(
    "n,dim",
    [
        (300, 2),
        (1000, 2),
        (300, 10),
        (1000, 10),
        pytest.param(3000, 2, marks=pytest.mark.slow),
        pytest.param(3000, 10, marks=pytest.mark.slow),
    ],
)
def test_uneven_clusters_read_three_components_and_no_loop(n, dim):
    res = dtm_persistence(uneven_clusters(n, np.random.default_rng(n + dim), dim))
    assert res.betti == [3, 0]
    assert sorted(res.component_sizes) == sorted(np.bincount(np.arange(n) % 3))


def clusters_with_strays(n, rng, *, radius=20.0, dim=10, stray=0.05):
    """Ten unit Gaussians in 10 dimensions and ``stray`` x n points on the segments between
    random pairs of centres."""
    pts, _ = gaussian_clusters(n, rng, n_clusters=10, dim=dim, radius=radius)
    centres = np.array([pts[i::10].mean(axis=0) for i in range(10)])
    m = int(stray * n)
    a = rng.integers(10, size=m)
    b = (a + rng.integers(1, 10, size=m)) % 10
    t = rng.uniform(size=(m, 1))
    return np.r_[pts, centres[a] * (1 - t) + centres[b] * t]


@pytest.mark.parametrize("seed", [0] + [pytest.param(s, marks=pytest.mark.slow) for s in (1, 2, 3)])
def test_ten_clusters_with_five_percent_strays_read_ten_components(seed):
    pts = clusters_with_strays(1000, np.random.default_rng(seed))
    res = dtm_persistence(pts, maxdim=0)
    assert res.betti[0] == 10
    # single linkage sees one component: the strays chain the clusters
    assert persistence(pts, maxdim=0).betti_range[0][0] <= 2


@pytest.mark.parametrize("n", [300, 1000])
def test_a_noisy_circle_with_outliers_reads_one_loop(n):
    rng = np.random.default_rng(n)
    pts = np.r_[circle(n, rng, noise=0.05), rng.uniform(-1.05, 1.05, size=(n // 20, 2))]
    assert dtm_persistence(pts).betti == [1, 1]


@pytest.mark.parametrize("n,dim", [(300, 2), (1000, 5), (2000, 20)])
def test_a_single_gaussian_blob_reads_one_component_and_no_loop(n, dim):
    assert dtm_persistence(np.random.default_rng(dim).normal(size=(n, dim))).betti == [1, 0]


def test_class_topology_counts_classes_through_stray_points():
    """A trained head: ten class clusters bridged by 5% stray (misclassified) points. The
    robust count sees the ten classes; each class alone reads (1, 0)."""
    rng = np.random.default_rng(7)
    pts = clusters_with_strays(1000, rng)
    labels = np.r_[np.arange(1000) % 10, rng.integers(10, size=len(pts) - 1000)]
    res = class_topology(pts, labels, robust=DTMRule())
    assert res.whole["dtm"]["b0"] == 10 and res.whole["b0_range"][0] <= 2
    assert res.mean_betti_dtm == [1.0, 0.0]
    out = res.to_dict()
    assert out["robust"]["mass"] == DTMRule().mass and out["mean_betti_dtm"] == [1.0, 0.0]
    json.dumps(out, allow_nan=False)
    assert "mean_betti_dtm" not in class_topology(pts, labels).to_dict()  # v2's record is unchanged


def test_dtm_rule_and_input_checks(rng):
    with pytest.raises(ValueError, match="mass"):
        DTMRule(mass=0)
    with pytest.raises(ValueError, match="n_bootstrap"):
        DTMRule(n_bootstrap=5)
    with pytest.raises(CloudError, match="layer 'fc1'.*NaN"):
        dtm_persistence(np.r_[rng.normal(size=(50, 2)), [[np.nan, 0]]], layer="fc1")
    dup = np.repeat(rng.normal(size=(5, 3)), 40, axis=0) + 0.0
    with pytest.raises(CloudError, match="layer 'relu'"):
        dtm_persistence(dup, layer="relu")


def test_pairwise_distances_keep_short_edges_of_far_clouds(rng):
    pts = rng.normal(size=(50, 4)) + 1e4
    pts[1] = pts[0] + 1e-5
    d = pairwise_distances64(pts)
    assert d[0, 1] == pytest.approx(np.linalg.norm(pts[0] - pts[1]), rel=1e-6)


@pytest.mark.parametrize("n,width", [(400, 60), (120, 119), (60, 80)])
def test_nearest_sorted_equals_a_stable_argsort_with_ties(n, width, rng):
    from reptopo.measures.dtm import nearest_sorted

    d = np.round(rng.uniform(size=(n, n)) * 20) / 20  # many ties, at the cut too
    d = np.minimum(d, d.T)
    np.fill_diagonal(d, 0.0)
    np.testing.assert_array_equal(nearest_sorted(d, width), np.argsort(d, axis=1, kind="stable")[:, :width])


def test_the_bootstrap_band_is_the_same_on_one_thread_and_on_many(rng):
    """The resamples run in parallel on numba's threads: each is independent and seeded, so the
    band does not depend on how many threads measured it; the spanning tree read twice gives the
    bars and sizes of two separate reads."""
    import numba

    from reptopo.measures.dtm import bootstrap_bands, dtm_values, h0_dtm, pairwise_distances64, spanning_tree

    x = np.r_[rng.normal(0, 1, (150, 5)), rng.normal(6, 1, (150, 5))]
    dist = pairwise_distances64(x)
    k = DTMRule().neighbours(len(x))
    f = dtm_values(dist, k)
    h0, _ = h0_dtm(dist, f)
    tree = spanning_tree(dist, f)
    np.testing.assert_array_equal(h0_dtm(dist, f, tree=tree)[0], h0)
    np.testing.assert_array_equal(h0_dtm(dist, f, band=0.5, tree=tree)[1], h0_dtm(dist, f, band=0.5)[1])
    many = bootstrap_bands(dist, k, f, h0, n_bootstrap=40, level=0.05, seed=3)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = bootstrap_bands(dist, k, f, h0, n_bootstrap=40, level=0.05, seed=3)
    finally:
        numba.set_num_threads(before)
    assert one == many
