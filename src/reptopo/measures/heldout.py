"""What calibrated PHdim's 95% interval is worth on manifolds that built no table: its coverage,
error and width on the held-out bank (:data:`reptopo.measures.manifolds.HELD_OUT_KINDS`), as
``scripts/phdim_heldout.py`` measured them (``data/phdim_heldout.json``; the report with a table
per kind is ``docs/phdim_heldout.md``). The site and the README quote these figures, never the
coverage on the families the tables were built from."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class HeldOutFigures:
    """One rule at one pool size on the held-out bank."""

    pool: int
    covered: int
    cells: int
    mare: float  # mean absolute relative error of the calibrated value
    mare_twonn: float  # TwoNN's on the same clouds
    median_width: float  # the interval's median width over d
    dims: tuple[int, ...] = ()  # the dimensions of the bank's cells at this pool
    source: str = ""  # the command that measured it

    @property
    def coverage(self) -> float:
        return self.covered / self.cells


@functools.cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((resources.files("reptopo.measures") / "data" / "phdim_heldout.json").read_text())
    return data


def heldout_figures(ceiling: str) -> list[HeldOutFigures]:
    """The held-out figures of a calibrated ``ceiling`` rule by pool size (empty for a rule the
    study did not measure)."""
    data = _data()
    rule = data["rules"].get(ceiling, {})
    return [
        HeldOutFigures(
            int(pool),
            **{
                **figures,
                "dims": tuple(figures.get("dims", data["dims"])),
                "source": figures.get("source", data["source"]),
            },
        )
        for pool, figures in sorted(rule.items(), key=lambda kv: int(kv[0]))
    ]


def describe_coverage(ceiling: str) -> str:
    """A sentence quoting the held-out coverage of ``ceiling``'s 95% interval, e.g. 'on manifolds
    of kinds that built no table (the held-out bank, d = 2 to 18), the 95% interval held the true
    dimension in 60% of 144 cells at 1,000 points and 56% of 144 cells at 2,000 points'."""
    figures = heldout_figures(ceiling)
    if not figures:
        return "the interval's coverage on manifolds of other kinds has not been measured"
    groups: dict[tuple[int, ...], list[HeldOutFigures]] = {}
    for f in figures:
        groups.setdefault(f.dims, []).append(f)
    spans = []
    for i, (dims, group) in enumerate(groups.items()):
        parts = " and ".join(f"{f.coverage:.0%} of {f.cells} cells at {f.pool:,} points" for f in group)
        spans.append(
            f"on manifolds of kinds that built no table (the held-out bank, d = {dims[0]} to {dims[-1]}), the 95% "
            f"interval held the true dimension in {parts}"
            if i == 0
            else f"at d = {dims[0]} to {dims[-1]}, in {parts}"
        )
    return "; ".join(spans)
