"""The fast paths under PHdim give the same answers as the plain ones they replace."""

import itertools

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from reptopo.measures import GramCloud, phdim
from reptopo.measures._gram import _row_bounds, gram_product
from reptopo.measures._mst import _prim_parents, _prim_parents_filtered, bucket_table, coarse_keys


def _clouds(rng):
    base = rng.normal(size=(400, 6))
    return {
        "gauss-768": (rng.normal(size=(600, 768)) @ rng.normal(size=(768, 768)) * 0.05).astype(np.float32),
        "cube-3": rng.uniform(size=(600, 3)).astype(np.float32),
        "duplicates": np.concatenate([base, base[:200]]).astype(np.float32),  # ties at distance 0
        "offset": (rng.normal(size=(600, 50)) * 0.01 + 100.0).astype(np.float32),  # squared distances round below 0
    }


def _v1_tree(gram, sq_norms, idx):
    """Protocol v1's tree search, step by step in numpy: the reference results depend on it.

    Squared distance (g_ii + g_jj) - 2 g_ij, the sum in the Gram's precision and the rest in
    float64; best distances kept in the Gram's precision, a new parent only on a strictly
    shorter edge; the next vertex the least best distance, the first in idx order among equals.
    """
    m = len(idx)
    best = np.full(m, np.inf, dtype=gram.dtype)
    parent = np.full(m, -1)
    done = np.zeros(m, bool)
    cur = 0
    for _ in range(m - 1):
        done[cur] = True
        g = idx[cur]
        d2 = (sq_norms[g] + sq_norms[idx]).astype(np.float64) - 2.0 * gram[g, idx].astype(np.float64)
        shorter = ~done & (d2 < best)
        best[shorter] = d2[shorter]
        parent[shorter] = cur
        cur = int(np.argmin(np.where(done, np.inf, best)))
    return parent


@pytest.mark.parametrize("name", ["gauss-768", "cube-3", "duplicates", "offset"])
def test_tree_searches_follow_protocol_v1(name, rng):
    cloud = GramCloud(_clouds(rng)[name])
    assert cloud.gram.dtype == np.float32
    # the buckets as the estimator places them, and deliberately bad ones (one bucket for every
    # distance, a coarse even split, every distance clipped to the bottom or the top cell, a
    # table that skips buckets): the trees must not change
    ranges = [
        bucket_table(cloud.gram, cloud.sq_norms),
        (0, 0, np.zeros(1, np.uint8)),
        (0, 24, np.arange(256, dtype=np.uint8)),
        (2**31 - 1, 0, np.arange(256, dtype=np.uint8)),
        (0, 0, np.full(4, 255, np.uint8)),
        (0, 20, np.arange(0, 256, 37, dtype=np.uint8)),
    ]
    for size in (2, 3, 50, 300, cloud.n):
        idx = np.sort(rng.choice(cloud.n, size, replace=False))
        expected = _v1_tree(cloud.gram, cloud.sq_norms, idx)
        np.testing.assert_array_equal(_prim_parents(cloud.gram, cloud.sq_norms, idx), expected)
        for key_lo, shift, table in ranges:
            coarse = coarse_keys(cloud.gram, cloud.sq_norms, key_lo, shift, table)
            np.testing.assert_array_equal(
                _prim_parents_filtered(cloud.gram, cloud.sq_norms, coarse, key_lo, shift, table, idx), expected
            )


def test_equidistant_ties_follow_protocol_v1():
    # a point joins last, equidistant (up to rounding) from 200 close points that join before
    # it: which of them becomes its parent depends on the precision of each comparison
    rng = np.random.default_rng(7)
    for _ in range(5):
        arms = np.eye(64)[0] + 0.01 * rng.normal(size=(200, 64))
        arms *= 3.0 / np.linalg.norm(arms, axis=1, keepdims=True)
        cloud = GramCloud(np.concatenate([arms, np.zeros((1, 64))]).astype(np.float32))
        idx = np.arange(cloud.n)
        expected = _v1_tree(cloud.gram, cloud.sq_norms, idx)
        np.testing.assert_array_equal(_prim_parents(cloud.gram, cloud.sq_norms, idx), expected)
        key_lo, shift, table = bucket_table(cloud.gram, cloud.sq_norms)
        coarse = coarse_keys(cloud.gram, cloud.sq_norms, key_lo, shift, table)
        np.testing.assert_array_equal(
            _prim_parents_filtered(cloud.gram, cloud.sq_norms, coarse, key_lo, shift, table, idx), expected
        )


