"""How linearly separable the classes are: a logistic regression on standardised features,
scored on a held-out part of the probe set."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..measure import Context, TopLevelMeasure, register


def linear_probe_accuracy(x: np.ndarray, y: np.ndarray, cfg: Any) -> float:
    # scikit-learn loads here, not with the module: the command line and the record's readers
    # import the measures' definitions without measuring anything
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


@register
class LinearProbeMeasure(TopLevelMeasure):
    name = "linear_probe_accuracy"
    order = 70
    needs_labels = True
    aliases = ("linear_probe",)
    Result = float
    column_names = ("linear_probe_accuracy",)

    def run(self, x: np.ndarray, y: np.ndarray, cfg: Any, ctx: Context) -> float:
        return linear_probe_accuracy(x, y, cfg)

    def columns(self, value: Any) -> dict[str, Any]:
        return {"linear_probe_accuracy": value if isinstance(value, float) else None}
