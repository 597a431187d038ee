"""Citations: the benchmark itself (as in CITATION.cff) and a model's standardized scores.

A score citation quotes the numbers, not only hashes: test accuracy, the last hidden layer's
PHdim, TwoNN and linear-probe accuracy, each as the mean with the range over the model's
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
CITED_SCORES = [("test_accuracy", "test accuracy"), ("phdim_last", "PHdim (last hidden layer)"),
                ("twonn_last", "TwoNN (last hidden layer)"), ("linear_probe_last", "linear probe (last hidden layer)")]


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
        return (f"censored in {n_censored} of {len(flags)} records (above what the probe resolves; a bound is not "
                "averaged)")
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


def score_bibtex(model: str, task: str, protocol_version: int, digests: list[str], scores: pd.DataFrame | None = None,
                 *, page: str | None = None, date: str | None = None) -> str:
    """A citation for ``model``'s scores on ``task`` under ``protocol_version``.

    ``scores``: the analysis scores-table rows of the cited records (trained models only);
    ``page``: the model's page on the leaderboard (a URL or a path in the built site).
    """
    date = date or dt.date.today().isoformat()
    parts = []
    if scores is not None and len(scores):
        parts.append("; ".join(
            f"{label} {describe_score(scores[col].tolist(), scores[f'{col}_censored'].fillna(False).tolist() if f'{col}_censored' in scores else None)}"
            for col, label in CITED_SCORES if col in scores))
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
