"""Re-deriving a record on another machine: what is float noise and what is a real discrepancy.

Two kinds of verification, and every verdict names which one it is:

- **measurement**: the record's own checkpoint re-measured on its probe set. Floats must agree
  within :data:`MEASUREMENT_TOLERANCES`, which were measured across instruction sets (see
  ``bench/isa_spread.py`` and :mod:`reptopo.submission`). An estimator that amplifies float
  noise at one layer (two copies of one input whose computed distance is 0 on one machine and a
  rounding residue on another, near-duplicate points under the MLE, a bar whose length sits on
  a Betti threshold) is told apart by measuring it: the layer is measured again with its
  activations perturbed at the size of the noise that instruction sets put there
  (:data:`ACTIVATION_NOISE`), and a value whose difference is no larger than
  :data:`SENSITIVITY_FACTOR` times what that perturbation moves it is float noise. A discrete
  value (a Betti number, a component or tie count) may differ only so; an estimate computed on
  the points such a count left follows the count's verdict.
- **training**: the model retrained from its seed. Training is not deterministic across
  instruction sets (convolution kernels differ from the first step), so the re-run is judged
  against the spread of the reference's seeds: each score must lie in the seeds' prediction
  interval at :data:`PREDICTION_LEVEL` (the test accuracy in the one at
  :data:`HEADLINE_LEVEL`), with at least :data:`MIN_FRACTION_INSIDE` of the scores inside. A
  genuine new seed is consistent with the others by this rule. With fewer than
  :data:`MIN_REFERENCE_SEEDS` seeds the verdict says it cannot judge.

The content digest identifies a record; it is not a promise that a re-run elsewhere gives the
same bits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal

import numpy as np
import pandas as pd

from ..measures.measure import LeafKind
from ..measures.measure import get as get_measure

# --- the scores of a record, as flat leaves -----------------------------------------------------

# the kinds of a layer's own leaves and of the training summary's (a measure's leaves are its
# own business: reptopo.measures.measure.Measure.leaves)
LAYER_LEAVES: dict[str, LeafKind] = {
    "seconds": "parameter",
    "n_points": "count",
    "n_features": "count",
    "duplicate_fraction": "score",
}
TRAIN_LEAVES: dict[str, LeafKind] = {"epochs_run": "count"}


def leaf_kind(key: str) -> LeafKind:
    """Whether a leaf (a key of :func:`score_leaves`) is a score, a parameter or bookkeeping
    (never compared), or a count (moves in steps: judged by the sensitivity rule alone), as the
    measure it belongs to declares."""
    parts = [p for p in measure_path(key).split(".") if p != "*"]
    if parts[0] == "train":
        return TRAIN_LEAVES.get(parts[-1], "score")
    if parts[0] in LAYER_LEAVES:
        return LAYER_LEAVES[parts[0]]
    try:
        measure = get_measure(parts[0])
    except KeyError:
        return "score"
    return measure.leaf_kind(tuple(parts[1:]))


def score_leaves(record: dict, *, final_epoch_only: bool = False) -> dict[str, float]:
    """Every numeric leaf of a record's training summary and layer measures, keyed
    ``train.NAME`` or ``LAYER/POOLING/EPOCH/path.to.leaf`` (list items by index; EPOCH is
    ``final`` for the layers measured at the end of training, ``eN`` for those at epoch N).

    ``final_epoch_only``: only the layers measured at the end of training (what a checkpoint
    re-measures)."""
    out = {
        f"train.{k}": float(v)
        for k, v in record["train"].items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    final = record["train"]["epochs_run"]

    def walk(prefix: str, obj) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}.{k}", v)
        elif isinstance(obj, (list, tuple)):
            for i, v in enumerate(obj):
                walk(f"{prefix}.{i}", v)
        elif isinstance(obj, bool):
            out[prefix] = float(obj)
        elif isinstance(obj, (int, float)):
            out[prefix] = float(obj)

    for layer in record["layers"]:
        if final_epoch_only and layer["epoch"] != final:
            continue
        epoch = "final" if layer["epoch"] == final else f"e{layer['epoch']}"
        for name, value in layer["measures"].items():
            walk(f"{layer['name']}/{layer['pooling']}/{epoch}/{name}", value)
    return {k: v for k, v in out.items() if leaf_kind(k) != "parameter"}


def measure_path(key: str) -> str:
    """The measure a leaf belongs to, without its layer: ``phdim.dimension``,
    ``class_topology.classes.*.total_persistence.*``."""
    path = key.split("/", 3)[-1] if "/" in key else key
    return re.sub(r"\.\d+(?=\.|$)", ".*", re.sub(r"classes\.[^.]+", "classes.*", path))


def is_discrete(key: str) -> bool:
    return leaf_kind(key) == "count"


def relative_difference(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|); 0 for two equal values (NaN with NaN included), inf for one NaN."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


# --- measurement: a checkpoint re-measured -----------------------------------------------------

# Relative tolerances of continuous leaves under a measurement check, by measure (first match of
# ``measure_path``), measured by ``bench/isa_spread.py`` across instruction sets and threads on
# the same checkpoints; the figures and the margin are in reptopo.submission's docstring.
MEASUREMENT_TOLERANCES: tuple[tuple[str, float], ...] = (
    # accuracies count predictions: a few examples on a decision border may flip (measurement), and
    # seeds that agree on the accuracy can be one or two examples from a new seed (training)
    (r"^linear_probe_accuracy$", 5e-2),  # a logistic regression stopped at its iteration limit
    (r"^train\.(train|test)_accuracy$", 1e-2),
    (r"", 1e-3),
)
# The largest relative deviation bench/isa_spread.py measured, per measure, between the native run
# and the same checkpoints re-measured under other kernels (see reptopo.submission's docstring);
# TwoNN's and the MLE's come from layers with repeated inputs, whose computed distance is 0 or a
# rounding residue by machine (the probe's business; protocol v3 should find duplicates by rows).
MEASURED_DEVIATION: dict[str, tuple[str, float]] = {  # label: (a measure it covers, the deviation)
    "persistence (summaries, thresholds, resolution)": ("persistence.summaries.*.total_persistence", 4.8e-5),
    "class_topology (total persistence, scales)": ("class_topology.whole.total_persistence.*", 4.8e-5),
    "phdim, phdim_per_class (value, fit, interval, R2)": ("phdim.log_e_median.*", 3.2e-5),
    "twonn.dimension": ("twonn.dimension", 4.0e-2),
    "mle.dimension": ("mle.dimension", 4.9e-1),
    "linear_probe_accuracy": ("linear_probe_accuracy", 2.0e-2),
    "train.train_accuracy, train.test_accuracy": ("train.test_accuracy", 0.0),
    "train.train_loss, train.test_loss": ("train.test_loss", 3.9e-7),
}
ABSOLUTE_FLOOR = 1e-9  # below this two values are equal whatever their ratio (zeros of different sign)
# the perturbation that tells an ill-conditioned estimate from a real discrepancy: each entry of a
# layer's activations is scaled by (1 + ACTIVATION_NOISE * N(0, 1)); the size is the largest
# deviation of activations measured across instruction sets (max |a - b| / the layer's RMS)
ACTIVATION_NOISE = 2e-5
SENSITIVITY_REPEATS = 4  # half keep identical rows identical, half separate them
SENSITIVITY_FACTOR = 4.0


def tolerance_table() -> list[dict]:
    """The measurement tolerances with the deviations measured across instruction sets, for the
    Submit page: one row per measure family of :data:`MEASURED_DEVIATION`."""
    return [
        {"measure": label, "tolerance": f"{measurement_tolerance(path):.0e}", "measured": f"{measured:.1e}"}
        for label, (path, measured) in MEASURED_DEVIATION.items()
    ]


def measurement_tolerance(key: str) -> float:
    path = measure_path(key)
    return next(rtol for pattern, rtol in MEASUREMENT_TOLERANCES if re.search(pattern, path))


def perturb_rows(
    x: np.ndarray, seed: int, size: float = ACTIVATION_NOISE, *, keep_duplicates: bool = False
) -> np.ndarray:
    """``x`` with each entry scaled by (1 + size * N(0, 1)). Zeros (dead ReLU units) stay exactly
    zero, as under any kernel.

    ``keep_duplicates``: identical rows (a repeated input) get the same noise and stay identical,
    as bench/isa_spread.py saw across instruction sets; only their last bits change, and with them
    whether their computed distance (|x|^2 + |y|^2 - 2 x.y) comes out as 0 or as a rounding
    residue. Otherwise every entry moves independently and identical rows become distinct. The
    sensitivity probe uses both, since TwoNN and the MLE drop a point at a computed distance of 0.
    """
    x64 = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if keep_duplicates:
        _, first, inverse = np.unique(x64, axis=0, return_index=True, return_inverse=True)
        noise = rng.standard_normal((len(first), x64.shape[1]))[np.ravel(inverse)]
    else:
        noise = rng.standard_normal(x64.shape)
    return (x64 * (1.0 + size * noise)).astype(x.dtype)


Verdict = Literal["agrees", "float noise", "differs", "missing"]


@dataclass(frozen=True)
class Finding:
    """One leaf compared: ``verdict`` is ``agrees`` (within its tolerance), ``float noise`` (the
    estimator moves this much under a perturbation of the activations at float-noise size, so
    the difference says nothing), ``differs`` (a real discrepancy) or ``missing``."""

    key: str
    claimed: float
    rederived: float
    verdict: Verdict
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.key}: claimed {self.claimed!r}, re-derived {self.rederived!r}: {self.verdict}{extra}"


Sensitivity = Callable[[str], list[dict[str, float]]]
Undecided = Callable[[str], dict[str, float]]


def undecided_counts(x: np.ndarray) -> dict[str, float]:
    """How far TwoNN's and the MLE's counts of dropped points may move by rounding alone, from
    the layer's activations: a point with an identical twin row has a computed nearest-neighbour
    distance (|x|^2 + |y|^2 - 2 x.y) of 0 or a rounding residue, by machine, and a point whose two
    nearest neighbours are identical rows has r1 = r2 or not, by machine. Keyed by measure path."""
    from sklearn.neighbors import NearestNeighbors

    x64 = np.asarray(x, dtype=np.float64)
    _, inverse, counts = np.unique(x64, axis=0, return_inverse=True, return_counts=True)
    inverse = np.ravel(inverse)
    twins = counts[inverse] > 1
    _, idx = NearestNeighbors(n_neighbors=3).fit(x64).kneighbors(x64)
    twin_neighbours = inverse[idx[:, 1]] == inverse[idx[:, 2]]
    mle_n, twonn_n = float(twins.sum()), float((twins | twin_neighbours).sum())
    return {"twonn.n_dropped": twonn_n, "twonn.n_used": twonn_n, "mle.n_dropped": mle_n, "mle.n_used": mle_n}


def layer_of(key: str) -> str | None:
    """``LAYER/POOLING/EPOCH`` of a layer leaf, None for a training-summary leaf."""
    return key.rsplit("/", 1)[0] if "/" in key else None


def compare_measurement(
    claimed: dict[str, float],
    rederived: dict[str, float],
    *,
    sensitivity: Sensitivity | None = None,
    undecided: Undecided | None = None,
) -> list[Finding]:
    """Every leaf of ``claimed`` against ``rederived`` (:func:`score_leaves` of each).

    A continuous leaf agrees within :func:`measurement_tolerance`; a discrete one must be equal.
    A leaf that does not is re-judged by ``sensitivity(layer)``, which re-measures that layer
    with perturbed activations (:func:`perturb_rows`) and returns the leaves of each repeat:
    where the claimed value is within :data:`SENSITIVITY_FACTOR` times the largest move the
    perturbation caused, the difference is float noise, said so with its size. ``undecided(layer)``
    gives, by measure path, how far a count may move because its deciding quantity is within
    rounding of its threshold (:func:`undecided_counts`); a count within it is float noise too.
    """
    findings, suspects = [], []
    for key in sorted(claimed):
        a = claimed[key]
        if key not in rederived:
            findings.append(Finding(key, a, float("nan"), "missing", "not in the re-derived record"))
            continue
        b = rederived[key]
        if is_discrete(key):
            ok = a == b or (math.isnan(a) and math.isnan(b))
        else:
            ok = abs(a - b) <= ABSOLUTE_FLOOR or relative_difference(a, b) <= measurement_tolerance(key)
        if ok:
            findings.append(Finding(key, a, b, "agrees"))
        else:
            suspects.append(key)
    by_layer: dict = {}
    for key in suspects:
        by_layer.setdefault(layer_of(key), []).append(key)
    for layer, keys in by_layer.items():
        margins = undecided(layer) if (undecided is not None and layer is not None) else {}
        repeats: list | None = None  # the probe re-measures the layer: only once, and only if needed
        judged = {}
        for key in keys:
            a, b = claimed[key], rederived[key]
            margin = margins.get(measure_path(key), 0.0)
            if margin and abs(a - b) <= margin:
                judged[key] = Finding(
                    key,
                    a,
                    b,
                    "float noise",
                    f"{margin:g} points have an identical row as a nearest "
                    "neighbour: whether their computed distance is 0 (or a tie) is decided by rounding",
                )
                continue
            if repeats is None:
                repeats = sensitivity(layer) if (sensitivity is not None and layer is not None) else []
            moved = [abs(r[key] - b) for r in repeats if key in r and not math.isnan(r[key])]
            spread = max(moved, default=0.0)
            if spread > 0 and abs(a - b) <= SENSITIVITY_FACTOR * spread:
                judged[key] = Finding(
                    key,
                    a,
                    b,
                    "float noise",
                    f"a {ACTIVATION_NOISE:g} perturbation of the activations moves it by {spread:.3g}",
                )
            else:
                what = (
                    "the same perturbation leaves it unchanged"
                    if repeats and spread == 0
                    else (f"perturbations move it by {spread:.3g} at most" if repeats else "no sensitivity measured")
                )
                judged[key] = Finding(key, a, b, "differs", what)
        for key, finding in judged.items():
            # an estimate over a point set that float noise changed (a duplicate dropped on one machine
            # and kept on the other) is computed on other points: it follows its count's verdict
            count = _point_count_of(key)
            if (
                finding.verdict == "differs"
                and count is not None
                and count in judged
                and judged[count].verdict == "float noise"
            ):
                judged[key] = Finding(
                    key,
                    finding.claimed,
                    finding.rederived,
                    "float noise",
                    f"computed on another point set: {measure_path(count)} {judged[count].claimed:g} "
                    f"against {judged[count].rederived:g}, which float noise decides",
                )
        findings += judged.values()
    return findings


def _point_count_of(key: str) -> str | None:
    """The leaf counting the points an estimate dropped (TwoNN's and the MLE's ties and
    duplicates), for the estimate's own leaf; None for any other."""
    for measure in ("twonn", "mle"):
        if measure_path(key) == f"{measure}.dimension":
            return key[: -len("dimension")] + "n_dropped"
    return None


