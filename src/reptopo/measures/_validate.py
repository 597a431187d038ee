"""Input checks shared by every measure: a measure never returns a silent number for a bad cloud."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..errors import CloudError


def duplicate_fraction(points: np.ndarray) -> float:
    """Fraction of rows that repeat an earlier row exactly (ReLU zeros, repeated tokens).

    Rows are bucketed by a random projection (equal rows project equally) and only rows that
    share a bucket are compared exactly: O(n d), where np.unique(axis=0) sorts whole rows.
    """
    n = len(points)
    if n == 0:
        return 0.0
    pts = np.ascontiguousarray(points)
    key = pts @ np.asarray(np.random.default_rng(0).standard_normal(pts.shape[1])).astype(pts.dtype)
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, n])
    n_unique = int((sizes == 1).sum())
    for s, size in zip(starts[sizes > 1], sizes[sizes > 1]):
        n_unique += np.unique(pts[order[s : s + size]], axis=0).shape[0]
    return 1.0 - n_unique / n


def check_cloud(
    points: ArrayLike,
    *,
    layer: str | None = None,
    min_points: int = 3,
    max_duplicate_fraction: float = 0.5,
) -> np.ndarray:
    """Return ``points`` as a C-contiguous float array of shape (n, d), or raise CloudError.

    Refused: not 2-D, fewer than ``min_points`` rows, NaN or infinite entries, every point
    equal, or more than ``max_duplicate_fraction`` of the rows duplicating another row.
    """
    return checked_cloud(points, layer=layer, min_points=min_points, max_duplicate_fraction=max_duplicate_fraction)[0]


def checked_cloud(
    points: ArrayLike,
    *,
    layer: str | None = None,
    min_points: int = 3,
    max_duplicate_fraction: float = 0.5,
) -> tuple[np.ndarray, float]:
    """:func:`check_cloud`, and the duplicate fraction it measured on the way (one O(n d) pass less)."""
    arr = np.asarray(points)
    if arr.ndim != 2:
        raise CloudError(f"expected an (n_points, n_features) array, got shape {arr.shape}", layer=layer)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    n = arr.shape[0]
    if n < min_points:
        raise CloudError(f"{n} points, but this measure needs at least {min_points}", layer=layer)
    if arr.shape[1] == 0:
        raise CloudError("points have 0 features", layer=layer)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = int((~finite).sum())
        raise CloudError(
            f"{bad} of {n} points contain NaN or infinite values (first at row {int(np.argmin(finite))})",
            layer=layer,
        )
    dup = duplicate_fraction(arr)
    if round(n * (1.0 - dup)) == 1:  # one distinct row
        raise CloudError(f"all {n} points are identical (a constant cloud has no shape)", layer=layer)
    if dup > max_duplicate_fraction:
        raise CloudError(
            f"{dup:.1%} of the {n} points duplicate another point "
            f"(more than the {max_duplicate_fraction:.0%} allowed); distances between them are 0 "
            "and every estimate would be dominated by the ties",
            layer=layer,
        )
    return np.ascontiguousarray(arr), dup


def check_labels(labels: ArrayLike, n: int, *, layer: str | None = None) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise CloudError(f"labels have shape {lab.shape}, expected ({n},)", layer=layer)
    return lab
