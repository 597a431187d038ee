"""What the home page says: the measures board's leaders, and every finding's claims with their
verdicts, deciding numbers and stability (the verdicts table, ``tables/verdicts.parquet``)."""

from __future__ import annotations

import pandas as pd

from ..store import Tables
from .board import ALL_TASKS
from .comparisons import comparison_findings
from .findings import Finding, findings_of, findings_table
from .literature import literature_checks

# the pages that tell each source's findings in full
SOURCE_PAGES = {"measures": "Measures", "compare": "Compare"}


def verdicts(t: Tables) -> pd.DataFrame:
    """The verdicts table of an analysis's tables: the literature checks' and the comparison
    maps' findings, one row per claim (:func:`~reptopo.analysis.findings.findings_table`)."""
    return findings_table({"measures": literature_checks(t), "compare": comparison_findings(t)})


def source_findings(t: Tables, source: str) -> list[Finding]:
    """The findings of ``source`` ("measures" or "compare") from the verdicts table, computed
    from the other tables where the analysis predates it."""
    table = t.get("verdicts")
    if table is None:
        table = verdicts(t)
    return findings_of(table, source)


def board_headlines(t: Tables) -> list[str]:
    """Across tasks, the score most rank-correlated with each target, against the best baseline."""
    out = []
    board = t["measures"]
    for target in ("generalization_gap", "test_accuracy") if len(board) else ():
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
    return out


def finding_sentences(t: Tables) -> list[str]:
    """Every finding's verdict in a sentence, its fragile claims said so, and where it is told in full."""
    out = []
    for source, page in SOURCE_PAGES.items():
        for f in source_findings(t, source):
            note = f.stability_note()
            verdict = f.verdict[0].upper() + f.verdict[1:] if f.verdict else f.verdict
            out.append(f"{f.title}: {verdict}{f' ({note})' if note else ''} (details on the {page} page).")
    return out


def headline_findings(t: Tables) -> list[str]:
    """The board's headlines and every finding in a sentence (:func:`finding_sentences`)."""
    return board_headlines(t) + finding_sentences(t) or ["No analysis yet: run `reptopo run` and `reptopo analyze`."]
