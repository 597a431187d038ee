"""Persistent homology of a layer: Vietoris-Rips barcodes on maxmin landmarks, through ripser.

Betti numbers are read from the barcodes by one named rule, and the rule with its parameters
is part of every result:

- ``covering_radius`` (default): a bar counts when it is infinite or its lifetime exceeds
  ``factor * eps`` (H1 and up) or ``(2 + factor) * eps`` (H0), where eps is the landmark
  covering radius (the largest distance from a point of the cloud to its nearest landmark).
  Features shorter than a few eps can be made by the subsample itself, so the rule is tied to
  the resolution at which the cloud was seen, and it is scale-invariant. H0 gets 2 eps more
  because landmarks of one connected cloud can stand up to 2 eps apart (seen here: finite H0
  deaths of a connected noisy circle reach 3.7 eps, H1 noise bars 1.2 eps, while the torus's
  two H1 generators live longer than 2.3 eps).
- ``largest_gap``: sort the finite lifetimes of a dimension and cut at the largest ratio between
  consecutive lifetimes (among the ``max_features`` longest); bars above the cut count. A
  dimension whose longest bar is below ``factor * eps`` has none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from ripser import ripser
from scipy.sparse.csgraph import shortest_path
from scipy.spatial.distance import pdist, squareform
from sklearn.neighbors import kneighbors_graph

from ._mst import GramCloud
from ._validate import check_cloud

BETTI_RULES = ("covering_radius", "largest_gap")
METRICS = ("euclidean", "knn_geodesic")


@dataclass(frozen=True)
class BettiRule:
    name: str = "covering_radius"
    factor: float = 2.0
    max_features: int = 10

    def __post_init__(self):
        if self.name not in BETTI_RULES:
            raise ValueError(f"unknown Betti rule {self.name!r}; choose one of {BETTI_RULES}")
        if self.factor < 0:
            raise ValueError("BettiRule.factor must be >= 0")


@dataclass
class DiagramSummary:
    n_bars: int
    n_infinite: int
    total_persistence: float
    max_persistence: float
    persistent_entropy: float


@dataclass
class PersistenceResult:
    diagrams: list[np.ndarray]  # one (k, 2) array of (birth, death) per dimension; death may be inf
    betti: list[int]
    summaries: list[DiagramSummary]
    rule: BettiRule
    thresholds: list[float]  # per dimension, the lifetime above which a bar counts (cloud's units)
    covering_radius: float
    landmarks: np.ndarray
    metric: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready description (diagrams as lists; infinite deaths as None)."""
        return {
            "betti": list(self.betti),
            "summaries": [asdict(s) for s in self.summaries],
            "betti_rule": asdict(self.rule),
            "thresholds": list(self.thresholds),
            "covering_radius": self.covering_radius,
            "metric": self.metric,
            "n_landmarks": int(len(self.landmarks)),
            **self.params,
        }


def maxmin_landmarks(dist_to, n: int, n_landmarks: int, *, seed: int = 0):
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


def _landmark_distances(points, n_landmarks, metric, k, seed):
    n = len(points)
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
    points,
    *,
    maxdim: int = 1,
    n_landmarks: int = 300,
    metric: str = "euclidean",
    k: int = 14,
    rule: BettiRule | None = None,
    seed: int = 0,
    layer: str | None = None,
) -> PersistenceResult:
    """Rips barcodes up to ``maxdim`` of a maxmin landmark subsample, and Betti numbers.

    ``metric="knn_geodesic"`` measures distances along a symmetrised k-nearest-neighbour graph
    with Euclidean edge weights (Naitzat et al. 2020 use its hop count), so that a manifold
    folded in the ambient space is seen by its intrinsic distances.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
    if maxdim not in (0, 1, 2):
        raise ValueError("maxdim must be 0, 1 or 2")
    rule = rule or BettiRule()
    pts = check_cloud(points, layer=layer, min_points=max(3, maxdim + 2)).astype(np.float64)
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
