"""Build PHdim's calibration tables: raw PHdim of fresh clouds of known dimension.

    python scripts/phdim_calibration.py [--clouds 40] [--workers 2] [--out PATH]

For each pool size (300, 600, 1,000 and 2,000: a layer's pool is its probe, capped by the
protocol), each family (isotropic Gaussians, the primary one, and
uniform balls) and each dimension d of the grid, ``--clouds`` fresh clouds of ``pool`` points
in R^d are drawn, and each is measured by reptopo's own raw estimator with the protocol's
schedule (:func:`reptopo.measures.default_schedule`, 7 subsamples per size, alpha 1), its
subsamples drawn by the cloud's own seed. The table keeps, per d, the empirical quantiles of the
raw dimension and the mean and standard deviation of its logarithm; then the smoothed belt that
:mod:`reptopo.measures.phdim` inverts (see ``smooth_belt``). A family's table stops at the last
d at which every cloud's slope was below 1 and the mean still rose.

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

    family, pool, d, seed = job
    res = phdim(
        cloud(family, pool, d, seed),
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


def build(n_clouds: int, workers: int) -> dict:
    from reptopo import __version__
    from reptopo.measures import default_schedule

    jobs = [(f, p, d, s) for p in POOLS for f in FAMILIES for d in DIMS for s in range(n_clouds)]
    with multiprocessing.Pool(workers) as pool:
        slopes = dict(pool.imap_unordered(_one, jobs, chunksize=8))
    tables = []
    for p in POOLS:
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clouds", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    table = build(args.clouds, args.workers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    for t in table["tables"]:
        print(f"{t['family']:8s} pool {t['pool_size']}: d = {t['dims'][0]}..{t['dims'][-1]}")


if __name__ == "__main__":
    main()
