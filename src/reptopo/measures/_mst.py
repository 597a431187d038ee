"""Euclidean minimum spanning trees from a Gram matrix: the H0 barcode of a Vietoris-Rips filtration.

H0 death times of the Rips filtration are exactly the edge lengths of the Euclidean minimum
spanning tree, so H0 needs no general persistence library. The tree is found by Prim's
algorithm in O(n^2) on squared distances read off a float32 Gram matrix (|x|^2 + |y|^2 - 2 x.y
of the centred cloud), which is the one O(n^2 d) step; the n - 1 chosen edges are then
recomputed in float64 from the points, because the Gram form loses short edges to cancellation.

Written with numba rather than scipy.sparse.csgraph for speed: csgraph sorts all n^2/2 edges
(and reads zeros of a dense matrix as missing edges, so duplicate points silently change its
tree), and a numpy-vectorised Prim's loop spends most of its time in per-step overhead.

Many trees on subsets of one pool (PHdim) share one Gram matrix. Their scans are bound by
reading it, so they first read 8-bit lower bounds of the distances (:func:`coarse_keys`)
and touch the Gram matrix only where a distance could win; the trees are the same.
"""

from __future__ import annotations

import numba
import numpy as np

from ._gram import gram_product

# The tree search's arithmetic and tie rule are part of protocol v1 (the reference results
# depend on them): a squared distance is (g_ii + g_jj) - 2 g_ij with the sum in the Gram's
# precision and the difference in float64; each vertex keeps its best distance in the Gram's
# precision and takes a new parent only on a strictly shorter edge; the vertex that joins
# next is the one with the least best distance, the first in ``idx`` order among equals.


@numba.njit(cache=True, nogil=True, inline="always")
def _new_slots(gram, sq_norms, idx):  # pragma: no cover - compiled
    """Slots for the vertices idx[1:], which are not yet in the tree (idx[0] is its root)."""
    n_rest = idx.size - 1
    slot_col = np.empty(n_rest, np.uint32)
    slot_sq = np.empty(n_rest, gram.dtype)
    slot_best = np.full(n_rest, np.inf, gram.dtype)
    slot_parent = np.full(n_rest, -1, np.int64)
    slot_vertex = np.empty(n_rest, np.int64)
    for r in range(n_rest):
        slot_col[r] = idx[r + 1]
        slot_sq[r] = sq_norms[idx[r + 1]]
        slot_vertex[r] = r + 1
    return slot_col, slot_sq, slot_best, slot_parent, slot_vertex


@numba.njit(cache=True, nogil=True, inline="always")
def _drop_slot(pick, last, slot_col, slot_sq, slot_best, slot_parent, slot_vertex):  # pragma: no cover
    """The vertex in slot ``pick`` joined the tree: the last slot moves into its place."""
    slot_col[pick] = slot_col[last]
    slot_sq[pick] = slot_sq[last]
    slot_best[pick] = slot_best[last]
    slot_parent[pick] = slot_parent[last]
    slot_vertex[pick] = slot_vertex[last]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _prim_parents(gram, sq_norms, idx):  # pragma: no cover - compiled
    """Parent of each vertex of ``idx`` (positions into ``idx``) in an MST; the root's is -1.

    The vertices not yet in the tree are kept packed in ``slot_*`` arrays; the one that joins
    is swapped with the last, so step k scans m - 1 - k slots: n^2 / 2 Gram reads in all.
    Unsigned column indices and a branch-light loop: faster than an in-order compaction with
    signed indices, which numba wraps around (bench/bench_h0.py and bench_phdim.py measure it).
    """
    m = idx.size
    n_rest = m - 1
    slot_col, slot_sq, slot_best, slot_parent, slot_vertex = _new_slots(gram, sq_norms, idx)
    parent = np.full(m, -1, np.int64)
    cur_col = idx[0]
    cur = 0
    while n_rest > 0:
        row = gram[cur_col]
        sq_i = sq_norms[cur_col]
        pick = 0
        pick_best = np.inf
        for r in range(n_rest):
            d2 = np.float64(sq_i + slot_sq[r]) - 2.0 * np.float64(row[slot_col[r]])
            if d2 < slot_best[r]:
                slot_best[r] = d2
                slot_parent[r] = cur
            b = slot_best[r]
            if b < pick_best or (b == pick_best and slot_vertex[r] < slot_vertex[pick]):
                pick_best = b
                pick = r
        cur = slot_vertex[pick]
        cur_col = slot_col[pick]
        parent[cur] = slot_parent[pick]
        n_rest -= 1
        _drop_slot(pick, n_rest, slot_col, slot_sq, slot_best, slot_parent, slot_vertex)
    return parent


