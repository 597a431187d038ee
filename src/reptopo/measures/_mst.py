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
    best = np.full(m, np.inf, dtype=gram.dtype)
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
            d2 = sq_i + sq_norms[gj] - 2 * row[gj]
            if d2 < best[j]:
                best[j] = d2
                parent[j] = cur
            if best[j] < pick_best:
                pick_best = best[j]
                pick = j
        n_rest = w
        if pick < 0:  # unreachable for finite input; never loop forever
            break
        cur = pick
    return parent


@numba.njit(cache=True, nogil=True, fastmath=True)
def _edge_lengths64(points, idx, parent):  # pragma: no cover - compiled
    m = idx.size
    out = np.empty(m - 1)
    k = 0
    d = points.shape[1]
    for j in range(m):
        p = parent[j]
        if p < 0:
            continue
        a = idx[j]
        b = idx[p]
        s = 0.0
        for c in range(d):
            t = np.float64(points[a, c]) - np.float64(points[b, c])
            s += t * t
        out[k] = np.sqrt(s)
        k += 1
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def _subsample_sums(gram, sq_norms, points, index_sets, alpha):  # pragma: no cover - compiled
    """sum(length^alpha) of the MST of each row of ``index_sets`` (padded with -1), in parallel."""
    out = np.empty(index_sets.shape[0])
    for r in numba.prange(index_sets.shape[0]):
        row = index_sets[r]
        m = 0
        while m < row.size and row[m] >= 0:
            m += 1
        idx = np.sort(row[:m])  # sorted: Prim's scans read each Gram row in column order
        lengths = _edge_lengths64(points, idx, _prim_parents(gram, sq_norms, idx))
        out[r] = np.sum(lengths**alpha)
    return out


class GramCloud:
    """A cloud prepared once for many spanning trees on subsets of it (one shared Gram matrix).

    Memory: one float32 n x n matrix (400 MB for 10,000 points); the points themselves are
    referenced, not copied. Squared distances for the tree search are float32 (the Gram's own
    precision) unless that would swamp the shortest distances (then float64, twice the time
    and memory); the chosen edges are always measured in float64 from the points.
    """

    def __init__(self, points: np.ndarray):
        pts = np.asarray(points)
        if pts.dtype not in (np.float32, np.float64):
            pts = pts.astype(np.float64)
        self.points = np.ascontiguousarray(pts)
        # centring keeps |x|^2 small against the distances (less cancellation in the Gram form)
        mean = self.points.mean(axis=0, dtype=np.float64).astype(self.points.dtype)
        for dtype in (np.float32, np.float64):
            centred = np.subtract(self.points, mean, dtype=dtype)
            self.gram = centred @ centred.T
            # the diagonal of the same product: d2(i, j) = g_ii + g_jj - 2 g_ij is then exactly 0 at i = j
            self.sq_norms = np.ascontiguousarray(np.diagonal(self.gram))
            if dtype is np.float64 or self._precision_is_enough():
                break

    def _precision_is_enough(self, n_probe: int = 8) -> bool:
        """False when the Gram form's rounding would swamp the shortest distances.

        Its error in a squared distance is about eps * max |x - mean|^2. For a few probe points
        the nearest neighbour by the Gram matrix is measured exactly (in float64 from the
        points); if those squared distances are not far above that error, the tree search
        would follow rounding noise, and the Gram matrix is recomputed in float64.
        """
        n = len(self.points)
        if n < 3:
            return True
        eps = np.finfo(self.gram.dtype).eps
        scale = float(self.sq_norms.max())
        probe = np.random.default_rng(0).choice(n, size=min(n_probe, n), replace=False)
        d2 = self.sq_norms[None, :].astype(np.float64) + self.sq_norms[probe, None] - 2.0 * self.gram[probe]
        d2[np.arange(len(probe)), probe] = np.inf
        nearest = np.argmin(d2, axis=1)
        diff = self.points[probe].astype(np.float64) - self.points[nearest].astype(np.float64)
        exact = np.einsum("ij,ij->i", diff, diff)
        positive = exact[exact > 0]
        return len(positive) == 0 or float(np.median(positive)) > 1e4 * eps * scale

    @property
    def n(self) -> int:
        return self.points.shape[0]

    def distances_from(self, i: int) -> np.ndarray:
        """Euclidean distances from point i to every point (float32 Gram accuracy)."""
        d2 = self.sq_norms.astype(np.float64) + float(self.sq_norms[i]) - 2.0 * self.gram[i]
        return np.sqrt(np.maximum(d2, 0.0))

    def mst_edges(self, idx: np.ndarray | None = None):
        """(i, j, length) arrays of the MST over ``idx`` (all points by default), in cloud indices."""
        idx = np.arange(self.n) if idx is None else np.sort(np.asarray(idx, dtype=np.int64))
        if idx.size < 2:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        parent = _prim_parents(self.gram, self.sq_norms, idx)
        lengths = _edge_lengths64(self.points, idx, parent)
        child = np.flatnonzero(parent >= 0)
        return idx[child], idx[parent[child]], lengths

    def mst_power_sums(self, index_sets: list[np.ndarray], alpha: float) -> np.ndarray:
        """E_alpha = sum of MST edge lengths ** alpha, for each index set."""
        # Deal the sets, largest first, round-robin into one block per thread, so that the
        # static blocks of the parallel loop carry equal work.
        threads = max(1, numba.get_num_threads())
        by_size = np.argsort([-len(s) for s in index_sets], kind="stable")
        order = np.concatenate([by_size[t::threads] for t in range(threads)])
        width = max(len(s) for s in index_sets)
        padded = np.full((len(index_sets), width), -1, dtype=np.int64)
        for r, k in enumerate(order):
            padded[r, : len(index_sets[k])] = index_sets[k]
        sums = _subsample_sums(self.gram, self.sq_norms, self.points, padded, float(alpha))
        out = np.empty_like(sums)
        out[order] = sums
        return out


def h0_deaths(points: np.ndarray) -> np.ndarray:
    """Finite H0 death times of the Vietoris-Rips filtration of ``points``, ascending.

    Equal to ripser's H0 deaths (ripser's infinite bar is the one not listed here).
    """
    _, _, lengths = GramCloud(points).mst_edges()
    return np.sort(lengths)
