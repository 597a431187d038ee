"""The versioned measuring protocol: every parameter that changes a number lives here.

A change to any parameter is a new protocol version: ``PROTOCOLS`` maps each version to its
config, and ``tests/test_protocol.py`` pins the hash of each published version so that a
silent edit fails CI. Results of different versions are never mixed in one table.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from . import measures as M
from .errors import MeasureShapeError, UnknownName
from .record import LayerMeasures


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
    betti_rule: str = "covering_radius"
    betti_factor: float | None = Field(2.0, description="the legacy rules' factor (v1)")
    betti_resolution: ResolutionParams | None = Field(None, description="the sampling-resolution rule (v2)")
    # PHdim
    phdim_alpha: float = 1.0
    phdim_pool: int = 1000
    phdim_n_sizes: int = 16
    phdim_repeats: int = 7
    phdim_bootstrap: int = 100
    phdim_class_min_points: int = 60
    phdim_ceiling: Literal["eckmann_ruelle", "calibrated"] | None = Field(
        None,
        description="v2: censor estimates above 2 log10 N; v3: read the fit through the calibration table of "
        "its pool and schedule, censored only where the interval has no finite upper end",
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
            c = self.class_topology
            parts.append(
                f"per-class Betti numbers on the {c.k}-NN hop metric at {c.hops} hops (Naitzat et al.) and on "
                "the Euclidean metric, the whole cloud's components and total persistence normalised by the "
                "layer's RMS radius"
            )
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
        }.get(self.phdim_ceiling or "", "")
        parts.append(
            f"PHdim alpha {self.phdim_alpha} with {self.phdim_n_sizes} sizes x {self.phdim_repeats} subsamples"
            + ceiling
        )
        parts.append(f"TwoNN and MLE (k = {self.mle_k}) intrinsic dimensions, a linear probe")
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

    def betti_rule_object(self):
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
CURRENT_VERSION = 3


def protocol(version: int = CURRENT_VERSION) -> ProtocolConfig:
    if version not in PROTOCOLS:
        raise UnknownName(f"no protocol version {version}; known: {sorted(PROTOCOLS)}")
    return PROTOCOLS[version]


def linear_probe_accuracy(x: np.ndarray, y: np.ndarray, cfg: ProtocolConfig) -> float:
    # scikit-learn loads here, not with the module: the command line and the record's readers
    # import the protocol's versions without measuring anything
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr, xte, ytr, yte = train_test_split(x, y, test_size=cfg.linear_probe_holdout, random_state=cfg.seed, stratify=y)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=cfg.linear_probe_c, max_iter=cfg.linear_probe_max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    return float(clf.score(xte, yte))


# the measures of one layer, in the order they run, by the record's field names
MEASURES = ("persistence", "class_topology", "phdim", "phdim_per_class", "twonn", "mle", "linear_probe_accuracy")
# the ones that need class labels
LABELLED_MEASURES = ("class_topology", "phdim_per_class", "linear_probe_accuracy")
# the fewest points a layer's cloud may have: below it no measure answers
MIN_POINTS = 30


def measure_layer(
    x: np.ndarray, y: np.ndarray, cfg: ProtocolConfig, layer: str, *, measures: tuple[str, ...] | None = None
) -> tuple[dict, list[np.ndarray]]:
    """Every measure of one layer's cloud (or the named subset of :data:`MEASURES`, in their own
    order): (JSON-ready dict, persistence diagrams).

    BLAS runs on one thread here, as in the runner's workers: the linear probe's solver stops
    at an iteration limit, and its answer must not depend on how many threads summed it.
    """
    unknown = sorted(set(measures or ()) - set(MEASURES))
    if unknown:
        raise ValueError(f"measures: {unknown} are not measures of the protocol; known: {list(MEASURES)}")
    with threadpool_limits(limits=1, user_api="blas"):
        out, diagrams = _measure_layer(x, y, cfg, layer, MEASURES if measures is None else tuple(measures))
    _check_shape(out, layer)
    return out, diagrams


def _check_shape(out: dict, layer: str) -> None:
    """The measures' dict against the record's :class:`reptopo.record.LayerMeasures`, where they
    are computed: a measure whose result no longer fits the record fails here, naming the layer
    and the field, not later in the store."""
    try:
        LayerMeasures.model_validate(out)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise MeasureShapeError(f"layer {layer!r}: the measures do not fit the record: {field}: {err['msg']}") from exc


def _measure_layer(
    x: np.ndarray, y: np.ndarray, cfg: ProtocolConfig, layer: str, measures: tuple[str, ...]
) -> tuple[dict, list[np.ndarray]]:
    """A cloud that no measure can describe (NaN, constant, mostly duplicates) gives a flagged
    result ``{"error": ...}`` naming the layer and the problem, never a silent number; a single
    measure that fails is flagged in its own field and the others are kept.
    """
    out: dict = {"n_points": int(x.shape[0]), "n_features": int(x.shape[1])}
    start = time.perf_counter()
    try:
        x = M.check_cloud(x, layer=layer, min_points=MIN_POINTS, max_duplicate_fraction=cfg.max_duplicate_fraction)
    except M.CloudError as exc:
        out["error"] = str(exc)
        return out, []
    out["duplicate_fraction"] = M.duplicate_fraction(x)
    diagrams: list[np.ndarray] = []
    whole: list = []  # the whole cloud's persistence, reused by the per-class measure

    def attempt(name, fn):
        if name not in measures:
            return
        try:
            out[name] = fn()
        except (M.CloudError, ValueError, np.linalg.LinAlgError) as exc:
            out[name] = {"error": f"layer {layer!r}: {exc}" if layer not in str(exc) else str(exc)}

    def ph():
        res = M.persistence(
            x,
            maxdim=cfg.maxdim,
            n_landmarks=cfg.n_landmarks,
            metric=cfg.metric,
            rule=cfg.betti_rule_object(),
            seed=cfg.seed,
            layer=layer,
        )
        diagrams.extend(res.diagrams)
        whole.append(res)
        return res.to_dict()

    def ph_dim():
        pool = min(cfg.phdim_pool, len(x))
        return M.phdim(
            x,
            alpha=cfg.phdim_alpha,
            pool_size=pool,
            sizes=M.default_schedule(pool, cfg.phdim_n_sizes),
            n_repeats=cfg.phdim_repeats,
            seed=cfg.seed,
            n_bootstrap=cfg.phdim_bootstrap,
            layer=layer,
            ceiling=cfg.phdim_ceiling,
        ).to_dict()

    def ph_dim_classes():
        res = M.phdim_per_class(
            x,
            y,
            min_class_points=cfg.phdim_class_min_points,
            alpha=cfg.phdim_alpha,
            n_repeats=cfg.phdim_repeats,
            seed=cfg.seed,
            n_bootstrap=0,
            layer=layer,
            ceiling=cfg.phdim_ceiling,
        )
        out = {
            "mean": res["mean"],
            "skipped": res["skipped"],
            "classes": {c: r.dimension for c, r in res["classes"].items()},
        }
        if cfg.phdim_ceiling is not None:
            out["censored"] = res["censored"]
        return out

    def class_topo():
        ct = cfg.class_topology
        assert ct is not None  # attempted only when the protocol measures it
        return M.class_topology(
            x,
            y,
            k=ct.k,
            hops=ct.hops,
            maxdim=ct.maxdim,
            min_class_points=ct.min_class_points,
            n_landmarks=cfg.n_landmarks,
            min_component_fraction=ct.min_component_fraction,
            rule=cfg.betti_rule_object(),
            seed=cfg.seed,
            layer=layer,
            whole=whole[0] if whole else None,
            robust=cfg.robust.rule() if cfg.robust is not None else None,
        ).to_dict()

    attempt("persistence", ph)
    if cfg.class_topology is not None:
        attempt("class_topology", class_topo)
    attempt("phdim", ph_dim)
    attempt("phdim_per_class", ph_dim_classes)
    attempt("twonn", lambda: M.twonn(x, discard_fraction=cfg.twonn_discard, layer=layer).to_dict())
    attempt("mle", lambda: M.mle(x, k=cfg.mle_k, layer=layer).to_dict())
    attempt("linear_probe_accuracy", lambda: linear_probe_accuracy(x, y, cfg))
    out["seconds"] = time.perf_counter() - start
    return out, diagrams