# --- training: a retrained model against the reference's seeds ---------------------------------

MIN_REFERENCE_SEEDS = 3
# Each score must lie in the seeds' two-sided prediction interval at PREDICTION_LEVEL (for a new
# draw from the seeds' normal: mean +- t(n-1) sd sqrt(1 + 1/n), 4.97 sd for three seeds), the
# test accuracy in the one at HEADLINE_LEVEL, and MIN_FRACTION_INSIDE of the scores inside.
# Measured on the quick suite (see the README): genuine new seeds (3 and 4, this machine) are
# rejected 2 times in 38, retrains under another instruction set 0 times in 120.
PREDICTION_LEVEL = 0.95
HEADLINE_LEVEL = 0.99
MIN_FRACTION_INSIDE = 0.9
DISCRETE_SLACK = 1.0  # a count moves in steps: one step beyond the interval is within it
HEADLINE = "train.test_accuracy"


def prediction_factor(n_seeds: int, level: float) -> float:
    """The half-width, in the seeds' standard deviations, of the two-sided prediction interval
    at ``level`` for one new draw: t(1/2 + level/2; n - 1) * sqrt(1 + 1/n)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, n_seeds - 1) * math.sqrt(1 + 1 / n_seeds))


@dataclass(frozen=True)
class TrainingVerdict:
    """A retrained record against ``n_seeds`` reference seeds of the same entry, task, axes and
    control. ``z``: the test accuracy's distance from the seeds' mean in their standard
    deviations; ``outside``: the scores outside their prediction interval."""

    n_seeds: int
    z: float | None
    n_scores: int
    outside: list[str] = field(default_factory=list)
    headline_inside: bool = True

    @property
    def can_judge(self) -> bool:
        return self.n_seeds >= MIN_REFERENCE_SEEDS

    @property
    def fraction_inside(self) -> float:
        return 1.0 - len(self.outside) / self.n_scores if self.n_scores else float("nan")

    @property
    def consistent(self) -> bool | None:
        if not self.can_judge:
            return None
        return self.headline_inside and self.fraction_inside >= MIN_FRACTION_INSIDE

    def describe(self) -> str:
        if not self.can_judge:
            return (
                f"cannot judge: {self.n_seeds} reference seed(s), the training check needs "
                f"{MIN_REFERENCE_SEEDS} or more"
            )
        z = "n/a, the seeds' test accuracies are equal" if self.z is None else f"{self.z:+.2f}"
        word = "consistent" if self.consistent else "not consistent"
        return (
            f"{word} with {self.n_seeds} reference seeds (z = {z} on test accuracy; {self.fraction_inside:.0%} "
            f"of {self.n_scores} scores within the seeds' {PREDICTION_LEVEL:.0%} prediction interval)"
        )


def seed_key(record: dict) -> tuple:
    """What seeds of one population share: model, task, axes, control, protocol version."""
    return (
        record["model"],
        record["task"],
        tuple(sorted(record["axes"].items())),
        record["control"],
        record["protocol"]["version"],
    )


def check_training(rerun: dict, references: Iterable[dict]) -> TrainingVerdict:
    """``rerun`` (a record) against the reference records of its population (:func:`seed_key`,
    one record per seed), the final epoch's scores and the training summary: each score a
    reference shares is inside where it lies in the seeds' prediction interval
    (:func:`prediction_factor`), widened by the measurement tolerance (a count: one step)."""
    by_seed = {r["seed"]: r for r in references if seed_key(r) == seed_key(rerun)}  # one record per seed
    refs = [score_leaves(r, final_epoch_only=True) for _, r in sorted(by_seed.items())]
    mine = score_leaves(rerun, final_epoch_only=True)
    if len(refs) < MIN_REFERENCE_SEEDS:
        return TrainingVerdict(len(refs), None, 0)
    factor, head_factor = prediction_factor(len(refs), PREDICTION_LEVEL), prediction_factor(len(refs), HEADLINE_LEVEL)
    outside, n, headline_inside = [], 0, True
    for key in sorted(set(mine).intersection(*refs)):
        values = np.array([r[key] for r in refs])
        v = mine[key]
        if np.isnan(values).all() and math.isnan(v):
            continue
        n += 1
        if math.isnan(v) or np.isnan(values).any():
            outside.append(key)
            continue
        slack = ABSOLUTE_FLOOR + (
            DISCRETE_SLACK if is_discrete(key) else measurement_tolerance(key) * np.abs(values).max()
        )
        distance, sd = abs(v - values.mean()), values.std(ddof=1)
        if distance > factor * sd + slack:
            outside.append(key)
        if key == HEADLINE:
            headline_inside = bool(distance <= head_factor * sd + slack)
    acc = np.array([r[HEADLINE] for r in refs])
    sd = acc.std(ddof=1)
    # seeds whose accuracies differ only in their last bits have no spread to measure a z by
    z = float((mine[HEADLINE] - acc.mean()) / sd) if sd > 1e-9 * max(abs(acc.mean()), 1.0) else None
    return TrainingVerdict(len(refs), z, n, outside, headline_inside)


# --- a whole run against a reference run (another machine, the same suite) ----------------------


@dataclass
class RunComparison:
    """A suite's run against a reference run of it: per task, how many records the training check
    could judge and found consistent; per task, Kendall's tau between the two runs' rankings of
    the measures (the measures board); and how the (task, score, target) correlations agree."""

    per_task: pd.DataFrame  # one row per task
    correlations: "object"  # pandas DataFrame, one row per (task, score, target) present in both
    not_consistent: list[str]
    summary: dict
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per claim: :func:`compare_verdicts`

    def describe(self) -> str:
        s = self.summary
        lines = [
            f"{s['judged']} records judged against >= {MIN_REFERENCE_SEEDS} reference seeds: "
            f"{s['consistent']} consistent ({s['consistent'] / max(s['judged'], 1):.1%}); "
            f"{s['cannot_judge']} cannot be judged (fewer reference seeds)",
            f"correlations: Pearson r of the two runs' Kendall tau {s['tau_pearson']:.3f}, median |delta tau| "
            f"{s['tau_median_abs_diff']:.3f}, significance agrees in {s['significance_agrees']:.1%}, "
            f"{s['significant_sign_flips']} significant correlation(s) flip sign",
        ]
        for row in self.per_task.itertuples():
            tau = "n/a (too few models to rank)" if math.isnan(row.board_rank_tau) else f"{row.board_rank_tau:.3f}"
            lines.append(
                f"  {row.task}: {row.consistent}/{row.judged} consistent, measures board rank agreement "
                f"(Kendall tau) {tau}"
            )
        lines += [f"  not consistent: {j}" for j in self.not_consistent]
        lines += describe_verdicts(self.verdicts)
        return "\n".join(lines)


def compare_verdicts(run: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Two verdicts tables (``tables/verdicts.parquet``) claim by claim: each run's outcome and
    stability, whether the outcomes agree, and whether a differing verdict is marked fragile in
    both runs (the one honest way for a verdict to differ between two runs of one suite)."""
    keys = ["title", "claim"]
    cols = keys + ["outcome", "stability", "n_resamples", "fragile"]
    both = run[cols].merge(reference[cols], on=keys, how="outer", suffixes=("_run", "_reference"), indicator=True)
    both["agree"] = (both["_merge"] == "both") & (both["outcome_run"] == both["outcome_reference"])
    fragile = both["fragile_run"].fillna(False).astype(bool) & both["fragile_reference"].fillna(False).astype(bool)
    both["fragile_in_both"] = fragile
    both["present"] = both["_merge"].map({"both": "both", "left_only": "run only", "right_only": "reference only"})
    order: dict[tuple, int] = {}  # the run's order, then claims only the reference holds
    for frame in (run, reference):
        for key in zip(frame["title"], frame["claim"]):
            order.setdefault(key, len(order))
    both["order"] = [order[key] for key in zip(both["title"], both["claim"])]
    return both.sort_values("order").drop(columns=["_merge", "order"]).reset_index(drop=True)


