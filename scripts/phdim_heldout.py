"""Calibrated PHdim on the held-out bank: coverage, accuracy and width of its interval.

    python scripts/phdim_heldout.py [--draws 3] [--dims 2,3,5,8,12,18] [--danco] [--out docs/phdim_heldout.md]
        [--figures src/reptopo/measures/data/phdim_heldout.json]

Every kind of :data:`reptopo.measures.manifolds.HELD_OUT_KINDS` (none of them built a table) at
each dimension, ``--draws`` clouds at pools of 1,000 and 2,000 points, measured as the protocol
measures a layer (16 sizes x 7 subsamples, alpha 1, 100 bootstrap resamples), read through the
broad table (protocol v4) and the Gaussian table (protocol v3). Beside them TwoNN (the protocol's)
and, with ``--danco``, scikit-dimension's DANCo on the first draw at 1,000 points. Writes a
markdown report: a table per kind, then coverage, mean absolute relative error and median
relative width per pool and rule; with ``--figures``, those figures as the JSON that
:mod:`reptopo.measures.heldout` reads (the numbers the site and the README quote).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
from pathlib import Path

import numpy as np

POOLS = [1000, 2000]  # --pools replaces them
RULES = {"v4 broad": "calibrated_broad", "v3 gaussian": "calibrated"}


def _one(job: tuple[str, int, int, int, bool]) -> dict:
    from reptopo.measures import default_schedule, phdim, twonn
    from reptopo.measures.manifolds import draw

    kind, d, pool, seed, danco = job
    x = draw(kind, pool, d, seed)
    row: dict = {"kind": kind, "d": d, "pool": pool, "seed": seed, "twonn": twonn(x).dimension}
    for label, ceiling in RULES.items():
        c = phdim(x, pool_size=pool, sizes=default_schedule(pool), seed=0, ceiling=ceiling).calibrated
        row[label] = (c.dimension, c.ci_low, c.ci_high, c.censored)
    if danco:
        import skdim

        row["danco"] = float(skdim.id.DANCo().fit(x).dimension_)
    return row


def evaluate(dims: list[int], draws: int, danco: bool, workers: int) -> list[dict]:
    from reptopo.measures.manifolds import HELD_OUT_KINDS

    jobs = [
        (k, d, p, s, danco and p == POOLS[0] and s == 0)
        for k in HELD_OUT_KINDS
        for d in dims
        for p in POOLS
        for s in range(draws)
    ]
    with multiprocessing.Pool(workers) as pool:
        return list(pool.imap(_one, jobs, chunksize=2))


def covered(cell: tuple, d: int) -> bool:
    value, low, high, censored = cell
    return (low <= d <= high) if not censored else low <= d


def summary(rows: list[dict]) -> list[str]:
    lines = ["| pool | rule | coverage | MARE | MARE TwoNN | median width / d |", "|---|---|---|---|---|---|"]
    for pool in POOLS:
        sub = [r for r in rows if r["pool"] == pool]
        tw = np.mean([abs(r["twonn"] - r["d"]) / r["d"] for r in sub])
        for label in RULES:
            cov = np.mean([covered(r[label], r["d"]) for r in sub])
            vals = [r for r in sub if r[label][0] is not None]
            mare = np.mean([abs(r[label][0] - r["d"]) / r["d"] for r in vals])
            width = np.median([(r[label][2] - r[label][1]) / r["d"] for r in vals])
            lines.append(
                f"| {pool} | {label} | {cov:.0%} ({sum(covered(r[label], r['d']) for r in sub)}/{len(sub)}) "
                f"| {mare:.3f} | {tw:.3f} | {width:.2f} |"
            )
    return lines


def figures(rows: list[dict], dims: list[int], draws: int, command: str) -> dict:
    """The summary as :mod:`reptopo.measures.heldout` reads it, per rule (its ceiling) and pool."""
    out: dict = {"source": command, "kinds": "reptopo.measures.manifolds.HELD_OUT_KINDS", "dims": dims, "draws": draws}
    out["rules"] = {}
    for label, ceiling in RULES.items():
        for pool in POOLS:
            sub = [r for r in rows if r["pool"] == pool]
            vals = [r for r in sub if r[label][0] is not None]
            out["rules"].setdefault(ceiling, {})[str(pool)] = {
                "covered": int(sum(covered(r[label], r["d"]) for r in sub)),
                "cells": len(sub),
                "mare": round(float(np.mean([abs(r[label][0] - r["d"]) / r["d"] for r in vals])), 3),
                "mare_twonn": round(float(np.mean([abs(r["twonn"] - r["d"]) / r["d"] for r in sub])), 3),
                "median_width": round(float(np.median([(r[label][2] - r[label][1]) / r["d"] for r in vals])), 2),
                "dims": dims,
                "source": command,
            }
    return out


def merged(old: dict, new: dict) -> dict:
    """``new``'s pools written over ``old``'s, the other pools kept (each pool says its own dims
    and the command that measured it)."""
    out = {**old, "rules": {rule: dict(pools) for rule, pools in old.get("rules", {}).items()}}
    for rule, pools in new["rules"].items():
        out["rules"].setdefault(rule, {}).update(pools)
    return out


def cell(c: tuple, d: int) -> str:
    """A calibrated value with its interval (or its lower bound), marked where it misses ``d``."""
    value, low, high, censored = c
    mark = "" if covered(c, d) else " ✗"
    return f">= {low:.3g}{mark}" if censored else f"{value:.3g} [{low:.3g}, {high:.3g}]{mark}"


def per_kind(rows: list[dict], danco: bool) -> list[str]:
    out = []
    for kind in dict.fromkeys(r["kind"] for r in rows):
        head = "| d | pool | v4 broad | v3 gaussian | TwoNN |" + (" DANCo |" if danco else "")
        out += [f"### {kind}", "", head, "|---" * (head.count("|") - 1) + "|"]
        for r in (r for r in rows if r["kind"] == kind and r["seed"] == 0):
            extra = f" {r['danco']:.3g} |" if danco and "danco" in r else (" |" if danco else "")
            out.append(
                f"| {r['d']} | {r['pool']} | {cell(r['v4 broad'], r['d'])} | {cell(r['v3 gaussian'], r['d'])} "
                f"| {r['twonn']:.3g} |" + extra
            )
        out.append("")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--dims", default="2,3,5,8,12,18")
    ap.add_argument("--danco", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pools", default="1000,2000", help="pool sizes, each with calibration tables")
    ap.add_argument("--out", type=Path, default=Path("docs/phdim_heldout.md"))
    ap.add_argument(
        "--figures", type=Path, help="also write the summary as JSON (the package's data/phdim_heldout.json)"
    )
    args = ap.parse_args(argv)
    dims = [int(v) for v in args.dims.split(",")]
    POOLS[:] = [int(v) for v in args.pools.split(",")]
    rows = evaluate(dims, args.draws, args.danco, args.workers)
    text = [
        "# Calibrated PHdim on the held-out bank",
        "",
        "Made by `python scripts/phdim_heldout.py"
        + (" --danco" if args.danco else "")
        + f" --draws {args.draws} --dims {args.dims}"
        + (f" --pools {args.pools}" if args.pools != "1000,2000" else "")
        + "`: kinds of `reptopo.measures.manifolds.HELD_OUT_KINDS`, "
        "none of which built a table; ✗ marks an interval that misses the truth (first draw shown per cell).",
        "",
        *summary(rows),
        "",
        *per_kind(rows, args.danco),
    ]
    args.out.write_text("\n".join(text) + "\n")
    if args.figures:  # merged into what is there: a run of other pools keeps the others' figures
        pools = f" --pools {args.pools}" if args.pools != "1000,2000" else ""
        command = f"python scripts/phdim_heldout.py --draws {args.draws} --dims {args.dims}{pools} ({args.out})"
        new = figures(rows, dims, args.draws, command)
        old = json.loads(args.figures.read_text()) if args.figures.is_file() else {}
        args.figures.write_text(json.dumps(merged(old, new), indent=1) + "\n")
    print("\n".join(summary(rows)))


if __name__ == "__main__":
    main()
