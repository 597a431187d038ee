"""Persistent homology of a layer: Vietoris-Rips barcodes through ripser, and Betti numbers.

Betti numbers are read from the barcodes by one named rule; the rule, its parameters and the
scale it read at are part of every result.

``ResolutionRule`` (``"sampling_resolution"``, the default) takes its scale from the whole
cloud's own sampling density, never from how many landmarks were drawn:

- the cloud's resolution ``eps_cloud`` is the median, over all points, of the distance to the
  ``ceil(ln n)``-th nearest neighbour. Balls of about that radius hold ``ln n`` points, the
  count at which n random balls cover a sampled manifold (the coupon-collector bound behind the
  connectivity radius of random geometric graphs), so it estimates how far the sample is from
  the shape it samples;
- H0 is read off the whole cloud's minimum spanning tree (exact, float64, every point): a
  component counts when the edge that merges it is longer than ``h0_band[1] * eps_cloud``;
- H1 and up are read off the Rips barcode of ``n_landmarks`` maxmin landmarks, whose scale is
  ``eps = max(landmark_weight * eps_landmarks, eps_cloud)`` (``eps_landmarks``: the landmarks'
  covering radius, 0 when every point is a landmark); a bar counts when it is born by
  ``max_birth * eps`` and its lifetime exceeds ``band[1] * eps``;
- bars between ``band[0]`` and ``band[1]`` times the scale are *ambiguous*: the sample cannot
  tell them from sampling noise. A dimension with an ambiguous bar has no Betti number
  (``None``) but a range ``(sure, sure + ambiguous)``, and the result is flagged unresolved.

The bands were calibrated on noisy circles, two circles, figure-eights, tori, spheres and ten
separated Gaussian clusters in 20 dimensions, at 200-3,000 points and from 100 landmarks to all
points, four seeds each (``tests/test_measures_topology.py`` sweeps them): sampling-noise H1
bars reached 1.54 x the scale, true cycles started at 2.65 x (a torus of radii 2 and 1, 1,000
points, 200 landmarks); noise H0 merges reached 4.18 x eps_cloud (a noisy circle of 3,000
points: gaps along a curve grow like ln n), components 4.6 x apart were separate. A feature
shorter than the band cannot be seen at all: 500 points of that torus (eps_cloud about 0.6)
are flagged, 200 read b1 = 0. This follows the
homology inference of Chazal & Oudot (2008, "Towards persistence-based reconstruction in
Euclidean spaces"): a feature is real when it outlives a small multiple of the distance between
the sample and the shape.

The legacy rules of protocol v1 (``BettiRule``) are kept for its reference results:

- ``covering_radius``: a bar counts when it is infinite or its lifetime exceeds
  ``factor * eps`` (H1 and up) or ``(2 + factor) * eps`` (H0), eps the landmark covering radius.
  It gives every point its own component when every point is a landmark (eps = 0).
- ``largest_gap``: cut the sorted lifetimes at the largest ratio between consecutive ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from ripser import ripser
from scipy.sparse.csgraph import shortest_path
from scipy.spatial.distance import pdist, squareform
from sklearn.neighbors import NearestNeighbors, kneighbors_graph

from ..errors import CloudError
from ._mst import GramCloud
from ._validate import check_cloud
from .results import BettiRule, DiagramSummary, ResolutionRule

METRICS = ("euclidean", "knn_geodesic")


def resolution_rank(n: int) -> int:
    """The neighbour rank of the sampling resolution of n points: ceil(ln n), at least 1."""
    return max(1, int(np.ceil(np.log(max(n, 2)))))


def core_distances(points: ArrayLike, k: int) -> np.ndarray:
    """Distance from each point to its ``k``-th nearest neighbour (the point itself not counted)."""
    pts = np.asarray(points, dtype=np.float64)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(pts).kneighbors(pts)
    return np.asarray(dist[:, k])


def sampling_resolution(points: ArrayLike, *, k: int | None = None, layer: str | None = None) -> float:
    """Median distance from a point to its ``k``-th nearest neighbour (default ``ceil(ln n)``).

    Parameters
    ----------
    points : array of shape (n, d)
    k : neighbour rank; None for :func:`resolution_rank`.

    Returns
    -------
    float
        The scale at which the sample is resolved, in the cloud's units.

    Raises
    ------
    CloudError
        When the resolution is 0 (most points have ``k`` exact duplicates).
    """
    n = len(np.asarray(points))
    k = min(resolution_rank(n) if k is None else k, n - 1)
    eps = float(np.median(core_distances(points, k)))
    if not eps > 0:
        raise CloudError(f"the sampling resolution is 0: most points have {k} exact duplicates", layer=layer)
    return eps


def snap_to_distances(values: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """Each finite value replaced by the nearest of ``distances`` (sorted ascending).

    ripser computes in float32; every birth and death of a Rips filtration is one of the
    cloud's pairwise distances, so snapping restores them in float64 (and makes summaries of a
    scaled or rotated cloud agree to float64 precision, not float32's).
    """
    out = np.array(values, dtype=np.float64)
    finite = np.isfinite(out)
    v = out[finite]
    pos = np.clip(np.searchsorted(distances, v), 1, len(distances) - 1)
    left, right = distances[pos - 1], distances[pos]
    out[finite] = np.where(np.abs(v - left) <= np.abs(right - v), left, right)
    return out


@dataclass
class PersistenceResult:
    """Barcodes, Betti numbers and how they were read.

    ``betti[dim]`` is None where the rule could not decide (bars in its ambiguous band); then
    ``betti_range[dim]`` gives the bars that surely count and those plus the ambiguous ones, and
    ``resolved`` is False. Features shorter than the band's low end are invisible at the
    sample's resolution and in neither count (``thresholds`` says how long that is). ``resolution`` holds the scales the rule read at and why (empty for legacy rules).
    """

    diagrams: list[np.ndarray]  # one (k, 2) array of (birth, death) per dimension; death may be inf
    betti: list[int | None]
    summaries: list[DiagramSummary]
    rule: BettiRule | ResolutionRule
    thresholds: list[float]  # per dimension, the lifetime above which a bar counts (cloud's units)
    covering_radius: float
    landmarks: np.ndarray
    metric: str
    params: dict[str, Any] = field(default_factory=dict)
    betti_range: list[tuple[int, int]] = field(default_factory=list)
    resolved: bool = True
    resolution: dict[str, Any] = field(default_factory=dict)
    # the whole cloud's spanning tree (i, j, length), read for H0 by the sampling-resolution rule
    h0_edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (diagrams left out; infinite deaths as None)."""
        out = {
            "betti": list(self.betti),
            "summaries": [asdict(s) for s in self.summaries],
            "betti_rule": asdict(self.rule),
            "thresholds": list(self.thresholds),
            "covering_radius": self.covering_radius,
            "metric": self.metric,
            "n_landmarks": int(len(self.landmarks)),
            **self.params,
        }
        if isinstance(self.rule, ResolutionRule):
            out.update(
                betti_range=[list(r) for r in self.betti_range],
                resolved=self.resolved,
                resolution=dict(self.resolution),
            )
        return out


