"""A finding of the analysis: a published claim (or a question the comparison maps answer)
checked against the records, with its verdict, the numbers behind it, and for each claim it
makes the deciding number with its interval and the verdict's stability under resampling of the
population (:mod:`reptopo.analysis.stability`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# a verdict that fewer than this share of the population's resamples give is fragile
FRAGILE_BELOW = 0.9

# the outcomes a claim's verdict takes, by the badge they wear (any other outcome wears "answer")
BADGES = {
    "reproduced": "reproduced",
    "yes": "reproduced",
    "partly reproduced": "partly",
    "reproduced, but in the controls too": "partly",
    "inconclusive": "partly",
    "not reproduced": "not-reproduced",
    "refuted": "not-reproduced",
    "no": "not-reproduced",
    "in part": "partly",
    "not testable": "untestable",
}


@dataclass(frozen=True)
class Claim:
    """One claim of a finding and what the records say of it.

    ``outcome`` is the verdict on the whole population (a word of :data:`BADGES` or a short
    answer); ``statistic`` names the number that decides it, ``value`` is that number and
    ``ci_low``/``ci_high`` its 95% percentile interval over the resamples; ``stability`` is the
    share of ``n_resamples`` resamples of the population (runs drawn with replacement within their
    strata) that give the same outcome."""

    claim: str
    outcome: str
    statistic: str
    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    stability: float = math.nan
    n_resamples: int = 0

    @property
    def fragile(self) -> bool:
        """Whether fewer than :data:`FRAGILE_BELOW` of the resamples give this verdict."""
        return self.n_resamples > 0 and not self.stability >= FRAGILE_BELOW

    @property
    def badge(self) -> str:
        """The badge's kind: reproduced, partly, not-reproduced, untestable or answer."""
        return BADGES.get(self.outcome, "answer")

    def describe_stability(self) -> str:
        """'stable (97% of 200 resamples)' or 'fragile: 62% of 200 resamples give this verdict'."""
        if not self.n_resamples:
            return "stability not measured"
        share = f"{self.stability:.0%} of {self.n_resamples} resamples"
        return f"fragile: {share} give this verdict" if self.fragile else f"stable ({share})"

    def describe_value(self) -> str:
        """The deciding number with its interval, e.g. '0.25 [0.11, 0.43]' ('n/a' when none)."""
        if not math.isfinite(self.value):
            return "n/a"
        if math.isfinite(self.ci_low) and math.isfinite(self.ci_high):
            return f"{self.value:.3g} [{self.ci_low:.3g}, {self.ci_high:.3g}]"
        return f"{self.value:.3g}"


@dataclass(frozen=True)
class Finding:
    """``title`` names the claim and its source, ``finding`` says what the records show (with
    the numbers), ``verdict`` whether the claim reproduces; ``numbers`` holds those numbers by
    name for tests and tables; ``claims`` each claim's outcome, deciding number and stability."""

    title: str
    finding: str
    verdict: str
    numbers: dict[str, Any] = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()

    @property
    def fragile(self) -> bool:
        return any(c.fragile for c in self.claims)

    def stability_note(self) -> str:
        """The fragile claims said so, e.g. 'fragile: ReLU faster than tanh (62% of 200 resamples)'."""
        weak = [f"{c.claim} ({c.stability:.0%} of {c.n_resamples} resamples)" for c in self.claims if c.fragile]
        if weak:
            return "fragile: " + "; ".join(weak)
        if self.claims and all(c.n_resamples for c in self.claims):
            return f"stable: every claim's verdict holds in at least {FRAGILE_BELOW:.0%} of the resamples"
        return ""


# the verdicts table (``tables/verdicts.parquet``): one row per claim of every finding
VERDICT_COLUMNS = (
    "source",
    "title",
    "finding",
    "verdict",
    "claim",
    "outcome",
    "badge",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "stability",
    "n_resamples",
    "fragile",
)


def findings_table(findings: dict[str, list[Finding]]) -> pd.DataFrame:
    """The verdicts table of ``findings`` by source (the page that tells them: "measures" for the
    literature checks, "compare" for the comparison maps): one row per claim."""
    rows = [
        {
            "source": source,
            "title": f.title,
            "finding": f.finding,
            "verdict": f.verdict,
            "claim": c.claim,
            "outcome": c.outcome,
            "badge": c.badge,
            "statistic": c.statistic,
            "value": c.value,
            "ci_low": c.ci_low,
            "ci_high": c.ci_high,
            "stability": c.stability,
            "n_resamples": c.n_resamples,
            "fragile": c.fragile,
        }
        for source, found in findings.items()
        for f in found
        for c in f.claims
    ]
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))


def findings_of(table: pd.DataFrame, source: str | None = None) -> list[Finding]:
    """The findings a verdicts table holds (of one ``source`` when given), in its order, with
    their claims; ``numbers`` are not kept in the table."""
    if source is not None:
        table = table[table["source"] == source]
    out = []
    for title, rows in table.groupby("title", sort=False):
        first = rows.iloc[0]
        claims = tuple(
            Claim(
                claim=r.claim,
                outcome=r.outcome,
                statistic=r.statistic,
                value=float(r.value),
                ci_low=float(r.ci_low),
                ci_high=float(r.ci_high),
                stability=float(r.stability),
                n_resamples=int(r.n_resamples),
            )
            for r in rows.itertuples()
        )
        out.append(Finding(str(title), first["finding"], first["verdict"], claims=claims))
    return out
