"""Per-class homology (hop and Euclidean metrics), the whole cloud's components and normalised
total persistence, and from protocol v3 the DTM filtration's significant counts
(:func:`reptopo.measures.class_topology`)."""

from __future__ import annotations

from typing import Any, Literal, Union

import numpy as np

from ..measure import Context, Strict, TopLevelMeasure, register


class ClassHomology(Strict):
    n_points: int
    betti_hops: list[int]
    betti_euclidean: list[int | None]
    betti_euclidean_range: list[list[int]]
    total_persistence: list[float]
    betti_dtm: list[int] | None = None
    dtm_near_band: list[int] | None = None
    dtm_error: str | None = None


class ClassTooSmall(Strict):
    """A class that per-class homology could not measure; the message names it and its count."""

    n_points: int
    error: str


class RobustCounts(Strict):
    """The whole cloud's components and loops of the DTM filtration above a bootstrap band
    (protocol v3; lengths in units of the layer's RMS radius)."""

    b0: int
    b1: int | None
    bands: list[float]
    near_band: list[int]
    largest_below: list[float]
    component_sizes: list[int]
    k: int


class RobustRule(Strict):
    name: Literal["dtm_bootstrap"]
    mass: float
    min_k: int
    level: float
    n_bootstrap: int


class WholeCloud(Strict):
    b0: int | None
    b0_range: list[int]
    b0_large: int
    component_sizes: list[int]
    resolution: float
    total_persistence: list[float]
    dtm: RobustCounts | None = None


class ClassTopology(Strict):
    """Per-class homology (hop and Euclidean), the whole cloud's components and normalised total
    persistence (:func:`reptopo.measures.class_topology`)."""

    classes: dict[str, Union[ClassHomology, ClassTooSmall]]
    mean_betti_hops: list[float] | None
    mean_betti_euclidean: list[float] | None
    mean_total_persistence: list[float] | None
    whole: WholeCloud
    unit: float
    normalisation: str
    k: int
    hops: int
    maxdim: int
    min_class_points: int
    n_landmarks: int
    min_component_fraction: float
    n_classes_measured: int
    n_classes_resolved: int
    seed: int
    robust: RobustRule | None = None
    mean_betti_dtm: list[float] | None = None


@register
class ClassTopologyMeasure(TopLevelMeasure):
    name = "class_topology"
    order = 20
    needs_labels = True
    Result = ClassTopology
    leaves = {
        **dict.fromkeys(
            (
                "seed",
                "k",
                "hops",
                "maxdim",
                "n_landmarks",
                "min_class_points",
                "min_component_fraction",
                "normalisation",
                # the DTM rule's settings, and the features just below the band: diagnostics
                # of a score, which would count one measurement several times
                "robust",
                "near_band",
                "dtm_near_band",
                "largest_below",
            ),
            "parameter",
        ),
        **dict.fromkeys(
            (
                "betti_hops",
                "betti_euclidean",
                "betti_euclidean_range",
                "b0",
                "b1",
                "b0_range",
                "b0_large",
                "component_sizes",
                "n_classes_measured",
                "n_classes_resolved",
                "n_points",
                "betti_dtm",
            ),
            "count",
        ),
    }
    # ``class_betti_sum``: the mean over classes of b0 + b1 on the hop metric (Naitzat et al.'s
    # topological complexity); ``class_trivial_fraction``: the share of measured classes whose hop
    # Betti numbers are those of a point, (1, 0)
    column_names = (
        "class_betti_hops_0",
        "class_betti_hops_1",
        "class_betti_sum",
        "class_trivial_fraction",
        "class_betti_euclidean_0",
        "class_betti_euclidean_1",
        "class_tp_h0",
        "class_tp_h1",
        "whole_b0",
        "whole_b0_large",
        "whole_tp_h0",
        "whole_tp_h1",
        "n_classes_measured",
        "trivial_classes",
        "whole_b0_dtm",
        "whole_b1_dtm",
        "whole_b0_dtm_near",
        "class_betti_dtm_0",
        "class_betti_dtm_1",
        "class_betti_dtm_sum",
    )

    def in_protocol(self, cfg: Any) -> bool:
        return cfg.class_topology is not None

    def describe(self, cfg: Any) -> str:
        c = cfg.class_topology
        return (
            f"per-class Betti numbers on the {c.k}-NN hop metric at {c.hops} hops (Naitzat et al.) and on "
            "the Euclidean metric, the whole cloud's components and total persistence normalised by the "
            "layer's RMS radius"
        )

    def run(self, x: np.ndarray, y: np.ndarray, cfg: Any, ctx: Context) -> dict[str, Any]:
        from .. import class_topology

        ct = cfg.class_topology
        return class_topology(
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
            layer=ctx.layer,
            whole=ctx.earlier.get("persistence_result"),
            robust=cfg.robust.rule() if cfg.robust is not None else None,
        ).to_dict()

    def columns(self, value: Any) -> dict[str, Any]:
        row = dict.fromkeys(self.column_names)
        ct = value
        if not ct or "error" in ct:
            return row
        measured = [c for c in ct["classes"].values() if "error" not in c]
        hops, euclid, tp = ct.get("mean_betti_hops"), ct.get("mean_betti_euclidean"), ct.get("mean_total_persistence")
        if hops:
            row["class_betti_hops_0"], row["class_betti_hops_1"] = hops[0], hops[1] if len(hops) > 1 else None
            row["class_betti_sum"] = float(sum(hops[:2]))
        if measured:
            trivial = [c["betti_hops"][0] == 1 and not any(c["betti_hops"][1:]) for c in measured]
            row["class_trivial_fraction"] = float(np.mean(trivial))
            names = [name for name, c in ct["classes"].items() if "error" not in c]
            row["trivial_classes"] = ",".join(n for n, t in zip(names, trivial) if t)
        if euclid:
            row["class_betti_euclidean_0"], row["class_betti_euclidean_1"] = (
                euclid[0],
                euclid[1] if len(euclid) > 1 else None,
            )
        if tp:
            row["class_tp_h0"], row["class_tp_h1"] = tp[0], tp[1]
        whole = ct["whole"]
        row["whole_b0"], row["whole_b0_large"] = whole["b0"], whole["b0_large"]
        row["whole_tp_h0"], row["whole_tp_h1"] = whole["total_persistence"][:2]
        row["n_classes_measured"] = ct.get("n_classes_measured")
        dtm = whole.get("dtm")
        if dtm:  # protocol v3: the DTM filtration's significant counts
            row["whole_b0_dtm"], row["whole_b1_dtm"], row["whole_b0_dtm_near"] = (
                dtm["b0"],
                dtm["b1"],
                dtm["near_band"][0],
            )
        mean_dtm = ct.get("mean_betti_dtm")
        if mean_dtm:
            row["class_betti_dtm_0"] = mean_dtm[0]
            row["class_betti_dtm_1"] = mean_dtm[1] if len(mean_dtm) > 1 else None
            row["class_betti_dtm_sum"] = float(sum(mean_dtm[:2]))
        return row
