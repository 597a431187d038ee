"""Homology that survives stray points and uneven density: the DTM filtration and a bootstrap band.

**The distance to measure (DTM).** The DTM of a point x at mass m is the quadratic mean of its
distances to the ``k = ceil(m n)`` nearest sample points, x itself counted when it is a
sample point (Chazal, Cohen-Steiner & Mérigot 2011; gudhi's ``DistanceToMeasure`` with q = 2).
It is small where the sample is dense and large at stray points, and it moves by little when a
few points are added or removed.

**The DTM filtration** (Anai, Chazal, Glisse, Ike, Inakoshi, Tinarrage & Umeda 2019,
"DTM-based filtrations", with p = 1; gudhi's ``DTMRipsComplex``): a vertex x enters at f(x), its
DTM; an edge xy at max(f(x), f(y)) when |x - y| <= |f(x) - f(y)|, and at
(f(x) + f(y) + |x - y|) / 2 otherwise (the radius at which balls of radii r - f(x) and
r - f(y) meet). Stray points enter late, so a few of them between two clusters no longer join
the clusters early, and a cloud's wide and tight parts are read at their own densities, where a
Rips filtration has one global scale.

- H0 is exact on every point: the merges are the edges of the minimum spanning tree of the edge
  values (an edge's value is never below its vertices'), read with the elder rule.
- H1 is the DTM filtration on ``n_landmarks`` maxmin landmarks, their DTM taken in the whole
  cloud (ripser, vertex values on the diagonal).

**Significance** (Chazal, Fasy, Lecci, Michel, Rinaldo & Wasserman 2017, "Robust topological
inference: distance to a measure and kernel distance", JMLR 18; the confidence sets of Fasy et
al. 2014): the DTM of every sample point is recomputed on ``n_bootstrap`` resamples (drawn with
replacement); ``c`` is the (1 - level) quantile of the largest change. Two filtrations of one
complex whose vertex values differ by at most c give diagrams at bottleneck distance at most c
(the edge values are 1-Lipschitz in the vertex values), so a feature is significant at that
level when its lifetime exceeds the band 2c. The result keeps the level, the band, and the
features just below it (lifetime within half the band of it), which a larger sample might
resolve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike
from ripser import ripser
from scipy import sparse

from ..errors import CloudError
from ._gram import device_product
from ._validate import check_cloud
from .homology import maxmin_landmarks, snap_to_distances, summarize

DTM_RULE = "dtm_bootstrap"


@dataclass(frozen=True)
class DTMRule:
    """Betti numbers of the DTM filtration, features counted above a bootstrap band.

    ``mass``: the DTM's mass parameter m (k = ceil(m n) neighbours, the point itself counted);
    ``min_k``: the fewest neighbours, so that a small class still averages over a
    neighbourhood; ``level``: the band's error level; ``n_bootstrap``: resamples.
    """

    name: str = DTM_RULE
    mass: float = 0.03
    min_k: int = 10
    level: float = 0.05
    n_bootstrap: int = 100

    def __post_init__(self) -> None:
        if self.name != DTM_RULE:
            raise ValueError(f"DTMRule.name must be {DTM_RULE!r}, got {self.name!r}")
        if not 0 < self.mass < 1:
            raise ValueError(f"DTMRule.mass == {self.mass!r}, must be in (0, 1)")
        if self.min_k < 1:
            raise ValueError(f"DTMRule.min_k == {self.min_k!r}, must be >= 1")
        if not 0 < self.level < 1:
            raise ValueError(f"DTMRule.level == {self.level!r}, must be in (0, 1)")
        if self.n_bootstrap < 20:
            raise ValueError(
                f"DTMRule.n_bootstrap == {self.n_bootstrap!r}, must be >= 20 for a quantile at the stated level"
            )

    def neighbours(self, n: int) -> int:
        """k for a cloud of n points: ceil(mass n), at least ``min_k``, at most n."""
        return int(min(n, max(self.min_k, np.ceil(self.mass * n))))


def pairwise_distances64(points: np.ndarray) -> np.ndarray:
    """Euclidean distances in float64 from a Gram product of the centred cloud.

    The Gram form loses short distances to cancellation, so every squared distance below 1e-6 of
    the cloud's squared radius is recomputed directly (a few per row at most).
    """
    x = np.asarray(points, dtype=np.float64)
    x = x - x.mean(axis=0)
    sq = np.einsum("ij,ij->i", x, x)
    gram = device_product(x)  # on the device of products_on, where one is chosen
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T if gram is None else gram)
    np.fill_diagonal(d2, 0.0)
    small = np.argwhere(np.triu(d2 < 1e-6 * max(sq.mean(), np.finfo(float).tiny), 1))
    if len(small):
        i, j = small.T
        d2[i, j] = d2[j, i] = ((x[i] - x[j]) ** 2).sum(axis=1)
    return np.asarray(np.sqrt(np.maximum(d2, 0.0)))


def dtm_values(dist: np.ndarray, k: int) -> np.ndarray:
    """The DTM (q = 2) of each point of a distance matrix: the quadratic mean of the distances to
    its ``k`` nearest points, itself included."""
    near = np.partition(dist, k - 1, axis=1)[:, :k]
    return np.asarray(np.sqrt((near**2).mean(axis=1)))


@numba.njit(cache=True, nogil=True, inline="always")
def _edge_value(d: float, a: float, b: float) -> float:  # pragma: no cover - compiled
    """The DTM filtration's value (p = 1) of an edge of length d between vertices of values a, b."""
    if d <= abs(a - b):
        return max(a, b)
    return (a + b + d) / 2.0


