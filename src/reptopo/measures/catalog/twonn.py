"""TwoNN intrinsic dimension (Facco et al. 2017, as Ansuini et al. 2019 run it;
:func:`reptopo.measures.twonn`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..measure import Context, Strict, TopLevelMeasure, register


class IntrinsicDimension(Strict):
    dimension: float
    method: str
    n_dropped: int
    n_used: int
    params: dict[str, float | int]


# shared by the nearest-neighbour estimators (TwoNN, the MLE)
ID_LEAVES: dict[str, Any] = {"method": "parameter", "params": "parameter", "n_dropped": "count", "n_used": "count"}


@register
class TwoNNMeasure(TopLevelMeasure):
    name = "twonn"
    order = 50
    Result = IntrinsicDimension
    leaves = ID_LEAVES
    column_names = ("twonn",)

    def run(self, x: np.ndarray, y: np.ndarray, cfg: Any, ctx: Context) -> dict[str, Any]:
        from .. import twonn

        return twonn(x, discard_fraction=cfg.twonn_discard, layer=ctx.layer).to_dict()

    def columns(self, value: Any) -> dict[str, Any]:
        return {"twonn": (value or {}).get("dimension")}
