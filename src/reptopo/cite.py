"""BibTeX for the benchmark and for a model's standardized scores."""

from __future__ import annotations

import datetime as dt
import re

from . import __version__

BENCHMARK_BIBTEX = """@misc{reptopo2026,
  title        = {reptopo: a benchmark and leaderboard for the topology and geometry of neural-network representations},
  author       = {{reptopo developers}},
  year         = {2026},
  note         = {Software version %s},
}""" % __version__


def _bib_escape(text: str) -> str:
    return re.sub(r"([{}\\%&$#_^~])", r"\\\1", str(text))


def _key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def score_bibtex(model: str, task: str, protocol_version: int, record_hashes: list[str], *, date: str | None = None) -> str:
    """A citation for ``model``'s scores on ``task``: protocol version, the records' hashes, date."""
    date = date or dt.date.today().isoformat()
    hashes = ", ".join(h[:16] for h in sorted(record_hashes))
    return (
        f"@misc{{reptopo:{_key(model)}:{_key(task)}:p{protocol_version},\n"
        f"  title        = {{reptopo scores of {_bib_escape(model)} on {_bib_escape(task)}}},\n"
        f"  author       = {{{{reptopo developers}}}},\n"
        f"  year         = {{{date[:4]}}},\n"
        f"  note         = {{Protocol version {protocol_version}; records {hashes}; accessed {date}. "
        f"Cite with the benchmark: reptopo2026}},\n"
        f"}}"
    )
