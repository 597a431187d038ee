import numpy as np
import pytest
from clouds import circle, sphere, torus, torus_uniform
from ripser import ripser

from reptopo.measures import BettiRule, CloudError, GramCloud, h0_deaths, persistence


def _ripser_h0(points):
    deaths = ripser(points, maxdim=0)["dgms"][0][:, 1]
    return np.sort(deaths[np.isfinite(deaths)])


@pytest.mark.parametrize(
    "make",
    [
        lambda r: r.normal(size=(700, 16)),
        lambda r: r.normal(size=(500, 300)) * 0.01 + 100.0,  # far from the origin: Gram cancellation
        lambda r: torus(700, r, noise=0.05),
        lambda r: np.concatenate([r.normal(size=(150, 5)) + 12 * i for i in range(4)]),
        lambda r: r.uniform(size=(600, 2)).astype(np.float32),
    ],
    ids=["gauss16", "offset300", "noisy-torus", "clusters", "square-f32"],
)
def test_h0_deaths_equal_ripsers(make, rng):
    pts = make(rng)
    ours = h0_deaths(pts)
    ref = _ripser_h0(pts.astype(np.float64))
    assert ours.shape == ref.shape == (len(pts) - 1,)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_h0_with_duplicate_points_keeps_zero_edges(rng):
    # scipy's csgraph reads zeros of a dense matrix as missing edges; the tree here must not.
    base = rng.normal(size=(300, 4))
    pts = np.concatenate([base, base[:40]])
    ours = h0_deaths(pts)
    assert (ours == 0).sum() == 40
    # ripser leaves out zero-length bars (and reads its float32 distances as ~1e-8)
    ref = _ripser_h0(pts)
    np.testing.assert_allclose(ours[40:], ref[ref > 1e-6], rtol=1e-6)


def test_mst_edges_form_a_spanning_tree(rng):
    pts = rng.normal(size=(200, 3))
    i, j, length = GramCloud(pts).mst_edges()
    assert len(i) == 199
    np.testing.assert_allclose(length, np.linalg.norm(pts[i] - pts[j], axis=1))
    # a spanning tree connects everything: union-find over its edges leaves one root
    parent = list(range(200))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for a, b in zip(i, j):
        parent[find(a)] = find(b)
    assert len({find(a) for a in range(200)}) == 1


RULES = [BettiRule("covering_radius"), BettiRule("largest_gap")]


@pytest.mark.slow
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
@pytest.mark.parametrize("metric", ["euclidean", "knn_geodesic"])
def test_betti_numbers_of_known_shapes(rule, metric, rng):
    """Protocol v1's legacy rules on 1,000-2,000-point shapes (the slow tier)."""
    cases = [
        ("circle", circle(1000, rng), 1, [1, 1]),
        ("two circles", np.r_[circle(600, rng), circle(600, rng, centre=(4, 0))], 1, [2, 2]),
        ("torus", torus(2000, rng), 1, [1, 2]),
        ("sphere", sphere(2000, rng), 2, [1, 0, 1]),
    ]
    for name, pts, maxdim, expected in cases:
        res = persistence(pts, maxdim=maxdim, n_landmarks=250, rule=rule, metric=metric)
        assert res.betti == expected, f"{name}: {res.betti} with {rule.name}/{metric}"


def test_persistence_result_records_its_rule_and_summaries(rng):
    res = persistence(circle(800, rng), n_landmarks=200, rule=BettiRule())
    d = res.to_dict()
    assert d["betti_rule"] == {"name": "covering_radius", "factor": 2.0, "max_features": 10}
    assert d["n_landmarks"] == 200 and d["metric"] == "euclidean"
    h1 = res.summaries[1]
    life = res.diagrams[1][:, 1] - res.diagrams[1][:, 0]
    assert h1.n_bars == len(res.diagrams[1])
    assert h1.max_persistence == pytest.approx(life.max())
    assert h1.total_persistence == pytest.approx(life.sum())
    p = life / life.sum()
    assert h1.persistent_entropy == pytest.approx(-(p * np.log(p)).sum())
    assert res.summaries[0].n_infinite == 1


def test_betti_numbers_are_scale_invariant(rng):
    pts = torus_uniform(1500, rng)
    assert persistence(pts).betti == persistence(pts * 1000.0).betti == [1, 2]
    legacy = BettiRule()
    assert persistence(pts, rule=legacy).betti == persistence(pts * 1000.0, rule=legacy).betti


def test_maxmin_landmarks_cover_the_cloud(rng):
    pts = rng.uniform(size=(1000, 2))
    res = persistence(pts, maxdim=0, n_landmarks=100, rule=BettiRule())
    lm = pts[res.landmarks]
    nearest = np.min(np.linalg.norm(pts[:, None] - lm[None], axis=2), axis=1)
    assert nearest.max() == pytest.approx(res.covering_radius)
    assert len(set(res.landmarks.tolist())) == 100


def test_bad_clouds_name_the_layer(rng):
    pts = rng.normal(size=(100, 3))
    pts[7, 1] = np.nan
    with pytest.raises(CloudError, match=r"layer 'blocks\.3'.*NaN"):
        persistence(pts, layer="blocks.3")
    with pytest.raises(CloudError, match="identical"):
        persistence(np.ones((50, 4)), layer="fc")
    with pytest.raises(ValueError, match="unknown Betti rule"):
        BettiRule("longest_bars")


def test_far_apart_tight_clusters_switch_the_gram_to_float64(rng):
    # |x|^2 ~ 5e4 against nearest-neighbour d^2 ~ 1e-3: float32 would choose trees by rounding noise
    pts = np.concatenate([rng.uniform(size=(150, 2)) * 0.5 + 50 * i for i in range(8)])
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import pdist, squareform

    cloud = GramCloud(pts)
    assert cloud.gram.dtype == np.float64
    # reference: scipy's tree on exact float64 distances (no duplicates here, so no zero entries)
    exact = np.sort(minimum_spanning_tree(squareform(pdist(pts))).data)
    np.testing.assert_allclose(h0_deaths(pts), exact, rtol=1e-9)
    assert GramCloud(rng.normal(size=(300, 8))).gram.dtype == np.float32
