"""Betti numbers at the cloud's own resolution, per-class homology, threshold-free summaries and
PHdim's resolution ceiling, checked against shapes with known topology and closed forms."""

import json

import numpy as np
import pytest
from clouds import (
    circle,
    figure_eight,
    gaussian_clusters,
    random_isometry,
    sphere,
    torus_uniform,
)

from reptopo.measures import (
    CloudError,
    class_topology,
    eckmann_ruelle_bound,
    hop_betti,
    persistence,
    phdim,
)
from reptopo.measures.homology import sampling_resolution, snap_to_distances

SHAPES = {
    "noisy circle": (lambda n, r: circle(n, r, noise=0.03), [1, 1]),
    "two circles": (
        lambda n, r: np.r_[circle(n // 2, r, noise=0.03), circle(n - n // 2, r, centre=(4, 0), noise=0.03)],
        [2, 2],
    ),
    "figure eight": (figure_eight, [1, 2]),
    "torus": (torus_uniform, [1, 2]),
    "sphere": (lambda n, r: sphere(n, r), [1, 0]),
    "ten clusters": (lambda n, r: gaussian_clusters(n, r)[0], [10, 0]),
}
ALL = 10**9  # every point a landmark


def _too_sparse(name, n, m):
    """The regimes where the sample cannot resolve the shape, so the answer may be flagged: a
    torus of radii 2 and 1 seen through 100 landmarks (covering radius about 0.64 against a tube
    of radius 1), or sampled by 500 points or fewer (resolution 0.6-0.85; its meridian's bar,
    about 1 long, is then within the noise bars of such a sample)."""
    return name == "torus" and (m == 100 or n <= 500)


def _sweep(name, n, m, embed, seed):
    make, truth = SHAPES[name]
    rng = np.random.default_rng(seed)
    pts = make(n, rng)
    if embed:
        pts = random_isometry(pts, rng, ambient=50)
    res = persistence(pts, maxdim=1, n_landmarks=m, max_scale=6.0 if min(m, n) > 1000 else None)
    if res.resolved and res.betti != truth and name == "torus" and n == 200:
        # Blind, and it says why: its H1 threshold is longer than the meridian's bar (about 1:
        # born near the spacing, dead at sqrt(3) x the tube radius), so no loop that short counts.
        assert res.betti[0] == 1 and res.betti[1] < 2 and res.thresholds[1] > 1.2, res.to_dict()
    elif res.resolved:
        assert res.betti == truth, f"{name}, n={n}, {m} landmarks: {res.betti}"
    else:
        assert _too_sparse(name, n, m), f"{name}, n={n}, {m} landmarks: unresolved {res.betti_range}"
        # what it does count surely is real (features shorter than the band are invisible here)
        assert all(lo <= t for (lo, _), t in zip(res.betti_range, truth)), f"{name}: {res.betti_range} vs {truth}"


SWEEP = [
    (name, n, m, embed)
    for name in SHAPES
    for n in (200, 500, 1000, 3000)
    for m in (100, 200, 300, ALL)
    for embed in (False, True)
]
FAST = {(n, m, embed) for n in (200, 500) for m in (100, 300, ALL) for embed in (False,)}


def _case_id(case):
    name, n, m, embed = case
    return f"{name}-{n}-{'all' if m == ALL else f'{m}lm'}-{'rotated-50d' if embed else 'native'}"


@pytest.mark.parametrize(
    "case", [c if c[1:] in FAST else pytest.param(c, marks=pytest.mark.slow) for c in SWEEP], ids=_case_id
)
def test_betti_sweep(case):
    """Every shape at 200-3,000 points, 100-300 landmarks and all points, native and rotated into
    50 dimensions (the fast tier runs the native small samples)."""
    name, n, m, embed = case
    _sweep(name, n, m, embed, seed=n + m % 997)


@pytest.mark.parametrize(
    "n,m", [pytest.param(300, 300, marks=pytest.mark.slow), (500, 200), pytest.param(1000, 300, marks=pytest.mark.slow)]
)
@pytest.mark.slow
def test_sphere_has_a_void(n, m, rng):
    res = persistence(sphere(n, rng), maxdim=2, n_landmarks=m)
    assert res.betti == [1, 0, 1]


def test_every_point_a_landmark_is_not_every_point_a_component(rng):
    # the legacy covering-radius rule read (300, 27) here: its threshold was 0
    res = persistence(circle(300, rng, noise=0.03), n_landmarks=300)
    assert res.betti == [1, 1] and res.covering_radius == 0.0
    assert res.resolution["eps_cloud"] > 0 and "neighbour" in res.resolution["why"]


def test_resolution_is_the_median_distance_to_the_ln_n_th_neighbour(rng):
    pts = rng.normal(size=(400, 3))
    k = int(np.ceil(np.log(400)))  # 6
    dist = np.sort(np.linalg.norm(pts[:, None] - pts[None], axis=2), axis=1)[:, k]
    assert sampling_resolution(pts) == pytest.approx(np.median(dist), rel=1e-12)
    with pytest.raises(CloudError, match="resolution is 0"):
        sampling_resolution(np.repeat(pts[:50], 10, axis=0))


def test_an_unresolved_answer_is_flagged_never_a_number(rng):
    res = persistence(torus_uniform(600, rng), n_landmarks=100, seed=3)
    d = res.to_dict()
    json.dumps(d, allow_nan=False)  # no inf or NaN reaches a record
    if not res.resolved:
        assert None in d["betti"] and d["resolved"] is False
        lo, hi = d["betti_range"][d["betti"].index(None)]
        assert lo < hi
    assert d["resolution"]["scale_h1"] >= d["resolution"]["eps_cloud"]


def test_snapping_restores_float64_filtration_values(rng):
    pts = rng.normal(size=(60, 4))
    from scipy.spatial.distance import pdist

    lengths = np.unique(pdist(pts))
    noisy = lengths[[3, 100, 900]].astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(snap_to_distances(np.r_[noisy, np.inf], lengths)[:3], lengths[[3, 100, 900]])


@pytest.mark.parametrize("variant", ["D-I", "D-II"])
def test_per_class_betti_of_naitzats_data_sets(variant):
    # D-I: nine disks (9, 0) against the square around nine holes (1, 9); D-II: nine rings per class
    from reptopo.pipeline.tasks import NAITZAT_BETTI, naitzat_sample

    pts, labels = naitzat_sample(variant, 1000, np.random.default_rng(3))
    res = class_topology(pts, labels)
    for c in ("0", "1"):
        assert res.classes[c]["betti_hops"] == res.classes[c]["betti_euclidean"] == NAITZAT_BETTI[variant][int(c)]


def test_per_class_betti_of_nine_disks_against_a_square_with_nine_holes():
    from reptopo.pipeline.tasks import naitzat_sample

    pts, labels = naitzat_sample("D-I", 1000, np.random.default_rng(3))
    res = class_topology(pts, labels)
    assert res.classes["0"]["betti_hops"] == [9, 0] and res.classes["1"]["betti_hops"] == [1, 9]
    assert res.classes["0"]["betti_euclidean"] == [9, 0] and res.classes["1"]["betti_euclidean"] == [1, 9]
    assert res.mean_betti_hops == [5.0, 4.5]
    # the hop metric is scale-free: a layer that stretches one class's space changes nothing
    assert hop_betti(pts[labels == 1] * [1000.0, 1000.0]) == [1, 9]


def _hop_betti_on_the_whole_complex(points, k=14, hops=2, maxdim=1):
    """The reference: ripser on every vertex's hop distances (Naitzat et al.'s computation,
    with no collapse), Betti numbers read as the bars alive at ``hops``."""
    from ripser import ripser
    from scipy.sparse.csgraph import shortest_path
    from sklearn.neighbors import kneighbors_graph

    graph = kneighbors_graph(points, n_neighbors=min(k, len(points) - 1), include_self=False)
    dist = shortest_path(graph.maximum(graph.T), method="D", unweighted=True, directed=False)
    dist = np.where(np.isfinite(dist) & (dist <= hops), dist, hops + 1.0)
    dgms = ripser(dist, maxdim=maxdim, distance_matrix=True, thresh=float(hops))["dgms"]
    return [int(((d[:, 0] <= hops) & (d[:, 1] > hops)).sum()) for d in dgms]


def _hop_bank(rng):
    """Clouds whose clique complexes at 1 to 3 hops range from nearly complete (a Gaussian in 64
    dimensions collapses to one vertex) to sparse bands that hardly collapse (a circle)."""
    strays = np.r_[gaussian_clusters(300, rng, n_clusters=3, dim=8)[0], rng.normal(0, 12, (6, 8))]
    uneven = np.r_[rng.normal(0, 0.1, (20, 5)), rng.normal(4, 1, (120, 5)), rng.normal(-6, 3, (260, 5))]
    with_outliers = np.r_[circle(300, rng, noise=0.03), rng.uniform(-1.5, 1.5, (15, 2))]
    segment = np.c_[np.linspace(0, 1, 250), 0.001 * rng.normal(size=250)]
    duplicated = np.repeat(rng.normal(size=(60, 3)), 3, axis=0)
    return {
        "gaussian 64-d": rng.normal(size=(300, 64)),
        "strays between clusters": strays,
        "uneven clusters": uneven,
        "circle with outliers": with_outliers,
        "two circles": np.r_[circle(150, rng, noise=0.02), circle(150, rng, centre=(4, 0), noise=0.02)],
        "figure eight": figure_eight(300, rng),
        "torus": torus_uniform(500, rng),
        "segment": segment,
        "repeated points": duplicated,
        "a small class": rng.normal(size=(12, 4)),
    }


def test_hop_betti_after_strong_collapses_equals_ripser_on_the_whole_complex(rng):
    """hop_betti removes dominated vertices before ripser reads the complex (a homotopy
    equivalence); the Betti numbers are those of ripser on every vertex, at 1, 2 and 3 hops,
    and up to H2 on a sphere."""
    for name, pts in _hop_bank(rng).items():
        for hops in (1, 2, 3):
            assert hop_betti(pts, hops=hops) == _hop_betti_on_the_whole_complex(pts, hops=hops), (name, hops)
    pts = sphere(400, rng)
    assert hop_betti(pts, maxdim=2) == _hop_betti_on_the_whole_complex(pts, maxdim=2) == [1, 0, 1]
    # Naitzat et al.'s D-II rings, per class: many components and loops survive the collapse
    from reptopo.pipeline.tasks import naitzat_sample

    pts, labels = naitzat_sample("D-II", 1000, np.random.default_rng(3))
    for c in (0, 1):
        assert hop_betti(pts[labels == c]) == _hop_betti_on_the_whole_complex(pts[labels == c]), c


def test_ten_separated_clusters_are_ten_components(rng):
    pts, labels = gaussian_clusters(1000, rng)
    res = class_topology(pts, labels)
    assert res.whole["b0"] == 10 and res.whole["b0_large"] == 10
    assert res.whole["component_sizes"] == [100] * 10
    assert all(c["betti_hops"] == [1, 0] for c in res.classes.values())


def test_normalised_total_persistence_is_invariant_to_scale_and_rotation(rng):
    pts, labels = gaussian_clusters(600, rng, n_clusters=3, dim=6, radius=6.0)
    moved = random_isometry(pts, rng, ambient=40) * 1234.5
    a, b = class_topology(pts, labels), class_topology(moved, labels)
    np.testing.assert_allclose(b.whole["total_persistence"], a.whole["total_persistence"], rtol=1e-9)
    np.testing.assert_allclose(b.mean_total_persistence, a.mean_total_persistence, rtol=1e-9)
    for c in a.classes:
        np.testing.assert_allclose(b.classes[c]["total_persistence"], a.classes[c]["total_persistence"], rtol=1e-9)
    assert a.whole["total_persistence"][1] > 0  # H1 is not trivially empty here


def test_total_persistence_is_the_sum_of_lifetimes_over_the_layer_radius(rng):
    from ripser import ripser

    pts = rng.normal(size=(120, 3))
    labels = np.zeros(120, int)
    res = class_topology(pts, labels, min_class_points=10)
    unit = np.sqrt(((pts - pts.mean(0)) ** 2).sum(1).mean())
    ref = ripser(pts, maxdim=1)["dgms"]
    totals = [np.sum((d[np.isfinite(d[:, 1]), 1] - d[np.isfinite(d[:, 1]), 0])) / unit for d in ref]
    np.testing.assert_allclose(res.classes["0"]["total_persistence"], totals, rtol=1e-6)


def test_a_class_with_too_few_points_is_flagged_by_name_and_count(rng):
    pts, labels = gaussian_clusters(300, rng, n_clusters=3, dim=5, radius=20.0)
    labels = labels.copy()
    labels[:6] = 7  # class 7 gets 6 points
    res = class_topology(pts, labels, min_class_points=20, layer="fc2")
    assert "class '7' has 6 points" in res.classes["7"]["error"] and "fc2" in res.classes["7"]["error"]
    assert res.params["n_classes_measured"] == 3
    assert res.classes["0"]["betti_hops"] == [1, 0]


def test_phdim_of_a_200_dimensional_gaussian_is_censored_by_the_v2_rule(rng):
    res = phdim(rng.normal(size=(1000, 200)), pool_size=1000, ceiling="eckmann_ruelle")
    assert res.r2 > 0.999  # the fit looks perfect, so R-squared cannot be the flag
    assert res.censored and res.dimension is None and res.fit_dimension > 50
    assert res.bound == pytest.approx(eckmann_ruelle_bound(500)) == pytest.approx(2 * np.log10(500))
    assert res.describe() == "above 5.4 (500 points)"
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_phdim_of_uniform_cubes_is_measured(d, rng):
    res = phdim(rng.uniform(size=(2000, d)))
    assert not res.censored and abs(res.dimension - d) < 0.15


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_phdim_of_spheres_is_measured(d, rng):
    res = phdim(sphere(2000, rng, dim=d))
    assert not res.censored and abs(res.dimension - d) < 0.15


def test_censored_phdim_ranks_above_every_measured_value_and_ties_with_censored(rng):
    from scipy.stats import rankdata

    from reptopo.measures.phdim import rank_key

    v2 = {"pool_size": 1000, "ceiling": "eckmann_ruelle"}
    records = [
        phdim(sphere(1000, rng, dim=2), **v2).to_dict(),
        phdim(rng.normal(size=(1000, 200)), **v2).to_dict(),
        phdim(rng.uniform(size=(1000, 1)), **v2).to_dict(),
        phdim(rng.normal(size=(1000, 100)), **v2).to_dict(),
    ]
    keys = [rank_key(r) for r in records]
    order = sorted(range(4), key=keys.__getitem__)
    assert order[:2] == [2, 0] and set(order[2:]) == {1, 3}
    ranks = rankdata([k[0] * 1e6 + k[1] for k in keys])  # the keys as one number, for ranking only
    assert list(ranks) == [2.0, 3.5, 1.0, 3.5]


def test_per_class_phdim_never_averages_a_censored_class(rng):
    from reptopo.measures import phdim_per_class

    low = rng.uniform(size=(300, 2))
    high = rng.normal(size=(300, 100)) * 0.05 + 5
    pts = np.r_[np.c_[low, np.zeros((300, 98))], high]
    res = phdim_per_class(pts, np.r_[np.zeros(300, int), np.ones(300, int)], n_bootstrap=0, ceiling="eckmann_ruelle")
    assert res["censored"] == ["1"] and res["mean"] is None
    assert not res["classes"]["0"].censored
