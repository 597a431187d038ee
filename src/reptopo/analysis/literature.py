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
from .findings import Claim, Finding
from .scores import BASELINES, MIN_MODELS, censored_mask, primary_layers, rank_values
from .stability import Outcome, Population, assess, unit_codes, weighted_share
from .stats import fmt_value, kendall_matrices, kendall_tau_counts, mean_ci, resample_counts, spearman_rho

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


NAITZAT_CLAIMS = {
    "each class ends at (1, 0)": "share of the well-trained runs' classes that end at (1, 0)",
    "faster with ReLU than with tanh": "one-sided Mann-Whitney p of the classes' reach depths, ReLU before tanh",
}


def _level(share: float, high: float, low: float) -> str:
    """'reproduced' from ``high`` on, 'partly reproduced' from ``low``, else 'not reproduced'."""
    return "reproduced" if share >= high else "partly reproduced" if share >= low else "not reproduced"


def _majority(share: float) -> str:
    """'reproduced' above one half, 'partly reproduced' above one fifth, else 'not reproduced'."""
    return "reproduced" if share > 0.5 else "partly reproduced" if share > 0.2 else "not reproduced"


def _weighted_mean(values: np.ndarray, weights: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Per code, the mean of the finite ``values`` weighted by ``weights`` (NaN where none)."""
    finite = np.isfinite(values)
    total = np.bincount(
        codes, weights=np.where(finite, weights * np.where(finite, values, 0.0), 0.0), minlength=n_codes
    )
    weight = np.bincount(codes, weights=np.where(finite, weights, 0.0), minlength=n_codes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan)


def _naitzat_outcomes(
    classes: pd.DataFrame, curve: pd.DataFrame, w_classes: np.ndarray, w_curve: np.ndarray
) -> tuple[dict[str, Outcome], dict[str, Any]]:
    """Whether the classes of well-trained runs end at (1, 0), and whether ReLU gets there faster
    than tanh (the halfway depth of the complexity curve and a one-sided Mann-Whitney test of the
    reach depths); with the numbers that say so. ``classes``: one row per class and run (its
    reach depth and activation), weighted by ``w_classes`` (the run's copies in the sample, 0 for
    a run under 95% test accuracy); ``curve``: the runs' layers, weighted by ``w_curve``."""
    ends, faster = NAITZAT_CLAIMS
    if not w_classes.sum():
        return {ends: Outcome("not testable"), faster: Outcome("not testable")}, {}
    depth = classes["depth"].to_numpy(float)
    share = float((w_classes * np.isfinite(depth)).sum() / w_classes.sum())
    role = curve["role"].to_numpy()
    betti = curve["class_betti_sum"].to_numpy(float)
    head, start = (
        float(_weighted_mean(betti, w_curve * (role == r), np.zeros(len(role), int), 1)[0]) for r in ("head", "input")
    )
    numbers: dict[str, Any] = {"share_reached": share, "start": start, "head": head}
    first = "reproduced" if share >= 0.9 else "partly reproduced" if head <= start / 2 else "not reproduced"
    keys = pd.MultiIndex.from_arrays([curve["activation"], curve["depth"]])
    codes, levels = pd.factorize(keys)
    complexity = pd.Series(_weighted_mean(betti, w_curve, codes, len(levels)), index=levels)
    activation = classes["activation"].to_numpy()
    acts = sorted(set(activation[w_classes > 0]))
    for a in acts:
        numbers[f"{a}_halfway"] = _halfway_depth(complexity.loc[a])
    second = Outcome("not testable")
    if {"relu", "tanh"} <= set(acts):
        reach = np.where(np.isfinite(depth), depth, 2.0)  # never reached: after every depth
        relu, tanh = (np.repeat(reach, (w_classes * (activation == a)).astype(int)) for a in ("relu", "tanh"))
        p = float(stats.mannwhitneyu(relu, tanh, alternative="less").pvalue)
        numbers["mann_whitney_p"] = p
        quicker = (
            (numbers["relu_halfway"] < numbers["tanh_halfway"])
            if np.isfinite(numbers["tanh_halfway"])
            else np.isfinite(numbers["relu_halfway"])
        )
        second = Outcome(
            "reproduced" if quicker and p < 0.05 else "partly reproduced" if quicker else "not reproduced", p
        )
    return {ends: Outcome(first, share), faster: second}, numbers


def _naitzat_verdict(outcomes: dict[str, Outcome], well: pd.DataFrame, numbers: dict[str, Any]) -> str:
    ends, faster = NAITZAT_CLAIMS
    if not len(well):
        return "not tested: no synthetic model reached 95% test accuracy"
    first = {"partly reproduced": "partly reproduced: the per-class topology simplifies"}.get(
        outcomes[ends].outcome, outcomes[ends].outcome
    )
    first += (
        f" (mean b0 + b1 from {numbers['start']:.1f} at the input to {numbers['head']:.1f} at the head), and "
        f"{int(well['depth'].notna().sum())} of {len(well)} classes end at (1, 0)"
    )
    second = {
        "reproduced": "faster with ReLU, reproduced",
        "partly reproduced": "faster with ReLU in the complexity curve, but the classes' reach depths do not differ significantly",
        "not reproduced": "not faster with ReLU, not reproduced",
    }.get(outcomes[faster].outcome)
    if second is None:
        return f"{first}; ReLU against tanh not testable"
    return (
        f"{first}; {second} (complexity halved at depth {fmt_value(numbers['relu_halfway'])} with ReLU, "
        f"{fmt_value(numbers['tanh_halfway'])} with tanh; reach depths, one-sided Mann-Whitney p = "
        f"{numbers['mann_whitney_p']:.3f})"
    )


def naitzat_check(t: Tables, final: pd.DataFrame | None = None, facts: RegistryFacts | None = None) -> Finding | None:
    """Naitzat et al. 2020: each class's Betti numbers fall to (1, 0) through a well-trained
    network, faster with ReLU than with tanh.

    Per class, the reach depth is the relative depth from which it reads (1, 0) on the hop metric
    at every deeper layer; a class that never does ranks after every one that does (Mann-Whitney
    U between the activations' reach depths, "not reached" as +inf). The per-class complexity
    b0 + b1, averaged over classes and runs, gives the depth at which it halves. Resamples: the
    runs, within their task."""
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
    curve_all = syn.assign(activation=syn["model"].map(activation))
    runs = df.drop_duplicates("job_id")
    units = list(runs["job_id"])
    class_unit, curve_unit = unit_codes(df["job_id"], units), unit_codes(curve_all["job_id"], units)
    well_unit = (runs["test_accuracy"] >= 0.95).to_numpy(float)

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        w = counts * well_unit
        return _naitzat_outcomes(df, curve_all, w[class_unit], w[curve_unit])[0]

    claims = assess(NAITZAT_CLAIMS, decide, Population(list(runs["task"])))
    outcomes, numbers = _naitzat_outcomes(df, curve_all, well_unit[class_unit], well_unit[curve_unit])
    well = df[df["test_accuracy"] >= 0.95]
    well_jobs = set(well["job_id"])
    curve = curve_all[curve_all["job_id"].isin(well_jobs)]
    complexity = curve.groupby(["activation", "depth"])["class_betti_sum"].mean()
    numbers.setdefault("share_reached", np.nan)
    parts = []
    for a in sorted(set(well["activation"])):
        d = well[well["activation"] == a]["depth"]
        c = complexity.loc[a]
        numbers[f"{a}_reached"] = f"{int(d.notna().sum())} of {len(d)}"
        numbers[f"{a}_depth"] = float(d.fillna(np.inf).median())
        parts.append(
            f"{a}: {int(d.notna().sum())} of {len(d)} classes reach (1, 0), median reach depth "
            f"{'not reached' if not np.isfinite(numbers[f'{a}_depth']) else format(numbers[f'{a}_depth'], '.2f')}; "
            f"mean per-class b0 + b1 {c.iloc[0]:.1f} at the input, {c.iloc[-1]:.1f} at the head, halved by depth "
            f"{fmt_value(numbers[f'{a}_halfway'])}"
        )
    acc = df.drop_duplicates("job_id").groupby(["task", "activation"])["test_accuracy"].mean()
    acc_parts = [f"{task} {a} {v:.3f}" for (task, a), v in acc.items()]
    return Finding(
        title="Naitzat et al. 2020: each class's Betti numbers fall to (1, 0) through the layers, faster with ReLU than tanh",
        finding=f"Per-class Betti numbers on the k-NN hop metric of the synthetic two-class tasks, trained networks of "
        f"test accuracy at least 0.95 ({len(well_jobs)} of {df['job_id'].nunique()} runs; mean test "
        f"accuracy {'; '.join(acc_parts)}). By activation: {'; '.join(parts)}.",
        verdict=_naitzat_verdict(outcomes, well, numbers),
        numbers=numbers,
        claims=claims,
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


MAGAI_CLAIMS = {
    "per-class total persistence falls with depth (H0)": "share of trained models whose last hidden layer's "
    "per-class H0 total persistence is below the input's",
    "per-class total persistence falls with depth (H1)": "the same share for H1",
    "PHdim rises, then falls": "share of trained models with a middle hidden layer's PHdim above the first and "
    "last hidden layers'",
}


def magai_check(t: Tables, final: pd.DataFrame | None = None, facts: RegistryFacts | None = None) -> Finding | None:
    """Magai & Ayzenberg 2022: per-class total persistence falls with depth; PHdim rises, then
    falls. Real tasks; trained models against the random-init and shuffled-label controls.
    Resamples: the runs, within their task and status."""
    layers = _final_layers(t) if final is None else final
    if layers.empty or "class_tp_h0" not in layers or layers["class_tp_h0"].isna().all():
        return None
    real = layers[~(facts or RegistryFacts.of()).is_synthetic(layers["task"])]
    real = real[real["status"].isin(TRAINED_STATUSES + CONTROLS)]
    runs = pd.DataFrame(
        [
            {
                "task": g["task"].iloc[0],
                "status": g["status"].iloc[0],
                "trained": g["status"].iloc[0] in TRAINED_STATUSES,
                "h0": _falls(g, "class_tp_h0"),
                "h1": _falls(g, "class_tp_h1"),
                "hunch": _hunch(g, "phdim", from_input=False),
                "censored": bool(g[~g["role"].isin(["input", "head"])]["phdim_censored"].any())
                if "phdim_censored" in g
                else False,
            }
            for _, g in real.groupby("job_id")
        ],
        columns=["task", "status", "trained", "h0", "h1", "hunch", "censored"],
    )
    if not runs["trained"].any():
        return None
    runs["trained"] = runs["trained"].astype(bool)
    trained = runs["trained"].to_numpy(bool)
    h0, h1, hunch = (runs[c].to_numpy(float) for c in ("h0", "h1", "hunch"))
    h0_claim, h1_claim, hunch_claim = MAGAI_CLAIMS

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        tr, ctl = counts * trained, counts * ~trained
        share_h0, share_ctl = weighted_share(h0, tr)[0], weighted_share(h0, ctl)[0]
        share_h1 = weighted_share(h1, tr)[0]
        share_hunch, testable = weighted_share(hunch, tr)
        h0_outcome = _level(share_h0, 0.75, 0.5)
        if h0_outcome != "not reproduced" and share_ctl >= 0.5:
            h0_outcome += ", but in the controls too"
        return {
            h0_claim: Outcome(h0_outcome, share_h0),
            h1_claim: Outcome(_level(share_h1, 0.75, 0.5), share_h1),
            hunch_claim: Outcome("not testable", share_hunch)
            if testable < 3
            else Outcome(_majority(share_hunch), share_hunch),
        }

    claims = assess(MAGAI_CLAIMS, decide, Population(list(zip(runs["task"], runs["status"]))))
    outcome = {c.claim: c.outcome for c in claims}
    tr, ctl = runs[runs["trained"]], runs[~runs["trained"]]
    verdict = outcome[h0_claim].split(",")[0] + f" for H0 ({_share(tr['h0'])} trained models)"
    if outcome[h0_claim].endswith("controls too"):
        verdict += f", but it falls in {_share(ctl['h0'])} random-init and shuffled-label controls too, so not because of training"
    verdict += f"; {outcome[h1_claim]} for H1 ({_share(tr['h1'])})"
    if outcome[hunch_claim] == "not testable":
        verdict += (
            f"; PHdim rising then falling not testable at this probe size: {int(tr['censored'].sum())} of {len(tr)} "
            f"trained models have a hidden layer whose PHdim is censored (beyond what the probe resolves)"
        )
    else:
        verdict += (
            "; PHdim "
            + {
                "reproduced": "rises then falls in most models, reproduced",
                "partly reproduced": "rises then falls in a minority, partly reproduced",
                "not reproduced": "does not rise then fall, not reproduced",
            }[outcome[hunch_claim]]
            + f" ({_share(tr['hunch'])} with every layer resolved)"
        )
    return Finding(
        title="Magai and Ayzenberg 2022: per-class total persistence falls with depth; PHdim rises, then falls",
        finding=f"Real tasks. Per-class total persistence (normalised by the layer's RMS radius) at the last hidden "
        f"layer is below the input's in {_share(tr['h0'])} trained or pretrained models for H0 and "
        f"{_share(tr['h1'])} for H1; in the random-init and shuffled-label controls in {_share(ctl['h0'])} "
        f"(H0) and {_share(ctl['h1'])} (H1). A middle hidden layer's PHdim exceeds both the first and the "
        f"last hidden layer's in {_share(tr['hunch'])} trained models whose hidden layers' PHdim all resolve "
        f"({int(tr['censored'].sum())} of {len(tr)} have a censored hidden layer and are left out) and in "
        f"{_share(ctl['hunch'])} controls.",
        verdict=verdict,
        numbers={"h0_falls": tr["h0"].mean(), "h1_falls": tr["h1"].mean(), "phdim_hunch": tr["hunch"].mean()},
        claims=claims,
    )


ANSUINI_CLAIMS = {
    "the intrinsic dimension rises, then falls": "share of trained vision models with a hidden layer's TwoNN "
    "above both the input's and the last hidden layer's",
    "not in untrained networks": "the same share in the random-init controls",
}


def ansuini_check(t: Tables, final: pd.DataFrame | None = None) -> Finding | None:
    """Ansuini et al. 2019: the intrinsic dimension rises, then falls (a hunchback), not in
    untrained networks. Resamples: the runs, within their task and status."""
    layers = _final_layers(t) if final is None else final
    if layers.empty:
        return None
    vision = layers[(layers["modality"] == "vision") & (layers["family"] != "mlp")]
    groups = {"trained": TRAINED_STATUSES, "random_init": ("random_init",), "shuffled": ("shuffled_labels",)}
    vision = vision[vision["status"].isin(sum(groups.values(), ()))]
    runs = pd.DataFrame(
        [
            {
                "task": g["task"].iloc[0],
                "status": g["status"].iloc[0],
                "group": next(k for k, v in groups.items() if g["status"].iloc[0] in v),
                "hunch": _hunch(g, "twonn"),
                "falls": _falls(g, "twonn"),
                "phdim_hunch": _hunch(g, "phdim") if "phdim" in g else np.nan,
            }
            for _, g in vision.groupby("job_id")
        ],
        columns=["task", "status", "group", "hunch", "falls", "phdim_hunch"],
    )
    if not (runs["group"] == "trained").any():
        return None
    hunch = runs["hunch"].to_numpy(float)
    trained, untrained = (runs["group"] == "trained").to_numpy(), (runs["group"] == "random_init").to_numpy()
    rises, untrained_claim = ANSUINI_CLAIMS

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        share = weighted_share(hunch, counts * trained)[0]
        control = weighted_share(hunch, counts * untrained)[0]
        return {
            rises: Outcome(_majority(share), share),
            untrained_claim: Outcome(
                "not testable"
                if not np.isfinite(control)
                else "reproduced"
                if control < min(0.5, share)
                else "not reproduced",
                control,
            ),
        }

    claims = assess(ANSUINI_CLAIMS, decide, Population(list(zip(runs["task"], runs["status"]))))
    outcome = {c.claim: c.outcome for c in claims}
    by = {g: runs[runs["group"] == g] for g in groups}
    calibrated = ""
    if "phdim_calibrated" in vision and vision["phdim_calibrated"].notna().any():  # protocol v3
        calibrated = (
            f" With calibrated PHdim as the intrinsic dimension: a hunchback in {_share(by['trained']['phdim_hunch'])} "
            f"trained or pretrained models and {_share(by['random_init']['phdim_hunch'])} random-init controls."
        )
    verdict = {
        "reproduced": "reproduced",
        "partly reproduced": "partly reproduced: a minority of models",
        "not reproduced": "not reproduced for these shallow networks: the dimension falls from the input on",
    }[outcome[rises]]
    verdict += {
        "reproduced": "; absent in untrained networks, reproduced",
        "not reproduced": "; present in untrained networks as well, not reproduced",
        "not testable": "; no untrained controls",
    }[outcome[untrained_claim]]
    return Finding(
        title="Ansuini et al. 2019: the intrinsic dimension rises, then falls with depth (a hunchback), unlike in untrained networks",
        finding=f"Convolutional and Transformer vision models, TwoNN: a hidden layer above both the input and the last "
        f"hidden layer in {_share(by['trained']['hunch'])} trained or pretrained models, {_share(by['random_init']['hunch'])} "
        f"random-init and {_share(by['shuffled']['hunch'])} shuffled-label controls; the last hidden layer below the "
        f"input in {_share(by['trained']['falls'])} trained models and {_share(by['random_init']['falls'])} random-init ones."
        + calibrated,
        verdict=verdict,
        numbers={
            "trained_hunch": by["trained"]["hunch"].mean(),
            "random_init_hunch": by["random_init"]["hunch"].mean(),
        },
        claims=claims,
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
    claims = _head_claims(heads, dtm)
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
        claims=claims,
    )


HEAD_CLAIMS = {
    "one component per class at a trained head": "share of trained heads whose b0 (at the cloud's resolution) "
    "equals the number of classes",
    "one DTM component per class at a well-trained MNIST or digits head": "share of trained MNIST and digits "
    "models of test accuracy at least 0.9 whose DTM count equals the number of classes",
}


def _head_claims(heads: pd.DataFrame, dtm: bool) -> tuple[Claim, ...]:
    """The head checks' claims: a majority of heads with one component per class ("yes") or not.
    Resamples: the runs, within their task and status."""
    trained = heads["status"].isin(TRAINED_STATUSES).to_numpy()
    equal = (heads["whole_b0"] == heads["classes"]).to_numpy(float)  # unresolved: not equal, as the verdict counts
    well = (
        heads["task"].isin(["mnist", "digits"]) & (heads["status"] == "trained") & (heads["test_accuracy"] >= 0.9)
    ).to_numpy()
    dtm_equal = (heads["whole_b0_dtm"] == heads["classes"]).to_numpy(float) if dtm else np.full(len(heads), np.nan)
    statistics = dict(list(HEAD_CLAIMS.items())[: 2 if dtm else 1])

    def answer(share: float, weight: float) -> Outcome:
        return Outcome("not testable" if not weight else "yes" if share > 0.5 else "no", share)

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        out = {}
        for (claim, _), flags, among in zip(statistics.items(), (equal, dtm_equal), (trained, well)):
            out[claim] = answer(*weighted_share(flags, counts * among))
        return out

    return assess(statistics, decide, Population(list(zip(heads["task"], heads["status"]))))


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


MAGAI2023_CLAIMS = {
    "CV: PHdim's depth profile differs between CNNs and Transformers": "Transformers' mean depth statistic minus CNNs'",
    "NLP: PHdim's depth profile differs between CNNs and Transformers": "Transformers' mean depth statistic "
    "minus CNNs'",
}
MODALITIES = (("vision", "CV"), ("text", "NLP"))


def _difference_outcome(c: np.ndarray, tr: np.ndarray, *, n: int = 2000) -> tuple[Outcome, float, float]:
    """Transformers' mean minus CNNs', its 95% bootstrap interval (each family resampled on its
    own, ``n`` times, seed 0) and the verdict: reproduced where the interval excludes 0, refuted
    where it holds 0 and its half-width is under half the mean absolute statistic, else
    inconclusive."""
    rng = np.random.default_rng(0)
    boot = rng.choice(tr, size=(n, len(tr))).mean(axis=1) - rng.choice(c, size=(n, len(c))).mean(axis=1)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    diff = float(tr.mean() - c.mean())
    scale = float(np.mean(np.abs(np.r_[c, tr])))
    verdict = "reproduced" if lo > 0 or hi < 0 else "refuted" if (hi - lo) / 2 < 0.5 * scale else "inconclusive"
    return Outcome(verdict, diff), float(lo), float(hi)


def magai2023_check(t: Tables, final: pd.DataFrame | None = None) -> Finding | None:
    """Magai 2023: PHdim changes across depth differently in CNNs and in Transformers, in CV and NLP.

    Per trained model, the slope of PHdim (calibrated under protocol v3) over relative depth;
    per modality, the difference of the two families' mean slopes with a bootstrap interval
    (models resampled within each family). Reproduced where the interval excludes 0; refuted
    where it holds 0 and is narrower than half the mean absolute statistic (a difference of that
    size would have been seen); inconclusive otherwise. Where a family has fewer than two models
    with every layer's PHdim measured (a censored layer is a lower bound, and a slope through it
    is not a number), the same test runs on Spearman's rho between depth and PHdim, in which a
    censored layer ranks above every measured one. Stability: the runs resampled within their
    modality and kind (CNN or Transformer), the statistic kept."""
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
    chosen: dict[str, tuple[str, str]] = {}  # the statistic each modality is tested on, and its unit
    for modality, label in MODALITIES:
        sub = per_job[per_job["modality"] == modality]
        for stat, unit in DEPTH_STATISTICS:
            if all(sub[sub["kind"] == kind][stat].notna().sum() >= 2 for kind in ("CNN", "Transformer")):
                chosen[label] = (stat, unit)
                break

    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}  # per modality, each kind's runs and statistic
    for modality, label in MODALITIES:
        if label in chosen:
            values = per_job[chosen[label][0]].to_numpy(float)
            for kind in ("CNN", "Transformer"):
                rows = np.flatnonzero(
                    (per_job["modality"] == modality).to_numpy()
                    & (per_job["kind"] == kind).to_numpy()
                    & np.isfinite(values)
                )
                groups.setdefault(label, []).append((rows, values[rows]))

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        out = {}
        for (_, label), claim in zip(MODALITIES, MAGAI2023_CLAIMS):
            if label not in groups:
                out[claim] = Outcome("not testable")
                continue
            c, tr = (np.repeat(values, counts[rows].astype(int)) for rows, values in groups[label])
            out[claim] = _difference_outcome(c, tr)[0]
        return out

    claims = assess(MAGAI2023_CLAIMS, decide, Population(list(zip(per_job["modality"], per_job["kind"]))))
    parts: list[str] = []
    verdicts: list[str] = []
    numbers: dict[str, Any] = {}
    for modality, label in MODALITIES:
        sub = per_job[per_job["modality"] == modality]
        if label not in chosen:
            counts = [
                int(sub[sub["kind"] == kind][DEPTH_STATISTICS[-1][0]].notna().sum()) for kind in ("CNN", "Transformer")
            ]
            verdicts.append(f"{label}: not testable ({counts[0]} CNNs and {counts[1]} Transformers measured)")
            continue
        stat, unit = chosen[label]
        c, tr = (sub[sub["kind"] == kind][stat].dropna().to_numpy() for kind in ("CNN", "Transformer"))
        mc, mt = mean_ci(c), mean_ci(tr)
        outcome, lo, hi = _difference_outcome(c, tr)
        diff = outcome.value
        numbers[f"{label}_statistic"] = stat
        numbers[f"{label}_difference"] = diff
        numbers[f"{label}_interval"] = [lo, hi]
        name = "slope" if stat == "slope" else "Spearman's rho"
        parts.append(
            f"{label} ({name}): CNNs {mc[0]:+.2f} [{mc[1]:+.2f}, {mc[2]:+.2f}] over {len(c)} models, Transformers "
            f"{mt[0]:+.2f} [{mt[1]:+.2f}, {mt[2]:+.2f}] over {len(tr)}; difference {diff:+.2f} [{lo:+.2f}, {hi:+.2f}]"
        )
        words = {"reproduced": "reproduced: they differ", "refuted": "refuted: they change alike"}
        verdicts.append(
            f"{label}: {words.get(outcome.outcome, outcome.outcome)} (difference {diff:+.2f} [{lo:+.2f}, {hi:+.2f}] {unit})"
        )
    return Finding(
        title="Magai 2023: PHdim changes across depth differently in CNNs and Transformers, in CV and NLP",
        finding="The depth profile of PHdim per trained model (layers after the input; calibrated where the protocol "
        "calibrates): its slope over relative depth, or where censored layers leave a family without slopes, "
        "Spearman's rho with depth; mean over models with a 95% bootstrap interval. " + "; ".join(parts) + ".",
        verdict="; ".join(verdicts),
        numbers=numbers,
        claims=claims,
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
    claims = _birdal_claims(t["scores"], [task for task, *_ in rows])
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
        claims=claims,
    )


BIRDAL_CLAIM = {
    "PHdim predicts the generalization gap better than every baseline": "share of grid tasks where |Kendall tau| "
    "of the last hidden layer's PHdim with the gap exceeds every baseline's"
}
GAP = "generalization_gap"


def _birdal_claims(scores: pd.DataFrame, tasks: list[str]) -> tuple[Claim, ...]:
    """The Birdal check's verdict re-derived from the models' scores: per grid task, whether
    |tau| of PHdim (last) with the gap beats every baseline's, as the measures board ranks them
    (censored values ranked on top, a score with fewer than the board's minimum of values left
    out). Resamples: the trained models, within their task."""
    trained = scores[scores["status"].isin(TRAINED_STATUSES) & scores["task"].isin(tasks)].reset_index(drop=True)
    per_task = []
    for task in tasks:
        grp = trained[trained["task"] == task]
        y = grp[GAP].to_numpy(float)
        matrices = {}
        for score in ("phdim_last",) + BASELINES:
            if score in grp and np.isfinite(x := rank_values(grp, score)).sum() >= MIN_MODELS:
                matrices[score] = kendall_matrices(x, y)
        per_task.append((grp.index.to_numpy(), matrices))
    (claim,) = BIRDAL_CLAIM

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        wins = 0
        for rows, matrices in per_task:
            strength = {s: abs(float(kendall_tau_counts(m, counts[rows])[0])) for s, m in matrices.items()}
            base = [v for s, v in strength.items() if s in BASELINES and np.isfinite(v)]
            wins += bool(strength.get("phdim_last", np.nan) > (max(base) if base else -1))
        outcome = "not reproduced" if wins == 0 else "reproduced" if wins == len(per_task) else "partly reproduced"
        return {claim: Outcome(outcome, wins / len(per_task))}

    return assess(BIRDAL_CLAIM, decide, Population(list(trained["task"])))


def dynamics_check(t: Tables) -> Finding | None:
    """The learning dynamics (Magai 2023's emphasis): by family, the median over runs of the last
    hidden layer's PHdim and the head's component count at each measured epoch."""
    dyn = t["dynamics"]
    if dyn.empty or "phdim" not in dyn:
        return None
    dyn = dyn[dyn["status"] == "trained"]
    rows = []
    for job, grp in dyn.groupby("job_id"):
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
                    "job_id": job,
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
    runs = df.drop_duplicates("job_id")
    row_unit = unit_codes(df["job_id"], list(runs["job_id"]))
    moves = _dynamics_moves(df, _dynamics_ends(df), np.ones(len(df)))
    rise, fall = DYNAMICS_CLAIMS

    ends = _dynamics_ends(df)

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        m = _dynamics_moves(df, ends, counts[row_unit])
        out = {}
        for claim, (yes, no) in (
            (rise, ("components rise", "components stay")),
            (fall, ("PHdim falls", "PHdim rises")),
        ):
            n = len(m[yes]) + len(m[no])
            out[claim] = Outcome(
                f"in {len(m[yes])} of {n} families" + (f": {', '.join(m[yes])}" if m[yes] else ""),
                len(m[yes]) / n if n else np.nan,
            )
        return out

    claims = assess(DYNAMICS_CLAIMS, decide, Population(list(runs["family"])))
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
        claims=claims,
    )


