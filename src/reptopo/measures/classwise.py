"""Topology of a labelled layer: per-class homology, the whole cloud's components, and
threshold-free persistence summaries.

- **Per-class Betti numbers on the hop metric** (Naitzat, Zhitnikov & Lim 2020, their
  ``topnn_framework``): each class's cloud alone; an unweighted k-nearest-neighbour graph (an
  edge when either point is among the other's ``k`` nearest, the point itself not counted);
  distances in hops; the homology of the clique complex at ``hops`` hops (2 by default). Hops
  do not change when a layer rescales space, so one scale serves every layer and model.
- **Per-class Betti numbers on the Euclidean metric**: :func:`persistence` with its
  sampling-resolution rule on each class's cloud (``None`` where that class is unresolved).
- **The whole cloud's b0** at its sampling resolution (:class:`ResolutionRule`): components
  that only merge above 4 x the resolution; ten well-separated clusters give 10. Stray points
  between classes are components too, so the sizes are reported, and ``b0_large`` counts the
  components holding at least ``min_component_fraction`` of the points.
- **Normalised total persistence** of H0 and H1, per class and whole: the sum of the finite
  bar lifetimes of the Euclidean Rips filtration divided by the *whole layer's* RMS radius
  (the root mean square distance of its points from their mean). It needs no threshold, is
  unchanged by scaling and rotating the layer, and, like Magai & Ayzenberg's min-max scaling of
  the whole layer's features, keeps a class that collapses relative to the layer visible. (Their
  descriptor halves each lifetime; divide ours by 2 to compare.) H0 is every point's spanning
  tree; H1 is the Rips barcode of up to ``n_landmarks`` maxmin landmarks of the cloud.

- **Robust counts** (``robust``, a :class:`DTMRule`): the whole cloud's components and H1, and
  each class's Betti numbers, from the DTM filtration with features counted above a bootstrap
  band (:func:`dtm_persistence`). A few stray or misclassified points between class clusters
  enter that filtration late, so they no longer chain the classes into one component, and a
  tight and a wide class are each read at their own density. Under ``whole["dtm"]`` and each
  class's ``betti_dtm``; ``mean_betti_dtm`` averages the classes.

A class with fewer than ``min_class_points`` points gets a flagged entry that names the class
and its count; the others are measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from ripser import ripser
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, shortest_path
from sklearn.neighbors import kneighbors_graph

from ..errors import CloudError
from ._validate import check_cloud, check_labels
from .dtm import DTMPersistenceResult, DTMRule, dtm_persistence, pairwise_distances64
from .homology import PersistenceResult, ResolutionRule, persistence


def rms_radius(points: np.ndarray) -> float:
    """Root mean square distance of the points from their mean: the layer's unit of length."""
    centred = points - points.mean(axis=0)
    return float(np.sqrt(np.einsum("ij,ij->", centred, centred) / len(points)))


def hop_betti(points: ArrayLike, *, k: int = 14, hops: int = 2, maxdim: int = 1) -> list[int]:
    """Betti numbers of the clique complex of the k-NN graph's hop metric at ``hops`` hops.

    Parameters
    ----------
    points : array of shape (n, d), one class's cloud.
    k : int, default=14
        Neighbours of each point (the point itself not counted); capped at n - 1.
    hops : int, default=2
        The scale, in hops.
    maxdim : int, default=1
        Highest homology dimension.

    Returns
    -------
    list of int
        b0 .. b_maxdim.
    """
    n = len(np.asarray(points))
    graph = kneighbors_graph(points, n_neighbors=min(k, n - 1), mode="connectivity", include_self=False)
    graph = graph.maximum(graph.T)
    dist = shortest_path(graph, method="D", unweighted=True, directed=False)
    within = np.isfinite(dist) & (dist <= hops)  # the edges of the clique complex at the scale
    keep = _strong_collapse(within)
    # the complex at the scale alone: an edge is 1, a non-edge 2 (ripser never adds it); each bar
    # alive at 1 is a Betti number of that complex
    reduced = np.where(within[np.ix_(keep, keep)], 1.0, 2.0)
    np.fill_diagonal(reduced, 0.0)
    dgms = ripser(reduced, maxdim=maxdim, distance_matrix=True, thresh=1.0)["dgms"]
    return [int((d[:, 1] > 1.0).sum()) for d in dgms]


