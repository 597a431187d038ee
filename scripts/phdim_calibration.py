"""Build PHdim's calibration tables: raw PHdim of fresh clouds of known dimension.

    python scripts/phdim_calibration.py [--clouds 40] [--workers 2] [--out PATH] [--pools 300,600,1000,2000]
    python scripts/phdim_calibration.py --broad [--clouds 5] [--workers 2] [--pools ...]

For each pool size (300, 600, 1,000 and 2,000: a layer's pool is its probe, capped by the
protocol), each family (isotropic Gaussians, the primary one, and
uniform balls) and each dimension d of the grid, ``--clouds`` fresh clouds of ``pool`` points
in R^d are drawn, and each is measured by reptopo's own raw estimator with the protocol's
schedule (:func:`reptopo.measures.default_schedule`, 7 subsamples per size, alpha 1), its
subsamples drawn by the cloud's own seed. The table keeps, per d, the empirical quantiles of the
raw dimension and the mean and standard deviation of its logarithm; then the smoothed belt that
:mod:`reptopo.measures.phdim` inverts (see ``smooth_belt``). A family's table stops at the last
d at which every cloud's slope was below 1 and the mean still rose.

``--broad`` builds the *broad* family (protocol v4) and replaces only its tables in the file:
``--clouds`` clouds of each kind of :data:`reptopo.measures.manifolds.CALIBRATION_KINDS`
(Gaussians, balls, paraboloids, curved products of arcs, Beta(0.5, 0.5) and Student-t
coordinates, an uneven mixture, a smooth random-feature embedding) at each d, so that the
table's spread at d is the spread between kinds as well as between draws. The held-out kinds
(:data:`reptopo.measures.manifolds.HELD_OUT_KINDS`) never enter it.

``--pools`` builds the tables of those pool sizes only and replaces just them in the file (the
tables of the other pools are kept): ``--pools 5000,10000 --clouds 20`` then ``--broad --pools
5000,10000 --clouds 3`` add the large pools.

The output is versioned data in the package (``src/reptopo/measures/data/``); the tests
re-derive entries from fresh simulations and check that a table matches its schedule.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
from pathlib import Path

import numpy as np

DIMS = (
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    10,
    12,
    14,
    16,
    18,
    20,
    24,
    28,
    32,
    40,
    48,
    56,
    64,
    80,
    96,
    112,
    128,
    160,
    192,
    224,
    256,
    300,
    350,
    400,
)
POOLS = (300, 600, 1000, 2000)  # the probe sizes of the quick suite's tasks, capped at 2,000
FAMILIES = ("gaussian", "ball")
QUANTILES = (0.025, 0.5, 0.975)
OUT = Path(__file__).resolve().parents[1] / "src" / "reptopo" / "measures" / "data" / "phdim_calibration.json"


def cloud(family: str, n: int, d: int, seed: int) -> np.ndarray:
    """``n`` points of the family in R^d, drawn by ``seed``."""
    rng = np.random.default_rng([seed, d, n])
    g = rng.standard_normal((n, d))
    if family == "gaussian":
        return g
    # uniform in the unit ball: a uniform direction, radius U^(1/d)
    return g / np.linalg.norm(g, axis=1, keepdims=True) * rng.random((n, 1)) ** (1.0 / d)


def _one(job):
    from reptopo.measures import default_schedule, phdim
    from reptopo.measures.manifolds import draw

    family, pool, d, seed = job
    points = cloud(family, pool, d, seed) if family in FAMILIES else draw(family, pool, d, seed)
    res = phdim(
        points,
        pool_size=pool,
        sizes=default_schedule(pool),
        n_repeats=7,
        seed=seed,
        n_bootstrap=0,
        ceiling=None,
    )
    return job, res.slope


def smooth_belt(dims, log_mean, log_sd):
    """The belt inverted by the estimator: a centre strictly increasing in d, and a spread.

    The centre is the mean log raw dimension, made non-decreasing by isotonic regression (the
    simulations' own noise can make neighbours swap at the top of the table) and then strictly
    increasing by the least step that breaks a tie. The spread is a quadratic in log d fitted to
    the log of the standard deviations, which smooths their sampling error (about 11% at 40
    clouds) without bending the trend.
    """
    from sklearn.isotonic import IsotonicRegression

    x = np.log(np.asarray(dims, float))
    centre = IsotonicRegression().fit_transform(x, log_mean)
    for i in range(1, len(centre)):
        centre[i] = max(centre[i], centre[i - 1] + 1e-6)
    coef = np.polyfit(x, np.log(log_sd), 2)
    return centre, np.exp(np.polyval(coef, x))


def build(n_clouds: int, workers: int, pools: tuple[int, ...] = POOLS) -> dict:
    from reptopo import __version__
    from reptopo.measures import default_schedule

    jobs = [(f, p, d, s) for p in pools for f in FAMILIES for d in DIMS for s in range(n_clouds)]
    with multiprocessing.Pool(workers) as pool:
        slopes = dict(pool.imap_unordered(_one, jobs, chunksize=8))
    tables = []
    for p in pools:
        for f in FAMILIES:
            rows = []
            for d in DIMS:
                s = np.array([slopes[(f, p, d, seed)] for seed in range(n_clouds)])
                if (s >= 1).any():
                    break
                z = -np.log1p(-s)  # log of the raw dimension alpha / (1 - slope), alpha = 1
                if rows and z.mean() <= rows[-1]["log_mean"]:
                    break
                rows.append(
                    {
                        "d": d,
                        "log_mean": float(z.mean()),
                        "log_sd": float(z.std(ddof=1)),
                        "raw_quantiles": [float(v) for v in np.exp(np.quantile(z, QUANTILES))],
                    }
                )
            centre, spread = smooth_belt(
                [r["d"] for r in rows], np.array([r["log_mean"] for r in rows]), np.array([r["log_sd"] for r in rows])
            )
            tables.append(
                {
                    "family": f,
                    "pool_size": p,
                    "sizes": [int(v) for v in default_schedule(p)],
                    "n_repeats": 7,
                    "alpha": 1.0,
                    "n_clouds": n_clouds,
                    "quantiles": list(QUANTILES),
                    "dims": [r["d"] for r in rows],
                    "log_mean": [r["log_mean"] for r in rows],
                    "log_sd": [r["log_sd"] for r in rows],
                    "raw_quantiles": [r["raw_quantiles"] for r in rows],
                    "belt_centre": [float(v) for v in centre],
                    "belt_spread": [float(v) for v in spread],
                }
            )
    return {
        "format": 1,
        "description": "raw PHdim (alpha 1) of fresh clouds of known dimension, per pool size and family; "
        "belt_centre and belt_spread: the smoothed mean and standard deviation of log raw PHdim",
        "built_with": f"reptopo {__version__}, scripts/phdim_calibration.py --clouds {n_clouds}",
        "built_on": datetime.date.today().isoformat(),
        "tables": tables,
    }


BROAD_DIMS = tuple(d for d in DIMS if d <= 160)


def broad_belt(rows: list[dict], n_kinds: int) -> tuple[np.ndarray, np.ndarray]:
    """The broad table's belt: a prediction belt for a kind that did not build it.

    A new layer is a draw from a new kind, so its log raw value varies around the bank's mean by
    the spread between kinds (estimated from ``n_kinds`` kind means, hence the factor 1 + 1/K)
    and the spread within a kind. The spread stored is that standard deviation scaled by
    t_{K-1, 0.975} / z_{0.975} (2.36 / 1.96 for 8 kinds), so that the estimator's belt of
    +-1.96 spreads is the random-effects prediction interval with K - 1 degrees of freedom.
    The centre is smoothed as the other families' (``smooth_belt``), the spread as well.
    """
    from scipy import stats

    dims = [r["d"] for r in rows]
    between = np.array([np.var(r["kind_means"], ddof=1) for r in rows])
    within = np.maximum(np.array([r["log_sd"] ** 2 for r in rows]) - between, 0.0)
    sd = np.sqrt(between * (1 + 1 / n_kinds) + within) * stats.t.ppf(0.975, n_kinds - 1) / stats.norm.ppf(0.975)
    return smooth_belt(dims, np.array([r["log_mean"] for r in rows]), sd)


def build_broad(n_clouds: int, workers: int, current: dict, pools: tuple[int, ...] = POOLS) -> dict:
    """``current`` with its broad tables of ``pools`` replaced by fresh ones (the other families
    and pools untouched)."""
    from reptopo import __version__
    from reptopo.measures import default_schedule
    from reptopo.measures.manifolds import CALIBRATION_KINDS

    kinds = sorted(CALIBRATION_KINDS)
    jobs = [(k, p, d, s) for p in pools for k in kinds for d in BROAD_DIMS for s in range(n_clouds)]
    with multiprocessing.Pool(workers) as pool:
        slopes = dict(pool.imap_unordered(_one, jobs, chunksize=8))
    tables = [t for t in current["tables"] if not (t["family"] == "broad" and t["pool_size"] in pools)]
    for p in pools:
        rows = []
        for d in BROAD_DIMS:
            s = np.array([slopes[(k, p, d, seed)] for k in kinds for seed in range(n_clouds)])
            # a cloud whose slope reaches 1 has no raw value (an uneven mixture does, now and then,
            # from d = 48): the table stops where more than 5% do, and spans the rest
            if (s >= 1).mean() > 0.05:
                break
            finite = s < 1
            z = -np.log1p(-s[finite])
            if rows and z.mean() <= rows[-1]["log_mean"]:
                break
            z_all = np.where(finite, -np.log1p(-np.minimum(s, 1 - 1e-12)), np.nan)
            by_kind = np.nanmean(z_all.reshape(len(kinds), n_clouds), axis=1)
            rows.append(
                {
                    "d": d,
                    "log_mean": float(z.mean()),
                    "log_sd": float(z.std(ddof=1)),
                    "kind_means": [float(v) for v in by_kind],
                    "n_unresolved": int((~finite).sum()),
                    "raw_quantiles": [float(v) for v in np.exp(np.quantile(z, QUANTILES))],
                }
            )
        centre, spread = broad_belt(rows, len(kinds))
        tables.append(
            {
                "family": "broad",
                "pool_size": p,
                "sizes": [int(v) for v in default_schedule(p)],
                "n_repeats": 7,
                "alpha": 1.0,
                "n_clouds": n_clouds * len(kinds),
                "kinds": kinds,
                "quantiles": list(QUANTILES),
                "dims": [r["d"] for r in rows],
                "log_mean": [r["log_mean"] for r in rows],
                "log_sd": [r["log_sd"] for r in rows],
                "kind_means": [r["kind_means"] for r in rows],
                "raw_quantiles": [r["raw_quantiles"] for r in rows],
                "belt_centre": [float(v) for v in centre],
                "belt_spread": [float(v) for v in spread],
            }
        )
    return {
        **current,
        "description": current["description"] + "; family broad: the calibration bank of manifold kinds "
        "(reptopo.measures.manifolds.CALIBRATION_KINDS), equal clouds per kind",
        "built_with_broad": current.get("built_with_broad", "")
        + ("; " if pools != POOLS else "")
        + f"reptopo {__version__}, scripts/phdim_calibration.py --broad --clouds {n_clouds}"
        + (f" --pools {','.join(map(str, pools))}" if pools != POOLS else ""),
        "tables": sorted(tables, key=lambda t: (t["family"], t["pool_size"])),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clouds", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--broad", action="store_true", help="rebuild only the broad family's tables")
    ap.add_argument("--pools", default=",".join(map(str, POOLS)), help="the pool sizes to build (others are kept)")
    args = ap.parse_args(argv)
    pools = tuple(int(v) for v in args.pools.split(","))
    if args.broad:
        table = build_broad(args.clouds, args.workers, json.loads(args.out.read_text()), pools)
    elif pools != POOLS:  # add or replace these pools' Gaussian and ball tables, keep the rest
        current = json.loads(args.out.read_text())
        fresh = build(args.clouds, args.workers, pools)
        kept = [t for t in current["tables"] if not (t["family"] in FAMILIES and t["pool_size"] in pools)]
        table = {
            **current,
            "built_with": current["built_with"] + "; " + fresh["built_with"] + f" --pools {args.pools}",
            "tables": sorted(kept + fresh["tables"], key=lambda t: (t["family"], t["pool_size"])),
        }
    else:
        table = build(args.clouds, args.workers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    for t in table["tables"]:
        print(f"{t['family']:8s} pool {t['pool_size']}: d = {t['dims'][0]}..{t['dims'][-1]}")


if __name__ == "__main__":
    main()
