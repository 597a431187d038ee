"""Euclidean minimum spanning trees from a Gram matrix: the H0 barcode of a Vietoris-Rips filtration.

H0 death times of the Rips filtration are exactly the edge lengths of the Euclidean minimum
spanning tree, so H0 needs no general persistence library. The tree is found by Prim's
algorithm in O(n^2) on squared distances read off a float32 Gram matrix (|x|^2 + |y|^2 - 2 x.y
of the centred cloud), which is the one O(n^2 d) step; the n - 1 chosen edges are then
recomputed in float64 from the points, because the Gram form loses short edges to cancellation.

Written with numba rather than scipy.sparse.csgraph for speed: csgraph sorts all n^2/2 edges
(and reads zeros of a dense matrix as missing edges, so duplicate points silently change its
tree), and a numpy-vectorised Prim's loop spends most of its time in per-step overhead.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _prim_parents(gram, sq_norms, idx):  # pragma: no cover - compiled
    """Parent of each vertex of ``idx`` (positions into ``idx``) in an MST; the root's is -1.

    The vertices not yet in the tree stay packed, in their order, at the front of ``rest``
    (the vertex just added is dropped during the next scan), so step k reads m - k entries of
    one Gram row in increasing column order when ``idx`` is sorted: n^2 / 2 reads in all.
    """
    m = idx.size
    best = np.full(m, np.inf)
    parent = np.full(m, -1, dtype=np.int64)
    rest = np.arange(m)
    n_rest = m
    cur = 0
    while n_rest > 1:
        gi = idx[cur]
        sq_i = sq_norms[gi]
        row = gram[gi]
        pick = -1
        pick_best = np.inf
        w = 0
        for r in range(n_rest):
            j = rest[r]
            if j == cur:
                continue
            rest[w] = j
            w += 1
            gj = idx[j]
            d2 = sq_i + sq_norms[gj] - 2.0 * row[gj]
            if d2 < best[j]:
                best[j] = d2
                parent[j] = cur
            if best[j] < pick_best:
                pick_best = best[j]
                pick = j
        n_rest = w
        cur = pick
    return parent


@numba.njit(cache=True, nogil=True, fastmath=True)
def _edge_lengths64(points64, idx, parent):  # pragma: no cover - compiled
    m = idx.size
    out = np.empty(m - 1)
    k = 0
    d = points64.shape[1]
    for j in range(m):
        p = parent[j]
        if p < 0:
            continue
        a = idx[j]
        b = idx[p]
        s = 0.0
        for c in range(d):
            t = points64[a, c] - points64[b, c]
            s += t * t
        out[k] = np.sqrt(s)
        k += 1
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def _subsample_sums(gram, sq_norms, points64, index_sets, alpha):  # pragma: no cover - compiled
    """sum(length^alpha) of the MST of each row of ``index_sets`` (padded with -1), in parallel."""
    out = np.empty(index_sets.shape[0])
    for r in numba.prange(index_sets.shape[0]):
        row = index_sets[r]
        m = 0
        while m < row.size and row[m] >= 0:
            m += 1
        idx = np.sort(row[:m])  # sorted: Prim's scans read each Gram row in column order
        lengths = _edge_lengths64(points64, idx, _prim_parents(gram, sq_norms, idx))
        out[r] = np.sum(lengths**alpha)
    return out


class GramCloud:
    """A cloud prepared once for many spanning trees on subsets of it (one shared Gram matrix).

    Memory: one float32 n x n matrix (400 MB for 10,000 points) and a float64 copy of the points.
    """

    def __init__(self, points: np.ndarray):
        pts = np.asarray(points, dtype=np.float64)
        centred = pts - pts.mean(axis=0)
        c32 = centred.astype(np.float32)
        self.points64 = np.ascontiguousarray(centred)
        self.gram = c32 @ c32.T
        self.sq_norms = np.einsum("ij,ij->i", c32, c32, dtype=np.float64)

    @property
    def n(self) -> int:
        return self.points64.shape[0]

    def distances_from(self, i: int) -> np.ndarray:  # noqa: D401
        """Euclidean distances from point i to every point (float32 Gram accuracy)."""
        d2 = self.sq_norms + self.sq_norms[i] - 2.0 * self.gram[i]
        return np.sqrt(np.maximum(d2, 0.0))

    def mst_edges(self, idx: np.ndarray | None = None):
        """(i, j, length) arrays of the MST over ``idx`` (all points by default), in cloud indices."""
        idx = np.arange(self.n) if idx is None else np.asarray(idx, dtype=np.int64)
        if idx.size < 2:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        parent = _prim_parents(self.gram, self.sq_norms, idx)
        lengths = _edge_lengths64(self.points64, idx, parent)
        child = np.flatnonzero(parent >= 0)
        return idx[child], idx[parent[child]], lengths

    def mst_power_sums(self, index_sets: list[np.ndarray], alpha: float) -> np.ndarray:
        """E_alpha = sum of MST edge lengths ** alpha, for each index set."""
        width = max(len(s) for s in index_sets)
        padded = np.full((len(index_sets), width), -1, dtype=np.int64)
        for r, s in enumerate(index_sets):
            padded[r, : len(s)] = s
        return _subsample_sums(self.gram, self.sq_norms, self.points64, padded, float(alpha))


def h0_deaths(points: np.ndarray) -> np.ndarray:
    """Finite H0 death times of the Vietoris-Rips filtration of ``points``, ascending.

    Equal to ripser's H0 deaths (ripser's infinite bar is the one not listed here).
    """
    _, _, lengths = GramCloud(points).mst_edges()
    return np.sort(lengths)