@numba.njit(cache=True, nogil=True)
def edge_values(dist: np.ndarray, f_rows: np.ndarray, f_cols: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The DTM filtration's edge values (p = 1) for distances ``dist`` between points with DTM
    ``f_rows`` and ``f_cols`` (:func:`_edge_value`, which the spanning trees read too)."""
    out = np.empty(dist.shape)
    for i in range(dist.shape[0]):
        for j in range(dist.shape[1]):
            out[i, j] = _edge_value(dist[i, j], f_rows[i], f_cols[j])
    return out


@numba.njit(cache=True, nogil=True)
def _spanning_tree(
    dist: np.ndarray, idx: np.ndarray, f: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """A minimum spanning tree of the DTM filtration's edge values on the points ``idx`` of a
    distance matrix, their values ``f`` (Prim's, O(n^2), the edge values computed as it scans, so
    no n x n matrix is built): each vertex's parent and the weight of its edge (vertex 0 is the
    root; its entries are unused)."""
    n = f.size
    best = np.full(n, np.inf)
    parent = np.full(n, -1, np.int64)
    # the vertices not yet in the tree, removed by swapping with the last: each step scans only
    # these (half the n^2 scans of a loop over all), and the pick breaks ties by the smaller
    # index, as a scan in index order would
    rest = np.arange(1, n)
    n_rest = n - 1
    cur = 0
    for _ in range(n - 1):
        pick_at, pick, pick_best = -1, n, np.inf
        row, f_cur = idx[cur], f[cur]
        for p in range(n_rest):
            j = rest[p]
            w = _edge_value(dist[row, idx[j]], f_cur, f[j])
            if w < best[j]:
                best[j] = w
                parent[j] = cur
            b = best[j]
            if b < pick_best or (b == pick_best and j < pick):
                pick_best = b
                pick = j
                pick_at = p
        n_rest -= 1
        rest[pick_at] = rest[n_rest]
        cur = pick
    return parent, best


@numba.njit(cache=True, nogil=True)
def _tree_bars(
    parent: np.ndarray, best: np.ndarray, f: np.ndarray, band: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:  # pragma: no cover - compiled
    """H0 of the DTM filtration from its spanning tree (:func:`_spanning_tree`): (births, deaths,
    sizes) of the finite bars of positive length, and the infinite bar's birth.

    The tree's edges, in increasing order, are the merges: at each, the component born later
    dies (the elder rule) and its size at that moment is kept. An edge's value is never below
    its vertices', so these are all the merges. A component that dies with a lifetime above
    ``band`` keeps its points out of the survivor's count, so that each significant component's
    size counts its own points only.
    """
    n = f.size
    edge_w = best[1:].copy()
    order = np.argsort(edge_w, kind="mergesort")
    root = np.arange(n)
    birth = f.astype(np.float64).copy()
    size = np.ones(n, np.int64)
    births = np.empty(n - 1)
    deaths = np.empty(n - 1)
    sizes = np.empty(n - 1, np.int64)
    m = 0
    for e in order:
        a = e + 1
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        b = parent[e + 1]
        while root[b] != b:
            root[b] = root[root[b]]
            b = root[b]
        if birth[a] < birth[b] or (birth[a] == birth[b] and a < b):
            a, b = b, a  # a is the younger component; it dies
        if edge_w[e] > birth[a]:
            births[m] = birth[a]
            deaths[m] = edge_w[e]
            sizes[m] = size[a]
            m += 1
        root[a] = b
        if edge_w[e] - birth[a] <= band:
            size[b] += size[a]
    return births[:m], deaths[:m], sizes[:m], birth[0] if n == 1 else birth[_find_root(root, 0)]


@numba.njit(cache=True, nogil=True)
def _h0_bars(
    dist: np.ndarray, idx: np.ndarray, f: np.ndarray, band: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:  # pragma: no cover - compiled
    """H0 of the DTM filtration on the points ``idx`` of a distance matrix, their values ``f``:
    :func:`_tree_bars` of :func:`_spanning_tree`."""
    parent, best = _spanning_tree(dist, idx, f)
    return _tree_bars(parent, best, f, band)


@numba.njit(cache=True, nogil=True, inline="always")
def _find_root(root: np.ndarray, i: int) -> int:  # pragma: no cover - compiled
    while root[i] != i:
        i = root[i]
    return i


def spanning_tree(dist: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The DTM filtration's minimum spanning tree on every point of ``dist`` (values ``f``):
    each vertex's parent and edge weight, for :func:`h0_dtm` to read more than once."""
    idx = np.arange(len(dist))
    return _spanning_tree(np.ascontiguousarray(dist, dtype=np.float64), idx, np.ascontiguousarray(f, dtype=np.float64))


