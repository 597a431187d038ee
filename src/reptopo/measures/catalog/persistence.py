"""Persistent homology of the whole cloud on landmarks, with its Betti numbers read by the
protocol's rule (:func:`reptopo.measures.persistence`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import Field

from ..measure import Context, Strict, TopLevelMeasure, model_of, register
from ..results import BettiRule, ResolutionRule
from ..results import DiagramSummary as DiagramSummaryResult


class DiagramSummary(model_of(DiagramSummaryResult)):  # type: ignore[misc]
    """A persistence diagram's summary (reptopo.measures.homology.DiagramSummary)."""


class LegacyBettiRule(model_of(BettiRule, defaults=False, name=Literal["covering_radius", "largest_gap"])):  # type: ignore[misc]
    """Protocol v1's Betti rule as a record holds it (:class:`reptopo.measures.BettiRule`)."""


_ResolutionFields: Any = model_of(
    ResolutionRule,
    defaults=False,
    name=Literal["sampling_resolution"],
    band=tuple[float, float],
    h0_band=tuple[float, float],
)


class ResolutionBettiRule(_ResolutionFields):
    """The sampling-resolution Betti rule as a record holds it (:class:`reptopo.measures.ResolutionRule`)."""


class Resolution(Strict):
    eps_cloud: float
    eps_landmarks: float
    scale_h1: float
    neighbour_rank: int
    max_scale: float | None
    why: str


class Persistence(Strict):
    betti: list[int | None]
    summaries: list[DiagramSummary]
    betti_rule: Annotated[Union[LegacyBettiRule, ResolutionBettiRule], Field(discriminator="name")]
    thresholds: list[float]
    covering_radius: float
    metric: str
    n_landmarks: int
    maxdim: int
    k: int | None
    seed: int
    betti_range: list[tuple[int, int]] | None = None
    resolved: bool | None = None
    resolution: Resolution | None = None


@register
class PersistenceMeasure(TopLevelMeasure):
    name = "persistence"
    order = 10
    aliases = ("betti",)
    Result = Persistence
    leaves = {
        **dict.fromkeys(
            ("seed", "n_landmarks", "maxdim", "k", "metric", "band", "h0_band", "max_birth", "landmark_weight"),
            "parameter",
        ),
        "neighbour_rank": "parameter",
        **dict.fromkeys(("betti", "betti_range", "n_bars", "n_infinite", "resolved"), "count"),
    }

    def run(self, x: np.ndarray, y: np.ndarray, params: Any, ctx: Context) -> dict[str, Any]:
        from .. import persistence

        res = persistence(
            x,
            maxdim=params.maxdim,
            n_landmarks=params.n_landmarks,
            metric=params.metric,
            rule=params.betti_rule_object(),
            seed=params.seed,
            layer=ctx.layer,
        )
        ctx.diagrams.extend(res.diagrams)
        ctx.earlier["persistence_result"] = res  # the per-class measure reuses the whole cloud's
        return res.to_dict()

    def columns(self, value: Any) -> dict[str, Any]:
        ph = value or {}
        row: dict[str, Any] = {}
        for dim, b in enumerate(ph.get("betti", [])):
            row[f"betti_{dim}"] = b
        for dim, s in enumerate(ph.get("summaries", [])):
            row[f"total_persistence_{dim}"] = s["total_persistence"]
            row[f"max_persistence_{dim}"] = s["max_persistence"]
            row[f"persistent_entropy_{dim}"] = s["persistent_entropy"]
        return row

    def flags(self, value: Any) -> list[str]:
        return ["Betti numbers unresolved (a range)"] if value.get("resolved") is False else []