def _stability(outcome: object, stability: object, fragile: object) -> str:
    if not isinstance(outcome, str):
        return "absent"
    share = f"{float(stability):.0%}" if isinstance(stability, float) and np.isfinite(stability) else "n/a"
    return f"{outcome} ({'fragile, ' if fragile else ''}{share} of resamples)"


def describe_verdicts(verdicts: pd.DataFrame) -> list[str]:
    """The verdicts' lines of :meth:`RunComparison.describe`: a summary, then each claim."""
    if verdicts.empty:
        return ["verdicts: neither run has a verdicts table (run `reptopo analyze`)"]
    differ = verdicts[~verdicts["agree"]]
    unexplained = differ[~differ["fragile_in_both"]]
    lines = [
        f"verdicts: {int(verdicts['agree'].sum())} of {len(verdicts)} agree; {len(differ)} differ"
        + (
            f", {len(differ) - len(unexplained)} of them marked fragile in both runs"
            + (f", {len(unexplained)} NOT marked fragile in both" if len(unexplained) else "")
            if len(differ)
            else ""
        )
    ]
    for r in verdicts.itertuples():
        word = "agree" if r.agree else "differ (fragile in both)" if r.fragile_in_both else "DIFFER"
        lines.append(
            f"  {word}: {r.title.split(':')[0]}: {r.claim}: run {_stability(r.outcome_run, r.stability_run, r.fragile_run)}"
            f"; reference {_stability(r.outcome_reference, r.stability_reference, r.fragile_reference)}"
        )
    return lines


