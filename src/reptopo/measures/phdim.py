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

**Calibration** (``ceiling="calibrated"``, the default). The Eckmann-Ruelle bound comes from
counting pairs for the correlation dimension; nothing in PHdim counts pairs, and the raw fit
stays strictly increasing in d far above 2 log10 N (isotropic Gaussians on the 2,000-point
schedule read 5.2, 9.7, 16.3, 26.8, 48.4 and 76 at d = 5 to 200). Its real limits are a
downward bias that grows with d and a spread that grows as d^2 SE(slope). Both are read off
reference tables (:func:`calibration_table`) built on the same pool size, schedule, repeats and
alpha: the mean and spread of log raw PHdim over fresh clouds of known dimension d, for
isotropic Gaussians (the primary family) and uniform balls. Inverting that belt gives the
calibrated dimension and a 95% Neyman interval, widened by the layer's own bootstrap (the two
spreads added in quadrature), as DANCo calibrates against simulated balls. The ball table
gives the family gap, the systematic error of choosing a reference family. The value is
censored only where the interval has no finite upper end (a bootstrap slope of 1, or a raw value
beyond the top of the table); it is then a measured lower bound, "at least L". ``dimension``
stays the raw fit (the measurement; None when the slope is 1 or more). Ranks and correlations
use the raw slope, which orders layers as the calibrated value does.

**The broad calibration** (``ceiling="calibrated_broad"``, protocol v4). Gaussians and balls are
two kinds among many, and PHdim's bias depends on the kind: on manifolds of other kinds (rolled
sheets, tori, skewed densities) the Gaussian belt's interval held the truth in about 60% of
cases. The broad table is built from a bank of eight kinds
(:data:`reptopo.measures.manifolds.CALIBRATION_KINDS`: Gaussians, balls, paraboloids, curved
products of arcs, Beta(0.5, 0.5) and Student-t coordinates, an uneven mixture, a random-feature
embedding), five clouds each per d. Its belt is a random-effects prediction belt for a kind that
did not build it: the spread between kinds (times 1 + 1/K) and within a kind, with a t quantile
on K - 1 degrees of freedom. Its coverage is checked on a disjoint bank of held-out kinds
(:data:`reptopo.measures.manifolds.HELD_OUT_KINDS`; ``scripts/phdim_heldout.py`` and
``docs/phdim_heldout.md``). The family gap is then the Gaussian table's value minus the broad one's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..errors import CalibrationMismatch, CloudError
from ._gram import blas_threads, single_threaded_blas
from ._mst import GramCloud
from ._validate import check_cloud, check_labels, checked_cloud, duplicate_fraction
from .results import CALIBRATED_CEILINGS, Calibration, PHDimResult

DEFAULT_N_SIZES = 16
CEILINGS = ("eckmann_ruelle", *CALIBRATED_CEILINGS)
CALIBRATION_FAMILIES = ("gaussian", "ball", "broad")
_Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: the belt's half-width in spreads
CALIBRATION_FILE = "phdim_calibration.json"


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


def subsample_index_sets(
    rng: np.random.Generator, pool: int, sizes: Sequence[int] | np.ndarray, n_repeats: int
) -> list[np.ndarray]:
    """The subsamples of one estimate, size by size, ``n_repeats`` each (drawn without replacement)."""
    return [rng.choice(pool, size=int(n), replace=False) for n in sizes for _ in range(n_repeats)]


@functools.lru_cache(maxsize=None)
def _tables() -> tuple[dict[str, Any], ...]:
    text = resources.files("reptopo.measures").joinpath("data").joinpath(CALIBRATION_FILE).read_text()
    return tuple(json.loads(text)["tables"])


def calibrated_pools(n_repeats: int, alpha: float) -> tuple[int, ...]:
    """The pool sizes that have calibration tables (with the default schedule), ascending."""
    return tuple(
        sorted(
            {
                t["pool_size"]
                for t in _tables()
                if t["n_repeats"] == n_repeats
                and t["alpha"] == alpha
                and t["sizes"] == [int(v) for v in default_schedule(t["pool_size"])]
            }
        )
    )