def maxmin_landmarks(
    dist_to: Callable[[int], np.ndarray], n: int, n_landmarks: int, *, seed: int = 0
) -> tuple[np.ndarray, float]:
    """Greedy farthest-point subsample: indices and the covering radius.

    ``dist_to(i)`` returns the distances from point i to every point. The first landmark is
    drawn by ``seed``; each next one is the point farthest from those chosen.
    """
    n_landmarks = min(n_landmarks, n)
    first = int(np.random.default_rng(seed).integers(n))
    chosen = [first]
    nearest = dist_to(first).astype(np.float64)
    for _ in range(n_landmarks - 1):
        nxt = int(np.argmax(nearest))
        chosen.append(nxt)
        np.minimum(nearest, dist_to(nxt), out=nearest)
    return np.asarray(chosen), float(nearest.max())


def summarize(diagram: np.ndarray) -> DiagramSummary:
    finite = diagram[np.isfinite(diagram[:, 1])] if len(diagram) else diagram
    life = (finite[:, 1] - finite[:, 0]) if len(finite) else np.empty(0)
    life = life[life > 0]
    total = float(life.sum())
    entropy = 0.0
    if total > 0:
        p = life / total
        entropy = float(-(p * np.log(p)).sum())
    return DiagramSummary(
        n_bars=int(len(diagram)),
        n_infinite=int(len(diagram) - len(finite)),
        total_persistence=total,
        max_persistence=float(life.max()) if len(life) else 0.0,
        persistent_entropy=entropy,
    )