DYNAMICS_CLAIMS = {
    "the head's components rise from initialisation to the last epoch": "share of families whose median count rises",
    "the last hidden layer's PHdim falls from initialisation to the last epoch": "share of families whose median "
    "PHdim falls",
}


def _dynamics_ends(df: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per family (``df``: one row per run and epoch), its rows at the first epoch measured
    (initialisation where measured) and at the last."""
    ends = {}
    for family, grp in df.groupby("family"):
        epochs = sorted(set(grp["epoch"]))
        first = "0" if "0" in epochs else epochs[0]
        last = "last" if "last" in epochs else epochs[-1]
        ends[family] = (grp.index[grp["epoch"] == first].to_numpy(), grp.index[grp["epoch"] == last].to_numpy())
    return ends


def _median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of the finite values, each repeated ``weights`` times (NaN when none)."""
    v = np.repeat(values, weights.astype(int))
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else np.nan


def _dynamics_moves(
    df: pd.DataFrame, ends: dict[str, tuple[np.ndarray, np.ndarray]], weights: np.ndarray
) -> dict[str, list[str]]:
    """By family, whether the median over runs (each row weighted by ``weights``, its run's
    copies) of the head's components rises and the last hidden layer's PHdim falls from the
    first epoch to the last (``ends``: :func:`_dynamics_ends`)."""
    moves: dict[str, list[str]] = {"components rise": [], "components stay": [], "PHdim falls": [], "PHdim rises": []}
    columns = {c: df[c].to_numpy(float) for c in ("phdim", "components")}
    for family, (first, last) in ends.items():
        comp = [_median(columns["components"][rows], weights[rows]) for rows in (first, last)]
        ph = [_median(columns["phdim"][rows], weights[rows]) for rows in (first, last)]
        if np.isfinite(comp).all():
            moves["components rise" if comp[1] > comp[0] else "components stay"].append(family)
        if np.isfinite(ph).all():
            moves["PHdim falls" if ph[1] < ph[0] else "PHdim rises"].append(family)
    return moves


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
    calibrated = "phdim_calibrated" in final and final["phdim_calibrated"].notna().any()
    if not calibrated:  # protocol v2's family means of the PHdim drop; version 3 has the paired check above
        checks += [c for c in (_phdim_drop_check(scores),) if c]
    checks += [c for c in (_last_layer_check(scores, board, score) for score in ("twonn_last", "phdim_last")) if c]
    return checks


def _phdim_drop_check(scores: pd.DataFrame) -> Finding | None:
    """Protocol v2's reading of Magai 2023: the family means of the PHdim drop from the first
    measured layer to the last hidden one. Resamples: the runs, within their family."""
    trained = scores[(scores["status"] == "trained") & scores["phdim_drop"].notna()]
    fam = trained.groupby("family")["phdim_drop"].mean()
    if not len(fam):
        return None
    cnn = fam[fam.index.isin(["cnn", "resnet", "cnn1d"])].mean()
    tr = fam[fam.index.isin(["vit", "transformer"])].mean()
    drop, family = trained["phdim_drop"].to_numpy(float), trained["family"].to_numpy()
    (claim,) = PHDIM_DROP_CLAIM

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        means = pd.Series(drop * counts).groupby(family).sum() / pd.Series(counts).groupby(family).sum()
        c, t = (
            means[means.index.isin(["cnn", "resnet", "cnn1d"])].mean(),
            means[means.index.isin(["vit", "transformer"])].mean(),
        )
        if not (np.isfinite(c) and np.isfinite(t)):
            return {claim: Outcome("not testable")}
        return {claim: Outcome("CNNs fall more" if c > t else "Transformers fall more", float(c - t))}

    return Finding(
        title="Magai 2023: PHdim changes across layers differently in CNNs and Transformers",
        finding="Mean PHdim fall from the first measured layer to the last hidden layer (models with both resolved), by family: "
        + ", ".join(f"{f} {v:+.1f}" for f, v in fam.items())
        + ".",
        verdict=f"CNNs fall by {cnn:.1f} on average and Transformers by {tr:.1f}"
        if np.isfinite(cnn) and np.isfinite(tr)
        else "not testable: the PHdim of the first or last hidden layer of the CNNs or Transformers is "
        "censored (beyond what the probe resolves) in every run",
        claims=assess(PHDIM_DROP_CLAIM, decide, Population(list(family))),
    )


PHDIM_DROP_CLAIM = {"CNNs and Transformers lose PHdim differently": "CNNs' mean PHdim drop minus Transformers'"}


def _last_layer_check(scores: pd.DataFrame, board: pd.DataFrame, score: str, *, n_boot: int = 500) -> Finding | None:
    """Ansuini et al.'s "lower last-layer dimension, higher accuracy" per task: Kendall's tau of
    ``score`` with test accuracy and its bootstrap interval (the measures board's). Reproduced
    where it is significantly negative in more than half the tasks, partly in some, not in
    none. Resamples: the trained models, within their task; each resample's intervals are
    bootstraps of that resample (``n_boot`` draws, as the board's)."""
    if not len(board):
        return None
    sub = board[(board["score"] == score) & (board["target"] == "test_accuracy") & (board["task"] != ALL_TASKS)]
    if not len(sub):
        return None
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
    tasks = list(sub["task"])
    trained = scores[scores["status"].isin(TRAINED_STATUSES) & scores["task"].isin(tasks)].reset_index(drop=True)
    per_task = []
    for task in tasks if score in trained else ():
        rows = trained.index[trained["task"] == task].to_numpy()
        grp = trained.loc[rows]
        per_task.append((rows, kendall_matrices(rank_values(grp, score), grp["test_accuracy"].to_numpy(float))))
    claim = f"lower {score.removesuffix('_last')} at the last hidden layer, higher test accuracy"
    statistics = {claim: "share of tasks where Kendall tau with test accuracy is significantly negative"}

    def decide(counts: np.ndarray) -> dict[str, Outcome]:
        negative = 0
        for rows, matrices in per_task:
            c = counts[rows]
            inner = resample_counts(int(c.sum()), n_boot, np.random.default_rng(0), within=c)
            taus = kendall_tau_counts(matrices, inner)
            taus = taus[np.isfinite(taus)]
            negative += bool(len(taus) >= n_boot // 2 and np.percentile(taus, 97.5) < 0)
        share = negative / len(per_task) if per_task else np.nan
        outcome = "reproduced" if share > 0.5 else "partly reproduced" if negative else "not reproduced"
        return {claim: Outcome(outcome, share)}

    return Finding(
        title=f"Last-layer dimension ({score}) against test accuracy",
        finding=f"Kendall tau per task: {'; '.join(parts)}.",
        verdict=f"significantly negative (lower dimension, higher accuracy, as Ansuini et al. report) in {neg} of "
        f"{len(sub)} tasks, significantly positive (the opposite) in {pos}",
        claims=assess(statistics, decide, Population(list(trained["task"]))),
    )
