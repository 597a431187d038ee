"""Which per-layer measure predicts accuracy and generalization? Scores, statistics, rankings.

One module per concern: :mod:`.stats` (rank correlations with intervals, granulated Kendall,
CMI), :mod:`.scores` (per-model scores and their correlations, curves, dynamics), :mod:`.board`
(the measures board), :mod:`.comparisons` (what the comparison maps say), :mod:`.literature`
(published findings, each a typed :class:`~reptopo.analysis.literature.Finding`) and
:mod:`.stability` (each verdict re-derived on resamples of the population), :mod:`.headlines`
(the verdicts table and the home page's sentences) and :mod:`.tables` (a store's analysis,
written to its ``tables/``).

Definitions (scores version 2):
- A model's per-layer curve uses one pooling per layer, the first present of
  raw > flat > mean > gap > cls (flattened conv maps as Ansuini et al.; mean-pooled tokens).
- Hidden layers are the measured layers other than the input and the head; the last hidden
  layer is the deepest of them.
- A censored PHdim (protocol v2: beyond what the sample resolves) is a bound, not a value: its
  score column is empty and ``<score>_censored`` is True. For ranks (Kendall, Spearman, the
  granulated and CMI scores) a censored value ranks above every measured one, censored values
  tied among themselves; no mean, drop or ratio is taken over a censored value.
- Per-class topology (protocol v2): ``class_betti_sum`` is the mean over classes of b0 + b1 on
  the hop metric; ``class_trivial_fraction`` the share of classes reading (1, 0);
  ``whole_b0`` the whole cloud's components at its resolution; ``class_tp_h*`` and
  ``whole_tp_h*`` total persistence normalised by the layer's RMS radius.
- A score that is constant over a task's trained models has no rank correlation: its row says
  so in ``note`` instead of leaving a blank.
- Kendall's tau is tau-b (scipy); Spearman's rho likewise; both with a percentile bootstrap
  interval over models (resampled with replacement).
- Granulated Kendall (Jiang et al. 2020): for each hyperparameter axis i, the mean tau within
  the groups of models that differ only in axis i (same architecture, seed and other axes);
  Psi is the mean over axes.
- CMI score (PGDL 2020): over ordered pairs of models in a cell, V_gap = [gap_1 > gap_2] and
  V_mu = [mu_1 > mu_2]; for every conditioning set S of two axes (one when there is one axis),
  the mean over the cells of S of MI(V_gap; V_mu) divided by the mean of H(V_gap); the
  minimum over S.
"""

from .board import ALL_TASKS, measures_board
from .comparisons import cka_rtd_agreement, comparison_findings, matched_similarity, seeds_against_architectures
from .findings import Claim, Finding, findings_of, findings_table
from .headlines import board_headlines, finding_sentences, headline_findings, source_findings, verdicts
from .literature import (
    dynamics_check,
    head_components_check,
    literature_checks,
    magai2023_check,
    reach_depth,
)
from .scores import (
    SCORES_VERSION,
    architecture_table,
    complete_axes,
    correlate,
    curves,
    dynamics,
    model_scores,
    primary_layers,
    rank_values,
)
from .stats import bootstrap_ci, cmi_score, granulated_kendall, kendall_tau
from .tables import AnalysisReport, analyze, analyze_store, tables_of

__all__ = [
    "ALL_TASKS",
    "AnalysisReport",
    "Claim",
    "Finding",
    "SCORES_VERSION",
    "analyze",
    "analyze_store",
    "architecture_table",
    "board_headlines",
    "bootstrap_ci",
    "cka_rtd_agreement",
    "cmi_score",
    "comparison_findings",
    "complete_axes",
    "correlate",
    "curves",
    "dynamics",
    "dynamics_check",
    "source_findings",
    "finding_sentences",
    "findings_of",
    "findings_table",
    "granulated_kendall",
    "head_components_check",
    "headline_findings",
    "kendall_tau",
    "literature_checks",
    "magai2023_check",
    "matched_similarity",
    "measures_board",
    "model_scores",
    "primary_layers",
    "rank_values",
    "reach_depth",
    "seeds_against_architectures",
    "tables_of",
    "verdicts",
]
