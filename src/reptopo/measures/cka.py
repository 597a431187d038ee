"""Linear centred kernel alignment (Kornblith et al. 2019), plain and debiased.

CKA compares two representations of the same n inputs (n x d1 and n x d2). With the columns
centred, linear CKA is ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``: 1 when Y is an orthogonal
transform and isotropic scaling of X, invariant to both, and in [0, 1].

The plain estimator is biased upwards for small n against large d (two independent random
clouds read well above 0). The debiased form replaces each HSIC by the unbiased estimator of
Song et al. (2012), as Nguyen, Raghu & Kornblith (2021) do: the Gram matrices' diagonals are
zeroed and HSIC_1(K, L) = [tr(K L) + (1^T K 1)(1^T L 1) / ((n-1)(n-2)) - 2/(n-2) 1^T K L 1] /
(n (n-3)); debiased CKA is HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L)), near 0 for
independent clouds (it can be slightly negative).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..errors import CloudError
from ._validate import check_cloud


def _centred_pair(x: ArrayLike, y: ArrayLike, layers: tuple[str, str] | None) -> tuple[np.ndarray, np.ndarray]:
    names = layers or (None, None)
    a = check_cloud(x, layer=names[0], min_points=4).astype(np.float64)
    b = check_cloud(y, layer=names[1], min_points=4).astype(np.float64)
    if len(a) != len(b):
        raise CloudError(f"the two representations hold {len(a)} and {len(b)} points; CKA compares the same inputs")
    return a - a.mean(axis=0), b - b.mean(axis=0)


def _hsic_unbiased(gram_x: np.ndarray, gram_y: np.ndarray) -> float:
    """Song et al.'s unbiased HSIC of two Gram matrices (their diagonals already zeroed)."""
    n = len(gram_x)
    sums_x, sums_y = gram_x.sum(axis=0), gram_y.sum(axis=0)
    value = (
        np.einsum("ij,ij->", gram_x, gram_y)
        + sums_x.sum() * sums_y.sum() / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (sums_x @ sums_y)
    )
    return float(value / (n * (n - 3)))


def linear_cka(x: ArrayLike, y: ArrayLike, *, debiased: bool = False, layers: tuple[str, str] | None = None) -> float:
    """Linear CKA of two representations of the same inputs.

    Parameters
    ----------
    x, y : arrays of shapes (n, d1) and (n, d2), rows in the same order.
    debiased : bool, default=False
        Use the unbiased HSIC estimator (Nguyen et al. 2021) instead of the plain one.
    layers : tuple[str, str] or None, default=None
        The two layers' names, for errors.

    Returns
    -------
    float
        In [0, 1] for the plain estimator (1 for an orthogonal transform and scaling of the
        same cloud); near 0 for independent clouds with ``debiased=True``.

    Raises
    ------
    CloudError
        A bad cloud (NaN, constant, mostly duplicates), or clouds of different lengths.

    Examples
    --------
    >>> import numpy as np
    >>> from reptopo.measures import linear_cka
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3))
    >>> q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    >>> round(linear_cka(x, 3 * x @ q), 6)   # a rotation and a scaling of the same cloud
    1.0
    """
    a, b = _centred_pair(x, y, layers)
    if debiased:
        gram_x, gram_y = a @ a.T, b @ b.T
        np.fill_diagonal(gram_x, 0.0)
        np.fill_diagonal(gram_y, 0.0)
        xy, xx, yy = _hsic_unbiased(gram_x, gram_y), _hsic_unbiased(gram_x, gram_x), _hsic_unbiased(gram_y, gram_y)
        return float(xy / np.sqrt(xx * yy))
    n, d1, d2 = len(a), a.shape[1], b.shape[1]
    if d1 * d2 <= n * (d1 + d2):  # feature space: d1 x d2 cross-covariance
        cross = np.linalg.norm(b.T @ a) ** 2
        return float(cross / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))
    gram_x, gram_y = a @ a.T, b @ b.T  # sample space: n x n Gram matrices
    return float(np.einsum("ij,ij->", gram_x, gram_y) / (np.linalg.norm(gram_x) * np.linalg.norm(gram_y)))


def cka_matrix(
    left: Sequence[ArrayLike],
    right: Sequence[ArrayLike],
    *,
    debiased: bool = False,
    names: tuple[list[str], list[str]] | None = None,
) -> np.ndarray:
    """Linear CKA between every layer of ``left`` and every layer of ``right`` (lists of arrays
    of the same n inputs): a (len(left), len(right)) matrix.

    Each layer's centred Gram matrix is formed once, so a pair costs one n x n inner product
    instead of two products of the features (the layer-by-layer similarity maps of Kornblith
    et al. 2019); entries equal :func:`linear_cka` of the pair.

    Raises
    ------
    CloudError
        A bad cloud (named by ``names``), or layers of different lengths.
    """
    left_names: Sequence[str | None] = names[0] if names else [None] * len(left)
    right_names: Sequence[str | None] = names[1] if names else [None] * len(right)

    def gram(x: ArrayLike, name: str | None) -> tuple[np.ndarray, float]:
        a = check_cloud(x, layer=name, min_points=4).astype(np.float64)
        a = a - a.mean(axis=0)
        k = a @ a.T
        if debiased:
            np.fill_diagonal(k, 0.0)
            return k, float(np.sqrt(max(_hsic_unbiased(k, k), 0.0)))
        return k, float(np.linalg.norm(k))

    grams_left = [gram(x, n) for x, n in zip(left, left_names)]
    grams_right = [gram(y, n) for y, n in zip(right, right_names)]
    sizes = {len(k) for k, _ in grams_left + grams_right}
    if len(sizes) > 1:
        raise CloudError(f"the layers hold {sorted(sizes)} points; CKA compares the same inputs")
    out = np.empty((len(left), len(right)))
    for i, (k, norm_k) in enumerate(grams_left):
        for j, (g, norm_g) in enumerate(grams_right):
            inner = _hsic_unbiased(k, g) if debiased else np.einsum("ij,ij->", k, g)
            out[i, j] = inner / (norm_k * norm_g)
    return out
