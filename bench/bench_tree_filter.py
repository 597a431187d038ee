"""PHdim's 112 spanning trees with the 8-bit bucket filter, against the plain search on the same
trees, in six regimes: the filter must pay for itself wherever the float32 Gram matrix is used.

Each regime is a 2,000-point pool with the default schedule (16 sizes x 7 subsamples). The
reference is the same parallel loop with no filter (each tree reads four bytes of the Gram
matrix per slot); both sides are timed in the same run and give the same sums, to the bit.
"""

import numpy as np
import pytest
from conftest import best_time

from reptopo.measures import GramCloud
from reptopo.measures._mst import _subsample_sums
from reptopo.measures.phdim import default_schedule, subsample_index_sets

POOL = 2000


def _regimes():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 50))
    return {
        "gaussian-768 (bench_phdim)": rng.normal(size=(POOL, 768)) @ rng.normal(size=(768, 768)) * 0.05,
        "uniform cube-3": rng.uniform(size=(POOL, 3)),
        "gaussian-20": rng.normal(size=(POOL, 20)),
        "ten clusters, 8 sd apart": rng.normal(size=(POOL, 50)) + 8 * centres[rng.integers(10, size=POOL)],
        "relu-like-256": np.maximum(rng.normal(size=(POOL, 256)) @ rng.normal(size=(256, 256)), 0),
        "sparse relu-64": np.maximum(rng.normal(size=(POOL, 64)) - 1.5, 0),
    }


@pytest.mark.parametrize("regime", list(_regimes()))
def test_filter_against_the_plain_search(benchmark, regime):
    cloud = GramCloud(_regimes()[regime].astype(np.float32))
    assert cloud.gram.dtype == np.float32
    sets = subsample_index_sets(np.random.default_rng(0), POOL, default_schedule(POOL), 7)
    filtered = cloud.mst_power_sums(sets, 1.0)  # compiles outside the timing
    padded = np.full((len(sets), max(len(s) for s in sets)), -1, dtype=np.int64)
    for r, s in enumerate(sets):
        padded[r, : len(s)] = s
    no_filter = (np.empty((0, 0), np.uint8), 0, 0, np.zeros(1, np.uint8))

    def plain():
        return _subsample_sums(cloud.gram, cloud.sq_norms, *no_filter, cloud.points, padded, 1.0)

    np.testing.assert_array_equal(plain(), filtered)
    plain_time = best_time(plain, repeat=3)
    benchmark.pedantic(cloud.mst_power_sums, args=(sets, 1.0), rounds=3, iterations=1)
    ratio = benchmark.stats.stats.min / plain_time
    benchmark.extra_info.update(plain_seconds=plain_time, ratio_to_plain=ratio)
    print(
        f"\n{regime}: plain search {plain_time * 1e3:.1f} ms, filtered (buckets included) "
        f"{benchmark.stats.stats.min * 1e3:.1f} ms, {ratio:.2f}x"
    )
    assert ratio < 1.0