def test_tree_search_in_float64_follows_protocol_v1(rng):
    pts = np.concatenate([rng.normal(size=(100, 3)) * 1e-3 + 1e4 * i for i in range(3)])
    cloud = GramCloud(pts)
    assert cloud.gram.dtype == np.float64  # far-apart tight clusters: the precision fallback
    idx = np.arange(cloud.n)
    np.testing.assert_array_equal(
        _prim_parents(cloud.gram, cloud.sq_norms, idx), _v1_tree(cloud.gram, cloud.sq_norms, idx)
    )


def test_power_sums_equal_the_single_trees(rng):
    for pts in [*_clouds(rng).values(), np.concatenate([rng.normal(size=(100, 3)) * 1e-3 + 1e4 * i for i in range(3)])]:
        cloud = GramCloud(pts)
        sets = [rng.choice(cloud.n, size, replace=False) for size in (10, 120, 250, 250, 299)]
        expected = [np.sum(cloud.mst_edges(s)[2] ** 0.7) for s in sets]
        np.testing.assert_allclose(cloud.mst_power_sums(sets, 0.7), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(700, 1), (700, 33), (1500, 768)])
def test_threaded_gram_product_is_the_product(dtype, shape, rng):
    c = rng.normal(size=shape).astype(dtype)
    c -= c.mean(axis=0)
    with threadpool_limits(limits=1, user_api="blas"):
        plain = c @ c.T
    for threads in (2, 3):
        gram = gram_product(c, threads)
        assert gram.dtype == dtype
        np.testing.assert_array_equal(gram, gram.T)
        np.testing.assert_allclose(gram, plain, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-4)


def test_row_blocks_share_the_upper_triangle_evenly():
    n = 2000
    for parts in (2, 3, 8):
        for diagonal_cost in (0.5, 0.7):
            bounds = _row_bounds(n, parts, diagonal_cost)
            assert bounds[0] == 0 and bounds[-1] == n and bounds == sorted(bounds)
            work = [diagonal_cost * (hi - lo) ** 2 + (hi - lo) * (n - hi) for lo, hi in itertools.pairwise(bounds)]
            assert max(work) / min(work) < 1.01
    # at half the cost per entry, the diagonal squares count as the triangles they are
    assert _row_bounds(n, 2, 0.5)[1] == round(n * (1 - 2**-0.5))


def test_phdim_leaves_the_blas_thread_count_as_it_found_it(rng):
    def blas():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas()
    phdim(rng.normal(size=(600, 20)), n_repeats=2, n_bootstrap=10)
    assert blas() == before


def test_bucket_table_follows_the_distances():
    rng = np.random.default_rng(0)
    labels = rng.integers(10, size=1000)
    x = (rng.normal(size=(1000, 50)) + 8 * rng.normal(size=(10, 50))[labels]).astype(np.float32)
    cloud = GramCloud(x)
    assert cloud.gram.dtype == np.float32  # far apart, but not so far that float32 fails
    key_lo, shift, table = bucket_table(cloud.gram, cloud.sq_norms)
    assert table.dtype == np.uint8 and table[0] == 0 and table[-1] == 255
    assert (np.diff(table.astype(int)) >= 0).all()  # monotone: the filter's lower bound holds
    within = (labels[:, None] == labels[None, :]) & ~np.eye(len(x), dtype=bool)
    ours = coarse_keys(cloud.gram, cloud.sq_norms, key_lo, shift, table)
    # the same range split evenly into 256 buckets spends most of them on the empty octaves
    # between the within-cluster and the between-cluster distances
    span = (table.size - 1) << shift
    even_shift = int(np.ceil(np.log2((span + 1) / 256)))
    even = coarse_keys(cloud.gram, cloud.sq_norms, key_lo, even_shift, np.arange(256, dtype=np.uint8))
    assert np.unique(ours[within]).size > 1.2 * np.unique(even[within]).size
    assert np.unique(ours).size > 200  # the buckets are used, not clipped into a few
