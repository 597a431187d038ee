"""A finding of the analysis: a published claim (or a question the comparison maps answer)
checked against the records, with its verdict and the numbers behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """``title`` names the claim and its source, ``finding`` says what the records show (with
    the numbers), ``verdict`` whether the claim reproduces; ``numbers`` holds those numbers by
    name for tests and tables."""

    title: str
    finding: str
    verdict: str
    numbers: dict[str, Any] = field(default_factory=dict)
