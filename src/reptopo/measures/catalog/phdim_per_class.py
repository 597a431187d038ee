"""PHdim of each class's cloud, and their mean (:func:`reptopo.measures.phdim_per_class`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..measure import Context, Strict, TopLevelMeasure, register


class PHDimPerClass(Strict):
    mean: float | None
    skipped: list[str]
    classes: dict[str, float | None]
    censored: list[str] | None = None


@register
class PHDimPerClassMeasure(TopLevelMeasure):
    name = "phdim_per_class"
    order = 40
    needs_labels = True
    Result = PHDimPerClass
    leaves = {"censored": "count"}
    column_names = ("phdim_per_class", "phdim_per_class_censored")

    def run(self, x: np.ndarray, y: np.ndarray, cfg: Any, ctx: Context) -> dict[str, Any]:
        from .. import phdim_per_class

        res = phdim_per_class(
            x,
            y,
            min_class_points=cfg.phdim_class_min_points,
            alpha=cfg.phdim_alpha,
            n_repeats=cfg.phdim_repeats,
            seed=cfg.seed,
            n_bootstrap=0,
            layer=ctx.layer,
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

    def columns(self, value: Any) -> dict[str, Any]:
        per_class = value or {}
        return {"phdim_per_class": per_class.get("mean"), "phdim_per_class_censored": bool(per_class.get("censored"))}