@numba.njit(cache=True, nogil=True, inline="always")
def _order_key(bits):  # pragma: no cover - compiled
    """An integer that orders as the float32 whose bits (int32, widened) it is given."""
    return bits ^ ((bits >> 31) & 0x7FFFFFFF)


@numba.njit(cache=True, nogil=True, inline="always")
def _bucket(bits, key_lo, shift, table):  # pragma: no cover - compiled
    """The 8-bit bucket of a float32 squared distance: ``table`` at the cell of its order key
    (the key's offset from ``key_lo``, shifted right, clipped to the table). Integer arithmetic
    and a lookup, so it is the same function wherever it is inlined (a float formula could be
    compiled with and without a fused multiply-add at two sites), and monotone: the filter
    below needs one non-decreasing function of the distance."""
    cell = min(max((_order_key(bits) - key_lo) >> shift, 0), table.size - 1)
    return table[cell]


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def coarse_keys(gram, sq_norms, key_lo, shift, table):  # pragma: no cover - compiled
    """The 8-bit bucket (:func:`_bucket`) of each squared distance of a float32 Gram matrix.

    The distance as the tree search computes it, rounded to float32, so the bucket never
    exceeds that of a tree vertex's best distance when the distance is shorter. One byte per
    pair, a quarter of the Gram matrix: the scans that read these are slowed by memory
    traffic. :func:`bucket_table` places the 256 buckets where the pool's distances lie.
    """
    n = gram.shape[0]
    out = np.empty((n, n), np.uint8)
    for i in numba.prange(n):
        d2 = np.empty(n, np.float32)
        for j in range(n):
            d2[j] = np.float64(sq_norms[i] + sq_norms[j]) - 2.0 * np.float64(gram[i, j])
        bits = d2.view(np.int32)
        for j in range(n):
            out[i, j] = _bucket(np.int64(bits[j]), key_lo, shift, table)
    return out