def h0_dtm(
    dist: np.ndarray,
    f: np.ndarray,
    idx: np.ndarray | None = None,
    band: float = np.inf,
    tree: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """H0 of the DTM filtration on the points ``idx`` (default: all) of the distance matrix
    ``dist``, with vertex values ``f`` (one per point of ``idx``): (bars (birth, death), the
    infinite one last; the size of each component when it died, the infinite one's last).
    Bars of zero length are left out. With a finite ``band``, components that outlive it are
    counted apart: each size is then the component's own points, not those of the significant
    components that merged into it before. ``tree``: the spanning tree of every point
    (:func:`spanning_tree`), when the caller has it."""
    f = np.ascontiguousarray(f, dtype=np.float64)
    if tree is not None:
        births, deaths, sizes, first = _tree_bars(tree[0], tree[1], f, float(band))
    else:
        idx = np.arange(len(dist)) if idx is None else np.asarray(idx, dtype=np.int64)
        births, deaths, sizes, first = _h0_bars(np.ascontiguousarray(dist, dtype=np.float64), idx, f, float(band))
    bars = np.r_[np.c_[births, deaths], [[first, np.inf]]]
    significant = (deaths - births) > band
    return bars, np.r_[sizes, len(f) - sizes[significant].sum()]


def _by_lifetime(bars: np.ndarray) -> np.ndarray:
    """Finite bars, longest lifetime first (ties in their given order)."""
    return np.ascontiguousarray(bars[np.argsort(-(bars[:, 1] - bars[:, 0]), kind="stable")], dtype=np.float64)


def bottleneck_upper(a: np.ndarray, b: np.ndarray) -> float:
    """An upper bound on the bottleneck distance between two diagrams of finite bars: the cost of
    matching them in order of lifetime, each pair either matched or both sent to the diagonal.

    Any matching bounds the bottleneck distance from above, so a band built on this bound is
    conservative (the exact distance needs an assignment per resample).
    """
    b = np.asarray(b, dtype=np.float64)
    return float(
        _bottleneck_upper_sorted(
            _by_lifetime(np.asarray(a)), np.ascontiguousarray(b[:, 0]), np.ascontiguousarray(b[:, 1])
        )
    )


@numba.njit(cache=True, nogil=True)
def _weighted_dtm(
    order: np.ndarray, near2: np.ndarray, counts: np.ndarray, rows: np.ndarray, k: int
) -> np.ndarray:  # pragma: no cover - compiled
    """The DTM (q = 2) of ``rows`` under a measure that weights each point by ``counts``: the
    first k distances along each row's sorted neighbours, each counted as often as its point.
    A row whose kept neighbours hold fewer than k gets NaN (completed by the caller)."""
    out = np.empty(rows.size)
    for r in range(rows.size):
        i = rows[r]
        need = k
        total = 0.0
        for c in range(order.shape[1]):
            m = counts[order[i, c]]
            if m == 0:
                continue
            take = m if m < need else need
            total += take * near2[i, c]
            need -= take
            if need == 0:
                break
        out[r] = np.sqrt(total / k) if need == 0 else np.nan
    return out


def nearest_sorted(dist: np.ndarray, width: int) -> np.ndarray:
    """The first ``width`` columns of each row's stable argsort (ties by index), without sorting
    whole rows: a partition finds each row's ``width``-th smallest value, and only the entries up
    to it are sorted (a full argsort of 2,000 rows of 2,000 costs ten times more); rows in
    parallel on numba's threads."""
    n = dist.shape[1]
    if width >= n:
        return np.ascontiguousarray(np.argsort(dist, axis=1, kind="stable"))
    return _nearest_sorted_rows(np.ascontiguousarray(dist, dtype=np.float64), width)


@numba.njit(cache=True, nogil=True, parallel=True)
def _nearest_sorted_rows(dist: np.ndarray, width: int) -> np.ndarray:  # pragma: no cover - compiled
    out = np.empty((dist.shape[0], width), np.int64)
    for i in numba.prange(dist.shape[0]):
        row = dist[i]
        cut = np.partition(row, width - 1)[width - 1]
        cand = np.flatnonzero(row <= cut)  # increasing index: a stable sort keeps ties in index order
        order = np.argsort(row[cand], kind="mergesort")
        out[i] = cand[order[:width]]
    return out


def _sorted_neighbours(dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, squared distances) of each point's first ``4k + 20`` neighbours in order: what a
    resampled DTM reads (:func:`_weighted_dtm`; a resample needs about k of them, and a row it
    leaves short is completed from its full row by :func:`_full_row_dtm`)."""
    order = nearest_sorted(dist, min(len(dist), 4 * k + 20))
    return order, np.ascontiguousarray(np.take_along_axis(dist, order, axis=1) ** 2)


@numba.njit(cache=True, nogil=True)
def _full_row_dtm(row: np.ndarray, counts: np.ndarray, k: int) -> float:  # pragma: no cover - compiled
    """A row's resampled DTM from all its neighbours (the rare row whose kept ones held fewer
    than k resampled points; never one whose kept neighbours are all the points)."""
    order = np.argsort(row, kind="mergesort")
    need, total = k, 0.0
    for j in order:
        m = counts[j]
        take = m if m < need else need
        total += take * row[j] ** 2
        need -= take
        if need == 0:
            break
    return np.sqrt(total / k)  # type: ignore[no-any-return]  # numba compiles it to a float


@numba.njit(cache=True, nogil=True)
def _bottleneck_upper_sorted(
    a: np.ndarray, births: np.ndarray, deaths: np.ndarray
) -> float:  # pragma: no cover - compiled
    """:func:`bottleneck_upper` with ``a`` already in order of lifetime and ``b`` given as births
    and deaths (the same arithmetic, so the same value)."""
    life_b = deaths - births
    order = np.argsort(-life_b, kind="mergesort")
    ma, mb = a.shape[0], births.size
    best = 0.0
    for i in range(max(ma, mb)):
        a0 = a[i, 0] if i < ma else 0.0
        a1 = a[i, 1] if i < ma else 0.0
        b0 = births[order[i]] if i < mb else 0.0
        b1 = deaths[order[i]] if i < mb else 0.0
        pair = max(abs(a0 - b0), abs(a1 - b1)) if i < ma and i < mb else np.inf
        diag = max(a1 - a0, b1 - b0) / 2.0
        v = min(pair, diag)
        if v > best:
            best = v
    return best


@numba.njit(cache=True, nogil=True, parallel=True)
def _bootstrap(
    dist: np.ndarray,
    order: np.ndarray,
    near2: np.ndarray,
    f: np.ndarray,
    draws: np.ndarray,
    k: int,
    finite_sorted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Both statistics of every resample (the rows of ``draws``); see :func:`bootstrap_bands`."""
    n_boot, n = draws.shape
    c0 = np.empty(n_boot)
    c1 = np.empty(n_boot)
    rows = np.arange(n)
    for b in numba.prange(n_boot):  # the resamples are independent: one per thread at a time
        counts = np.zeros(n, np.int64)
        for t in range(n):
            counts[draws[b, t]] += 1
        fb = _weighted_dtm(order, near2, counts, rows, k)
        sup = 0.0
        for i in range(n):
            if np.isnan(fb[i]):
                fb[i] = _full_row_dtm(dist[i], counts, k)
            d = abs(fb[i] - f[i])
            if d > sup:
                sup = d
        c1[b] = sup
        drawn = np.nonzero(counts)[0]  # copies of a point join at its own value: no bar
        births, deaths, _, _ = _h0_bars(dist, drawn, fb[drawn], np.inf)
        c0[b] = _bottleneck_upper_sorted(finite_sorted, births, deaths)
    return c0, c1


