"""Intrinsic dimension across scales: GRIDE, the generalised ratios estimator (Denti, Doimo, Laio
& Mira 2022, "The generalized ratios intrinsic dimension estimator", Sci. Rep. 12:20005).

TwoNN reads the ratio of each point's second and first neighbour distances, so it sees the
smallest scale of a cloud, where noise inflates the dimension. GRIDE reads the ratio
mu = r_{2 n1} / r_{n1} of the 2 n1-th and n1-th neighbour distances, whose law on a manifold
of dimension d sampled with locally uniform density is

    f(mu) = d (mu^d - 1)^(n1 - 1) / (B(n1, n1) mu^((2 n1 - 1) d + 1)),   mu > 1,

and takes the d that maximises the likelihood of the cloud's ratios (with DADApy's correction
of N to N - 1, which makes the estimate unbiased at n1 = 1). Doubling n1 (1, 2, 4, ...)
moves the estimate from the cloud's finest scale to its coarser ones: a plateau is the
dimension, a fall with scale is noise at the small end, a fall at the large end is curvature.
At n1 = 1 it is TwoNN's unbiased maximum-likelihood form.

The ratios are filtered as DADApy does: a point whose n1-th neighbour is at distance 0 (a
repeated input) or whose two distances are equal gives no ratio, and ratios above
median + 20 (q95 - median) are dropped as overlapping points. The error is 1 / sqrt of the
Fisher information at the estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from ..measure import Context, Measure, Strict, register

# the search range of the likelihood's root (as DADApy's 0.001..1000, extended: layers of
# thousands of features can have an intrinsic dimension above 1,000)
D_MIN, D_MAX = 1e-3, 1e4
OUTLIER_SPREAD = 20.0  # ratios above median + OUTLIER_SPREAD (q95 - median) are overlapping points


class GrideParams(Strict):
    """The protocol's section for GRIDE."""

    max_rank: int = Field(64, ge=2, le=1024, description="largest neighbour rank 2 n1; scales n1 = 1, 2, 4, ...")
    scale: int = Field(8, ge=1, description="the n1 whose estimate is the layer's value (its 'gride' column)")


class Gride(Strict):
    """GRIDE at each scale (n1 = 1, 2, 4, ...; neighbours n1 and 2 n1) and at the protocol's scale."""

    dimension: float = Field(description="the estimate at n1 = scale")
    scale: int
    ranks: list[int] = Field(description="n1 of each estimate")
    dimensions: list[float]
    errors: list[float] = Field(description="1 / sqrt(Fisher information) at each estimate")
    radii: list[float] = Field(description="mean distance of the n1-th and 2 n1-th neighbours, in the layer's units")
    n_used: list[int] = Field(description="points whose ratio entered each estimate")
    max_rank: int


def _dlog_likelihood(d: float, logmu: np.ndarray, n1: int) -> float:
    """The derivative in d of the log-likelihood of the ratios (n2 = 2 n1), with N - 1 in place
    of N in its first term, as DADApy has it: at n1 = 1 the root is then (N - 1) / sum(log mu),
    TwoNN's unbiased estimator, where N / sum(log mu) is biased up by N / (N - 1). It decreases in d."""
    n = len(logmu) - 1
    return n / d + (n1 - 1) * float(np.sum(logmu / -np.expm1(-d * logmu))) - (2 * n1 - 1) * float(np.sum(logmu))


def _fisher_information(d: float, logmu: np.ndarray, n1: int) -> float:
    n = len(logmu)
    decay = np.exp(-d * logmu)
    return n / d**2 + (n1 - 1) * float(np.sum(logmu**2 * decay / np.expm1(-d * logmu) ** 2))


def gride_ratios(mu: np.ndarray) -> np.ndarray:
    """The usable ratios: finite, above 1, and not beyond the overlapping-points cut."""
    kept: np.ndarray = mu[np.isfinite(mu) & (mu > 1.0)]
    if len(kept) == 0:
        return kept
    q95, q50 = np.percentile(kept, [95, 50])
    out: np.ndarray = kept[kept < q50 + OUTLIER_SPREAD * (q95 - q50)]
    return out


