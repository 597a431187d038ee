"""Intrinsic dimension from nearest-neighbour distances: TwoNN and the Levina-Bickel MLE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.neighbors import NearestNeighbors

from ..errors import CloudError
from ._validate import check_cloud


@dataclass
class IDResult:
    dimension: float
    method: str
    n_used: int  # points that entered the estimate
    n_dropped: int  # points dropped as ties (TwoNN) or with a zero distance (MLE)
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _neighbour_distances(pts: np.ndarray, k: int) -> np.ndarray:
    """Distances to the k nearest other points (self excluded), shape (n, k)."""
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(pts).kneighbors(pts)
    return np.asarray(dist[:, 1:])


def twonn(points: ArrayLike, *, discard_fraction: float = 0.1, layer: str | None = None) -> IDResult:
    """TwoNN (Facco et al. 2017) as Ansuini et al. 2019 run it.

    mu = r2 / r1 per point; points with r1 = 0 or r1 = r2 are dropped; with mu sorted and
    F(mu_i) = i / N, the slope of -log(1 - F) against log mu through the origin, fitted on the
    first ``1 - discard_fraction`` of the points, is the dimension.

    Parameters
    ----------
    points : array of shape (n, d), n >= 10
    discard_fraction : float, default=0.1
        The largest ratios left out of the fit.
    layer : str or None, default=None
        Named in every error.

    Returns
    -------
    IDResult
        ``dimension`` and the points used.

    Raises
    ------
    CloudError
        A bad cloud, or fewer than 10 points left after dropping duplicates and ties.

    Examples
    --------
    >>> import numpy as np
    >>> from reptopo.measures import twonn
    >>> plane = np.c_[np.random.default_rng(0).normal(size=(1000, 2)), np.zeros(1000)]
    >>> round(twonn(plane).dimension)
    2
    """
    pts = check_cloud(points, layer=layer, min_points=10).astype(np.float64)
    r = _neighbour_distances(pts, 2)
    keep = (r[:, 0] > 0) & (r[:, 1] > r[:, 0])
    if keep.sum() < 10:
        raise CloudError(f"only {int(keep.sum())} points have distinct first and second neighbours", layer=layer)
    mu = np.sort(r[keep, 1] / r[keep, 0])
    n = len(mu)
    f_emp = np.arange(1, n + 1) / n
    n_fit = int(np.floor(n * (1 - discard_fraction)))
    x = np.log(mu[:n_fit])
    y = -np.log(1 - f_emp[:n_fit])
    dim = float(np.dot(x, y) / np.dot(x, x))
    return IDResult(dim, "twonn", n, int(len(pts) - n), {"discard_fraction": discard_fraction})


def mle(points: ArrayLike, *, k: int = 20, layer: str | None = None) -> IDResult:
    """Levina-Bickel maximum-likelihood dimension with k neighbours (default 20).

    Per point, m_k(x)^-1 = 1/(k-1) * sum_{j<k} log(T_k(x) / T_j(x)); the global estimate is the
    inverse of the mean of these inverses (MacKay and Ghahramani's correction of the original
    average of m_k). Points whose first neighbour is at distance 0 are dropped.

    Parameters
    ----------
    points : array of shape (n, d), n >= k + 2
    k : int, default=20
        Neighbours per point (>= 3).
    layer : str or None, default=None
        Named in every error.

    Returns
    -------
    IDResult

    Raises
    ------
    CloudError
        A bad cloud.
    ValueError
        k < 3.

    Examples
    --------
    >>> import numpy as np
    >>> from reptopo.measures import mle
    >>> plane = np.c_[np.random.default_rng(0).normal(size=(1000, 2)), np.zeros(1000)]
    >>> round(mle(plane).dimension)
    2
    """
    if k < 3:
        raise ValueError(f"k == {k!r}, must be >= 3")
    pts = check_cloud(points, layer=layer, min_points=k + 2).astype(np.float64)
    t = _neighbour_distances(pts, k)
    keep = t[:, 0] > 0
    if keep.sum() < 10:
        raise CloudError(f"only {int(keep.sum())} points have a non-zero nearest-neighbour distance", layer=layer)
    t = t[keep]
    inv = np.log(t[:, -1:] / t[:, :-1]).sum(axis=1) / (k - 1)
    return IDResult(float(1.0 / inv.mean()), "mle", int(keep.sum()), int((~keep).sum()), {"k": k})