def bootstrap_bands(
    dist: np.ndarray, k: int, f: np.ndarray, h0: np.ndarray, *, n_bootstrap: int, level: float, seed: int
) -> tuple[float, float]:
    """(H0's c, the DTM's c): the (1 - level) quantiles, over resamples of the cloud drawn with
    replacement, of

    - the bottleneck distance (:func:`bottleneck_upper`) between the resample's H0 diagram and
      the cloud's, both of the DTM filtration (the bootstrap of Fasy et al. 2014). A finite
      sample's own gaps make H0 bars of about half a neighbour distance in its sparse parts,
      which no DTM band sees; this one does;
    - the largest change of a sample point's DTM (Chazal et al. 2017), which bounds the
      bottleneck distance of every dimension's diagram on a fixed complex (H1 on landmarks).

    The resamples are drawn here and measured in one compiled loop (a Python loop's overhead
    dominated small classes).
    """
    n = len(dist)
    order, near2 = _sorted_neighbours(dist, k)
    rng = np.random.default_rng([seed, 2])
    draws = np.stack([rng.integers(n, size=n) for _ in range(n_bootstrap)]).astype(np.int64)
    c0, c1 = _bootstrap(
        np.ascontiguousarray(dist, dtype=np.float64),
        order,
        near2,
        np.ascontiguousarray(f, dtype=np.float64),
        draws,
        k,
        _by_lifetime(h0[:-1]),
    )
    return float(np.quantile(c0, 1.0 - level)), float(np.quantile(c1, 1.0 - level))


