"""H0 of 5,000 points: the Gram-matrix MST against ripser.py, and against the Gram product alone.

Run: python -m pytest bench -p no:cacheprovider --benchmark-only  (see README)
"""

import numpy as np
import pytest
from conftest import best_time
from ripser import ripser

from reptopo.measures import h0_deaths

N = 5000


@pytest.mark.parametrize("dim", [16, 768])
def test_h0_against_ripser(benchmark, rng, dim):
    x = rng.normal(size=(N, dim)).astype(np.float32)
    h0_deaths(x[:100])  # compile outside the timing
    ref = {}

    def ripser_h0():
        d = ripser(x, maxdim=0)["dgms"][0][:, 1]
        ref["deaths"] = np.sort(d[np.isfinite(d)])

    ref_time = best_time(ripser_h0, repeat=1)
    ours = benchmark.pedantic(h0_deaths, args=(x,), rounds=3, iterations=1)
    np.testing.assert_allclose(ours, ref["deaths"], rtol=1e-6)
    ratio = ref_time / benchmark.stats.stats.min
    benchmark.extra_info.update(ripser_seconds=ref_time, speedup_vs_ripser=ratio)
    print(f"\nH0 {N} x {dim}: ripser {ref_time:.2f} s, ours {benchmark.stats.stats.min:.3f} s, {ratio:.0f}x")
    assert ratio >= 30


def test_h0_against_the_gram_product_at_4096(benchmark, rng):
    x = rng.normal(size=(N, 4096)).astype(np.float32)
    h0_deaths(x[:100])
    gram_time = best_time(lambda: x @ x.T, repeat=3)
    benchmark.pedantic(h0_deaths, args=(x,), rounds=3, iterations=1)
    ratio = benchmark.stats.stats.min / gram_time
    benchmark.extra_info.update(gram_seconds=gram_time, ratio_to_gram=ratio)
    print(
        f"\nH0 {N} x 4096: Gram product {gram_time:.2f} s, ours {benchmark.stats.stats.min:.2f} s, {ratio:.2f}x the product"
    )
    assert ratio <= 1.5