def _strong_collapse(adjacency: np.ndarray) -> np.ndarray:
    """The vertices left after removing dominated ones from the clique complex of a graph
    (``adjacency``: boolean, symmetric, its diagonal True), in passes until one removes under 5%.

    A vertex ``v`` whose closed neighbourhood lies in that of another vertex ``u`` (``N[v] ⊆
    N[u]``) has a cone with apex ``u`` as its link, so removing it is a strong collapse: the
    clique complex of what is left has the same homotopy type, hence the same Betti numbers in
    every dimension (Barmak & Minian 2012; Boissonnat & Pritam 2020). At 2 hops the complex of a
    class in a high-dimensional layer is nearly complete (hundreds of millions of triangles at
    1,000 points) and collapses to a few vertices, so ripser reads a tiny complex instead; the
    Betti numbers are those of the whole complex, checked against ripser on it in the tests.

    Within a pass ``v`` is removed when a dominating ``u`` is still there: removing other vertices
    shrinks both neighbourhoods alike, so the domination found at the pass's start holds."""
    alive = np.arange(len(adjacency))
    while len(alive) > 1:
        sub = adjacency[np.ix_(alive, alive)]
        counts = sub.astype(np.float32)
        common = counts @ counts.T  # |N[v] & N[u]|; exact in float32 below 2**24 vertices
        dominated = sub & (common == counts.sum(axis=1)[:, None])  # [v, u]: N[v] ⊆ N[u]
        np.fill_diagonal(dominated, False)
        removed = np.zeros(len(alive), dtype=bool)
        for v in np.flatnonzero(dominated.any(axis=1)):
            if (dominated[v] & ~removed).any():
                removed[v] = True
        n_removed = int(removed.sum())
        if n_removed == 0:
            break
        if n_removed < 0.05 * len(alive):
            alive = alive[~removed]
            break  # what is left is sparse: ripser reads it fast, and further passes cost more
        alive = alive[~removed]
    return alive


