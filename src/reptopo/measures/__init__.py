"""Per-layer topology and geometry of a point cloud. numpy in, plain results out; no torch here."""

from ..errors import CloudError
from ._mst import GramCloud, h0_deaths
from ._validate import check_cloud, duplicate_fraction
from .cka import linear_cka
from .classwise import ClassTopologyResult, class_topology, hop_betti, rms_radius
from .dtm import DTMPersistenceResult, DTMRule, dtm_persistence
from .homology import (
    BettiRule,
    PersistenceResult,
    ResolutionRule,
    maxmin_landmarks,
    persistence,
    sampling_resolution,
    summarize,
)
from .intrinsic import IDResult, mle, twonn
from .phdim import (
    Calibration,
    CalibrationMismatch,
    PHDimResult,
    calibrate,
    calibrated_pools,
    calibration_table,
    default_schedule,
    eckmann_ruelle_bound,
    phdim,
    phdim_per_class,
    resolution_limit,
)
from .rtd import rtd

__all__ = [
    "BettiRule",
    "Calibration",
    "CalibrationMismatch",
    "DTMPersistenceResult",
    "DTMRule",
    "calibrate",
    "calibrated_pools",
    "calibration_table",
    "dtm_persistence",
    "resolution_limit",
    "ClassTopologyResult",
    "ResolutionRule",
    "class_topology",
    "eckmann_ruelle_bound",
    "hop_betti",
    "linear_cka",
    "rms_radius",
    "sampling_resolution",
    "CloudError",
    "GramCloud",
    "IDResult",
    "PHDimResult",
    "PersistenceResult",
    "check_cloud",
    "default_schedule",
    "duplicate_fraction",
    "h0_deaths",
    "maxmin_landmarks",
    "mle",
    "persistence",
    "phdim",
    "phdim_per_class",
    "rtd",
    "summarize",
    "twonn",
]
