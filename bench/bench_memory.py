"""Peak memory of measuring one 10,000-point, 1,024-dimension layer under the protocol."""

import tracemalloc

import numpy as np

from reptopo.protocol import measure_layer, protocol

N, DIM = 10_000, 1024
LIMIT = 2 * 1024**3


def test_peak_memory_of_a_large_layer(benchmark, rng):
    x = np.maximum(rng.normal(size=(N, DIM)), 0).astype(np.float32)
    y = rng.integers(0, 10, N)
    distance_matrix = N * N * 4  # one float32 n x n matrix: the reference size

    def run():
        tracemalloc.start()
        measure_layer(x, y, protocol(), "big")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    peak = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(peak_bytes=peak, ratio_to_one_distance_matrix=peak / distance_matrix)
    print(f"\npeak {peak / 2**30:.2f} GiB = {peak / distance_matrix:.2f} float32 distance matrices of the layer")
    assert peak < LIMIT
