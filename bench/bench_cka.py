"""Linear CKA of two 1,000-point layers (512 and 64 features), plain and debiased, against the
HSIC definition with explicit centring matrices (tests/test_measures_cka.py's reference)."""

import numpy as np
from conftest import best_time

from reptopo.measures import linear_cka

N = 1000


def _definition(x, y):
    h = np.eye(len(x)) - 1.0 / len(x)
    k, l_ = x @ x.T, y @ y.T

    def hsic(a, b):
        return np.trace(a @ h @ b @ h)

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def test_cka_speed(benchmark, rng):
    x = rng.normal(size=(N, 512))
    y = np.tanh(x @ rng.normal(size=(512, 64)))
    t_ref = best_time(lambda: _definition(x, y), repeat=2)
    ours = benchmark.pedantic(lambda: linear_cka(x, y), rounds=7, iterations=1)
    t_ours = benchmark.stats.stats.median
    t_debiased = best_time(lambda: linear_cka(x, y, debiased=True), repeat=3)
    benchmark.extra_info.update(definition_seconds=t_ref, ours_seconds=t_ours, debiased_seconds=t_debiased)
    print(
        f"\nlinear CKA of {N} x 512 against {N} x 64: {t_ours * 1e3:.1f} ms (median), debiased {t_debiased * 1e3:.1f} ms; "
        f"the definition with centring matrices {t_ref * 1e3:.0f} ms ({t_ref / t_ours:.0f}x)"
    )
    assert abs(ours - _definition(x, y)) < 1e-10
    assert t_ref / t_ours > 5