@dataclass
class DTMPersistenceResult:
    """Barcodes of the DTM filtration and the Betti numbers significant at ``rule.level``.

    ``betti[dim]``: the features whose lifetime exceeds ``band`` (H0 counts its infinite bar);
    ``near_band[dim]``: features with lifetimes between half the band and the band, which the
    sample cannot tell from noise; ``largest_below[dim]``: the longest lifetime below the band;
    ``component_sizes``: the own points of each significant component when it merged (those of
    significant components that joined it earlier not counted), largest first.
    """

    diagrams: list[np.ndarray]
    betti: list[int]
    near_band: list[int]
    largest_below: list[float]
    bands: list[float]
    k: int
    rule: DTMRule
    component_sizes: list[int]
    landmarks: np.ndarray
    dtm: np.ndarray = field(repr=False)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (diagrams left out)."""
        return {
            "betti": list(self.betti),
            "near_band": list(self.near_band),
            "largest_below": [float(v) for v in self.largest_below],
            "bands": [float(b) for b in self.bands],
            "k": self.k,
            "rule": asdict(self.rule),
            "component_sizes": [int(s) for s in self.component_sizes[:50]],
            "n_landmarks": int(len(self.landmarks)),
            "seed": self.seed,
            "summaries": [vars(summarize(d)) for d in self.diagrams],
        }


def _count(diagram: np.ndarray, band: float) -> tuple[int, int, float]:
    life = diagram[:, 1] - diagram[:, 0]
    sure = life > band
    below = life[~sure]
    near = int((below > band / 2).sum())
    return int(sure.sum()), near, float(below.max()) if len(below) else 0.0


def dtm_persistence(
    points: ArrayLike,
    *,
    maxdim: int = 1,
    n_landmarks: int = 300,
    rule: DTMRule | None = None,
    seed: int = 0,
    layer: str | None = None,
    dist: np.ndarray | None = None,
) -> DTMPersistenceResult:
    """Persistence of the DTM filtration and its significant Betti numbers.

    Parameters
    ----------
    points : array of shape (n, d)
    maxdim : int, default=1
        0 or 1 (H1 on maxmin landmarks).
    n_landmarks : int, default=300
        Landmarks for H1 (every point when >= n).
    rule : DTMRule or None, default=None
        :class:`DTMRule` (mass, level, resamples); the default when None.
    seed : int, default=0
        Draws the resamples and the first landmark.
    layer : str or None, default=None
        Named in every error.
    dist : ndarray or None, default=None
        The cloud's distance matrix, when the caller has it (:func:`pairwise_distances64`).

    Returns
    -------
    DTMPersistenceResult

    Raises
    ------
    CloudError
        NaN or infinite values, too few points, a constant or mostly duplicated cloud, or a DTM
        of 0 (more than k copies of one point).
    ValueError
        ``maxdim`` outside 0..1.

    Examples
    --------
    >>> import numpy as np
    >>> from reptopo.measures import dtm_persistence
    >>> rng = np.random.default_rng(0)
    >>> t = rng.uniform(0, 2 * np.pi, 300)
    >>> circle = np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.05, size=(300, 2))
    >>> dtm_persistence(circle, n_landmarks=100).betti
    [1, 1]
    """
    if maxdim not in (0, 1):
        raise ValueError(f"maxdim == {maxdim!r}, must be 0 or 1")
    rule = rule or DTMRule()
    pts = check_cloud(points, layer=layer, min_points=4)
    n = len(pts)
    dist = pairwise_distances64(pts) if dist is None else dist
    k = rule.neighbours(n)
    f = dtm_values(dist, k)
    if not (f > 0).all():
        raise CloudError(
            f"a point has {k} exact copies, so its distance to measure (k = {k}) is 0; "
            f"remove duplicates or raise the mass",
            layer=layer,
        )
    tree = spanning_tree(dist, f)  # read twice: for the bars, then for the sizes beside the band
    h0, _ = h0_dtm(dist, f, tree=tree)
    c0, c1 = bootstrap_bands(dist, k, f, h0, n_bootstrap=rule.n_bootstrap, level=rule.level, seed=seed)
    # H0's band holds the DTM's too: a fixed complex's diagrams move by at most the DTM's change
    bands = [2.0 * max(c0, c1), 2.0 * c1]
    _, sizes = h0_dtm(dist, f, band=bands[0], tree=tree)  # the same bars; sizes counted apart
    finite = h0[:-1]
    counts = [_count(finite, bands[0])]
    order = np.argsort(finite[:, 0] - finite[:, 1], kind="stable")[: counts[0][0]]
    component_sizes = sorted([int(sizes[-1])] + [int(s) for s in sizes[:-1][order]], reverse=True)
    diagrams = [h0]
    idx = np.arange(n)
    if maxdim >= 1:
        if n_landmarks < n:
            idx, _ = maxmin_landmarks(lambda i: dist[i], n, n_landmarks, seed=seed)
        fl = f[idx]
        w = edge_values(dist[np.ix_(idx, idx)], fl, fl)
        np.fill_diagonal(w, fl)  # ripser reads the diagonal as the vertices' values
        h1 = ripser(sparse.coo_matrix(w), maxdim=1, distance_matrix=True)["dgms"][1]
        # ripser computes in float32; every birth and death is one of the filtration's values
        h1 = snap_to_distances(np.asarray(h1, dtype=np.float64), np.unique(w[np.triu_indices(len(idx))])).reshape(-1, 2)
        diagrams.append(h1)
        counts.append(_count(h1, bands[1]))
    betti = [1 + counts[0][0]] + [c[0] for c in counts[1:]]
    return DTMPersistenceResult(
        diagrams=diagrams,
        betti=betti,
        near_band=[c[1] for c in counts],
        largest_below=[c[2] for c in counts],
        bands=bands,
        k=k,
        rule=rule,
        component_sizes=component_sizes,
        landmarks=idx,
        dtm=f,
        seed=seed,
    )
