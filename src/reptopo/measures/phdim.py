"""PHdim, the persistent-homology fractal dimension (Schweinhart; Birdal et al. 2021).

E_alpha(n) = sum over the finite H0 bars of a subsample of n points of (length ** alpha); it
grows like n ** beta, and PHdim = alpha / (1 - beta). We take the median E over ``n_repeats``
seeded subsamples per size, fit log E against log n by least squares, and report the fit's
R-squared and a bootstrap interval (resampling the subsamples within each size). Every H0 is
read off minimum spanning trees on one shared Gram matrix of a fixed pool of points.

Valid for alpha below the true dimension: a set of dimension below 1 reads as 1 when alpha = 1.
One public implementation returns 1 / (1 - beta), which is wrong for alpha != 1.

**The resolution limit.** E grows like n ** ((d - alpha) / d), so the slope tends to 1 as d
grows and alpha / (1 - slope) explodes: 1,000 points of a 200-dimensional Gaussian read about
95 with R-squared 0.99998, so R-squared cannot flag it. A dimension estimate from N points has a
ceiling: Eckmann & Ruelle (1992, "Fundamental limitations for estimating dimensions and Lyapunov
exponents in dynamical systems", Physica D 56) show that correlation-type estimators cannot
resolve dimensions above about 2 log10 N. With ``ceiling="eckmann_ruelle"`` (the default) an
estimate above 2 log10 N, N the largest subsample (the most points any one spanning tree saw),
or a slope at or above 1, is *censored*: ``dimension`` is None, ``censored`` is True and
``bound`` says "above this for N points"; the fit's own number stays in ``fit_dimension``
(None when infinite) for diagnosis only. Rank a censored value above every measured one, and
never average it. ``ceiling=None`` reproduces protocol v1's results, which had no ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._gram import blas_threads, single_threaded_blas
from ._mst import GramCloud
from ._validate import CloudError, check_cloud, check_labels, checked_cloud, duplicate_fraction

DEFAULT_N_SIZES = 16
CEILINGS = ("eckmann_ruelle",)


def eckmann_ruelle_bound(n_points: int) -> float:
    """The largest dimension ``n_points`` points can resolve: 2 log10 N (Eckmann & Ruelle 1992)."""
    return 2.0 * float(np.log10(n_points))


def default_schedule(pool_size: int, n_sizes: int = DEFAULT_N_SIZES) -> np.ndarray:
    """``n_sizes`` subsample sizes evenly spaced from pool/10 to pool/2 (200..1000 for 2,000).

    Birdal et al.'s 200..950 scaled to the pool. Smaller sizes read lower on bounded sets
    (a uniform 3-cube: 2.83 on average with pool/20..pool/4, 2.87 with this schedule).
    """
    lo = max(10, pool_size // 10)
    hi = max(lo + n_sizes, pool_size // 2)
    if hi > pool_size:
        raise ValueError(f"a pool of {pool_size} points is too small for {n_sizes} subsample sizes")
    return np.unique(np.linspace(lo, hi, n_sizes).round().astype(int))


def subsample_index_sets(rng: np.random.Generator, pool: int, sizes, n_repeats: int) -> list[np.ndarray]:
    """The subsamples of one estimate, size by size, ``n_repeats`` each (drawn without replacement)."""
    return [rng.choice(pool, size=int(n), replace=False) for n in sizes for _ in range(n_repeats)]


@dataclass
class PHDimResult:
    dimension: float
    r2: float
    ci_low: float
    ci_high: float
    slope: float
    alpha: float
    sizes: list[int]
    n_repeats: int
    seed: int
    pool_size: int
    duplicate_fraction: float
    log_e_median: list[float] = field(repr=False)
    ceiling: str | None = None
    censored: bool = False
    bound: float | None = None
    fit_dimension: float | None = None

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        if self.ceiling is None:  # protocol v1's record, which had no ceiling
            for key in ("ceiling", "censored", "bound", "fit_dimension"):
                out.pop(key)
        return out

    def describe(self) -> str:
        """The value as a reader should see it: a number, or "above B (N points)"."""
        if self.censored:
            return f"above {self.bound:.1f} ({self.sizes[-1]} points)"
        return f"{self.dimension:.3g}"


def rank_key(record: dict) -> tuple[int, float]:
    """A sort key for a PHdim record (``PHDimResult.to_dict()``) that ranks a censored value
    above every measured one and ties censored values among themselves (their order is unknown).

    Use it for ranks (Kendall, Spearman), never as a number to average.
    """
    if record.get("censored"):
        return (1, 0.0)
    return (0, float(record["dimension"]))


def censor(result: PHDimResult, ceiling: str | None) -> PHDimResult:
    """Apply the resolution ceiling to a fit (see the module docstring)."""
    if ceiling is None:
        return result
    if ceiling not in CEILINGS:
        raise ValueError(f"unknown PHdim ceiling {ceiling!r}; choose one of {CEILINGS} or None")
    bound = eckmann_ruelle_bound(result.sizes[-1])
    fit = result.dimension
    result.ceiling, result.bound = ceiling, bound
    result.fit_dimension = fit if np.isfinite(fit) else None
    if not (np.isfinite(fit) and fit <= bound):
        result.censored = True
        result.dimension = None
        result.ci_low = result.ci_high = None
    return result


def _fit(log_n: np.ndarray, log_e: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(log_n, log_e, 1)
    resid = log_e - (slope * log_n + intercept)
    ss_tot = float(((log_e - log_e.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    return float(slope), r2


def _dimension(alpha: float, slope: float) -> float:
    return alpha / (1.0 - slope) if slope < 1 else float("inf")


def _estimate(cloud: GramCloud, *, alpha, sizes, n_repeats, seed, rng, n_bootstrap, ci, layer, dup=None):
    """PHdim of all the points of ``cloud``, the pool that the subsamples are drawn from
    (``dup``: its duplicate fraction, when already measured)."""
    pool = cloud.n
    sizes = default_schedule(pool) if sizes is None else np.asarray(sorted(set(int(s) for s in sizes)))
    if len(sizes) < 3:
        raise ValueError("PHdim needs at least 3 distinct subsample sizes")
    if sizes[0] < 2 or sizes[-1] > pool:
        raise CloudError(f"subsample sizes {sizes[0]}..{sizes[-1]} do not fit a pool of {pool} points", layer=layer)
    index_sets = subsample_index_sets(rng, pool, sizes, n_repeats)
    sums = cloud.mst_power_sums(index_sets, alpha).reshape(len(sizes), n_repeats)
    if (sums <= 0).any():
        raise CloudError("a subsample's spanning tree has total length 0 (all points duplicates)", layer=layer)
    log_n = np.log(sizes.astype(float))
    log_e = np.log(sums)
    slope, r2 = _fit(log_n, np.median(log_e, axis=1))

    # bootstrap: resample the subsamples within each size, all resamples at once
    pick = np.random.default_rng([seed, 1]).integers(n_repeats, size=(n_bootstrap, len(sizes), n_repeats))
    medians = np.median(np.take_along_axis(np.broadcast_to(log_e, pick.shape), pick, 2), axis=2)
    xc = log_n - log_n.mean()
    slopes = (medians - medians.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    with np.errstate(divide="ignore"):
        boot = np.where(slopes < 1, alpha / (1.0 - slopes), np.inf)
    tail = (1 - ci) / 2 * 100
    with np.errstate(invalid="ignore"):  # slopes >= 1 give infinite dimensions
        lo, hi = np.percentile(boot, [tail, 100 - tail]) if n_bootstrap else (np.nan, np.nan)
    return PHDimResult(
        dimension=_dimension(alpha, slope),
        r2=r2,
        ci_low=float(lo),
        ci_high=float(hi),
        slope=slope,
        alpha=float(alpha),
        sizes=[int(s) for s in sizes],
        n_repeats=n_repeats,
        seed=seed,
        pool_size=pool,
        duplicate_fraction=duplicate_fraction(cloud.points) if dup is None else dup,
        log_e_median=[float(v) for v in np.median(log_e, axis=1)],
    )


# The public estimators run every BLAS call on one thread and give the
# Gram product the BLAS's thread count to split by itself. A multi-threaded call (even the
# duplicate check's matrix-vector product) leaves OpenBLAS threads busy-waiting for ~0.1 s,
# on the cores that the parallel tree loop needs.


def _check_params(alpha, n_repeats):
    if alpha <= 0:
        raise ValueError("alpha must be > 0")
    if n_repeats < 1:
        raise ValueError("n_repeats must be >= 1")


def phdim(
    points,
    *,
    alpha: float = 1.0,
    pool_size: int = 2000,
    sizes=None,
    n_repeats: int = 7,
    seed: int = 0,
    n_bootstrap: int = 200,
    ci: float = 0.95,
    ceiling: str | None = "eckmann_ruelle",
    layer: str | None = None,
) -> PHDimResult:
    """PHdim of ``points`` (n, d): a pool of ``pool_size`` points drawn by ``seed``, subsample
    ``sizes`` (default: :func:`default_schedule`), ``n_repeats`` subsamples per size.

    Parameters
    ----------
    points : array of shape (n, d), n >= 20
    alpha : the power of the edge lengths (valid below the true dimension).
    pool_size : at most this many points, drawn by ``seed``, form the pool.
    sizes : subsample sizes (default: :func:`default_schedule` of the pool).
    n_repeats : subsamples per size; the median of their sums is fitted.
    seed : draws the pool and the subsamples.
    n_bootstrap, ci : bootstrap resamples and the interval's coverage.
    ceiling : ``"eckmann_ruelle"`` (default) censors estimates above 2 log10 N; None keeps the
        bare fit (protocol v1).
    layer : named in every error.

    Returns
    -------
    PHDimResult
        ``dimension`` (None when censored: see ``censored``, ``bound``), R-squared, bootstrap
        interval, the schedule, seed and pool size.

    Raises
    ------
    CloudError
        A bad cloud, or a schedule that does not fit the pool.
    ValueError
        alpha <= 0, n_repeats < 1, fewer than 3 sizes, or an unknown ceiling.
    """
    _check_params(alpha, n_repeats)
    threads = blas_threads()
    with single_threaded_blas():  # see the note above _check_params
        pts, dup = checked_cloud(points, layer=layer, min_points=20)
        rng = np.random.default_rng(seed)
        if len(pts) > pool_size:
            pts, dup = pts[np.sort(rng.choice(len(pts), pool_size, replace=False))], None
        return censor(_estimate(GramCloud(pts, threads), alpha=alpha, sizes=sizes, n_repeats=n_repeats,
                                seed=seed, rng=rng, n_bootstrap=n_bootstrap, ci=ci, layer=layer, dup=dup), ceiling)


def phdim_per_class(
    points,
    labels,
    *,
    min_class_points: int = 100,
    alpha: float = 1.0,
    pool_size: int = 10000,
    n_repeats: int = 7,
    seed: int = 0,
    n_bootstrap: int = 200,
    ci: float = 0.95,
    ceiling: str | None = "eckmann_ruelle",
    layer: str | None = None,
) -> dict:
    """PHdim of each class's cloud: the class's points are its pool, with the default schedule.

    Parameters are those of :func:`phdim`, plus ``labels`` (shape (n,)) and
    ``min_class_points``. Returns a dict: ``classes`` (label -> :class:`PHDimResult`),
    ``skipped`` (labels with too few points), ``mean`` and, with a ceiling, ``censored``.

    In a last layer where classes separate, a few long edges between clusters dominate the
    global sum, and the global figure then measures separation, not the manifold; this is the
    within-class counterpart. Classes with fewer than ``min_class_points`` points are left out
    and listed under ``"skipped"``. ``"mean"`` averages the classes' dimensions; with a
    ceiling, it is None when any class is censored (listed under ``"censored"``), since a
    censored value is a bound, not a number to average.
    """
    _check_params(alpha, n_repeats)
    threads = blas_threads()
    with single_threaded_blas():  # see the note above _check_params
        pts = check_cloud(points, layer=layer, min_points=20)
        lab = check_labels(labels, len(pts), layer=layer)
        rng = np.random.default_rng(seed)
        if len(pts) > pool_size:
            keep = np.sort(rng.choice(len(pts), pool_size, replace=False))
            pts, lab = pts[keep], lab[keep]
        out: dict = {"classes": {}, "skipped": []}
        for c in np.unique(lab):
            members = pts[lab == c]
            if len(members) < min_class_points:
                out["skipped"].append(str(c))
                continue
            # each class centred on its own mean: far-apart classes would cost the Gram form precision
            out["classes"][str(c)] = censor(_estimate(GramCloud(members, threads), alpha=alpha, sizes=None,
                                                      n_repeats=n_repeats, seed=seed, rng=rng,
                                                      n_bootstrap=n_bootstrap, ci=ci, layer=layer), ceiling)
    dims = [r.dimension for r in out["classes"].values()]
    if ceiling is None:
        out["mean"] = float(np.mean(dims)) if dims else float("nan")
        return out
    out["censored"] = [c for c, r in out["classes"].items() if r.censored]
    out["mean"] = float(np.mean(dims)) if dims and not out["censored"] else None
    return out