def calibrated_pool(n_points: int, n_repeats: int, alpha: float) -> int:
    """The pool to measure ``n_points`` points on with the default schedule: ``n_points`` itself
    when a table was built for it, else the largest calibrated pool below it (so that the fit is
    read through a table), else ``n_points`` (then the result says it is uncalibrated)."""
    pools = calibrated_pools(n_repeats, alpha)
    if n_points in pools:
        return n_points
    below = [p for p in pools if p <= n_points]
    return max(below) if below else n_points


def calibration_table(
    pool_size: int, sizes: Sequence[int] | np.ndarray, n_repeats: int, alpha: float, family: str = "gaussian"
) -> dict[str, Any]:
    """The reference table for one setting: raw PHdim of fresh clouds of known dimension.

    Built by ``scripts/phdim_calibration.py`` with reptopo's own raw estimator. Keys: ``dims``,
    ``belt_centre`` and ``belt_spread`` (the smoothed mean and standard deviation of log raw
    PHdim at each d), the raw quantiles, and the settings it was built with.

    Raises
    ------
    CalibrationMismatch
        When no table matches the pool size, schedule, repeats and alpha exactly: a table
        read with another schedule would calibrate the wrong bias.
    ValueError
        An unknown family.
    """
    if family not in CALIBRATION_FAMILIES:
        raise ValueError(f"unknown calibration family {family!r}; choose one of {CALIBRATION_FAMILIES}")
    sizes = [int(v) for v in sizes]
    for t in _tables():
        if (
            t["family"] == family
            and t["pool_size"] == pool_size
            and t["sizes"] == sizes
            and t["n_repeats"] == n_repeats
            and t["alpha"] == alpha
        ):
            return t
    built = sorted({(t["pool_size"], t["n_repeats"], t["alpha"]) for t in _tables()})
    raise CalibrationMismatch(
        f"no PHdim calibration table for a pool of {pool_size} points, sizes {sizes[0]}..{sizes[-1]} "
        f"({len(sizes)} sizes), {n_repeats} repeats, alpha {alpha}; tables exist for (pool, repeats, alpha) "
        f"{built} with the default schedule (scripts/phdim_calibration.py builds more)"
    )


