"""Paper figures with matplotlib (PNG and PDF): the site's curves and correlation plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .analysis import TRAINED, load_tables  # noqa: E402

PANELS = [("phdim", "PHdim"), ("twonn", "TwoNN"), ("betti_0", "Betti 0"), ("linear_probe_accuracy", "linear probe")]


def _save(fig, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def curves_figure(curves: pd.DataFrame, task: str, out: Path) -> list[Path]:
    """Per-layer curves of every trained model of ``task`` on relative depth, bands over seeds."""
    sub = curves[(curves["task"] == task) & curves["status"].isin(TRAINED)]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2))
    for ax, (measure, label) in zip(axes, PANELS):
        for model, grp in sub.groupby("model"):
            grp = grp.sort_values("depth")
            line, = ax.plot(grp["depth"], grp[f"{measure}_mean"], marker="o", ms=3, label=model)
            ax.fill_between(grp["depth"], grp[f"{measure}_min"], grp[f"{measure}_max"], color=line.get_color(), alpha=0.15)
        ax.set_xlabel("relative depth")
        ax.set_title(label)
    axes[0].legend(fontsize=7)
    fig.suptitle(task)
    return _save(fig, out, f"curves_{task}")


def scatter_figure(scores: pd.DataFrame, score: str, target: str, out: Path) -> list[Path]:
    sub = scores[scores["status"].isin(TRAINED)]
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for fam, grp in sub.groupby("family"):
        ax.scatter(grp[score], grp[target], s=12, label=fam)
    ax.set_xlabel(score)
    ax.set_ylabel(target)
    ax.legend(fontsize=7)
    return _save(fig, out, f"{score}_vs_{target}")


def write_figures(store_root: str | Path, out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = load_tables(store_root)
    paths: list[Path] = []
    for task in sorted(t["curves"]["task"].unique()):
        paths += curves_figure(t["curves"], task, out)
    for score in ("phdim_last", "twonn_last", "weight_l2"):
        for target in ("test_accuracy", "generalization_gap"):
            paths += scatter_figure(t["scores"], score, target, out)
    return paths
