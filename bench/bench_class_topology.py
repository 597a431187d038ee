"""Per-class homology of a 1,000-point, 10-class layer with the whole-cloud measures, against
ripser run on each class (H0 and H1, the route of Magai & Ayzenberg's per-class sums)."""

import numpy as np
from conftest import best_time
from ripser import ripser

from reptopo.measures import class_topology

N, CLASSES, DIM = 1000, 10, 64


def _layer(rng):
    """Ten classes, each a noisy 3-d patch in 64 dimensions: a late layer of a trained classifier."""
    labels = np.arange(N) % CLASSES
    centres = rng.normal(size=(CLASSES, DIM)) * 10
    frames = rng.normal(size=(CLASSES, 3, DIM))
    return centres[labels] + np.einsum("ni,nid->nd", rng.normal(size=(N, 3)), frames[labels]) + 0.1 * rng.normal(
        size=(N, DIM)
    ), labels


def test_class_topology_speed(benchmark, rng):
    x, labels = _layer(rng)
    class_topology(x[:200], labels[:200])  # compile the tree kernels outside the timing

    def ripser_per_class():
        for c in range(CLASSES):
            ripser(x[labels == c], maxdim=1)

    t_ref = best_time(ripser_per_class, repeat=3)
    res = benchmark.pedantic(lambda: class_topology(x, labels), rounds=5, iterations=1)
    t_ours = benchmark.stats.stats.median
    benchmark.extra_info.update(ripser_per_class_seconds=t_ref, ours_seconds=t_ours, ratio=t_ours / t_ref)
    print(
        f"\nclass_topology of {N} x {DIM}, {CLASSES} classes (hop and Euclidean Betti numbers per class, "
        f"normalised total persistence, whole-cloud b0 and H1 on 300 landmarks): {t_ours:.3f} s (median); "
        f"ripser per class (H0+H1 only): {t_ref:.3f} s; ratio {t_ours / t_ref:.2f}"
    )
    assert res.whole["b0"] == CLASSES
    assert t_ours < 1.0
