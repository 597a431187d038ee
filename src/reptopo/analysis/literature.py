"""Published findings checked against the records, each a :class:`Finding` with the numbers
(Naitzat et al. 2020, Magai & Ayzenberg 2022, Ansuini et al. 2019, Magai 2023, Birdal et al. 2021)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..record import TRAINED_STATUSES
from ..registry import CONTROLS, Registry
from ..store import Tables
from .board import ALL_TASKS
from .comparisons import comparison_findings
from .findings import Finding
from .scores import censored_mask, primary_layers, rank_values
from .stats import fmt_value, mean_ci, spearman_rho

# the data loaders of synthetic tasks (registry.TaskSource.loader): Naitzat et al.'s and the known-topology shapes
NAITZAT_LOADER = "naitzat"
SYNTHETIC_LOADERS = (NAITZAT_LOADER, "synthetic")


@dataclass(frozen=True)
class RegistryFacts:
    """What the literature checks need to know of the models and tasks, read from their registry
    entries (never guessed from names): each task's data loader, each model's activation."""

    loaders: dict[str, str]
    activations: dict[str, str]

    @classmethod
    def of(cls, registry: Registry | None = None) -> RegistryFacts:
        """The facts of ``registry`` (default: the shipped entries and ``$REPTOPO_REGISTRY``'s)."""
        registry = registry if registry is not None else Registry()
        return cls(
            {name: task.source.loader for name, task in registry.tasks.items()},
            {
                name: str(model.params["activation"])
                for name, model in registry.models.items()
                if "activation" in model.params
            },
        )

    def is_synthetic(self, tasks: pd.Series) -> pd.Series:
        """Whether each task's data are synthetic (False for a task the registry does not know)."""
        return tasks.map(self.loaders).isin(SYNTHETIC_LOADERS)

    def is_naitzat(self, tasks: pd.Series) -> pd.Series:
        return tasks.map(self.loaders) == NAITZAT_LOADER

    def activation(self, model: str) -> str:
        """The model's activation parameter, or "other" where its entry has none."""
        return self.activations.get(model, "other")


def headline_findings(t: Tables) -> list[str]:
    out = []
    board = t["measures"]
    if len(board):
        for target in ("generalization_gap", "test_accuracy"):
            overall = board[(board["task"] == ALL_TASKS) & (board["target"] == target)].sort_values("rank")
            if len(overall):
                top = overall.iloc[0]
                base = overall[overall["is_baseline"]].sort_values("rank").head(1)
                bl = (
                    f"; the best baseline, {base.iloc[0]['score']}, has tau {base.iloc[0]['kendall_tau']:+.2f}"
                    if len(base)
                    else ""
                )
                out.append(
                    f"Across tasks, the score most rank-correlated with {target.replace('_', ' ')} is "
                    f"{top['score']} (mean Kendall tau {top['kendall_tau']:+.2f}){bl}."
                )
    out += [f"{c.title}: {c.verdict} (details on the Measures page)." for c in literature_checks(t)]
    out += [
        f"{c.title} {c.verdict[0].upper() + c.verdict[1:]} (details on the Compare page)."
        for c in comparison_findings(t)
    ]
    return out or ["No analysis yet: run `reptopo run` and `reptopo analyze`."]


def _share(mask: pd.Series | np.ndarray | list[bool]) -> str:
    mask = pd.Series(mask).dropna()
    return f"{int(mask.sum())} of {len(mask)}" if len(mask) else "no runs"


def _final_layers(t: Tables) -> pd.DataFrame:
    """Primary layers at each job's final epoch, with the job's status and accuracy (the literature
    checks' input; ``final=`` passes it to a check that would compute it again)."""
    layers = primary_layers(t["layers"])
    if layers.empty:
        return layers
    info = t["models"].set_index("job_id")[["test_accuracy", "train_accuracy", "modality"]]
    return layers.join(info, on="job_id")


def reach_depth(job_layers: pd.DataFrame, cls: str) -> float:
    """The relative depth from which class ``cls`` reads (1, 0) on the hop metric at every deeper
    layer (NaN: never, or its homology was not measured)."""
    rows = job_layers.sort_values("depth")
    trivial = [cls in str(v).split(",") if isinstance(v, str) else False for v in rows["trivial_classes"]]
    if not trivial or not trivial[-1]:
        return np.nan
    k = len(trivial)
    while k > 0 and trivial[k - 1]:
        k -= 1
    return float(rows["depth"].iloc[k])


def _halfway_depth(curve: pd.Series) -> float:
    """The first relative depth at which a curve (indexed by depth) is at most half its first value."""
    curve = curve.sort_index().dropna()
    below = curve[curve <= curve.iloc[0] / 2] if len(curve) else curve
    return float(below.index[0]) if len(below) else np.nan


def _reach_depths(syn: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, class) of Naitzat's tasks: the run's test accuracy and the class's reach
    depth (:func:`reach_depth`; NaN when it never reads (1, 0))."""
    rows = []
    for (task, model, job), grp in syn.groupby(["task", "model", "job_id"]):
        named = set().union(*[set(str(v).split(",")) for v in grp["trivial_classes"].dropna()]) - {""}
        n_classes = int(grp["n_classes_measured"].max()) if grp["n_classes_measured"].notna().any() else 0
        for c in sorted(named | {str(c) for c in range(n_classes)}):
            rows.append(
                {
                    "task": task,
                    "model": model,
                    "job_id": job,
                    "class": c,
                    "test_accuracy": grp["test_accuracy"].iloc[0],
                    "depth": reach_depth(grp, c),
                }
            )
    return pd.DataFrame(rows)


def _naitzat_verdict(well: pd.DataFrame, curve: pd.DataFrame, acts: list[str], numbers: dict[str, Any]) -> str:
    """Whether the classes of well-trained runs end at (1, 0), and whether ReLU gets there faster
    than tanh (the halfway depth of the complexity curve and a one-sided Mann-Whitney test of
    the reach depths); the test's p-value is added to ``numbers``."""
    if not len(well):
        verdict = "not tested: no synthetic model reached 95% test accuracy"
    else:
        share = numbers["share_reached"]
        head = curve[curve["role"] == "head"]["class_betti_sum"].mean()
        start = curve[curve["role"] == "input"]["class_betti_sum"].mean()
        first = (
            "reproduced"
            if share >= 0.9
            else "partly reproduced: the per-class topology simplifies"
            if head <= start / 2
            else "not reproduced"
        )
        first += (
            f" (mean b0 + b1 from {start:.1f} at the input to {head:.1f} at the head), and "
            f"{int(well['depth'].notna().sum())} of {len(well)} classes end at (1, 0)"
        )
        if {"relu", "tanh"} <= set(acts):
            relu = well[well["activation"] == "relu"]["depth"].fillna(np.inf)
            tanh = well[well["activation"] == "tanh"]["depth"].fillna(np.inf)
            test = stats.mannwhitneyu(relu.replace(np.inf, 2.0), tanh.replace(np.inf, 2.0), alternative="less")
            numbers["mann_whitney_p"] = float(test.pvalue)
            faster = (
                (numbers["relu_halfway"] < numbers["tanh_halfway"])
                if np.isfinite(numbers["tanh_halfway"])
                else np.isfinite(numbers["relu_halfway"])
            )
            second = (
                "faster with ReLU, reproduced"
                if faster and test.pvalue < 0.05
                else "faster with ReLU in the complexity curve, but the classes' reach depths do not differ significantly"
                if faster
                else "not faster with ReLU, not reproduced"
            )
            second += (
                f" (complexity halved at depth {fmt_value(numbers['relu_halfway'])} with ReLU, "
                f"{fmt_value(numbers['tanh_halfway'])} with tanh; reach depths, one-sided Mann-Whitney p = {test.pvalue:.3f})"
            )
        else:
            second = "ReLU against tanh not testable"
        verdict = f"{first}; {second}"
    return verdict


def naitzat_check(t: Tables, final: pd.DataFrame | None = None, facts: RegistryFacts | None = None) -> Finding | None:
    """Naitzat et al. 2020: each class's Betti numbers fall to (1, 0) through a well-trained
    network, faster with ReLU than with tanh.

    Per class, the reach depth is the relative depth from which it reads (1, 0) on the hop metric
    at every deeper layer; a class that never does ranks after every one that does (Mann-Whitney
    U between the activations' reach depths, "not reached" as +inf). The per-class complexity
    b0 + b1, averaged over classes and runs, gives the depth at which it halves."""
    layers = _final_layers(t) if final is None else final
    if layers.empty or "trivial_classes" not in layers:
        return None
    facts = facts or RegistryFacts.of()
    syn = layers[facts.is_naitzat(layers["task"]) & (layers["status"] == "trained")]
    if syn.empty:
        return None
    df = _reach_depths(syn)

    activation = facts.activation
    df["activation"] = df["model"].map(activation)
    well = df[df["test_accuracy"] >= 0.95]
    well_jobs = set(well["job_id"])
    curve = syn[syn["job_id"].isin(well_jobs)].assign(activation=lambda d: d["model"].map(activation))
    complexity = curve.groupby(["activation", "depth"])["class_betti_sum"].mean()
    acts = sorted(set(well["activation"]))
    numbers: dict[str, Any] = {"share_reached": float(well["depth"].notna().mean()) if len(well) else np.nan}
    parts = []
    for a in acts:
        d = well[well["activation"] == a]["depth"]
        c = complexity.loc[a]
        numbers[f"{a}_reached"] = f"{int(d.notna().sum())} of {len(d)}"
        numbers[f"{a}_depth"] = float(d.fillna(np.inf).median())
        numbers[f"{a}_halfway"] = _halfway_depth(c)
        parts.append(
            f"{a}: {int(d.notna().sum())} of {len(d)} classes reach (1, 0), median reach depth "
            f"{'not reached' if not np.isfinite(numbers[f'{a}_depth']) else format(numbers[f'{a}_depth'], '.2f')}; "
            f"mean per-class b0 + b1 {c.iloc[0]:.1f} at the input, {c.iloc[-1]:.1f} at the head, halved by depth "
            f"{fmt_value(numbers[f'{a}_halfway'])}"
        )
    acc = df.drop_duplicates("job_id").groupby(["task", "activation"])["test_accuracy"].mean()
    acc_parts = [f"{task} {a} {v:.3f}" for (task, a), v in acc.items()]
    verdict = _naitzat_verdict(well, curve, acts, numbers)
    return Finding(
        title="Naitzat et al. 2020: each class's Betti numbers fall to (1, 0) through the layers, faster with ReLU than tanh",
        finding=f"Per-class Betti numbers on the k-NN hop metric of the synthetic two-class tasks, trained networks of "
        f"test accuracy at least 0.95 ({len(well_jobs)} of {df['job_id'].nunique()} runs; mean test "
        f"accuracy {'; '.join(acc_parts)}). By activation: {'; '.join(parts)}.",
        verdict=verdict,
        numbers=numbers,
    )


def _falls(grp: pd.DataFrame, col: str) -> float:
    """Whether ``col`` at the last hidden layer is below the input's (NaN when either is missing)."""
    grp = grp.sort_values("depth")
    inp, hidden = grp[grp["role"] == "input"], grp[~grp["role"].isin(["input", "head"])]
    if inp.empty or hidden.empty or pd.isna(inp[col].iloc[0]) or pd.isna(hidden[col].iloc[-1]):
        return np.nan
    return float(hidden[col].iloc[-1] < inp[col].iloc[0])


def _hunch(grp: pd.DataFrame, col: str, *, from_input: bool = True) -> float:
    """Whether a hidden layer's ``col`` exceeds both the first layer's (the input, or with
    ``from_input=False`` the first hidden layer) and the last hidden layer's; NaN unless every
    layer compared has a value."""
    grp = grp.sort_values("depth")
    hidden = grp[~grp["role"].isin(["input", "head"])][col].astype(float)
    if not from_input:
        first, hidden = (hidden.iloc[0], hidden.iloc[1:]) if len(hidden) else (np.nan, hidden)
    else:
        first = grp[col].astype(float).iloc[0]
    if len(hidden) < 2 or hidden.isna().any() or not np.isfinite(first):
        return np.nan
    return float(hidden.max() > first and hidden.max() > hidden.iloc[-1])


def magai_check(t: Tables, final: pd.DataFrame | None = None, facts: RegistryFacts | None = None) -> Finding | None:
    """Magai & Ayzenberg 2022: per-class total persistence falls with depth; PHdim rises, then falls."""
    layers = _final_layers(t) if final is None else final
    if layers.empty or "class_tp_h0" not in layers or layers["class_tp_h0"].isna().all():
        return None
    real = layers[~(facts or RegistryFacts.of()).is_synthetic(layers["task"])]
    by_status = {}
    for group, statuses in (("trained", TRAINED_STATUSES), ("controls", CONTROLS)):
        sub = real[real["status"].isin(statuses)]
        jobs = sub.groupby("job_id")
        by_status[group] = {
            "h0": pd.Series([_falls(g, "class_tp_h0") for _, g in jobs]),
            "h1": pd.Series([_falls(g, "class_tp_h1") for _, g in jobs]),
            "hunch": pd.Series([_hunch(g, "phdim", from_input=False) for _, g in jobs]),
            "censored": int(sub[~sub["role"].isin(["input", "head"])].groupby("job_id")["phdim_censored"].any().sum())
            if "phdim_censored" in sub
            else 0,
            "n": sub["job_id"].nunique(),
        }
    tr, ctl = by_status["trained"], by_status["controls"]
    h0 = tr["h0"].mean()
    hunch = tr["hunch"].mean()
    verdict = ("reproduced" if h0 >= 0.75 else "partly reproduced" if h0 >= 0.5 else "not reproduced") + " for H0"
    verdict += f" ({_share(tr['h0'])} trained models)"
    if ctl["h0"].mean() >= 0.5:
        verdict += f", but it falls in {_share(ctl['h0'])} random-init and shuffled-label controls too, so not because of training"
    h1 = tr["h1"].mean()
    verdict += (
        "; "
        + ("reproduced" if h1 >= 0.75 else "partly reproduced" if h1 >= 0.5 else "not reproduced")
        + f" for H1 ({_share(tr['h1'])})"
    )
    testable = int(tr["hunch"].notna().sum())
    if testable < 3:
        verdict += (
            f"; PHdim rising then falling not testable at this probe size: {tr['censored']} of {tr['n']} trained "
            f"models have a hidden layer whose PHdim is censored (beyond what the probe resolves)"
        )
    else:
        verdict += (
            "; PHdim "
            + (
                "rises then falls in most models, reproduced"
                if hunch > 0.5
                else "rises then falls in a minority, partly reproduced"
                if hunch > 0.2
                else "does not rise then fall, not reproduced"
            )
            + f" ({_share(tr['hunch'])} with every layer resolved)"
        )
    return Finding(
        title="Magai and Ayzenberg 2022: per-class total persistence falls with depth; PHdim rises, then falls",
        finding=f"Real tasks. Per-class total persistence (normalised by the layer's RMS radius) at the last hidden "
        f"layer is below the input's in {_share(tr['h0'])} trained or pretrained models for H0 and "
        f"{_share(tr['h1'])} for H1; in the random-init and shuffled-label controls in {_share(ctl['h0'])} "
        f"(H0) and {_share(ctl['h1'])} (H1). A middle hidden layer's PHdim exceeds both the first and the "
        f"last hidden layer's in {_share(tr['hunch'])} trained models whose hidden layers' PHdim all resolve "
        f"({tr['censored']} of {tr['n']} have a censored hidden layer and are left out) and in "
        f"{_share(ctl['hunch'])} controls.",
        verdict=verdict,
        numbers={"h0_falls": h0, "h1_falls": h1, "phdim_hunch": hunch},
    )


def ansuini_check(t: Tables, final: pd.DataFrame | None = None) -> Finding | None:
    """Ansuini et al. 2019: the intrinsic dimension rises, then falls (a hunchback), not in untrained networks."""
    layers = _final_layers(t) if final is None else final
    if layers.empty:
        return None
    vision = layers[(layers["modality"] == "vision") & (layers["family"] != "mlp")]
    out = {}
    for group, statuses in (
        ("trained", TRAINED_STATUSES),
        ("random_init", ("random_init",)),
        ("shuffled", ("shuffled_labels",)),
    ):
        jobs = vision[vision["status"].isin(statuses)].groupby("job_id")
        out[group] = (
            pd.Series([_hunch(g, "twonn") for _, g in jobs]),
            pd.Series([_falls(g, "twonn") for _, g in jobs]),
        )
    if not len(out["trained"][0]):
        return None
    hunch, rnd = out["trained"][0].mean(), out["random_init"][0].mean()
    calibrated = ""
    if "phdim_calibrated" in vision and vision["phdim_calibrated"].notna().any():  # protocol v3
        cal = {
            g: pd.Series([_hunch(grp, "phdim") for _, grp in vision[vision["status"].isin(st)].groupby("job_id")])
            for g, st in (("trained", TRAINED_STATUSES), ("random_init", ("random_init",)))
        }
        calibrated = (
            f" With calibrated PHdim as the intrinsic dimension: a hunchback in {_share(cal['trained'])} "
            f"trained or pretrained models and {_share(cal['random_init'])} random-init controls."
        )
    verdict = (
        "reproduced"
        if hunch > 0.5
        else "partly reproduced: a minority of models"
        if hunch > 0.2
        else "not reproduced for these shallow networks: the dimension falls from the input on"
    )
    verdict += (
        "; absent in untrained networks, reproduced"
        if np.isfinite(rnd) and rnd < min(0.5, hunch)
        else "; present in untrained networks as well, not reproduced"
        if np.isfinite(rnd)
        else "; no untrained controls"
    )
    return Finding(
        title="Ansuini et al. 2019: the intrinsic dimension rises, then falls with depth (a hunchback), unlike in untrained networks",
        finding=f"Convolutional and Transformer vision models, TwoNN: a hidden layer above both the input and the last "
        f"hidden layer in {_share(out['trained'][0])} trained or pretrained models, {_share(out['random_init'][0])} "
        f"random-init and {_share(out['shuffled'][0])} shuffled-label controls; the last hidden layer below the "
        f"input in {_share(out['trained'][1])} trained models and {_share(out['random_init'][1])} random-init ones."
        + calibrated,
        verdict=verdict,
        numbers={"trained_hunch": hunch, "random_init_hunch": rnd},
    )


def head_components_check(t: Tables, final: pd.DataFrame | None = None) -> Finding | None:
    """The whole cloud's components at the head of trained classifiers against the number of
    classes: b0 at the cloud's resolution (protocol v2's rule) and, under protocol v3, the DTM
    filtration's significant count. The acceptance figure: the share of trained MNIST and digits
    models of test accuracy at least 0.9 whose count equals the number of classes, against the
    random-init controls."""
    layers = _final_layers(t) if final is None else final
    if layers.empty or "whole_b0" not in layers or layers["whole_b0"].isna().all():
        return None
    classes = layers.groupby("task")["n_classes_measured"].max()
    heads = layers[layers["role"] == "head"].copy()
    heads["classes"] = heads["task"].map(classes)
    dtm = "whole_b0_dtm" in heads and heads["whole_b0_dtm"].notna().any()
    rows = []
    for (task, group), sub in heads.assign(
        group=np.where(heads["status"].isin(TRAINED_STATUSES), "trained", heads["status"])
    ).groupby(["task", "group"]):
        b0 = sub["whole_b0"].astype(float)
        row = {
            "task": task,
            "group": group,
            "classes": int(sub["classes"].iloc[0]),
            "n": len(sub),
            "equal": int((b0 == sub["classes"]).sum()),
            "one": int((b0 == 1).sum()),
            "unresolved": int(b0.isna().sum()),
            "median": float(np.nanmedian(b0)) if b0.notna().any() else np.nan,
            "median_large": float(np.nanmedian(sub["whole_b0_large"].astype(float))),
        }
        if dtm:
            d = sub["whole_b0_dtm"].astype(float)
            row.update(
                dtm_equal=int((d == sub["classes"]).sum()),
                dtm_median=float(np.nanmedian(d)) if d.notna().any() else np.nan,
            )
        rows.append(row)
    df = pd.DataFrame(rows)
    tr = df[df["group"] == "trained"]
    parts = [
        f"{r.task} ({r.classes} classes): {r.group} median b0 {fmt_value(r.median, '.0f')} (components of at least 1% of "
        f"the points: {fmt_value(r.median_large, '.0f')}), b0 = classes in {r.equal} of {r.n}, b0 = 1 in {r.one}"
        + (f", unresolved in {r.unresolved}" if r.unresolved else "")
        + (f"; DTM count: median {fmt_value(r.dtm_median, '.0f')}, = classes in {r.dtm_equal} of {r.n}" if dtm else "")
        for r in df.itertuples()
    ]
    share = tr["equal"].sum() / tr["n"].sum() if len(tr) else np.nan
    numbers: dict[str, Any] = {"share_equal": share}
    verdict = f"b0 equals the number of classes in {int(tr['equal'].sum())} of {int(tr['n'].sum())} trained heads" + (
        ""
        if not np.isfinite(share)
        else "; "
        + (
            "the classes separate into components"
            if share > 0.5
            else "most trained heads keep classes connected: stray and misclassified probe points bridge them"
        )
    )
    if dtm:
        well = heads[
            heads["task"].isin(["mnist", "digits"])
            & heads["status"].isin(["trained"])
            & (heads["test_accuracy"] >= 0.9)
        ]
        ctl = heads[heads["task"].isin(["mnist", "digits"]) & (heads["status"] == "random_init")]
        eq_w = (well["whole_b0_dtm"] == well["classes"]).astype(float)
        eq_c = (ctl["whole_b0_dtm"] == ctl["classes"]).astype(float)
        numbers.update(
            dtm_share_well_trained=float(eq_w.mean()) if len(eq_w) else np.nan,
            dtm_share_random_init=float(eq_c.mean()) if len(eq_c) else np.nan,
            dtm_median_well_trained=float(well["whole_b0_dtm"].median()) if len(well) else np.nan,
        )
        verdict += (
            f". Under the DTM rule the count equals the number of classes in {_share(eq_w)} trained MNIST and "
            f"digits models of test accuracy at least 0.9 (median {fmt_value(numbers['dtm_median_well_trained'], '.0f')}) "
            f"and in {_share(eq_c)} of their random-init controls"
        )
    return Finding(
        title="The trained classifier's head: one component per class?",
        finding="Whole-cloud components at the head layer (b0 at the cloud's own resolution"
        + ("; the DTM filtration's count above its bootstrap band" if dtm else "")
        + "): "
        + "; ".join(parts)
        + ".",
        verdict=verdict,
        numbers=numbers,
    )


CNN_FAMILIES = ("cnn", "cnn1d", "resnet", "pretrained_cnn", "mobilenet", "vgg")


TRANSFORMER_FAMILIES = ("vit", "transformer", "pretrained_transformer")


def _depth_slope(grp: pd.DataFrame, col: str = "phdim") -> float:
    """The least-squares slope of ``col`` over relative depth across a job's layers after the
    input (NaN with fewer than three values or a censored one)."""
    grp = grp[grp["role"] != "input"].sort_values("depth")
    if len(grp) < 3 or grp[col].isna().any() or bool(censored_mask(grp, col).any()):
        return np.nan
    return float(np.polyfit(grp["depth"].astype(float), grp[col].astype(float), 1)[0])


def _depth_rank_correlation(grp: pd.DataFrame, col: str = "phdim") -> float:
    """Spearman's rho between relative depth and ``col`` over a job's layers after the input, a
    censored value ranking above every measured one (a lower bound's rank is known)."""
    grp = grp[grp["role"] != "input"].sort_values("depth")
    if len(grp) < 3:
        return np.nan
    return spearman_rho(
        grp["depth"].astype(float),
        rank_values(grp.rename(columns={col: "phdim_last", f"{col}_censored": "phdim_last_censored"}), "phdim_last"),
    )


# Magai 2023's statistic of PHdim over depth, in order of preference, with its unit
DEPTH_STATISTICS = (
    ("slope", "per unit of relative depth"),
    ("rho", "in Spearman's rho of PHdim with depth (censored layers ranked on top)"),
)


def magai2023_check(t: Tables, final: pd.DataFrame | None = None) -> Finding | None:
    """Magai 2023: PHdim changes across depth differently in CNNs and in Transformers, in CV and NLP.

    Per trained model, the slope of PHdim (calibrated under protocol v3) over relative depth;
    per modality, the difference of the two families' mean slopes with a bootstrap interval
    (models resampled within each family). Reproduced where the interval excludes 0; refuted
    where it holds 0 and is narrower than half the mean absolute statistic (a difference of that
    size would have been seen); inconclusive otherwise. Where a family has fewer than two models
    with every layer's PHdim measured (a censored layer is a lower bound, and a slope through it
    is not a number), the same test runs on Spearman's rho between depth and PHdim, in which a
    censored layer ranks above every measured one."""
    layers = _final_layers(t) if final is None else final
    if layers.empty or "phdim" not in layers:
        return None
    trained = layers[
        layers["status"].isin(TRAINED_STATUSES) & layers["family"].isin(CNN_FAMILIES + TRANSFORMER_FAMILIES)
    ]
    if trained.empty:
        return None
    per_job = pd.DataFrame(
        [
            {
                "job_id": j,
                "family": g["family"].iloc[0],
                "modality": g["modality"].iloc[0],
                "slope": _depth_slope(g),
                "rho": _depth_rank_correlation(g),
            }
            for j, g in trained.groupby("job_id")
        ]
    )
    per_job["kind"] = np.where(per_job["family"].isin(CNN_FAMILIES), "CNN", "Transformer")
    parts: list[str] = []
    verdicts: list[str] = []
    numbers: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    for modality, label in (("vision", "CV"), ("text", "NLP")):
        sub = per_job[per_job["modality"] == modality]
        for stat, unit in DEPTH_STATISTICS:  # noqa: B007 - the statistic found is read after the loop
            c, tr = (sub[sub["kind"] == kind][stat].dropna().to_numpy() for kind in ("CNN", "Transformer"))
            if len(c) >= 2 and len(tr) >= 2:
                break
        if len(c) < 2 or len(tr) < 2:
            verdicts.append(f"{label}: not testable ({len(c)} CNNs and {len(tr)} Transformers measured)")
            continue
        mc, mt = mean_ci(c), mean_ci(tr)
        boot = np.array([rng.choice(tr, len(tr)).mean() - rng.choice(c, len(c)).mean() for _ in range(2000)])
        lo, hi = np.percentile(boot, [2.5, 97.5])
        diff = float(tr.mean() - c.mean())
        scale = float(np.mean(np.abs(np.r_[c, tr])))
        verdict = (
            "reproduced: they differ"
            if lo > 0 or hi < 0
            else "refuted: they change alike"
            if (hi - lo) / 2 < 0.5 * scale
            else "inconclusive"
        )
        numbers[f"{label}_statistic"] = stat
        numbers[f"{label}_difference"] = diff
        numbers[f"{label}_interval"] = [float(lo), float(hi)]
        name = "slope" if stat == "slope" else "Spearman's rho"
        parts.append(
            f"{label} ({name}): CNNs {mc[0]:+.2f} [{mc[1]:+.2f}, {mc[2]:+.2f}] over {len(c)} models, Transformers "
            f"{mt[0]:+.2f} [{mt[1]:+.2f}, {mt[2]:+.2f}] over {len(tr)}; difference {diff:+.2f} [{lo:+.2f}, {hi:+.2f}]"
        )
        verdicts.append(f"{label}: {verdict} (difference {diff:+.2f} [{lo:+.2f}, {hi:+.2f}] {unit})")
    return Finding(
        title="Magai 2023: PHdim changes across depth differently in CNNs and Transformers, in CV and NLP",
        finding="The depth profile of PHdim per trained model (layers after the input; calibrated where the protocol "
        "calibrates): its slope over relative depth, or where censored layers leave a family without slopes, "
        "Spearman's rho with depth; mean over models with a 95% bootstrap interval. " + "; ".join(parts) + ".",
        verdict="; ".join(verdicts),
        numbers=numbers,
    )


def birdal_check(t: Tables) -> Finding | None:
    """Birdal et al. 2021: PHdim predicts the generalization gap. Read off the measures board on
    the task with a complete width x train-size x label-noise grid, against the baselines."""
    board = t["measures"]
    if board.empty:
        return None
    gap = board[(board["target"] == "generalization_gap") & (board["task"] != ALL_TASKS)]
    grid = gap[gap["cmi"].notna()]["task"].unique() if "cmi" in gap else []
    rows = []
    for task in grid:
        sub = gap[gap["task"] == task].set_index("score")
        if "phdim_last" not in sub.index:
            continue
        r = sub.loc["phdim_last"]
        base = sub[sub["is_baseline"]]
        best = base["strength"].idxmax() if len(base) and base["strength"].notna().any() else None
        rows.append((task, r, best, base.loc[best] if best is not None else None))
    if not rows:
        return None
    parts, wins = [], 0
    for task, r, best, b in rows:
        wins += bool(r["beats_baselines"])
        parts.append(
            f"{task}: PHdim (last) Kendall {r['kendall_tau']:+.2f} [{r['tau_ci_low']:+.2f}, {r['tau_ci_high']:+.2f}], "
            f"granulated {fmt_value(r['granulated_kendall'], '+.2f')}, CMI {fmt_value(r['cmi'], '.3f')}"
            + (
                f"; best baseline {best}: Kendall {b['kendall_tau']:+.2f}, granulated "
                f"{fmt_value(b['granulated_kendall'], '+.2f')}, CMI {fmt_value(b['cmi'], '.3f')}"
                if b is not None
                else ""
            )
        )
    return Finding(
        title="Birdal et al. 2021: PHdim predicts the generalization gap",
        finding="On the complete width x train-size x label-noise grid: " + "; ".join(parts) + ".",
        verdict=f"PHdim beats the best baseline in {wins} of {len(rows)} grid tasks"
        + (
            "; not reproduced: a baseline predicts the gap at least as well"
            if wins == 0
            else "; reproduced"
            if wins == len(rows)
            else "; partly reproduced"
        ),
        numbers={"wins": wins, "tasks": len(rows)},
    )


def dynamics_check(t: Tables) -> Finding | None:
    """The learning dynamics (Magai 2023's emphasis): by family, the median over runs of the last
    hidden layer's PHdim and the head's component count at each measured epoch."""
    dyn = t["dynamics"]
    if dyn.empty or "phdim" not in dyn:
        return None
    dyn = dyn[dyn["status"] == "trained"]
    rows = []
    for _job, grp in dyn.groupby("job_id"):
        last_epoch = grp["epoch"].max()
        hidden = grp[~grp["role"].isin(["input", "head"])]
        head = grp[grp["role"] == "head"]
        if hidden.empty:
            continue
        deepest = hidden[hidden["depth"] == hidden["depth"].max()]
        for epoch, e in deepest.groupby("epoch"):
            h = head[head["epoch"] == epoch]
            rows.append(
                {
                    "family": grp["family"].iloc[0],
                    "epoch": "last" if epoch == last_epoch else str(int(epoch)),
                    "phdim": np.nan if bool(e["phdim_censored"].iloc[0]) else float(e["phdim"].iloc[0]),
                    "components": float(h["whole_b0_dtm"].iloc[0])
                    if len(h) and "whole_b0_dtm" in h and pd.notna(h["whole_b0_dtm"].iloc[0])
                    else np.nan,
                }
            )
    if not rows:
        return None
    df = pd.DataFrame(rows)
    order = ["0", "1", "2", "5", "last"]
    sentences = []
    moves: dict[str, Any] = {"components rise": [], "components stay": [], "PHdim falls": [], "PHdim rises": []}
    for family, grp in df.groupby("family"):
        med = grp.groupby("epoch")[["phdim", "components"]].median()
        first, last = (
            med.iloc[0] if "0" not in med.index else med.loc["0"],
            med.loc["last"] if "last" in med.index else med.iloc[-1],
        )
        if np.isfinite(first["components"]) and np.isfinite(last["components"]):
            moves["components rise" if last["components"] > first["components"] else "components stay"].append(family)
        if np.isfinite(first["phdim"]) and np.isfinite(last["phdim"]):
            moves["PHdim falls" if last["phdim"] < first["phdim"] else "PHdim rises"].append(family)
    for family, grp in df.groupby("family"):
        med = grp.groupby("epoch")[["phdim", "components"]].median()
        epochs = [e for e in order if e in med.index]
        ph = " → ".join(fmt_value(med.loc[e, "phdim"], ".3g") for e in epochs)
        text = f"{family}: PHdim of the last hidden layer {ph} (epochs {', '.join(epochs)})"
        if med["components"].notna().any():
            text += "; components at the head " + " → ".join(fmt_value(med.loc[e, "components"], ".0f") for e in epochs)
        sentences.append(text)
    return Finding(
        title="The learning dynamics: PHdim and the head's components over training",
        finding="Median over the seed-0 runs at default hyperparameters, by family. " + "; ".join(sentences) + ".",
        verdict="from initialisation to the last epoch, the head's components rise in "
        + (", ".join(moves["components rise"]) or "no family")
        + " and stay put in "
        + (", ".join(moves["components stay"]) or "no family")
        + "; the last hidden layer's PHdim falls in "
        + (", ".join(moves["PHdim falls"]) or "no family")
        + " and rises in "
        + (", ".join(moves["PHdim rises"]) or "no family")
        + " (the Architectures page maps every run)",
        numbers={k: v for k, v in moves.items()},
    )


def literature_checks(t: Tables, facts: RegistryFacts | None = None) -> list[Finding]:
    """Each check: a title, a finding computed from the records, a verdict read off the numbers
    and the numbers behind it. ``facts``: the registry's (default: :meth:`RegistryFacts.of`)."""
    scores, board = t["scores"], t["measures"]
    if scores.empty:
        return []
    final = _final_layers(t)  # the checks read the same final layers
    facts = facts or RegistryFacts.of()
    checks = [c for c in (naitzat_check(t, final, facts), magai_check(t, final, facts)) if c]
    checks += [c for c in (check(t, final) for check in (ansuini_check, head_components_check, magai2023_check)) if c]
    checks += [c for c in (birdal_check(t), dynamics_check(t)) if c]
    fam = scores[scores["status"] == "trained"].groupby("family")["phdim_drop"].mean().dropna()
    # protocol v2's family means of the PHdim drop; version 3 has the paired check above instead
    calibrated = "phdim_calibrated" in final and final["phdim_calibrated"].notna().any()
    if len(fam) and not calibrated:
        cnn = fam[fam.index.isin(["cnn", "resnet", "cnn1d"])].mean()
        tr = fam[fam.index.isin(["vit", "transformer"])].mean()
        checks.append(
            Finding(
                title="Magai 2023: PHdim changes across layers differently in CNNs and Transformers",
                finding="Mean PHdim fall from the first measured layer to the last hidden layer (models with both resolved), by family: "
                + ", ".join(f"{f} {v:+.1f}" for f, v in fam.items())
                + ".",
                verdict=f"CNNs fall by {cnn:.1f} on average and Transformers by {tr:.1f}"
                if np.isfinite(cnn) and np.isfinite(tr)
                else "not testable: the PHdim of the first or last hidden layer of the CNNs or Transformers is "
                "censored (beyond what the probe resolves) in every run",
            )
        )
    for score in ("twonn_last", "phdim_last") if len(board) else ():
        sub = board[(board["score"] == score) & (board["target"] == "test_accuracy") & (board["task"] != ALL_TASKS)]
        if len(sub):
            parts = [
                (
                    f"{r.task} {r.kendall_tau:+.2f} [{r.tau_ci_low:+.2f}, {r.tau_ci_high:+.2f}]"
                    + (f", granulated {r.granulated_kendall:+.2f}" if np.isfinite(r.granulated_kendall) else "")
                    + ("" if r.beats_baselines else ", below the best baseline")
                )
                if np.isfinite(r.kendall_tau)
                else f"{r.task}: no ranking ({getattr(r, 'note', None) or 'too few values'})"
                for r in sub.itertuples()
            ]
            neg, pos = (sub["tau_ci_high"] < 0).sum(), (sub["tau_ci_low"] > 0).sum()
            checks.append(
                Finding(
                    title=f"Last-layer dimension ({score}) against test accuracy",
                    finding=f"Kendall tau per task: {'; '.join(parts)}.",
                    verdict=f"significantly negative (lower dimension, higher accuracy, as Ansuini et al. report) in {neg} of "
                    f"{len(sub)} tasks, significantly positive (the opposite) in {pos}",
                )
            )
    return checks
