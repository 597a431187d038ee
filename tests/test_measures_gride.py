"""GRIDE (reptopo/measures/catalog/gride.py) against DADApy's implementation, its closed form at
n1 = 1, and clouds of known dimension."""

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest
from clouds import random_isometry, sphere

from reptopo.measures.catalog.gride import gride, gride_ratios


@pytest.fixture(scope="module")
def dadapy_ids():
    """DADApy's IdEstimation, its pure-Python module alone: the package's __init__ loads compiled
    modules built against numpy 1 (requirements/test-references.txt), and its plotting module
    needs seaborn, which the GRIDE code path never calls."""
    spec = importlib.util.find_spec("dadapy")
    if spec is None:
        pytest.fail("dadapy is not installed: run scripts/env.sh (requirements/test-references.txt)")
    saved = {k: v for k, v in sys.modules.items() if k == "dadapy" or k.startswith("dadapy.")}
    package = types.ModuleType("dadapy")
    package.__path__ = list(spec.submodule_search_locations)
    plot = types.ModuleType("dadapy.plot")
    plot.plot_cdf = None
    sys.modules.update({"dadapy": package, "dadapy.plot": plot})
    try:
        yield importlib.import_module("dadapy.id_estimation").IdEstimation
    finally:
        for k in [k for k in sys.modules if k == "dadapy" or k.startswith("dadapy.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def _clouds(rng):
    swiss_t = 1.5 * np.pi * (1 + 2 * rng.uniform(size=1500))
    swiss = np.c_[swiss_t * np.cos(swiss_t), 21 * rng.uniform(size=1500), swiss_t * np.sin(swiss_t)]
    return {
        "gaussian 5-d in 20-d": random_isometry(rng.normal(size=(1200, 5)), rng, ambient=20),
        "noisy swiss roll": swiss + 0.3 * rng.normal(size=swiss.shape),
        "uniform cube 3-d": rng.uniform(size=(800, 3)),
        "sphere": sphere(1000, rng),
        "wide layer": np.maximum(rng.normal(size=(600, 40)) @ rng.normal(size=(40, 300)), 0),
    }


def test_gride_matches_dadapy_at_every_scale(dadapy_ids, rng):
    for name, x in _clouds(rng).items():
        ours = gride(x, max_rank=64)
        ids, errs, radii = dadapy_ids(coordinates=x, verbose=False).return_id_scaling_gride(range_max=64)
        assert ours["ranks"] == [1, 2, 4, 8, 16, 32], name
        # DADApy bisects to 1e-7 in d; the root here is found to 1e-10
        np.testing.assert_allclose(ours["dimensions"], ids, rtol=1e-6, err_msg=name)
        # DADApy sums the Fisher information over every ratio, the filtered ones too; here over
        # those that entered the estimate: equal where nothing was filtered, close elsewhere
        exact = np.array(ours["n_used"]) == len(x)
        np.testing.assert_allclose(np.array(ours["errors"])[exact], errs[exact], rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(ours["errors"], errs, rtol=5e-3, err_msg=name)
        np.testing.assert_allclose(ours["radii"], radii, rtol=1e-9, err_msg=name)


def test_gride_at_the_first_scale_is_twonns_unbiased_maximum_likelihood(rng):
    """At n1 = 1 the likelihood is d^N prod mu^-(d+1), whose maximum is N / sum(log mu); sum(log mu)
    is Gamma(N, d), so (N - 1) / sum(log mu) is the unbiased form, which DADApy and reptopo use."""
    x = rng.normal(size=(500, 4))
    d2 = np.sort(((x[:, None] - x[None]) ** 2).sum(-1), axis=1)
    mu = gride_ratios(np.sqrt(d2[:, 2] / d2[:, 1]))
    assert gride(x, max_rank=2)["dimensions"] == [pytest.approx((len(mu) - 1) / np.log(mu).sum(), rel=1e-9)]


def _sphere(n, d, rng):
    """n points uniform on the d-sphere (no boundary to bias the larger scales)."""
    s = rng.normal(size=(n, d + 1))
    return s / np.linalg.norm(s, axis=1, keepdims=True)


@pytest.mark.parametrize("d", [2, 5, 8])
def test_gride_finds_the_dimension_of_a_sphere_at_a_middle_scale(d, rng):
    res = gride(random_isometry(_sphere(2000, d, rng), rng, ambient=30), max_rank=64, scale=8)
    assert res["scale"] == 8 and abs(res["dimension"] - d) < 0.12 * d
    # the error is the estimate's spread: a second sample's value lies within a few errors
    again = gride(_sphere(2000, d, rng), max_rank=64, scale=8)
    assert abs(again["dimension"] - res["dimension"]) < 5 * np.hypot(res["errors"][3], again["errors"][3])


def test_noise_inflates_the_small_scales_only(rng):
    """A unit square with noise 100x smaller than its side: near 3-d at the finest scale, 2-d
    from the scales that the noise no longer reaches (Denti et al.'s reading)."""
    plane = np.c_[rng.uniform(size=(3000, 2)), np.zeros(3000)]
    res = gride(plane + 0.01 * rng.normal(size=plane.shape), max_rank=256)
    assert res["dimensions"][0] > 2.6 and abs(res["dimensions"][5] - 2) < 0.2
    assert res["radii"] == sorted(res["radii"])


def test_a_small_cloud_is_measured_at_the_scales_it_has_and_says_which(rng):
    res = gride(rng.normal(size=(20, 3)), max_rank=64, scale=8)
    assert res["ranks"] == [1, 2, 4, 8] and res["scale"] == 8
    res = gride(rng.normal(size=(12, 3)), max_rank=64, scale=8)
    assert res["ranks"] == [1, 2, 4] and res["scale"] == 4
    with pytest.raises(ValueError, match=r"layer 'fc': GRIDE needs at least 3 points"):
        gride(rng.normal(size=(2, 3)), layer="fc")


def test_repeated_points_give_no_ratio_and_are_counted_out(rng):
    x = rng.normal(size=(300, 3))
    doubled = np.r_[x, x[:50]]
    res = gride(doubled, max_rank=4)
    # the 100 points of the 50 pairs have their first neighbour at distance 0
    assert res["n_used"][0] <= 250 and np.isfinite(res["dimensions"]).all()