def betti_from_diagram(diagram: np.ndarray, dim: int, rule: BettiRule, covering_radius: float) -> tuple[int, float]:
    """(Betti number, lifetime threshold used) of dimension ``dim``'s diagram under ``rule``."""
    floor = (rule.factor + (2.0 if dim == 0 else 0.0)) * covering_radius
    if len(diagram) == 0:
        return 0, floor
    infinite = ~np.isfinite(diagram[:, 1])
    life = diagram[~infinite, 1] - diagram[~infinite, 0]
    if rule.name == "covering_radius":
        return int(infinite.sum() + (life > floor).sum()), floor
    top = np.sort(life[life > floor])[::-1][: rule.max_features]
    if len(top) == 0:
        return int(infinite.sum()), floor
    ratios = np.append(top[:-1] / top[1:], top[-1] / max(floor, np.finfo(float).tiny))
    cut = int(np.argmax(ratios))
    return int(infinite.sum() + cut + 1), float(top[cut])


def _landmark_distances(
    points: np.ndarray, n_landmarks: int, metric: str, k: int, seed: int, cloud: GramCloud | None = None
) -> tuple[np.ndarray, float, np.ndarray]:
    n = len(points)
    if metric == "euclidean" and cloud is not None:
        idx, eps = maxmin_landmarks(cloud.distances_from, n, n_landmarks, seed=seed)
        return idx, eps, squareform(pdist(points[idx]))
    if metric == "euclidean":
        # maxmin reads distances off one Gram matrix for small clouds (one BLAS product instead
        # of a cdist per landmark), and computes one Gram row per landmark for large ones (no
        # n x n matrix); the landmarks' own distances, which ripser sees, are float64.
        if n <= 2000:
            dist_to = GramCloud(points).distances_from
        else:
            centred = (points - points.mean(axis=0)).astype(np.float32)
            sq = np.einsum("ij,ij->i", centred, centred, dtype=np.float64)
            dist_to = lambda i: np.sqrt(np.maximum(sq + sq[i] - 2.0 * (centred @ centred[i]), 0.0))  # noqa: E731
        idx, eps = maxmin_landmarks(dist_to, n, n_landmarks, seed=seed)
        return idx, eps, squareform(pdist(points[idx]))
    graph = kneighbors_graph(points, n_neighbors=min(k, n - 1), mode="distance")
    graph = graph.maximum(graph.T)  # symmetrise: an edge when either end has the other among its k
    geo = lambda i: shortest_path(graph, method="D", directed=False, indices=[i])[0]  # noqa: E731
    idx, eps = maxmin_landmarks(geo, n, n_landmarks, seed=seed)
    if not np.isfinite(eps):
        # The kNN graph is disconnected: maxmin picked a point of every component; the
        # covering radius is then the largest within-component one.
        nearest = shortest_path(graph, method="D", directed=False, indices=idx).min(axis=0)
        eps = float(nearest[np.isfinite(nearest)].max())
    dist = shortest_path(graph, method="D", directed=False, indices=idx)[:, idx]
    return idx, eps, dist


