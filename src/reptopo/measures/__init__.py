"""Per-layer topology and geometry of a point cloud. numpy in, plain results out; no torch here.

The names below load their module on first use (PEP 562), so that importing one light module of
the package (``reptopo.measures.results``, which the record reads) does not load the estimators
and their libraries (ripser, scikit-learn, numba)."""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# each public name and the module that defines it
_WHERE = {
    "CloudError": "..errors",
    "GramCloud": "._mst",
    "h0_deaths": "._mst",
    "check_cloud": "._validate",
    "duplicate_fraction": "._validate",
    "linear_cka": ".cka",
    "ClassTopologyResult": ".classwise",
    "class_topology": ".classwise",
    "hop_betti": ".classwise",
    "rms_radius": ".classwise",
    "DTMPersistenceResult": ".dtm",
    "DTMRule": ".dtm",
    "dtm_persistence": ".dtm",
    "BettiRule": ".results",
    "ResolutionRule": ".results",
    "Calibration": ".results",
    "PHDimResult": ".results",
    "PersistenceResult": ".homology",
    "maxmin_landmarks": ".homology",
    "persistence": ".homology",
    "sampling_resolution": ".homology",
    "summarize": ".homology",
    "IDResult": ".intrinsic",
    "mle": ".intrinsic",
    "twonn": ".intrinsic",
    "CalibrationMismatch": ".phdim",
    "calibrate": ".phdim",
    "calibrated_pools": ".phdim",
    "calibration_table": ".phdim",
    "default_schedule": ".phdim",
    "eckmann_ruelle_bound": ".phdim",
    "phdim": ".phdim",
    "phdim_per_class": ".phdim",
    "resolution_limit": ".phdim",
    "rtd": ".rtd",
    "products_on": "._gram",
}


class _Package(types.ModuleType):
    """The package's module type. ``phdim`` and ``rtd`` are both a module and the function it
    defines; when another module imports the submodule first, the import system binds the
    package's attribute to the module. The package exports the function (as the eager imports
    did), so that binding is not kept: the name resolves through :func:`__getattr__`."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == f".{name}":
            return
        super().__setattr__(name, value)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'reptopo.measures' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


sys.modules[__name__].__class__ = _Package


__all__ = [
    "products_on",
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