def _components(edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None, n: int, cut: float) -> np.ndarray:
    """Sizes (largest first) of the components of a spanning tree with edges above ``cut`` removed."""
    if edges is None:
        raise ValueError("the whole cloud's persistence kept no spanning tree (Euclidean metric only)")
    i, j, length = edges
    keep = length <= cut
    graph = coo_matrix((np.ones(int(keep.sum())), (i[keep], j[keep])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    return np.sort(np.bincount(label))[::-1]


def _total(diagram: np.ndarray) -> float:
    finite = np.isfinite(diagram[:, 1])
    return float((diagram[finite, 1] - diagram[finite, 0]).sum())


@dataclass
class ClassTopologyResult:
    """Per-class and whole-cloud topology of one labelled layer (see the module docstring).

    ``classes[c]`` holds ``n_points``, ``betti_hops``, ``betti_euclidean`` (None where
    unresolved), ``betti_euclidean_range`` and ``total_persistence`` (H0, H1, normalised), or
    ``error`` for a class too small to measure. ``mean_betti_hops`` and ``mean_total_persistence``
    average over the measured classes; ``mean_betti_euclidean`` over the resolved ones (None
    when none is). ``whole`` holds ``b0`` (None when ambiguous), ``b0_range``, ``b0_large``,
    ``component_sizes`` and ``total_persistence``.
    """

    classes: dict[str, dict[str, Any]]
    mean_betti_hops: list[float] | None
    mean_betti_euclidean: list[float] | None
    mean_total_persistence: list[float] | None
    whole: dict[str, Any]
    unit: float
    params: dict[str, Any] = field(default_factory=dict)
    mean_betti_dtm: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "classes": self.classes,
            "mean_betti_hops": self.mean_betti_hops,
            "mean_betti_euclidean": self.mean_betti_euclidean,
            "mean_total_persistence": self.mean_total_persistence,
            "whole": self.whole,
            "unit": self.unit,
            "normalisation": "lifetimes / RMS radius of the whole layer",
            **self.params,
        }
        if "robust" in self.params:  # protocol v2's records have no robust counts
            out["mean_betti_dtm"] = self.mean_betti_dtm
        return out


def class_topology(
    points: ArrayLike,
    labels: ArrayLike,
    *,
    k: int = 14,
    hops: int = 2,
    maxdim: int = 1,
    min_class_points: int = 20,
    n_landmarks: int = 300,
    min_component_fraction: float = 0.01,
    rule: ResolutionRule | None = None,
    seed: int = 0,
    layer: str | None = None,
    whole: PersistenceResult | None = None,
    robust: DTMRule | None = None,
) -> ClassTopologyResult:
    """Per-class homology, the whole cloud's b0 and normalised total persistence of a layer.

    Parameters
    ----------
    points : array of shape (n, d)
    labels : array of shape (n,)
    k, hops : int, default=14
        The hop metric of Naitzat et al. (k nearest neighbours; the scale in hops).
    maxdim : int, default=1
        Highest homology dimension of the per-class Betti numbers.
    min_class_points : int, default=20
        Smaller classes are flagged, not measured.
    n_landmarks : int, default=300
        Maxmin landmarks for H1 of the Euclidean barcodes (per class and whole).
    min_component_fraction : float, default=0.01
        A whole-cloud component counts in ``b0_large`` when it holds at least this fraction of the
        points.
    rule : ResolutionRule or None, default=None
        The Euclidean Betti rule (default :class:`ResolutionRule`).
    seed : int, default=0
        Draws the first landmark.
    layer : str or None, default=None
        Named in every error.
    whole : PersistenceResult or None, default=None
        The whole cloud's :func:`persistence` with this ``rule``, ``n_landmarks`` and ``seed``, when
        the caller has it already (it is reused, not recomputed; one made otherwise is ignored).
    robust : DTMRule or None, default=None
        A :class:`DTMRule` adds the robust counts (the DTM filtration, a bootstrap band) for the
        whole cloud and each class; None (protocol v2) leaves them out.

    Returns
    -------
    ClassTopologyResult

    Raises
    ------
    CloudError
        A bad cloud (NaN, constant, mostly duplicates) or labels of the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> from reptopo.measures import class_topology
    >>> rng = np.random.default_rng(0)
    >>> blobs = np.r_[rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) + 20]
    >>> top = class_topology(blobs, np.repeat([0, 1], 100))
    >>> top.whole["b0"], top.classes["0"]["betti_hops"]
    (2, [1, 0])
    """
    rule = rule or ResolutionRule()
    pts = check_cloud(points, layer=layer, min_points=4).astype(np.float64)
    lab = check_labels(labels, len(pts), layer=layer)
    unit = rms_radius(pts)

    reusable = (
        whole is not None
        and whole.h0_edges is not None
        and whole.rule == rule
        and whole.metric == "euclidean"
        and len(whole.diagrams) >= 2
        and len(whole.landmarks) == min(n_landmarks, len(pts))
        and whole.params.get("seed") == seed
        and len(whole.h0_edges[0]) == len(pts) - 1
    )
    whole_ph: PersistenceResult = (
        whole
        if reusable and whole is not None
        else persistence(pts, maxdim=1, n_landmarks=n_landmarks, rule=rule, seed=seed, layer=layer)
    )
    sizes = _components(whole_ph.h0_edges, len(pts), whole_ph.thresholds[0])
    whole_cloud: dict[str, Any] = {
        "b0": whole_ph.betti[0],
        "b0_range": list(whole_ph.betti_range[0]),
        "b0_large": int((sizes >= max(2, min_component_fraction * len(pts))).sum()),
        "component_sizes": [int(s) for s in sizes[:50]],
        "resolution": whole_ph.resolution["eps_cloud"] / unit,
        "total_persistence": [_total(d) / unit for d in whole_ph.diagrams[:2]],
    }
    dist = None
    if robust is not None:
        dist = pairwise_distances64(pts)  # shared by the whole cloud's DTM and each class's
        robust_whole = dtm_persistence(
            pts, maxdim=1, n_landmarks=n_landmarks, rule=robust, seed=seed, layer=layer, dist=dist
        )
        whole_cloud["dtm"] = _robust_summary(robust_whole, unit)

    classes: dict[str, dict[str, Any]] = {}
    for c in np.unique(lab):
        name = str(c)
        members = pts[lab == c]
        if len(members) < min_class_points:
            where = f"layer {layer!r}: " if layer else ""
            classes[name] = {
                "n_points": int(len(members)),
                "error": f"{where}class {name!r} has {len(members)} points; per-class homology "
                f"needs at least {min_class_points}",
            }
            continue
        try:
            ph = persistence(members, maxdim=maxdim, n_landmarks=n_landmarks, rule=rule, seed=seed, layer=layer)
        except CloudError as exc:
            classes[name] = {"n_points": int(len(members)), "error": f"class {name!r}: {exc}"}
            continue
        classes[name] = {
            "n_points": int(len(members)),
            "betti_hops": hop_betti(members, k=k, hops=hops, maxdim=maxdim),
            "betti_euclidean": ph.betti,
            "betti_euclidean_range": [list(r) for r in ph.betti_range],
            "total_persistence": [_total(d) / unit for d in ph.diagrams[:2]],
        }
        if robust is not None:
            inside = np.flatnonzero(lab == c)
            try:
                res = dtm_persistence(
                    members,
                    maxdim=min(maxdim, 1),
                    n_landmarks=n_landmarks,
                    rule=robust,
                    seed=seed,
                    layer=layer,
                    dist=None if dist is None else dist[np.ix_(inside, inside)],
                )
                classes[name]["betti_dtm"] = res.betti
                classes[name]["dtm_near_band"] = res.near_band
            except CloudError as exc:
                classes[name]["betti_dtm"] = None
                classes[name]["dtm_error"] = f"class {name!r}: {exc}"
    measured = [v for v in classes.values() if "error" not in v]
    resolved = [v["betti_euclidean"] for v in measured if None not in v["betti_euclidean"]]

    def mean(rows: list[list[int]]) -> list[float] | None:
        return [float(np.mean(col)) for col in zip(*rows)] if rows else None

    params: dict[str, Any] = {
        "k": k,
        "hops": hops,
        "maxdim": maxdim,
        "min_class_points": min_class_points,
        "n_landmarks": n_landmarks,
        "min_component_fraction": min_component_fraction,
        "n_classes_measured": len(measured),
        "n_classes_resolved": len(resolved),
        "seed": seed,
    }
    if robust is not None:
        params["robust"] = asdict(robust)

    return ClassTopologyResult(
        classes=classes,
        mean_betti_hops=mean([v["betti_hops"] for v in measured]),
        mean_betti_euclidean=mean(resolved),
        mean_total_persistence=mean([v["total_persistence"] for v in measured]),
        whole=whole_cloud,
        unit=unit,
        params=params,
        mean_betti_dtm=mean([v["betti_dtm"] for v in measured if v.get("betti_dtm") is not None])
        if robust is not None
        else None,
    )


def _robust_summary(res: DTMPersistenceResult, unit: float) -> dict[str, Any]:
    """The whole cloud's robust counts, lengths in units of the layer's RMS radius."""
    return {
        "b0": res.betti[0],
        "b1": res.betti[1] if len(res.betti) > 1 else None,
        "bands": [b / unit for b in res.bands],
        "near_band": res.near_band,
        "largest_below": [v / unit for v in res.largest_below],
        "component_sizes": [int(v) for v in res.component_sizes[:50]],
        "k": res.k,
    }
