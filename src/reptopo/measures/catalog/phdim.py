"""The persistent-homology dimension of the whole cloud (:func:`reptopo.measures.phdim`): the
raw fit, its ceiling and, from protocol v3, its calibration and the scale-drift halves."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..measure import Context, Strict, TopLevelMeasure, model_of, register
from ..results import Calibration, PHDimResult


class PHDimCalibration(model_of(Calibration)):  # type: ignore[misc]
    """PHdim read through the reference table of its settings (protocol v3;
    :class:`reptopo.measures.Calibration`)."""


class PHDimHalf(Strict):
    sizes: list[int]
    slope: float
    slope_low: float
    slope_high: float
    dimension: float | None


class PHDimHalves(Strict):
    """The fits on the schedule's lower and upper halves; ``drift`` when they disagree."""

    lower: PHDimHalf
    upper: PHDimHalf
    drift: bool


_PHDimFields: Any = model_of(
    PHDimResult,
    exclude=("log_spread",),
    censored=bool | None,
    halves=PHDimHalves | None,
    calibrated=PHDimCalibration | None,
)


class PHDim(_PHDimFields):
    """PHdim of a layer (:class:`reptopo.measures.PHDimResult`, as its ``to_dict()`` writes it):
    the raw fit, its ceiling and, from protocol v3, its calibration and the scale-drift halves."""


# the calibrated value's columns (protocol v3): "phdim" becomes the calibrated value (None when
# censored; "phdim_bound" then holds the measured lower bound) and "phdim_ci_*" its interval; the
# raw fit and its bootstrap interval move to "phdim_raw*". Empty for earlier versions and for a
# fit no table matched ("phdim_calibrated" False).
CALIBRATED_COLUMNS = (
    "phdim_raw",
    "phdim_slope",
    "phdim_raw_ci_low",
    "phdim_raw_ci_high",
    "phdim_family_gap",
    "phdim_resolution_limit",
    "phdim_scale_drift",
    "phdim_calibrated",
)


@register
class PHDimMeasure(TopLevelMeasure):
    name = "phdim"
    order = 30
    Result = PHDim
    leaves = {
        **dict.fromkeys(
            (
                "seed",
                "sizes",
                "alpha",
                "pool_size",
                "n_repeats",
                # the calibration's settings, and the fits on the schedule's halves (diagnostics
                # derived from the score, which would count one measurement several times)
                "level",
                "table_top",
                "resolution_limit",
                "halves",
            ),
            "parameter",
        ),
        "censored": "count",
    }
    column_names = (
        "phdim",
        "phdim_r2",
        "phdim_ci_low",
        "phdim_ci_high",
        "phdim_censored",
        "phdim_bound",
        *CALIBRATED_COLUMNS,
    )

    def run(self, x: np.ndarray, y: np.ndarray, cfg: Any, ctx: Context) -> dict[str, Any]:
        from .. import default_schedule, phdim

        pool = min(cfg.phdim_pool, len(x))
        return phdim(
            x,
            alpha=cfg.phdim_alpha,
            pool_size=pool,
            sizes=default_schedule(pool, cfg.phdim_n_sizes),
            n_repeats=cfg.phdim_repeats,
            seed=cfg.seed,
            n_bootstrap=cfg.phdim_bootstrap,
            layer=ctx.layer,
            ceiling=cfg.phdim_ceiling,
        ).to_dict()

    def columns(self, value: Any) -> dict[str, Any]:
        phd = value or {}
        row = dict.fromkeys(self.column_names)
        row["phdim"] = phd.get("dimension")
        row["phdim_r2"], row["phdim_ci_low"], row["phdim_ci_high"] = (
            phd.get("r2"),
            phd.get("ci_low"),
            phd.get("ci_high"),
        )
        # a censored PHdim is a bound, not a value: "phdim" stays empty and these say so
        row["phdim_censored"], row["phdim_bound"] = bool(phd.get("censored")), phd.get("bound")
        if "calibrated" not in phd:
            return row
        row["phdim_raw"], row["phdim_slope"] = phd.get("dimension"), phd.get("slope")
        row["phdim_raw_ci_low"], row["phdim_raw_ci_high"] = phd.get("ci_low"), phd.get("ci_high")
        row["phdim_scale_drift"] = (phd.get("halves") or {}).get("drift")
        cal = phd.get("calibrated")
        row["phdim_calibrated"] = cal is not None
        if cal is None:  # no table for this pool: no calibrated value, said so
            row.update(phdim=None, phdim_ci_low=None, phdim_ci_high=None)
            return row
        row.update(
            phdim=cal["dimension"],
            phdim_ci_low=cal["ci_low"],
            phdim_ci_high=cal["ci_high"],
            phdim_censored=bool(cal["censored"]),
            phdim_bound=cal["lower_bound"],
            phdim_family_gap=cal["family_gap"],
            phdim_resolution_limit=cal["resolution_limit"],
        )
        return row

    def flags(self, value: Any) -> list[str]:
        flags = []
        cal = value.get("calibrated")
        if cal and cal.get("censored"):
            flags.append(
                f"PHdim censored (at least {cal['lower_bound']:.3g})"
                if cal.get("lower_bound") is not None
                else "PHdim censored"
            )
        elif value.get("censored"):
            flags.append("PHdim censored")
        if "calibrated" in value and cal is None:
            flags.append("PHdim uncalibrated (no table for this pool)")
        if (value.get("halves") or {}).get("drift"):
            flags.append("PHdim scale drift")
        return flags
