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
from pydantic import BaseModel, ConfigDict, Field
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from . import measures as M


class ProtocolConfig(BaseModel):
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
    betti_factor: float = 2.0
    # PHdim
    phdim_alpha: float = 1.0
    phdim_pool: int = 1000
    phdim_n_sizes: int = 16
    phdim_repeats: int = 7
    phdim_bootstrap: int = 100
    phdim_class_min_points: int = 60
    # intrinsic dimension
    twonn_discard: float = 0.1
    mle_k: int = 20
    # linear probe: logistic regression on standardised features, held-out part of the probe set
    linear_probe_holdout: float = 0.3
    linear_probe_c: float = 1.0
    linear_probe_max_iter: int = 300
    # measures at these training epochs as well as at the end (empty: at the end only)
    checkpoint_epochs: tuple[int, ...] = ()

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


PROTOCOLS = {1: ProtocolConfig(version=1)}
CURRENT_VERSION = 1


def protocol(version: int = CURRENT_VERSION) -> ProtocolConfig:
    if version not in PROTOCOLS:
        raise KeyError(f"no protocol version {version}; known: {sorted(PROTOCOLS)}")
    return PROTOCOLS[version]


def linear_probe_accuracy(x: np.ndarray, y: np.ndarray, cfg: ProtocolConfig) -> float:
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=cfg.linear_probe_holdout, random_state=cfg.seed, stratify=y)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=cfg.linear_probe_c, max_iter=cfg.linear_probe_max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(xtr, ytr)
    return float(clf.score(xte, yte))


def measure_layer(x: np.ndarray, y: np.ndarray, cfg: ProtocolConfig, layer: str) -> tuple[dict, list[np.ndarray]]:
    """Every measure of one layer's cloud: (JSON-ready dict, persistence diagrams).

    BLAS runs on one thread here, as in the runner's workers: the linear probe's solver stops
    at an iteration limit, and its answer must not depend on how many threads summed it.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _measure_layer(x, y, cfg, layer)


def _measure_layer(x: np.ndarray, y: np.ndarray, cfg: ProtocolConfig, layer: str) -> tuple[dict, list[np.ndarray]]:
    """A cloud that no measure can describe (NaN, constant, mostly duplicates) gives a flagged
    result ``{"error": ...}`` naming the layer and the problem, never a silent number; a single
    measure that fails is flagged in its own field and the others are kept.
    """
    out: dict = {"n_points": int(x.shape[0]), "n_features": int(x.shape[1])}
    start = time.perf_counter()
    try:
        x = M.check_cloud(x, layer=layer, min_points=30, max_duplicate_fraction=cfg.max_duplicate_fraction)
    except M.CloudError as exc:
        out["error"] = str(exc)
        return out, []
    out["duplicate_fraction"] = M.duplicate_fraction(x)
    diagrams: list[np.ndarray] = []

    def attempt(name, fn):
        try:
            out[name] = fn()
        except (M.CloudError, ValueError, np.linalg.LinAlgError) as exc:
            out[name] = {"error": f"layer {layer!r}: {exc}" if layer not in str(exc) else str(exc)}

    def ph():
        res = M.persistence(
            x, maxdim=cfg.maxdim, n_landmarks=cfg.n_landmarks, metric=cfg.metric,
            rule=M.BettiRule(cfg.betti_rule, cfg.betti_factor), seed=cfg.seed, layer=layer,
        )
        diagrams.extend(res.diagrams)
        return res.to_dict()

    def ph_dim():
        pool = min(cfg.phdim_pool, len(x))
        return M.phdim(
            x, alpha=cfg.phdim_alpha, pool_size=pool, sizes=M.default_schedule(pool, cfg.phdim_n_sizes),
            n_repeats=cfg.phdim_repeats, seed=cfg.seed, n_bootstrap=cfg.phdim_bootstrap, layer=layer,
            ceiling=None,  # protocol v1 had no resolution ceiling
        ).to_dict()

    def ph_dim_classes():
        res = M.phdim_per_class(
            x, y, min_class_points=cfg.phdim_class_min_points, alpha=cfg.phdim_alpha,
            n_repeats=cfg.phdim_repeats, seed=cfg.seed, n_bootstrap=0, layer=layer, ceiling=None,
        )
        return {"mean": res["mean"], "skipped": res["skipped"],
                "classes": {c: r.dimension for c, r in res["classes"].items()}}

    attempt("persistence", ph)
    attempt("phdim", ph_dim)
    attempt("phdim_per_class", ph_dim_classes)
    attempt("twonn", lambda: M.twonn(x, discard_fraction=cfg.twonn_discard, layer=layer).to_dict())
    attempt("mle", lambda: M.mle(x, k=cfg.mle_k, layer=layer).to_dict())
    attempt("linear_probe_accuracy", lambda: linear_probe_accuracy(x, y, cfg))
    out["seconds"] = time.perf_counter() - start
    return out, diagrams