def persistence(
    points: ArrayLike,
    *,
    maxdim: int = 1,
    n_landmarks: int = 300,
    metric: str = "euclidean",
    k: int = 14,
    rule: BettiRule | ResolutionRule | None = None,
    seed: int = 0,
    layer: str | None = None,
    max_scale: float | None = None,
) -> PersistenceResult:
    """Rips barcodes up to ``maxdim`` and Betti numbers read by ``rule``.

    Parameters
    ----------
    points : array of shape (n, d)
    maxdim : int, default=1
        Highest homology dimension (0, 1 or 2).
    n_landmarks : int, default=300
        Maxmin landmarks for H1 and up (all points when >= n).
    metric : str, default='euclidean'
        ``"euclidean"``, or ``"knn_geodesic"`` (distances along a symmetrised k-nearest-neighbour
        graph with Euclidean edge weights; legacy rules only).
    k : int, default=14
        Neighbours of the ``knn_geodesic`` graph.
    rule : BettiRule or ResolutionRule or None, default=None
        :class:`ResolutionRule` (default) or a legacy :class:`BettiRule`.
    seed : int, default=0
        Draws the first landmark.
    layer : str or None, default=None
        Named in every error.
    max_scale : float or None, default=None
        With :class:`ResolutionRule`, stop the filtration at this multiple of the H1 scale (cheaper
        for thousands of landmarks; the diagrams are then truncated and a bar alive at the end that
        cannot be shown to outlive the band counts as ambiguous).

    Returns
    -------
    PersistenceResult

    Raises
    ------
    CloudError
        NaN or infinite values, too few points, a constant or mostly duplicated cloud.
    ValueError
        An unknown metric or rule, or ``maxdim`` outside 0..2.

    Examples
    --------
    >>> import numpy as np
    >>> from reptopo.measures import persistence
    >>> rng = np.random.default_rng(0)
    >>> t = rng.uniform(0, 2 * np.pi, 300)
    >>> circle = np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.05, size=(300, 2))
    >>> persistence(circle, n_landmarks=100).betti
    [1, 1]
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
    if maxdim not in (0, 1, 2):
        raise ValueError(f"maxdim == {maxdim!r}, must be 0, 1 or 2")
    rule = rule or ResolutionRule()
    pts = check_cloud(points, layer=layer, min_points=max(3, maxdim + 2)).astype(np.float64)
    if isinstance(rule, ResolutionRule):
        if metric != "euclidean":
            raise ValueError(
                "the sampling_resolution rule reads Euclidean barcodes; use metric='euclidean' "
                "(or the hop metric of class_topology for a scale-free one)"
            )
        return _persistence_at_resolution(pts, maxdim, n_landmarks, rule, seed, layer, max_scale)
    idx, eps, dist = _landmark_distances(pts, n_landmarks, metric, k, seed)
    finite = np.isfinite(dist)
    if finite.all():
        dgms = ripser(dist, maxdim=maxdim, distance_matrix=True)["dgms"]
    else:  # disconnected kNN graph: no edge between components
        thresh = float(dist[finite].max())
        dgms = ripser(np.where(finite, dist, thresh * 2), maxdim=maxdim, distance_matrix=True, thresh=thresh)["dgms"]
    betti, thresholds = zip(*(betti_from_diagram(d, dim, rule, eps) for dim, d in enumerate(dgms)))
    return PersistenceResult(
        diagrams=[np.asarray(d, dtype=np.float64) for d in dgms],
        betti=list(betti),
        summaries=[summarize(d) for d in dgms],
        rule=rule,
        thresholds=[float(t) for t in thresholds],
        covering_radius=eps,
        landmarks=idx,
        metric=metric,
        params={"maxdim": maxdim, "k": k if metric == "knn_geodesic" else None, "seed": seed},
    )


def _count_bars(
    diagram: np.ndarray, band: tuple[float, float], scale: float, thresh: float, max_birth: float = np.inf
) -> tuple[int, int]:
    """(bars that surely outlive ``band[1] * scale``, bars in the ambiguous band) of one diagram.

    A bar still alive where the filtration stopped (``thresh``) outlives at least
    ``thresh - birth``; it is sure only when that already exceeds the band.
    """
    diagram = diagram[diagram[:, 0] <= max_birth * scale]
    if len(diagram) == 0:
        return 0, 0
    birth, death = diagram[:, 0], diagram[:, 1]
    alive = ~np.isfinite(death)
    life = np.where(alive, thresh - birth, death - birth)
    lo, hi = band[0] * scale, band[1] * scale
    sure = life > hi
    ambiguous = ~sure & (alive | (life > lo))
    return int(sure.sum()), int(ambiguous.sum())


def _persistence_at_resolution(
    pts: np.ndarray,
    maxdim: int,
    n_landmarks: int,
    rule: ResolutionRule,
    seed: int,
    layer: str | None,
    max_scale: float | None,
) -> PersistenceResult:
    n = len(pts)
    k = min(resolution_rank(n) if rule.k is None else rule.k, n - 1)
    eps_cloud = sampling_resolution(pts, k=k, layer=layer)
    cloud = GramCloud(pts)  # one Gram matrix for the spanning tree and the landmarks
    if n_landmarks >= n:
        idx, eps_landmarks = np.arange(n), 0.0
        dist = squareform(pdist(pts))
    else:
        idx, eps_landmarks, dist = _landmark_distances(pts, n_landmarks, "euclidean", 0, seed, cloud)
    scale = max(rule.landmark_weight * eps_landmarks, eps_cloud)

    # H0 of the whole cloud: its minimum spanning tree, every point, float64.
    edges = cloud.mst_edges()
    deaths = np.sort(edges[2])
    h0 = np.c_[np.zeros(n), np.r_[deaths, np.inf]]
    h0_sure, h0_ambiguous = _count_bars(h0[:-1], rule.h0_band, eps_cloud, np.inf)
    counts = [(1 + h0_sure, h0_ambiguous)]
    diagrams = [h0]
    thresh = np.inf
    if maxdim >= 1:
        # ripser sees the distances in units of the cloud's resolution (the same float32 input
        # for a scaled or rotated copy); births and deaths are then snapped back to float64.
        thresh = max_scale * scale if max_scale is not None else np.inf
        kwargs = {"thresh": thresh / eps_cloud} if np.isfinite(thresh) else {}
        higher = ripser(dist / eps_cloud, maxdim=maxdim, distance_matrix=True, **kwargs)["dgms"][1:]
        lengths = np.unique(dist[np.triu_indices(len(idx), 1)])
        for dgm in higher:
            dgm = snap_to_distances(np.asarray(dgm, dtype=np.float64) * eps_cloud, lengths).reshape(-1, 2)
            diagrams.append(dgm)
            counts.append(_count_bars(dgm, rule.band, scale, thresh, rule.max_birth))
    betti = [sure if ambiguous == 0 else None for sure, ambiguous in counts]
    thresholds = [rule.h0_band[1] * eps_cloud] + [rule.band[1] * scale] * maxdim
    return PersistenceResult(
        diagrams=diagrams,
        betti=betti,
        summaries=[summarize(d) for d in diagrams],
        rule=rule,
        thresholds=[float(t) for t in thresholds],
        covering_radius=float(eps_landmarks),
        landmarks=idx,
        metric="euclidean",
        params={"maxdim": maxdim, "k": None, "seed": seed},
        betti_range=[(sure, sure + ambiguous) for sure, ambiguous in counts],
        resolved=all(b is not None for b in betti),
        h0_edges=edges,
        resolution={
            "eps_cloud": eps_cloud,
            "eps_landmarks": float(eps_landmarks),
            "scale_h1": float(scale),
            "neighbour_rank": k,
            "max_scale": None if max_scale is None else float(thresh),
            "why": (
                f"H0 from the whole cloud's spanning tree, components merging above "
                f"{rule.h0_band[1]} x eps_cloud; H1+ bars born by {rule.max_birth} x scale and outliving "
                f"{rule.band[1]} x scale, scale = max("
                f"{rule.landmark_weight} x landmark covering radius, eps_cloud); eps_cloud = median "
                f"distance to the {k}-th neighbour (ceil(ln n)); bars within {rule.band[0]}-{rule.band[1]} "
                f"x scale are ambiguous and leave that Betti number undecided"
            ),
        },
    )
