"""RTD of one layer pair as the comparison stage computes it (the comparison config's batches of
shared inputs), against the ripser-based RTD on one batch of 500 inputs, Barannikov et al.'s
batch size, that it replaces on this CPU. Also the CKA maps of one model pair, for scale."""

import numpy as np
from conftest import best_time

from reptopo.measures import rtd
from reptopo.measures.cka import cka_matrix
from reptopo.pipeline.compare import comparison_config

N = 1000


def test_rtd_per_layer_pair(benchmark, rng):
    cfg = comparison_config()
    x = rng.normal(size=(N, 64))
    y = np.tanh(x @ rng.normal(size=(64, 32)))
    t_ref = best_time(lambda: rtd(x, y, batch_size=500, n_batches=1, quantile=cfg.rtd_quantile), repeat=1)
    ours = benchmark.pedantic(
        lambda: rtd(x, y, batch_size=cfg.rtd_batch_size, n_batches=cfg.rtd_n_batches, quantile=cfg.rtd_quantile),
        rounds=5,
        iterations=1,
    )
    t_ours = benchmark.stats.stats.median
    layers = [rng.normal(size=(N, d)) for d in (784, 256, 128, 64, 32, 10)]
    t_cka = best_time(lambda: cka_matrix(layers, layers), repeat=2)
    benchmark.extra_info.update(reference_seconds=t_ref, ours_seconds=t_ours, cka_map_seconds=t_cka)
    print(
        f"\nRTD per layer pair: {t_ours * 1e3:.0f} ms ({cfg.rtd_n_batches} batches of {cfg.rtd_batch_size}); one batch "
        f"of 500 inputs: {t_ref:.1f} s ({t_ref / t_ours:.0f}x); the 6 x 6 CKA map of {N} points: {t_cka * 1e3:.0f} ms"
    )
    assert np.isfinite(ours) and ours > 0
    assert t_ref / t_ours > 5
