import numpy as np
import pytest
import skdim
from clouds import random_isometry, sphere
from ripser import ripser

from reptopo.measures import CloudError, check_cloud, mle, phdim, phdim_per_class, twonn
from reptopo.measures.phdim import subsample_index_sets


@pytest.mark.parametrize("d", [1, 2, 3])
def test_phdim_of_uniform_cube_is_its_dimension(d, rng):
    res = phdim(rng.uniform(size=(2000, d)))
    assert abs(res.dimension - d) < 0.15
    assert res.ci_low <= res.dimension <= res.ci_high
    assert len(res.sizes) == 16 and res.n_repeats == 7


def test_phdim_of_sphere(rng):
    assert abs(phdim(sphere(2000, rng)).dimension - 2) < 0.15


def test_phdim_is_invariant_under_similarity_and_embedding(rng):
    pts = rng.uniform(size=(1200, 3))
    base = phdim(pts, seed=3).dimension
    for moved in (pts * 37.5, random_isometry(pts, rng), random_isometry(pts, rng, ambient=20) + 5.0):
        assert phdim(moved, seed=3).dimension == pytest.approx(base, rel=1e-9)


def test_phdim_uses_alpha_over_one_minus_slope(rng):
    # With 1 / (1 - slope), alpha = 0.5 on a 2-d set would read 4, not 2.
    pts = rng.uniform(size=(2000, 2))
    half, one = phdim(pts, alpha=0.5), phdim(pts, alpha=1.0)
    assert abs(half.dimension - 2) < 0.15 and abs(one.dimension - 2) < 0.15
    assert half.dimension == pytest.approx(0.5 / (1 - half.slope))


def test_phdim_equals_the_ripser_per_subsample_route(rng):
    pts = rng.normal(size=(400, 8))
    sizes, seed = [40, 60, 80, 100], 5
    ours = phdim(pts, sizes=sizes, n_repeats=3, seed=seed, n_bootstrap=0, ceiling=None)  # the fit itself
    index_sets = subsample_index_sets(np.random.default_rng(seed), len(pts), sizes, 3)
    e = []
    for idx in index_sets:
        deaths = ripser(pts[idx], maxdim=0)["dgms"][0][:, 1]
        e.append(deaths[np.isfinite(deaths)].sum())
    log_e = np.median(np.log(np.reshape(e, (len(sizes), 3))), axis=1)
    slope = np.polyfit(np.log(sizes), log_e, 1)[0]
    assert ours.dimension == pytest.approx(1 / (1 - slope), rel=1e-6)


def test_phdim_reports_duplicates_and_schedule(rng):
    base = rng.uniform(size=(800, 2))
    res = phdim(np.concatenate([base, base[:200]]), seed=1)
    assert res.duplicate_fraction == pytest.approx(200 / 1000)
    assert res.seed == 1 and res.pool_size == 1000 and res.sizes[0] == 100
    assert 0.9 < res.r2 <= 1


def test_per_class_phdim_sees_the_manifold_not_the_separation(rng):
    # Ten well-separated 2-d squares: long edges between them pull the global figure down.
    pts = np.concatenate([rng.uniform(size=(300, 2)) + 50 * i for i in range(10)])
    labels = np.repeat(np.arange(10), 300)
    glob = phdim(pts).dimension
    per = phdim_per_class(pts, labels)
    assert glob < 1.6
    assert abs(per["mean"] - 2) < 0.2 and per["skipped"] == []


@pytest.mark.parametrize("d", [3, 6])
def test_twonn_and_mle_agree_with_scikit_dimension(d):
    ours_t, ref_t, ours_m, ref_m = [], [], [], []
    for seed in range(4):
        pts = np.random.default_rng(seed).uniform(size=(1000, d))
        ours_t.append(twonn(pts).dimension)
        ref_t.append(skdim.id.TwoNN().fit(pts).dimension_)
        ours_m.append(mle(pts, k=20).dimension)
        ref_m.append(skdim.id.MLE(K=20).fit(pts).dimension_)
    for ours, ref in ((ours_t, ref_t), (ours_m, ref_m)):
        spread = np.ptp(ref)
        assert abs(np.mean(ours) - np.mean(ref)) <= spread
        np.testing.assert_allclose(ours, ref, atol=spread)


def test_twonn_drops_duplicates(rng):
    base = rng.uniform(size=(600, 4))
    res = twonn(np.concatenate([base, base[:100]]))
    # both copies of each duplicated point have r1 = 0; a point whose two nearest are such a
    # pair has r1 = r2 and goes too
    assert res.n_dropped >= 200 and res.n_used + res.n_dropped == 700
    assert np.isfinite(res.dimension)


def test_input_checks(rng):
    with pytest.raises(CloudError, match="layer 'head'.*3 points"):
        twonn(rng.normal(size=(3, 2)), layer="head")
    with pytest.raises(CloudError, match="duplicate"):
        phdim(np.repeat(rng.normal(size=(10, 3)), 30, axis=0), layer="relu4")
    with pytest.raises(CloudError, match="infinite"):
        mle(np.r_[rng.normal(size=(50, 2)), [[np.inf, 0]]])
    with pytest.raises(CloudError, match="shape"):
        phdim_per_class(rng.normal(size=(100, 2)), np.zeros(99))
    assert check_cloud(rng.normal(size=(5, 2))).flags.c_contiguous


def test_a_bad_parameter_is_named_with_its_value():
    """scikit-learn's habit: the message shows the value given and what it must be."""
    import numpy as np
    import pytest

    from reptopo.measures import DTMRule, mle, persistence, phdim

    x = np.random.default_rng(0).normal(size=(60, 3))
    for call, message in (
        (lambda: phdim(x, alpha=-1), r"alpha == -1, must be > 0"),
        (lambda: phdim(x, n_repeats=0), r"n_repeats == 0, must be >= 1"),
        (lambda: mle(x, k=2), r"k == 2, must be >= 3"),
        (lambda: persistence(x, maxdim=3), r"maxdim == 3, must be 0, 1 or 2"),
        (lambda: DTMRule(mass=1.5), r"DTMRule.mass == 1.5, must be in \(0, 1\)"),
    ):
        with pytest.raises(ValueError, match=message):
            call()
