"""Linear CKA against its closed forms and a plain transcription of the HSIC definitions."""

import numpy as np
import pytest
from clouds import random_isometry

from reptopo.measures import CloudError, linear_cka


def _naive_cka(x, y):
    """CKA from its definition: HSIC(K, L) = tr(K H L H) / (n - 1)^2 with H = I - 11^T / n."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h) / (n - 1) ** 2

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def _naive_unbiased_hsic(k, l_):
    """Song et al. (2012), eq. 5, written out with explicit sums over i != j."""
    n = len(k)
    k, l_ = k.copy(), l_.copy()
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l_, 0)
    term1 = np.sum(k * l_)
    term2 = k.sum() * l_.sum() / ((n - 1) * (n - 2))
    term3 = 2 / (n - 2) * sum(k[i].sum() * l_[i].sum() for i in range(n))
    return (term1 + term2 - term3) / (n * (n - 3))


@pytest.mark.parametrize("shape", [(200, 5), (150, 300)])  # feature-space and sample-space routes
def test_cka_equals_its_definition(shape, rng):
    x = rng.normal(size=shape)
    y = np.tanh(x @ rng.normal(size=(shape[1], 7))) + 0.3 * rng.normal(size=(shape[0], 7))
    assert linear_cka(x, y) == pytest.approx(_naive_cka(x, y), rel=1e-10)
    wide = rng.normal(size=(shape[0], 400))
    assert linear_cka(x, wide) == pytest.approx(_naive_cka(x, wide), rel=1e-10)


def test_cka_of_a_rotated_and_scaled_copy_is_one(rng):
    x = rng.normal(size=(300, 12))
    moved = random_isometry(x, rng, ambient=40) * 7.5 + 3.0
    assert linear_cka(x, moved) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, moved, debiased=True) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, x[:, :6]) < 0.9


def test_debiased_cka_equals_the_unbiased_hsic_and_is_near_zero_for_independent_clouds(rng):
    x, y = rng.normal(size=(120, 500)), rng.normal(size=(120, 500))
    k, l_ = (x - x.mean(0)) @ (x - x.mean(0)).T, (y - y.mean(0)) @ (y - y.mean(0)).T
    ref = _naive_unbiased_hsic(k, l_) / np.sqrt(_naive_unbiased_hsic(k, k) * _naive_unbiased_hsic(l_, l_))
    assert linear_cka(x, y, debiased=True) == pytest.approx(ref, rel=1e-9)
    assert linear_cka(x, y) > 0.4  # the plain estimator's bias at n = 120, d = 500
    assert abs(linear_cka(x, y, debiased=True)) < 0.05


def test_cka_refuses_clouds_of_different_inputs(rng):
    with pytest.raises(CloudError, match="120 and 100 points"):
        linear_cka(rng.normal(size=(120, 3)), rng.normal(size=(100, 3)))
    bad = rng.normal(size=(50, 3))
    bad[3, 1] = np.nan
    with pytest.raises(CloudError, match="layer 'fc2'.*NaN"):
        linear_cka(rng.normal(size=(50, 3)), bad, layers=("fc1", "fc2"))


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_matrix_equals_the_pairwise_cka(rng, debiased):
    left = [rng.normal(size=(200, 5)), rng.normal(size=(200, 40))]
    right = [np.tanh(left[0] @ rng.normal(size=(5, 60))), rng.normal(size=(200, 3)), 2 * left[1]]
    from reptopo.measures.cka import cka_matrix

    got = cka_matrix(left, right, debiased=debiased)
    want = [[linear_cka(a, b, debiased=debiased) for b in right] for a in left]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert got[1, 2] == pytest.approx(1.0)  # a scaled copy
    with pytest.raises(CloudError, match="same inputs"):
        cka_matrix(left, [rng.normal(size=(150, 3))])