def compare_runs(run_store, reference_store, *, n_boot: int = 200) -> RunComparison:
    """Judge every record of ``run_store`` against the seeds of ``reference_store``
    (:func:`check_training`), and compare the two runs' analyses (protocol version by version is
    never mixed: only the versions both hold, the latest of them)."""
    import pandas as pd
    from scipy.stats import kendalltau, pearsonr

    from ..analysis import correlate, model_scores
    from ..record import TRAINED_STATUSES, latest_version
    from ..store import ResultStore, collect

    run, ref = ResultStore(run_store), ResultStore(reference_store)
    run_records, ref_records = run.require_records(), ref.require_records()
    version = latest_version({r.protocol.version for r in run_records} & {r.protocol.version for r in ref_records})
    if version is None:
        from ..errors import StoreError

        raise StoreError(f"{run_store} and {reference_store} share no protocol version: nothing to compare")
    population: dict = {}
    for r in ref_records:
        if r.protocol.version == version:
            d = r.to_dict()
            population.setdefault(seed_key(d), []).append(d)
    rows: dict[str, dict[str, Any]] = {}
    not_consistent: list[str] = []
    cannot = 0
    for r in run_records:
        if r.protocol.version != version or r.status not in TRAINED_STATUSES:
            continue
        d = r.to_dict()
        verdict = check_training(d, population.get(seed_key(d), []))
        if not verdict.can_judge:
            cannot += 1
            continue
        row = rows.setdefault(r.task, {"task": r.task, "judged": 0, "consistent": 0})
        row["judged"] += 1
        row["consistent"] += int(bool(verdict.consistent))
        if not verdict.consistent:
            not_consistent.append(f"{r.job_id}: {verdict.describe()}; outside: {', '.join(verdict.outside[:5])}")

    def board(store):
        models, layers = collect(store)
        models, layers = models[models["protocol_version"] == version], layers[layers["protocol_version"] == version]
        corr, _ = correlate(model_scores(models, layers), n_boot=n_boot)
        return corr

    keys = ["task", "score", "target"]
    columns = keys + ["kendall_tau", "tau_ci_low", "tau_ci_high"]
    # a run of a few models has no correlation to compare (an empty table without columns)
    a, b = board(run).reindex(columns=columns), board(ref).reindex(columns=columns)
    both = a.merge(b, on=keys, suffixes=("_run", "_reference")).dropna(
        subset=["kendall_tau_run", "kendall_tau_reference"]
    )
    sig_run = (both["tau_ci_low_run"] > 0) | (both["tau_ci_high_run"] < 0)
    sig_ref = (both["tau_ci_low_reference"] > 0) | (both["tau_ci_high_reference"] < 0)
    flips = sig_run & sig_ref & (np.sign(both["kendall_tau_run"]) != np.sign(both["kendall_tau_reference"]))
    board_tau = {}
    for task, grp in both.groupby("task"):
        taus = [
            kendalltau(g["kendall_tau_run"].abs(), g["kendall_tau_reference"].abs()).statistic
            for _, g in grp.groupby("target")
            if len(g) >= 3
        ]
        board_tau[task] = float(np.nanmean(taus)) if taus else float("nan")
    from ..analysis import tables_of

    verdicts = compare_verdicts(tables_of(run)["verdicts"], tables_of(ref)["verdicts"])
    per_task = pd.DataFrame(sorted(rows.values(), key=lambda r: r["task"]), columns=["task", "judged", "consistent"])
    per_task["fraction_consistent"] = per_task["consistent"] / per_task["judged"]
    per_task["board_rank_tau"] = per_task["task"].map(board_tau)
    summary = {
        "protocol_version": version,
        "judged": int(per_task["judged"].sum()),
        "consistent": int(per_task["consistent"].sum()),
        "cannot_judge": cannot,
        "tau_pearson": float(pearsonr(both["kendall_tau_run"], both["kendall_tau_reference"]).statistic)
        if len(both) > 2
        else float("nan"),
        "tau_median_abs_diff": float((both["kendall_tau_run"] - both["kendall_tau_reference"]).abs().median()),
        "significance_agrees": float((sig_run == sig_ref).mean()) if len(both) else float("nan"),
        "significant_sign_flips": int(flips.sum()),
        "n_correlations": int(len(both)),
        "verdicts_agree": int(verdicts["agree"].sum()),
        "verdicts_differ": int((~verdicts["agree"]).sum()),
        "verdicts_differ_not_fragile": int((~verdicts["agree"] & ~verdicts["fragile_in_both"]).sum()),
    }
    return RunComparison(per_task, both, not_consistent, summary, verdicts)
