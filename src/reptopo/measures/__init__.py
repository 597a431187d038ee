"""Per-layer topology and geometry of a point cloud. numpy in, plain results out; no torch here."""

from ._mst import GramCloud, h0_deaths
from ._validate import CloudError, check_cloud, duplicate_fraction
from .homology import BettiRule, PersistenceResult, maxmin_landmarks, persistence, summarize
from .intrinsic import IDResult, mle, twonn
from .phdim import PHDimResult, default_schedule, phdim, phdim_per_class
from .rtd import rtd

__all__ = [
    "BettiRule",
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
