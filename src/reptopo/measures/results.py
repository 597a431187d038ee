"""The measures' result and rule types that the record is built from: a light module (numpy and
the standard library only, no ripser, scikit-learn or numba), so that reading a record never loads
the estimators."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

BETTI_RULES = ("covering_radius", "largest_gap")
CALIBRATION_LEVEL = 0.95
# the ceilings that read PHdim through a calibration table, and the table family each reads:
# "calibrated" (protocol v3) the isotropic Gaussians' (its interval spanning the balls' too),
# "calibrated_broad" (v4) the broad bank of manifold kinds' (reptopo.measures.manifolds)
CALIBRATED_CEILINGS = {"calibrated": "gaussian", "calibrated_broad": "broad"}


@dataclass(frozen=True)
class ResolutionRule:
    """Betti numbers at the cloud's own sampling resolution (see the module docstring).

    ``band`` and ``h0_band`` are (ambiguous from, counts above) in units of the scale;
    ``max_birth``: an H1+ bar born later than this multiple of the scale is a feature of how
    the shape's parts are arranged at a coarser scale (four far clusters in a ring), not of the
    shape at its resolution, and is not counted;
    ``landmark_weight`` weighs the landmarks' covering radius against the cloud's resolution
    (maxmin landmarks are evenly spread, so their own noise bars are shorter than a random
    sample's at the same covering radius); ``k`` is the neighbour rank of the resolution
    (None: ``ceil(ln n)``).
    """

    name: str = "sampling_resolution"
    band: tuple[float, float] = (1.7, 2.1)
    h0_band: tuple[float, float] = (4.5, 6.0)
    max_birth: float = 5.0
    landmark_weight: float = 0.8
    k: int | None = None

    def __post_init__(self) -> None:
        if self.name != "sampling_resolution":
            raise ValueError(f"ResolutionRule.name must be 'sampling_resolution', got {self.name!r}")
        for field_name in ("band", "h0_band"):
            lo, hi = getattr(self, field_name)
            if not 0 < lo <= hi:
                raise ValueError(
                    f"ResolutionRule.{field_name} == {(lo, hi)!r}, must be (low, high) with 0 < low <= high"
                )
        if self.landmark_weight < 0:
            raise ValueError(f"ResolutionRule.landmark_weight == {self.landmark_weight!r}, must be >= 0")
        if self.k is not None and self.k < 1:
            raise ValueError(f"ResolutionRule.k == {self.k!r}, must be >= 1")


@dataclass(frozen=True)
class BettiRule:
    name: str = "covering_radius"
    factor: float = 2.0
    max_features: int = 10

    def __post_init__(self) -> None:
        if self.name not in BETTI_RULES:
            raise ValueError(f"unknown Betti rule {self.name!r}; choose one of {BETTI_RULES}")
        if self.factor < 0:
            raise ValueError(f"BettiRule.factor == {self.factor!r}, must be >= 0")


@dataclass
class DiagramSummary:
    n_bars: int
    n_infinite: int
    total_persistence: float
    max_persistence: float
    persistent_entropy: float


@dataclass
class Calibration:
    """PHdim read through a reference table (see the module docstring).

    ``dimension`` and the interval ``ci_low``..``ci_high`` (level ``level``); when the interval
    has no finite upper end, ``censored`` is True, ``dimension`` and ``ci_high`` are None, and
    ``lower_bound`` holds the measured bound ("at least"). ``family_gap``: the ball table's
    value minus the Gaussian table's (None when either is censored); ``resolution_limit``: the
    smallest d whose interval (from the table alone) overlaps that of 1.25 d at this pool.
    """

    family: str
    dimension: float | None
    ci_low: float
    ci_high: float | None
    censored: bool
    lower_bound: float | None
    family_gap: float | None
    resolution_limit: float | None
    table_top: float
    level: float = CALIBRATION_LEVEL
    why: str | None = None

    def describe(self) -> str:
        if self.censored:
            return f">= {self.lower_bound:.3g}"
        return f"{self.dimension:.3g} [{self.ci_low:.3g}, {self.ci_high:.3g}]"


@dataclass
class PHDimResult:
    dimension: float | None
    r2: float
    ci_low: float | None
    ci_high: float | None
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
    # the layer's own 95% spread of log raw PHdim below and above its value (bootstrap; inf
    # when a resample's slope reaches 1), and the fits on the schedule's halves
    log_spread: tuple[float, float] | None = field(default=None, repr=False)
    halves: dict[str, Any] | None = None
    calibrated: Calibration | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("log_spread", "halves", "calibrated")}
        if self.ceiling is None:  # protocol v1's record, which had no ceiling
            for key in ("ceiling", "censored", "bound", "fit_dimension"):
                out.pop(key)
        if self.ceiling in CALIBRATED_CEILINGS:
            for key in ("ci_low", "ci_high", "dimension", "fit_dimension"):
                v = out[key]
                out[key] = None if v is None or not np.isfinite(v) else float(v)
            out["calibrated"] = asdict(self.calibrated) if self.calibrated is not None else None
            out["halves"] = self.halves
        return out

    @property
    def scale_drift(self) -> bool | None:
        """True when the fits on the schedule's lower and upper halves disagree beyond their
        bootstrap intervals (None without a bootstrap)."""
        return None if self.halves is None else self.halves["drift"]

    def describe(self) -> str:
        """The value as a reader should see it: the calibrated value with its interval or "at least
        L"; without a calibration, "above B (N points)" or the raw fit marked uncalibrated."""
        if self.calibrated is not None:
            return self.calibrated.describe()
        if self.censored:
            return f"above {self.bound:.1f} ({self.sizes[-1]} points)"
        # never a bare number that reads as calibrated: no table was read for these settings
        return f"{self.dimension:.3g} (raw fit, uncalibrated)"
