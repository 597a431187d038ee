"""Representation Topology Divergence (Barannikov et al. 2022) between two clouds of the same inputs."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from ripser import ripser
from scipy.spatial.distance import pdist, squareform

from ..errors import CloudError
from ._validate import check_cloud


def _normalised_distances(points: np.ndarray, quantile: float) -> np.ndarray:
    d = squareform(pdist(points))
    scale = np.quantile(d[np.triu_indices_from(d, 1)], quantile)
    if scale <= 0:
        raise CloudError(f"the {quantile:.0%} quantile of pairwise distances is 0")
    return np.asarray(d / scale)


def _rtd_one_way(r1: np.ndarray, r2: np.ndarray) -> float:
    """Sum of H1 bar lengths of the filtration [[0, r1^T], [r1, min(r1, r2)]]."""
    n = len(r1)
    m = np.zeros((2 * n, 2 * n))
    m[n:, :n] = r1
    m[:n, n:] = r1.T
    m[n:, n:] = np.minimum(r1, r2)
    h1 = ripser(m, maxdim=1, distance_matrix=True)["dgms"][1]
    h1 = h1[np.isfinite(h1[:, 1])]
    return float((h1[:, 1] - h1[:, 0]).sum())


def rtd(
    p: ArrayLike,
    q: ArrayLike,
    *,
    batch_size: int = 500,
    n_batches: int = 10,
    quantile: float = 0.9,
    seed: int = 0,
    layers: tuple[str, str] | None = None,
) -> float:
    """Symmetrised RTD of two representations P (n, d1) and Q (n, d2) of the same n inputs.

    Each batch draws ``batch_size`` shared indices; distances are divided by their
    ``quantile`` so that RTD ignores scale; the result is the mean over batches of
    (RTD(P, Q) + RTD(Q, P)) / 2. RTD(P, P) = RTD(P, 3P) = 0.

    Parameters
    ----------
    p, q : arrays of shapes (n, d1) and (n, d2), the same n inputs in the same order.
    batch_size, n_batches : int, default=500
        Shared indices per batch, and batches.
    quantile : float, default=0.9
        Each distance matrix is divided by this quantile of its entries.
    seed : int, default=0
        Draws the batches.
    layers : tuple[str, str] or None, default=None
        The two layers' names, for errors.

    Returns
    -------
    float
        The mean symmetrised RTD over the batches.

    Raises
    ------
    CloudError
        A bad cloud, P and Q of different lengths, or a 0 distance quantile.

    Examples
    --------
    >>> import numpy as np
    >>> from reptopo.measures import rtd
    >>> x = np.random.default_rng(0).normal(size=(300, 4))
    >>> rtd(x, 2 * x, batch_size=100, n_batches=2)
    0.0
    """
    names = layers or (None, None)
    a = check_cloud(p, layer=names[0]).astype(np.float64)
    b = check_cloud(q, layer=names[1]).astype(np.float64)
    if len(a) != len(b):
        raise CloudError(f"RTD needs the same inputs in both clouds: {len(a)} points against {len(b)}")
    rng = np.random.default_rng(seed)
    size = min(batch_size, len(a))
    total = 0.0
    for _ in range(n_batches):
        idx = rng.choice(len(a), size=size, replace=False)
        ra = _normalised_distances(a[idx], quantile)
        rb = _normalised_distances(b[idx], quantile)
        total += 0.5 * (_rtd_one_way(ra, rb) + _rtd_one_way(rb, ra))
    return total / n_batches
