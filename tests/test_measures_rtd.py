import pytest
from clouds import circle, random_isometry

from reptopo.measures import CloudError, rtd


def test_rtd_of_a_cloud_with_itself_and_its_scaled_copy_is_zero(rng):
    p = rng.normal(size=(300, 10))
    assert rtd(p, p, batch_size=120, n_batches=2) == pytest.approx(0, abs=1e-9)
    assert rtd(p, 3 * p, batch_size=120, n_batches=2) == pytest.approx(0, abs=1e-9)
    assert rtd(p, random_isometry(p, rng, ambient=15), batch_size=120, n_batches=2) == pytest.approx(0, abs=1e-6)


def test_rtd_grows_with_topological_difference(rng):
    ring = circle(200, rng, noise=0.02)
    same_inputs_blob = rng.normal(size=(200, 2))
    noisy_ring = ring + rng.normal(scale=0.05, size=ring.shape)
    near = rtd(ring, noisy_ring, batch_size=150, n_batches=2)
    far = rtd(ring, same_inputs_blob, batch_size=150, n_batches=2)
    assert 0 <= near < far


def test_rtd_needs_the_same_inputs(rng):
    with pytest.raises(CloudError, match="same inputs"):
        rtd(rng.normal(size=(50, 2)), rng.normal(size=(40, 2)))
