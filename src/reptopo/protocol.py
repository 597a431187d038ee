"""The versioned measuring protocol: every parameter that changes a number lives here.

A change to any parameter is a new protocol version: ``PROTOCOLS`` maps each version to its
config, and ``tests/test_protocol.py`` pins the hash of each published version so that a
silent edit fails CI. Results of different versions are never mixed in one table.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from . import measures as M
from .errors import MeasureShapeError, UnknownName
from .measures.measure import Context, Measure, registered
from .measures.measure import get as registered_measure


class ResolutionParams(BaseModel):
    """The sampling-resolution Betti rule's parameters (:class:`reptopo.measures.ResolutionRule`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    band: tuple[float, float] = Field((1.7, 2.1), description="H1+: ambiguous from, counts above (x the H1 scale)")
    h0_band: tuple[float, float] = Field(
        (4.5, 6.0), description="H0: ambiguous from, counts above (x the cloud's resolution)"
    )
    max_birth: float = Field(5.0, description="H1+ bars born later than this (x the H1 scale) are not counted")
    landmark_weight: float = Field(0.8, description="weight of the landmarks' covering radius in the H1 scale")
    neighbour_rank: int | None = Field(None, description="neighbour rank of the cloud's resolution; None: ceil(ln n)")

    def rule(self) -> M.ResolutionRule:
        return M.ResolutionRule(
            band=(self.band[0], self.band[1]),
            h0_band=(self.h0_band[0], self.h0_band[1]),
            max_birth=self.max_birth,
            landmark_weight=self.landmark_weight,
            k=self.neighbour_rank,
        )


