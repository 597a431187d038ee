"""The Levina-Bickel maximum-likelihood intrinsic dimension (:func:`reptopo.measures.mle`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..measure import Context, TopLevelMeasure, register
from .twonn import ID_LEAVES, IntrinsicDimension


@register
class MLEMeasure(TopLevelMeasure):
    name = "mle"
    order = 60
    Result = IntrinsicDimension
    leaves = ID_LEAVES
    column_names = ("mle",)

    def run(self, x: np.ndarray, y: np.ndarray, cfg: Any, ctx: Context) -> dict[str, Any]:
        from .. import mle

        return mle(x, k=cfg.mle_k, layer=ctx.layer).to_dict()

    def columns(self, value: Any) -> dict[str, Any]:
        return {"mle": (value or {}).get("dimension")}