def bucket_table(gram: np.ndarray, sq_norms: np.ndarray, n_rows: int = 8, max_cells: int = 1 << 16):
    """(key_lo, shift, table) for :func:`coarse_keys`: 256 buckets shared equally among the
    cells of the order key that a sample of the pool's distances occupies.

    A cell is about 2**-11 of an octave of squared distance (wider when the sample spans more
    than ``max_cells`` cells). The sample is the upper triangle of ``n_rows`` rows of the
    first half. The buckets follow the distances, not the scale: none is spent on the empty
    octaves between far-apart clusters. There, splitting the sampled range evenly left the
    within-cluster distances a few buckets wide, and the scans ran 8% slower than with the
    fixed 16-bit keys this filter replaced; with the table, all six regimes of
    bench/bench_tree_filter.py ran faster than with those keys. Any table gives the same
    trees; only the speed depends on it.
    """
    n = gram.shape[0]
    rows = np.unique(np.linspace(0, max(n // 2 - 1, 0), min(n_rows, n)).astype(np.int64))
    d2 = np.concatenate(
        [(sq_norms[i] + sq_norms[i + 1 :]).astype(np.float64) - 2.0 * gram[i, i + 1 :].astype(np.float64) for i in rows]
    )
    if d2.size == 0:
        return 0, 0, np.zeros(1, np.uint8)
    keys = _order_key(d2.astype(np.float32).view(np.int32).astype(np.int64))
    key_lo, key_hi = int(keys.min()), int(keys.max())
    shift = 12
    while ((key_hi - key_lo) >> shift) >= max_cells:
        shift += 1
    occupied = np.zeros(((key_hi - key_lo) >> shift) + 1, bool)
    occupied[(keys - key_lo) >> shift] = True
    rank = np.cumsum(occupied) - 1  # the occupied cells numbered in order; an empty cell takes the rank below it
    table = (rank * 256 // int(occupied.sum())).astype(np.uint8)
    return key_lo, shift, table


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _prim_parents_filtered(gram, sq_norms, coarse, key_lo, shift, table, idx):  # pragma: no cover - compiled
    """:func:`_prim_parents` for a float32 Gram matrix, reading ``coarse_keys`` first: the same tree.

    A separate copy of the loop because the scan is memory-bound and reading a quarter of the
    bytes is the point. A read is skipped only when the distance's bucket exceeds that of the
    slot's best distance: the bucket is monotone and the best is a float32, so the distance is
    then longer. The next vertex is the least of (order key of its best distance, position in
    ``idx``) packed in one int64, a minimum that LLVM vectorises.
    """
    m = idx.size
    n_rest = m - 1
    slot_col, slot_sq, slot_best, slot_parent, slot_vertex = _new_slots(gram, sq_norms, idx)
    slot_bits = slot_best.view(np.int32)
    slot_coarse = np.full(n_rest, 255, np.uint8)  # the bucket of +inf
    slot_of = np.arange(-1, m - 1)  # the slot of each vertex not yet in the tree
    parent = np.full(m, -1, np.int64)
    cur_col = idx[0]
    cur = 0
    while n_rest > 0:
        row = gram[cur_col]
        coarse_row = coarse[cur_col]
        sq_i = sq_norms[cur_col]
        for r in range(n_rest):
            c = slot_col[r]
            if coarse_row[c] <= slot_coarse[r]:
                d2 = np.float64(sq_i + slot_sq[r]) - 2.0 * np.float64(row[c])
                if d2 < slot_best[r]:
                    slot_best[r] = d2
                    slot_coarse[r] = _bucket(np.int64(slot_bits[r]), key_lo, shift, table)
                    slot_parent[r] = cur
        least = np.int64(0x7FFFFFFFFFFFFFFF)
        for r in range(n_rest):
            key = (_order_key(np.int64(slot_bits[r])) << 32) | slot_vertex[r]
            least = min(least, key)
        cur = least & 0xFFFFFFFF
        pick = slot_of[cur]
        cur_col = slot_col[pick]
        parent[cur] = slot_parent[pick]
        n_rest -= 1
        slot_coarse[pick] = slot_coarse[n_rest]
        _drop_slot(pick, n_rest, slot_col, slot_sq, slot_best, slot_parent, slot_vertex)
        slot_of[slot_vertex[pick]] = pick
    return parent


@numba.njit(cache=True, nogil=True, fastmath=True)
def _edge_length64(points, a, b):  # pragma: no cover - compiled
    """|points[a] - points[b]| in float64 (the same number with a and b swapped)."""
    s = 0.0
    for c in range(points.shape[1]):
        t = np.float64(points[a, c]) - np.float64(points[b, c])
        s += t * t
    return np.sqrt(s)


@numba.njit(cache=True, nogil=True)
def _edge_lengths64(points, idx, parent):  # pragma: no cover - compiled
    """Lengths of the tree's edges (vertex j to its parent), in the order of j."""
    out = np.empty(idx.size - 1)
    k = 0
    for j in range(idx.size):
        if parent[j] >= 0:
            out[k] = _edge_length64(points, idx[j], idx[parent[j]])
            k += 1
    return out


@numba.njit(cache=True, nogil=True)
def _distinct_pairs(first, second, counts, n):  # pragma: no cover - compiled
    """Number the distinct unordered pairs among each row's first ``counts[r]`` (first, second).

    Open addressing in an array rather than np.unique, whose sort costs as much as the
    lengths it would save (trees of one pool share ~3/4 of their edges).
    """
    total = counts.sum()
    bits = 1
    while (1 << bits) < 2 * total + 2:
        bits += 1
    table_key = np.full(1 << bits, -1, np.int64)
    table_id = np.empty(1 << bits, np.int64)
    pair_id = np.empty(first.shape, np.int64)
    lo = np.empty(total, np.int64)
    hi = np.empty(total, np.int64)
    n_distinct = 0
    mask = np.uint64((1 << bits) - 1)
    for r in range(first.shape[0]):
        for k in range(counts[r]):
            a, b = min(first[r, k], second[r, k]), max(first[r, k], second[r, k])
            key = a * n + b
            h = (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)
            while table_key[h] != -1 and table_key[h] != key:
                h = (h + np.uint64(1)) & mask
            if table_key[h] == -1:
                table_key[h] = key
                table_id[h] = n_distinct
                lo[n_distinct] = a
                hi[n_distinct] = b
                n_distinct += 1
            pair_id[r, k] = table_id[h]
    return pair_id, lo[:n_distinct], hi[:n_distinct]


@numba.njit(cache=True, nogil=True, parallel=True)
def _subsample_sums(
    gram, sq_norms, coarse, key_lo, shift, table, points, index_sets, alpha
):  # pragma: no cover - compiled
    """sum(length^alpha) of the MST of each row of ``index_sets`` (padded with -1), in parallel.

    ``coarse``: :func:`coarse_keys` of a float32 Gram matrix (its buckets: ``key_lo``, ``shift``, ``table``),
    or an empty array (plain search).
    The trees first; then each distinct edge is measured once; then each tree's sum, in the
    order of its vertices, as ``np.sum`` of :func:`_edge_lengths64` would add them.
    """
    n_sets, width = index_sets.shape
    child = np.empty((n_sets, width), np.int64)
    parent_of = np.empty((n_sets, width), np.int64)
    counts = np.zeros(n_sets, np.int64)
    for r in numba.prange(n_sets):
        row = index_sets[r]
        m = 0
        while m < row.size and row[m] >= 0:
            m += 1
        idx = np.sort(row[:m])  # sorted: the first scans read each Gram row in column order
        if coarse.shape[0]:
            parent = _prim_parents_filtered(gram, sq_norms, coarse, key_lo, shift, table, idx)
        else:
            parent = _prim_parents(gram, sq_norms, idx)
        k = 0
        for j in range(m):
            if parent[j] >= 0:
                child[r, k] = idx[j]
                parent_of[r, k] = idx[parent[j]]
                k += 1
        counts[r] = k
    pair_id, lo, hi = _distinct_pairs(child, parent_of, counts, points.shape[0])
    lengths = np.empty(lo.size)
    for u in numba.prange(lo.size):
        lengths[u] = _edge_length64(points, lo[u], hi[u])
    out = np.empty(n_sets)
    for r in numba.prange(n_sets):
        total = 0.0
        for k in range(counts[r]):
            length = lengths[pair_id[r, k]]
            total += length if alpha == 1.0 else length**alpha  # x ** 1.0 is x: skip the pows
        out[r] = total
    return out


class GramCloud:
    """A cloud prepared once for many spanning trees on subsets of it (one shared Gram matrix).

    Memory: one float32 n x n matrix (400 MB for 10,000 points); the points themselves are
    referenced, not copied. Squared distances for the tree search are float32 (the Gram's own
    precision) unless that would swamp the shortest distances (then float64, twice the time
    and memory); the chosen edges are always measured in float64 from the points.
    ``threads``: for the Gram product (default: as many as the BLAS would use now).
    """

    def __init__(self, points: np.ndarray, threads: int | None = None):
        pts = np.asarray(points)
        if pts.dtype not in (np.float32, np.float64):
            pts = pts.astype(np.float64)
        self.points = np.ascontiguousarray(pts)
        # centring keeps |x|^2 small against the distances (less cancellation in the Gram form)
        mean = self.points.mean(axis=0, dtype=np.float64).astype(self.points.dtype)
        for dtype in (np.float32, np.float64):
            centred = np.subtract(self.points, mean, dtype=dtype)
            self.gram = gram_product(centred, threads)
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
        # The filter's 8-bit buckets (n^2 bytes) pay for themselves over many trees. A float64
        # Gram matrix (far-apart tight clusters) keeps the plain search: on ten such clusters
        # in 50 dimensions a float64 copy of the filtered search ran 47 ms against 49, too
        # little for a third copy of the loop.
        key_lo, shift, table = 0, 0, np.zeros(1, np.uint8)
        if self.gram.dtype == np.float32:
            key_lo, shift, table = bucket_table(self.gram, self.sq_norms)
            coarse = coarse_keys(self.gram, self.sq_norms, key_lo, shift, table)
        else:
            coarse = np.empty((0, 0), np.uint8)
        sums = _subsample_sums(
            self.gram, self.sq_norms, coarse, key_lo, shift, table, self.points, padded, float(alpha)
        )
        out = np.empty_like(sums)
        out[order] = sums
        return out


def h0_deaths(points: np.ndarray) -> np.ndarray:
    """Finite H0 death times of the Vietoris-Rips filtration of ``points``, ascending.

    Parameters
    ----------
    points : array of shape (n, d)

    Returns
    -------
    array of shape (n - 1,)
        The Euclidean minimum spanning tree's edge lengths, in float64: ripser's H0 deaths
        (ripser's infinite bar is the one not listed here).
    """
    _, _, lengths = GramCloud(points).mst_edges()
    return np.sort(lengths)
