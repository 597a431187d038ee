"""The measures' distance products on a torch device (``products_on``): the path a CUDA device
takes, checked here through torch on the CPU (``"torch:cpu"``) against numpy's products and
the measures' answers on the same clouds."""

from __future__ import annotations

import numpy as np
import pytest

from reptopo.measures import dtm_persistence, phdim, products_on
from reptopo.measures._gram import device_product, gram_product
from reptopo.measures.dtm import pairwise_distances64


def _clusters(n: int = 600, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (4, d))
    return (centres[rng.integers(0, 4, n)] + rng.normal(0, 1, (n, d))).astype(np.float32)


def test_products_stay_with_numpy_unless_a_device_is_chosen():
    x = _clusters(50)
    assert device_product(x) is None
    with products_on("cpu"):
        assert device_product(x) is None
    with products_on("torch:cpu"):
        assert device_product(x) is not None
    assert device_product(x) is None  # restored on exit


def test_device_products_match_numpy():
    """Full float32 even where the caller allowed TF32 ("high"), which is restored after."""
    import torch

    torch.set_float32_matmul_precision("high")
    try:
        x = _clusters()
        centred = x - x.mean(0)
        reference = gram_product(centred, threads=1)
        distances = pairwise_distances64(x)
        with products_on("torch:cpu"):
            on_device = gram_product(centred, threads=1)
            distances_on_device = pairwise_distances64(x)
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision("highest")
    assert on_device.dtype == reference.dtype == np.float32
    scale = float(np.abs(reference).max())
    assert np.abs(on_device - reference).max() <= 1e-5 * scale
    assert distances_on_device.dtype == np.float64
    np.testing.assert_allclose(distances_on_device, distances, rtol=1e-9, atol=1e-9 * distances.max())


def test_the_measures_answer_the_same_with_products_on_a_device():
    """The DTM counts and bands, and calibrated PHdim, of one cloud with numpy's products and with
    the device's: the counts equal, the numbers within the measures' own tolerances."""
    x = _clusters(800)
    dtm = dtm_persistence(x, seed=0)
    ph = phdim(x, seed=0)
    with products_on("torch:cpu"):
        dtm_dev = dtm_persistence(x, seed=0)
        ph_dev = phdim(x, seed=0)
    assert dtm_dev.betti == dtm.betti and dtm.betti[0] == 4
    assert dtm_dev.bands == pytest.approx(dtm.bands, rel=1e-6)
    assert ph_dev.dimension == pytest.approx(ph.dimension, rel=1e-4)
