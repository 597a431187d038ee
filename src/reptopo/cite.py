"""Citations: the benchmark itself (as in CITATION.cff) and a model's standardized scores.

A score citation quotes the numbers, not only hashes: test accuracy, the last hidden layer's
PHdim (from protocol v3 the calibrated value of each record with its 95% interval, or its
measured lower bound), TwoNN and linear-probe accuracy, each as the mean with the range over the model's
trained records on the task (seeds and grid axes), the protocol version, the records' content
digests (which identify the records, see :mod:`reptopo.record`; they do not promise that a re-run
on another machine gives the same bits) and the model's page on the leaderboard.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pandas as pd

from . import __version__
from .record import TRAINED_STATUSES, Record

TITLE = "reptopo: a benchmark and leaderboard for the topology and geometry of neural-network representations"
AUTHOR = "reptopo developers"
YEAR = 2026
BENCHMARK_KEY = "reptopo2026"

BENCHMARK_BIBTEX = f"""@misc{{{BENCHMARK_KEY},
  title        = {{{TITLE}}},
  author       = {{{{{AUTHOR}}}}},
  year         = {{{YEAR}}},
  note         = {{Software version {__version__}}},
}}"""

# (column of the analysis scores table, label)
CITED_SCORES = [
    ("test_accuracy", "test accuracy"),
    ("phdim_last", "PHdim (last hidden layer)"),
    ("twonn_last", "TwoNN (last hidden layer)"),
    ("linear_probe_last", "linear probe (last hidden layer)"),
]


def _bib_escape(text: str) -> str:
    return re.sub(r"([{}\\%&$#_^~])", r"\\\1", str(text))


def _key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def describe_score(values, censored=None) -> str:
    """Mean with the range over records, three significant digits; never a bare inf.

    ``censored`` flags the records whose value is a bound (a PHdim beyond what the probe
    resolves): those are counted, never averaged, and the others are not summarised as if they
    were all the records."""
    flags = [bool(c) for c in censored] if censored is not None else [False] * len(values)
    n_censored = sum(flags)
    if n_censored:
        return (
            f"censored in {n_censored} of {len(flags)} records (above what the probe resolves; a bound is not averaged)"
        )
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return "not measured"
    finite = [v for v in vals if math.isfinite(v)]
    if len(finite) < len(vals):
        return f"above the estimator's resolution limit in {len(vals) - len(finite)} of {len(vals)} records"
    mean = sum(finite) / len(finite)
    if len(finite) == 1:
        return f"{mean:.3g}"
    return f"{mean:.3g} [{min(finite):.3g}, {max(finite):.3g}] over {len(finite)} records"


def describe_calibrated(scores: pd.DataFrame, censored=None) -> str:
    """Calibrated PHdim (protocol v3) as cited: each record's value with its 95% interval, or
    its measured lower bound ("at least L") where the interval has no finite upper end."""
    flags = [bool(c) for c in censored] if censored is not None else [False] * len(scores)
    cells = []
    for flag, v, lo, hi, bound in zip(
        flags,
        scores["phdim_last"],
        scores.get("phdim_last_ci_low", [None] * len(scores)),
        scores.get("phdim_last_ci_high", [None] * len(scores)),
        scores.get("phdim_last_bound", [None] * len(scores)),
    ):
        if flag:
            cells.append(f"at least {bound:.3g}" if bound is not None and math.isfinite(bound) else "censored")
        elif v is None or not math.isfinite(float(v)):
            cells.append("not measured")
        elif lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            cells.append(f"{float(v):.3g} [{float(lo):.3g}, {float(hi):.3g}]")
        else:
            cells.append(f"{float(v):.3g}")
    return "calibrated, 95% interval, per record: " + ", ".join(cells) if cells else "not measured"


def score_bibtex(
    model: str,
    task: str,
    protocol_version: int,
    digests: list[str],
    scores: pd.DataFrame | None = None,
    *,
    page: str | None = None,
    date: str | None = None,
) -> str:
    """A citation for ``model``'s scores on ``task`` under ``protocol_version``.

    ``scores``: the analysis scores-table rows of the cited records (trained models only);
    ``page``: the model's page on the leaderboard (a URL or a path in the built site).
    """
    date = date or dt.date.today().isoformat()
    parts = []
    if scores is not None and len(scores):
        cells = []
        for col, label in CITED_SCORES:
            if col not in scores:
                continue
            censored = scores[f"{col}_censored"].fillna(False).tolist() if f"{col}_censored" in scores else None
            text = describe_score(scores[col].tolist(), censored)
            if col == "phdim_last" and protocol_version >= 3:
                text = describe_calibrated(scores, censored)
            cells.append(f"{label} {text}")
        parts.append("; ".join(cells))
    parts.append(f"protocol version {protocol_version}")
    # a digest identifies a record; a re-run elsewhere is judged by `reptopo verify`, not by its bits
    parts.append("record digests " + ", ".join(d[:16] for d in sorted(digests)) + " (identifiers of the records)")
    if page:
        parts.append(f"leaderboard page {page}")
    parts.append(f"accessed {date}. Cite with the benchmark: {BENCHMARK_KEY}")
    return (
        f"@misc{{reptopo:{_key(model)}:{_key(task)}:p{protocol_version},\n"
        f"  title        = {{reptopo scores of {_bib_escape(model)} on {_bib_escape(task)}}},\n"
        f"  author       = {{{{{AUTHOR}}}}},\n"
        f"  year         = {{{date[:4]}}},\n"
        f"  note         = {{{_bib_escape('; '.join(parts))}}},\n"
        f"}}"
    )


def model_citations(model: str, records: list[Record], scores: pd.DataFrame, *, page: str | None = None) -> list[str]:
    """One :func:`score_bibtex` entry per (task, protocol version) of ``model``'s ``records``,
    quoting the trained records' digests (every record's when none is trained) and their rows of
    the analysis ``scores`` table; the CLI's ``cite`` and the model page print these."""
    out = []
    for task in sorted({r.task for r in records}):
        for version in sorted({r.protocol.version for r in records if r.task == task}):
            cited = [r for r in records if r.task == task and r.protocol.version == version]
            digests = [r.digest for r in cited if r.status in TRAINED_STATUSES] or [r.digest for r in cited]
            rows = (
                scores[
                    (scores["model"] == model)
                    & (scores["task"] == task)
                    & (scores["protocol_version"] == version)
                    & scores["status"].isin(TRAINED_STATUSES)
                ]
                if len(scores)
                else None
            )
            out.append(score_bibtex(model, task, version, digests, rows, page=page))
    return out
