"""The robust measures against their references, timed in the same run:

- the DTM filtration's components and H1 with the bootstrap band, inside ``class_topology`` of a
  1,000-point, 10-class layer, against gudhi's ``DTMRipsComplex`` on the same cloud (H0 on every
  point, H1 on the same 300 landmarks; gudhi gives no band, so its side does less);
- calibrated PHdim against the raw fit it reads (the calibration is a table lookup).
"""

import time

import pytest
from bench_class_topology import CLASSES, N, _layer
from conftest import best_time

from reptopo.measures import DTMRule, calibrate, class_topology, dtm_persistence, phdim


def test_dtm_in_class_topology_against_gudhi(benchmark, rng):
    pytest.importorskip("gudhi")
    from gudhi.dtm_rips_complex import DTMRipsComplex

    x, labels = _layer(rng)
    class_topology(x[:200], labels[:200], robust=DTMRule())  # compile outside the timing
    robust = dtm_persistence(x)

    def gudhi_route():
        k = robust.k
        st = DTMRipsComplex(points=x, k=k, q=2).create_simplex_tree(max_dimension=1)
        st.compute_persistence()
        st = DTMRipsComplex(points=x[robust.landmarks], k=k, q=2).create_simplex_tree(max_dimension=2)
        st.compute_persistence()

    t_gudhi = best_time(gudhi_route, repeat=2)
    t_plain = best_time(lambda: class_topology(x, labels), repeat=3)
    res = benchmark.pedantic(lambda: class_topology(x, labels, robust=DTMRule()), rounds=5, iterations=1)
    t_ours = benchmark.stats.stats.median
    benchmark.extra_info.update(
        gudhi_seconds=t_gudhi, ours_seconds=t_ours, without_dtm_seconds=t_plain, ratio_to_gudhi=t_ours / t_gudhi
    )
    print(
        f"\nclass_topology of {N} points, {CLASSES} classes, with the DTM counts (whole cloud H0 + H1 on 300 "
        f"landmarks, {DTMRule().n_bootstrap} resamples for the band, each class too): {t_ours:.3f} s (median); "
        f"without them {t_plain:.3f} s; gudhi DTM-Rips H0 of the cloud + H1 of the landmarks, no band: "
        f"{t_gudhi:.3f} s; ratio ours / gudhi {t_ours / t_gudhi:.2f}"
    )
    assert res.whole["dtm"]["b0"] == CLASSES
    assert t_ours < 1.0


def test_calibration_costs_no_more_than_the_raw_fit(benchmark, rng):
    x = rng.normal(size=(2000, 64))
    raw = phdim(x, ceiling=None)
    calibrate(raw)  # load the tables and the resolution limit's cache outside the timing
    t_raw = best_time(lambda: phdim(x, ceiling=None), repeat=3)
    benchmark.pedantic(lambda: calibrate(raw), rounds=20, iterations=1)
    t_cal = benchmark.stats.stats.median
    start = time.perf_counter()
    phdim(x)
    t_both = time.perf_counter() - start
    benchmark.extra_info.update(raw_seconds=t_raw, calibration_seconds=t_cal, ratio=t_cal / t_raw)
    print(
        f"\nPHdim of 2000 x 64: raw fit {t_raw:.3f} s, its calibration {t_cal * 1e3:.2f} ms "
        f"(ratio {t_cal / t_raw:.3f}); both {t_both:.3f} s"
    )
    assert t_cal <= 0.1 * t_raw