def gride_single_scale(mu: np.ndarray, n1: int) -> tuple[float, float]:
    """(dimension, error) from the ratios r_{2 n1} / r_{n1} (already filtered)."""
    from scipy.optimize import brentq

    logmu = np.log(mu)
    if _dlog_likelihood(D_MAX, logmu, n1) > 0:
        raise ValueError(f"GRIDE at n1 = {n1}: the likelihood still rises at d = {D_MAX:g}")
    d = float(brentq(_dlog_likelihood, D_MIN, D_MAX, args=(logmu, n1), xtol=1e-10, rtol=1e-12))
    return d, float(_fisher_information(d, logmu, n1) ** -0.5)


def gride(x: np.ndarray, *, max_rank: int = 64, scale: int = 8, layer: str | None = None) -> dict[str, Any]:
    """GRIDE of the cloud ``x`` at n1 = 1, 2, 4, ... up to ``max_rank`` / 2 (capped by the cloud's
    size); the result's ``dimension`` is the estimate at n1 = ``scale`` (the largest scale
    measured, when the cloud is too small for it). Raises ValueError naming ``layer`` when
    fewer than 10 points give a ratio at some scale."""
    from sklearn.neighbors import NearestNeighbors

    where = f"layer {layer!r}: " if layer is not None else ""
    rank = min(max_rank, len(x) - 1)
    if rank < 2:
        raise ValueError(f"{where}GRIDE needs at least 3 points, got {len(x)}")
    n_steps = rank.bit_length() - 1  # n2 = 2, 4, ..., 2 ** n_steps
    dist, _ = NearestNeighbors(n_neighbors=2**n_steps + 1).fit(x).kneighbors(x)
    ranks, dims, errs, radii, used = [], [], [], [], []
    for step in range(n_steps):
        n1 = 2**step
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = gride_ratios(dist[:, 2 * n1] / dist[:, n1])
        if len(mu) < 10:
            raise ValueError(f"{where}GRIDE at n1 = {n1}: {len(mu)} points give a ratio, at least 10 are needed")
        d, err = gride_single_scale(mu, n1)
        ranks.append(n1)
        dims.append(d)
        errs.append(err)
        radii.append(float(np.mean(dist[:, [n1, 2 * n1]])))
        used.append(len(mu))
    at = max((i for i, n1 in enumerate(ranks) if n1 <= scale), default=0)
    return {
        "dimension": dims[at],
        "scale": ranks[at],
        "ranks": ranks,
        "dimensions": dims,
        "errors": errs,
        "radii": radii,
        "n_used": used,
        "max_rank": max_rank,
    }


@register
class GrideMeasure(Measure):
    name = "gride"
    order = 55
    Params = GrideParams
    Result = Gride
    leaves = {"scale": "parameter", "ranks": "parameter", "max_rank": "parameter", "n_used": "count"}
    column_names = ("gride", "gride_min", "gride_max")

    def run(self, x: np.ndarray, y: np.ndarray, params: GrideParams, ctx: Context) -> dict[str, Any]:
        return gride(x, max_rank=params.max_rank, scale=params.scale, layer=ctx.layer)

    def columns(self, value: Any) -> dict[str, Any]:
        """``gride`` at the protocol's scale; ``gride_min`` and ``gride_max`` across scales (far
        apart: the dimension depends on the scale it is read at)."""
        if not value or "error" in value:
            return dict.fromkeys(self.column_names)
        return {
            "gride": value["dimension"],
            "gride_min": min(value["dimensions"]),
            "gride_max": max(value["dimensions"]),
        }

    def describe(self, params: GrideParams) -> str:
        return (
            f"GRIDE intrinsic dimension across scales (Denti et al. 2022; neighbour ranks up to "
            f"{params.max_rank}, the value at n1 = {params.scale})"
        )