class ClassTopologyParams(BaseModel):
    """Per-class homology and the whole cloud's components (:func:`reptopo.measures.class_topology`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(14, description="neighbours of the hop metric's k-NN graph (Naitzat et al.)")
    hops: int = Field(2, description="the scale of the per-class clique complex, in hops")
    maxdim: int = 1
    min_class_points: int = Field(20, description="a smaller class is flagged, not measured")
    min_component_fraction: float = Field(0.01, description="a whole-cloud component counts in b0_large at this share")


class RobustParams(BaseModel):
    """The DTM filtration's significant counts (:class:`reptopo.measures.DTMRule`), for the whole
    cloud and each class (v3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mass: float = Field(0.03, description="the DTM's mass: k = ceil(mass n) neighbours, the point itself counted")
    min_k: int = Field(10, description="the fewest neighbours of the DTM (a small class)")
    level: float = Field(0.05, description="error level of the bootstrap band")
    n_bootstrap: int = Field(100, description="resamples of the band")

    def rule(self) -> M.DTMRule:
        return M.DTMRule(mass=self.mass, min_k=self.min_k, level=self.level, n_bootstrap=self.n_bootstrap)


class ProtocolConfig(BaseModel):
    """Every parameter of one protocol version.

    Fields added after version 1 default to None ("not part of this version") and are left out
    of the digest when None, so that adding one never changes a published version's digest.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    probe_size: int = Field(1000, description="class-balanced probe points (capped by the task's probe.size)")
    probe_seed: int = 0
    seed: int = Field(0, description="seed of every subsample drawn while measuring")
    max_duplicate_fraction: float = 0.5
    # persistent homology
    n_landmarks: int = 200
    maxdim: int = 1
    metric: Literal["euclidean", "knn_geodesic"] = "euclidean"
    betti_rule: Literal["covering_radius", "largest_gap", "sampling_resolution"] = "covering_radius"
    betti_factor: float | None = Field(2.0, description="the legacy rules' factor (v1)")
    betti_resolution: ResolutionParams | None = Field(None, description="the sampling-resolution rule (v2)")
    # PHdim
    phdim_alpha: float = 1.0
    phdim_pool: int = 1000
    phdim_n_sizes: int = 16
    phdim_repeats: int = 7
    phdim_bootstrap: int = 100
    phdim_class_min_points: int = 60
    phdim_ceiling: Literal["eckmann_ruelle", "calibrated", "calibrated_broad"] | None = Field(
        None,
        description="v2: censor estimates above 2 log10 N; v3: read the fit through the calibration table of "
        "its pool and schedule, censored only where the interval has no finite upper end; v4: the same through "
        "the broad table, built from a bank of manifold kinds",
    )
    # per-class homology, the whole cloud's components, normalised total persistence (v2)
    class_topology: ClassTopologyParams | None = None
    robust: RobustParams | None = Field(None, description="the DTM filtration's significant counts (v3)")
    # intrinsic dimension
    twonn_discard: float = 0.1
    mle_k: int = 20
    # linear probe: logistic regression on standardised features, held-out part of the probe set
    linear_probe_holdout: float = 0.3
    linear_probe_c: float = 1.0
    linear_probe_max_iter: int = 300
    # measures at these training epochs as well as at the end (empty: at the end only)
    checkpoint_epochs: tuple[int, ...] = ()
    checkpoint_seeds: tuple[int, ...] | None = Field(
        None,
        description="the learning dynamics: only jobs of these seeds at default hyperparameters (no "
        "hyperparameter axis off its default, not a control, not a frozen backbone) are measured at "
        "checkpoint_epochs; None: every job (v1)",
    )

    measure_params: dict[str, dict[str, Any]] | None = Field(
        None,
        description="v4: the measures defined after v3 (reptopo.measures.catalog) that this version runs, "
        "each with its parameters (its own model validates them)",
    )

    @field_validator("measure_params")
    @classmethod
    def _known_measures(cls, value: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        if value is None:
            return None
        known = {m.name: m for m in registered()}
        out = {}
        for name, params in value.items():
            if name not in known:
                raise ValueError(f"measure_params: no measure {name!r}; known: {', '.join(known)}")
            # stored as the validated model's dump, defaults spelled out: the digest pins them
            out[name] = known[name].Params.model_validate(params).model_dump(mode="json")
        return out

    def measures(self) -> tuple[Measure, ...]:
        """The measures this version runs on a layer, in their order."""
        return tuple(m for m in registered() if m.in_protocol(self))

    def measure_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.measures())

    def digest(self) -> str:
        dumped = self.model_dump(mode="json", exclude_none=True)
        return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        """One paragraph of what this version measures, for the site and the CLI."""
        parts = [f"probe of up to {self.probe_size} class-balanced test points", f"{self.n_landmarks} landmarks"]
        if self.betti_resolution is not None:
            r = self.betti_resolution
            parts.append(
                f"Betti numbers at the cloud's own sampling resolution (H1 bars count above {r.band[1]} x the "
                f"scale, ambiguous from {r.band[0]}; H0 above {r.h0_band[1]} x the resolution, ambiguous from "
                f"{r.h0_band[0]}: an ambiguous number is reported as a range, not a value)"
            )
        else:
            parts.append(f"Betti rule `{self.betti_rule}` (factor {self.betti_factor})")
        if self.class_topology is not None:
            parts.append(registered_measure("class_topology").describe(self))
        if self.robust is not None:
            robust = self.robust
            parts.append(
                f"the whole cloud's and each class's components and loops of the distance-to-measure "
                f"filtration (mass {robust.mass}) that outlive a bootstrap band at level {robust.level} "
                f"({robust.n_bootstrap} resamples)"
            )
        ceiling = {
            "eckmann_ruelle": ", censored above 2 log10 N (Eckmann & Ruelle)",
            "calibrated": f", calibrated against tables of Gaussian and ball clouds on the same pool (at most "
            f"{self.phdim_pool} points) and schedule, with a 95% interval; censored (a lower bound) "
            "only where the interval has no finite upper end",
            "calibrated_broad": f", calibrated against tables of a bank of manifold kinds (Gaussian, ball, curved, "
            f"non-uniform, heavy-tailed, mixed and non-linearly embedded clouds) on the same pool (at most "
            f"{self.phdim_pool} points) and schedule, with a 95% interval spanning the kinds' spread; censored "
            "(a lower bound) only where the interval has no finite upper end",
        }.get(self.phdim_ceiling or "", "")
        parts.append(
            f"PHdim alpha {self.phdim_alpha} with {self.phdim_n_sizes} sizes x {self.phdim_repeats} subsamples"
            + ceiling
        )
        parts.append(f"TwoNN and MLE (k = {self.mle_k}) intrinsic dimensions, a linear probe")
        for m in self.measures():
            if m.name in (self.measure_params or {}):
                parts.append(m.describe(m.params(self)))
        if self.checkpoint_epochs:
            who = (
                "every job"
                if self.checkpoint_seeds is None
                else (
                    f"seed {', '.join(map(str, self.checkpoint_seeds))} of each architecture at default hyperparameters"
                )
            )
            parts.append(f"measured at epochs {', '.join(map(str, self.checkpoint_epochs))} and the last for {who}")
        return "; ".join(parts) + "."

    def betti_rule_object(self) -> M.ResolutionRule | M.BettiRule:
        """The Betti rule of this version: the sampling-resolution rule, or v1's legacy rule."""
        if self.betti_resolution is not None:
            return self.betti_resolution.rule()
        return M.BettiRule(self.betti_rule, 2.0 if self.betti_factor is None else self.betti_factor)

    def measures_checkpoints(self, *, seed: int, at_defaults: bool, control: str | None, frozen: bool) -> bool:
        """Whether a job is measured at ``checkpoint_epochs`` as well as at the end."""
        if not self.checkpoint_epochs:
            return False
        if self.checkpoint_seeds is None:
            return True
        return seed in self.checkpoint_seeds and at_defaults and control is None and not frozen


PROTOCOLS = {
    1: ProtocolConfig(version=1),
    # v2: Betti numbers at the cloud's own resolution, per-class homology (hop and Euclidean), the
    # whole cloud's components, normalised total persistence, censored PHdim, and the learning
    # dynamics (epochs 0, 1, 2, 5 and the last) of one seed per architecture and task. The probe
    # cap rises to 2,000 so that the two-class synthetic tasks have 1,000 points per class; tasks
    # whose own probe is smaller keep theirs.
    2: ProtocolConfig(
        version=2,
        probe_size=2000,
        betti_rule="sampling_resolution",
        betti_factor=None,
        betti_resolution=ResolutionParams(),
        phdim_ceiling="eckmann_ruelle",
        class_topology=ClassTopologyParams(),
        checkpoint_epochs=(0, 1, 2, 5),
        checkpoint_seeds=(0,),
    ),
    # v3: v2 plus calibrated PHdim (pool up to 2,000 points: its resolution limit is 29.9 against
    # 10.7 at 1,000) and the DTM filtration's significant components and loops, whole and per
    # class. Every v2 field stays, so the two rules can be compared on the same layers.
    3: ProtocolConfig(
        version=3,
        probe_size=2000,
        betti_rule="sampling_resolution",
        betti_factor=None,
        betti_resolution=ResolutionParams(),
        phdim_ceiling="calibrated",
        phdim_pool=2000,
        class_topology=ClassTopologyParams(),
        robust=RobustParams(),
        checkpoint_epochs=(0, 1, 2, 5),
        checkpoint_seeds=(0,),
    ),
}
# v4 (a draft: not yet the benchmark's version, and its records are not the reference results):
# v3 with PHdim read through the broad calibration table (a bank of manifold kinds, whose
# interval covers kinds that did not build it) and GRIDE, intrinsic dimension across scales
# (reptopo/measures/catalog/gride.py)
PROTOCOLS[4] = ProtocolConfig.model_validate(
    {**PROTOCOLS[3].model_dump(), "version": 4, "phdim_ceiling": "calibrated_broad", "measure_params": {"gride": {}}}
)
CURRENT_VERSION = 3


def protocol(version: int = CURRENT_VERSION) -> ProtocolConfig:
    if version not in PROTOCOLS:
        raise UnknownName(f"no protocol version {version}; known: {sorted(PROTOCOLS)}")
    return PROTOCOLS[version]


# the fewest points a layer's cloud may have: below it no measure answers
MIN_POINTS = 30


def measure_layer(
    x: np.ndarray, y: np.ndarray | None, cfg: ProtocolConfig, layer: str, *, measures: tuple[str, ...] | None = None
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Every measure the protocol ``cfg`` runs on one layer's cloud (or the named subset of
    them, in their own order): (JSON-ready dict, persistence diagrams).

    A cloud that no measure can describe (NaN, constant, mostly duplicates) gives a flagged
    result ``{"error": ...}`` naming the layer and the problem, never a silent number; a single
    measure that fails is flagged in its own field and the others are kept. Without labels (``y``
    None: an unlabelled task) each measure that needs classes is flagged as skipped, saying why. Each result is
    checked against the record's shape of it where it is computed, so a measure whose result
    no longer fits fails here, naming the layer and the field, not later in the store.

    BLAS runs on one thread here, as in the runner's workers: the linear probe's solver stops
    at an iteration limit, and its answer must not depend on how many threads summed it.
    """
    run = cfg.measure_names()
    unknown = sorted(set(measures or ()) - set(run))
    if unknown:
        raise UnknownName(f"measures: {unknown} are not measures of protocol {cfg.version}; known: {list(run)}")
    chosen = [m for m in cfg.measures() if measures is None or m.name in measures]
    with threadpool_limits(limits=1, user_api="blas"):
        return _measure_layer(x, y, cfg, layer, chosen)


def _measure_layer(
    x: np.ndarray, y: np.ndarray | None, cfg: ProtocolConfig, layer: str, chosen: list[Measure]
) -> tuple[dict[str, Any], list[np.ndarray]]:
    out: dict[str, Any] = {"n_points": int(x.shape[0]), "n_features": int(x.shape[1])}
    start = time.perf_counter()
    try:
        x = M.check_cloud(x, layer=layer, min_points=MIN_POINTS, max_duplicate_fraction=cfg.max_duplicate_fraction)
    except M.CloudError as exc:
        out["error"] = str(exc)
        return out, []
    out["duplicate_fraction"] = M.duplicate_fraction(x)
    ctx = Context(cfg=cfg, layer=layer)
    for measure in chosen:
        if y is None and measure.needs_labels:
            out[measure.name] = {
                "error": f"layer {layer!r}: skipped: {measure.name} needs class labels; the task is unlabelled"
            }
            continue
        try:
            value = measure.run(x, y, measure.params(cfg), ctx)  # type: ignore[arg-type]  # y is None only where no labels are read
        except (M.CloudError, ValueError, np.linalg.LinAlgError) as exc:
            value = {"error": f"layer {layer!r}: {exc}" if layer not in str(exc) else str(exc)}
        try:
            measure.check(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in (measure.name, *err["loc"][1:]))
            raise MeasureShapeError(
                f"layer {layer!r}: the measures do not fit the record: {field}: {err['msg']}"
            ) from exc
        out[measure.name] = value
    out["seconds"] = time.perf_counter() - start
    return out, ctx.diagrams