def _belt(table: dict[str, Any], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The belt's centre and spread at dimensions ``grid`` (linear in log d between the table's)."""
    x = np.log(np.asarray(table["dims"], float))
    lg = np.log(grid)
    return np.interp(lg, x, table["belt_centre"]), np.interp(lg, x, table["belt_spread"])


def _grid(table: dict[str, Any]) -> np.ndarray:
    return np.exp(np.linspace(np.log(table["dims"][0]), np.log(table["dims"][-1]), 4001))


def _invert(table: dict[str, Any], z: float, spread_down: float, spread_up: float) -> tuple[Any, ...]:
    """(point, low, high) dimensions from the belt for a log raw value ``z``; the layer's own
    spreads below and above z (95% half-widths, inf when unbounded) widen it. ``high`` is inf
    when the interval reaches the top of the table; ``point`` is None beyond the top."""
    grid = _grid(table)
    centre, spread = _belt(table, grid)
    # d is accepted when z lies in its belt: below the centre by at most the belt's half-width
    # and the layer's upward spread (the truth may sit above what was read), and vice versa
    below = np.sqrt((_Z95 * spread) ** 2 + spread_up**2)
    above = np.sqrt((_Z95 * spread) ** 2 + spread_down**2)
    accepted = (z >= centre - below) & (z <= centre + above)
    top = float(grid[-1])
    if not accepted.any():
        if z > centre[-1]:
            return None, top, np.inf
        return float(grid[0]), float(grid[0]), float(grid[0])
    low, high = float(grid[accepted].min()), float(grid[accepted].max())
    if high >= top:
        high = np.inf
    point = None if z > centre[-1] else float(np.exp(np.interp(z, centre, np.log(grid))))
    return point, low, high


@functools.lru_cache(maxsize=None)
def resolution_limit(
    pool_size: int, sizes: tuple[Any, ...], n_repeats: int, alpha: float, family: str = "gaussian"
) -> float | None:
    """The smallest d whose interval overlaps that of 1.25 d at these settings (None: none in the
    table does): the statistical resolution of the pool. Each interval is read from ``family``'s
    table alone (no layer's bootstrap, no family gap, which shifts every layer alike) at the raw
    value that d gives on average."""
    own = calibration_table(pool_size, sizes, n_repeats, alpha, family)

    def interval(d: float) -> tuple[float, float]:
        _, low, high = _invert(own, float(_belt(own, np.array([d]))[0][0]), 0.0, 0.0)
        return low, high

    for d in np.exp(np.linspace(0.0, np.log(own["dims"][-1] / 1.25), 400)):
        if interval(d)[1] >= interval(1.25 * d)[0]:
            return float(d)
    return None


def calibrate(result: "PHDimResult", family: str = "gaussian") -> Calibration:
    """Read a raw fit through the reference table of its own settings (see the module docstring).

    Raises
    ------
    CalibrationMismatch
        When no table was built for the fit's pool size, schedule, repeats and alpha.
    """
    key = (result.pool_size, tuple(result.sizes), result.n_repeats, result.alpha)
    # the broad table is read alone (its spread spans the kinds that built it), and the Gaussian
    # table gives its gap; the Gaussian table's interval spans the ball table's (protocol v3)
    other_family = "gaussian" if family == "broad" else "ball" if family == "gaussian" else "gaussian"
    tables = {f: calibration_table(*key, f) for f in (family, other_family)}
    z = np.log(result.alpha) - np.log1p(-result.slope) if result.slope < 1 else np.inf
    down, up = result.log_spread if result.log_spread is not None else (0.0, 0.0)

    def read(f: str) -> tuple[Any, ...]:
        if not np.isfinite(z):
            return None, float(tables[f]["dims"][-1]), np.inf
        return _invert(tables[f], float(z), down, up)

    point, low, high = read(family)
    other = read(other_family)
    if family != "broad":
        # the interval spans both reference families: which family a layer resembles is unknown,
        # and their gap is the systematic error of that choice (cubes, spheres and balls of low d
        # read below Gaussians of the same d, outside the Gaussian belt alone)
        low, high = min(low, other[1]), max(high, other[2])
    censored = point is None or not np.isfinite(high)
    why = None
    if censored:
        why = (
            "the slope is 1 or more"
            if not np.isfinite(z)
            else "the raw value lies beyond the top of the table"
            if point is None
            else "the layer's bootstrap reaches a slope of 1"
            if not np.isfinite(up)
            else "the interval reaches the top of the table"
        )
    gap = None
    if not censored and other[0] is not None:
        # the ball's value minus the Gaussian's (v3); the Gaussian's minus the broad bank's (v4)
        gap = (
            (other[0] - point) if family == "gaussian" else (point - other[0]) if family == "ball" else other[0] - point
        )
    return Calibration(
        family=family,
        dimension=None if censored else point,
        ci_low=low,
        ci_high=None if censored else high,
        censored=censored,
        lower_bound=low if censored else None,
        family_gap=gap,
        resolution_limit=resolution_limit(*key, family),
        table_top=float(tables[family]["dims"][-1]),
        why=why,
    )


def rank_key(record: dict[str, Any]) -> tuple[int, float]:
    """A sort key for a PHdim record (``PHDimResult.to_dict()``) that ranks a censored value
    above every measured one and ties censored values among themselves (their order is unknown).

    Use it for ranks (Kendall, Spearman), never as a number to average.
    """
    if record.get("ceiling") in CALIBRATED_CEILINGS:  # the raw slope orders layers as the calibrated value
        return (0, float(record["slope"]))
    if record.get("censored"):
        return (1, 0.0)
    return (0, float(record["dimension"]))


def _raw(result: PHDimResult) -> float:
    """The raw fit of a result not yet censored (NaN where there is none)."""
    return float("nan") if result.dimension is None else result.dimension


def censor(result: PHDimResult, ceiling: str | None) -> PHDimResult:
    """Apply the resolution ceiling to a fit (see the module docstring)."""
    if ceiling is None:
        return result
    if ceiling not in CEILINGS:
        raise ValueError(f"unknown PHdim ceiling {ceiling!r}; choose one of {CEILINGS} or None")
    if ceiling in CALIBRATED_CEILINGS:
        result.ceiling = ceiling
        fit = _raw(result)
        result.fit_dimension = fit if np.isfinite(fit) else None
        result.dimension = result.fit_dimension
        try:
            result.calibrated = calibrate(result, CALIBRATED_CEILINGS[ceiling])
        except CalibrationMismatch:
            result.calibrated = None  # no table for these settings: the raw fit alone, said so
        result.censored = result.calibrated.censored if result.calibrated is not None else not np.isfinite(fit)
        result.bound = result.calibrated.lower_bound if result.calibrated is not None else None
        return result
    bound = eckmann_ruelle_bound(result.sizes[-1])
    fit = _raw(result)
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


def _estimate(
    cloud: GramCloud,
    *,
    alpha: float,
    sizes: Sequence[int] | np.ndarray | None,
    n_repeats: int,
    seed: int,
    rng: np.random.Generator,
    n_bootstrap: int,
    ci: float,
    layer: str | None,
    dup: float | None = None,
) -> PHDimResult:
    """PHdim of all the points of ``cloud``, the pool that the subsamples are drawn from
    (``dup``: its duplicate fraction, when already measured)."""
    pool = cloud.n
    sizes = default_schedule(pool) if sizes is None else np.asarray(sorted(set(int(s) for s in sizes)))
    if len(sizes) < 3:
        raise ValueError(f"sizes has {len(sizes)} distinct values, PHdim needs at least 3")
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
    log_spread = halves = None
    if n_bootstrap:
        z = np.log(alpha) - np.log1p(-slope) if slope < 1 else np.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            zb = np.where(slopes < 1, np.log(alpha) - np.log1p(-np.minimum(slopes, 1.0)), np.inf)
            z_lo, z_hi = np.percentile(zb, [tail, 100 - tail])
        if np.isfinite(z):
            log_spread = (float(max(z - z_lo, 0.0)), float(max(z_hi - z, 0.0)) if np.isfinite(z_hi) else np.inf)
        halves = _halves(log_n, np.median(log_e, axis=1), medians, alpha, tail)
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
        log_spread=log_spread,
        halves=halves,
    )


def _halves(
    log_n: np.ndarray, log_e_median: np.ndarray, medians: np.ndarray, alpha: float, tail: float
) -> dict[str, Any]:
    """The fits on the schedule's lower and upper halves of sizes, with bootstrap intervals of
    their slopes; ``drift`` when the intervals are disjoint (the dimension changes with scale)."""
    half = len(log_n) // 2
    out: dict[str, Any] = {}
    for name, part in (("lower", slice(0, half + 1)), ("upper", slice(half, None))):
        x = log_n[part]
        xc = x - x.mean()
        point = float(np.polyfit(x, log_e_median[part], 1)[0])
        boot = (medians[:, part] - medians[:, part].mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
        lo, hi = np.percentile(boot, [tail, 100 - tail])
        out[name] = {
            "sizes": [int(round(np.exp(x[0]))), int(round(np.exp(x[-1])))],
            "slope": point,
            "slope_low": float(lo),
            "slope_high": float(hi),
            "dimension": _dimension(alpha, point) if point < 1 else None,
        }
    out["drift"] = bool(
        out["lower"]["slope_high"] < out["upper"]["slope_low"] or out["upper"]["slope_high"] < out["lower"]["slope_low"]
    )
    return out


# The public estimators run every BLAS call on one thread and give the
# Gram product the BLAS's thread count to split by itself. A multi-threaded call (even the
# duplicate check's matrix-vector product) leaves OpenBLAS threads busy-waiting for ~0.1 s,
# on the cores that the parallel tree loop needs.


def _check_params(alpha: float, n_repeats: int) -> None:
    if alpha <= 0:
        raise ValueError(f"alpha == {alpha!r}, must be > 0")
    if n_repeats < 1:
        raise ValueError(f"n_repeats == {n_repeats!r}, must be >= 1")


def phdim(
    points: ArrayLike,
    *,
    alpha: float = 1.0,
    pool_size: int = 2000,
    sizes: Sequence[int] | np.ndarray | None = None,
    n_repeats: int = 7,
    seed: int = 0,
    n_bootstrap: int = 200,
    ci: float = 0.95,
    ceiling: str | None = "calibrated",
    layer: str | None = None,
) -> PHDimResult:
    """PHdim of ``points`` (n, d): a pool of ``pool_size`` points drawn by ``seed``, subsample
    ``sizes`` (default: :func:`default_schedule`), ``n_repeats`` subsamples per size.

    Parameters
    ----------
    points : array of shape (n, d), n >= 20
    alpha : float, default=1.0
        The power of the edge lengths (valid below the true dimension).
    pool_size : int, default=2000
        At most this many points, drawn by ``seed``, form the pool. With the default schedule and
        a calibrated ceiling, the pool is the largest size with a calibration table that fits
        (:func:`calibrated_pool`): 1,500 points are measured on a pool of 1,000, read through
        its table, rather than on 1,500 without one.
    sizes : sequence of int or None, default=None
        Subsample sizes (default: :func:`default_schedule` of the pool).
    n_repeats : int, default=7
        Subsamples per size; the median of their sums is fitted.
    seed : int, default=0
        Draws the pool and the subsamples.
    n_bootstrap, ci : int, default=200
        Bootstrap resamples and the interval's coverage.
    ceiling : str or None, default='calibrated'
        ``"calibrated"`` (default) reads the fit through the reference table of its settings and
        censors only where the interval has no finite upper end (see the module docstring; without a
        table for these settings ``calibrated`` is None); ``"eckmann_ruelle"`` censors estimates
        above 2 log10 N (protocol v2); None keeps the bare fit (protocol v1).
    layer : str or None, default=None
        Named in every error.

    Returns
    -------
    PHDimResult
        ``dimension`` (the raw fit; None when censored under ``"eckmann_ruelle"``), R-squared,
        bootstrap interval, ``calibrated`` (:class:`Calibration`), ``halves`` (the scale-drift
        check), the schedule, seed and pool size.

    Raises
    ------
    CloudError
        A bad cloud, or a schedule that does not fit the pool.
    ValueError
        alpha <= 0, n_repeats < 1, fewer than 3 sizes, or an unknown ceiling.

    Examples
    --------
    >>> import numpy as np
    >>> from reptopo.measures import phdim
    >>> d = phdim(np.random.default_rng(0).normal(size=(300, 4)), n_bootstrap=20)
    >>> d.calibrated.ci_low < 4 < d.calibrated.ci_high   # a 95% interval around the true dimension
    True
    """
    _check_params(alpha, n_repeats)
    threads = blas_threads()
    with single_threaded_blas():  # see the note above _check_params
        pts, dup = checked_cloud(points, layer=layer, min_points=20)
        dup_fraction: float | None = dup
        rng = np.random.default_rng(seed)
        if sizes is None and ceiling in CALIBRATED_CEILINGS:
            pool_size = calibrated_pool(min(len(pts), pool_size), n_repeats, alpha)
        if len(pts) > pool_size:
            pts, dup_fraction = pts[np.sort(rng.choice(len(pts), pool_size, replace=False))], None
        return censor(
            _estimate(
                GramCloud(pts, threads),
                alpha=alpha,
                sizes=sizes,
                n_repeats=n_repeats,
                seed=seed,
                rng=rng,
                n_bootstrap=n_bootstrap,
                ci=ci,
                layer=layer,
                dup=dup_fraction,
            ),
            ceiling,
        )


def phdim_per_class(
    points: ArrayLike,
    labels: ArrayLike,
    *,
    min_class_points: int = 100,
    alpha: float = 1.0,
    pool_size: int = 10000,
    n_repeats: int = 7,
    seed: int = 0,
    n_bootstrap: int = 200,
    ci: float = 0.95,
    ceiling: str | None = "calibrated",
    layer: str | None = None,
) -> dict[str, Any]:
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
        out: dict[str, Any] = {"classes": {}, "skipped": []}
        for c in np.unique(lab):
            members = pts[lab == c]
            if len(members) < min_class_points:
                out["skipped"].append(str(c))
                continue
            # each class centred on its own mean: far-apart classes would cost the Gram form precision
            out["classes"][str(c)] = censor(
                _estimate(
                    GramCloud(members, threads),
                    alpha=alpha,
                    sizes=None,
                    n_repeats=n_repeats,
                    seed=seed,
                    rng=rng,
                    n_bootstrap=n_bootstrap,
                    ci=ci,
                    layer=layer,
                ),
                ceiling,
            )
    dims = [r.dimension for r in out["classes"].values()]
    if ceiling is None:
        out["mean"] = float(np.mean(dims)) if dims else float("nan")
        return out
    out["censored"] = [c for c, r in out["classes"].items() if r.censored]
    out["mean"] = float(np.mean(dims)) if dims and not out["censored"] else None
    return out
