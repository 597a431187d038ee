"""The DTM band and a whole layer at foundation-model sizes, each as a ratio to the Gram-product
floor timed in the same run (x x^T in float64: every exact estimate reads all pairwise distances
at least once), with the peak memory of the largest.

- ``dtm_persistence`` of an 8,000 x 768 cloud (ten clusters, 2% strays): H0 on every point,
  H1 on 300 landmarks, the 100-resample bootstrap band;
- one 8,000 x 768 layer under the current protocol (``measure_layer``, every measure);
- one 10,000 x 4,096 layer under the current protocol, with its peak traced memory.
"""

import time
import tracemalloc

import numpy as np
from conftest import best_time, measure_split, split_line

from reptopo.measures import dtm_persistence
from reptopo.measures.dtm import pairwise_distances64
from reptopo.protocol import measure_layer, protocol


def _cloud(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (10, dim))
    y = np.arange(n) % 10
    x = centres[y] + rng.normal(0, 1, (n, dim))
    x[: n // 50] = rng.normal(0, 8, (n // 50, dim))  # strays
    return x.astype(np.float32), y


def _gram_floor(x: np.ndarray) -> float:
    x64 = x.astype(np.float64)
    return best_time(lambda: x64 @ x64.T, repeat=2)


def test_dtm_band_of_8000_points(benchmark):
    x, _ = _cloud(8000, 768)
    dist = pairwise_distances64(x)
    dtm_persistence(x[:300], n_landmarks=50)  # compile outside the timing
    floor = _gram_floor(x)
    res = benchmark.pedantic(lambda: dtm_persistence(x, dist=dist), rounds=1, iterations=1)
    t = benchmark.stats.stats.min
    benchmark.extra_info.update(seconds=t, gram_seconds=floor, ratio_to_gram=t / floor)
    print(f"\ndtm_persistence of 8,000 x 768 (band of 100 resamples): {t:.1f} s = {t / floor:.1f} Gram products")
    assert res.betti[0] == 10


def _layer(n: int, dim: int, benchmark) -> None:
    x, y = _cloud(n, dim)
    measure_layer(x[:500], y[:500], protocol(), "warm")  # compile outside the timing
    floor = _gram_floor(x)

    def run() -> int:
        tracemalloc.start()
        measure_layer(x, y, protocol(), "big")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    start = time.perf_counter()
    peak = benchmark.pedantic(run, rounds=1, iterations=1)
    t = time.perf_counter() - start
    benchmark.extra_info.update(seconds=t, gram_seconds=floor, ratio_to_gram=t / floor, peak_bytes=peak)
    split = measure_split(x, y, protocol(), "big")
    benchmark.extra_info.update(measure_split=split)
    print(
        f"\none {n:,} x {dim:,} layer under protocol v{protocol().version}: {t:.1f} s = {t / floor:.1f} Gram "
        f"products ({floor:.2f} s each); peak traced memory {peak / 2**30:.2f} GiB\n  each measure alone: "
        f"{split_line(split)}"
    )


def test_a_layer_of_8000_points_under_the_protocol(benchmark):
    _layer(8000, 768, benchmark)


def test_a_layer_of_10000_points_of_4096_features_under_the_protocol(benchmark):
    _layer(10_000, 4096, benchmark)
