"""How stable a verdict is: the verdict re-derived on bootstrap resamples of the population.

A check names its units (one per run, a model at a seed; or one per comparison) and the strata
they are resampled within (a task and status, a family), so that each stratum keeps its size; a
resample is a vector of counts, one per unit (how many copies it holds). The check's ``decide``
maps counts to each claim's :class:`Outcome` (the verdict's category and its deciding number);
:func:`assess` calls it on the population (every count 1) and on :data:`RESAMPLES` resamples, and
gives each claim its share of resamples with the same outcome and the deciding number's
percentile interval. Deciding on counts, not on copied frames, keeps a resample cheap: rank
correlations are quadratic forms of the counts (:func:`~reptopo.analysis.stats.kendall_tau_counts`),
means are weighted sums, and medians or rank tests repeat each value by its run's count."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .findings import Claim
from .stats import count_rows, percentile_interval

# resamples per verdict (the issue asks for at least 200), and their seed
RESAMPLES = 200
SEED = 0


@dataclass(frozen=True)
class Outcome:
    """A claim's verdict on one sample: its category and the number that decides it."""

    outcome: str
    value: float = math.nan


Decide = Callable[[np.ndarray], Mapping[str, Outcome]]


class Population:
    """The units a check resamples, each in its stratum (any hashable: a task, a (task, status)
    pair); :meth:`resamples` draws with replacement within each stratum."""

    def __init__(self, strata: Sequence[Hashable]):
        index: dict[Hashable, list[int]] = {}
        for i, s in enumerate(strata):
            index.setdefault(s, []).append(i)
        self.size = len(strata)
        self.groups = [np.array(members) for members in index.values()]

    def whole(self) -> np.ndarray:
        """The population itself: one copy of every unit."""
        return np.ones(self.size)

    def resamples(self, n: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
        """``n`` resamples as counts, one row each."""
        rng = np.random.default_rng(seed)
        counts = np.zeros((n, self.size))
        for members in self.groups:
            counts[:, members] = count_rows(rng.integers(len(members), size=(n, len(members))), len(members))
        return counts


def unit_codes(values: pd.Series, units: Sequence[Hashable]) -> np.ndarray:
    """The unit (its position in ``units``) of each row, from the row's unit key (a job id)."""
    where = {u: i for i, u in enumerate(units)}
    codes: np.ndarray = values.map(where).to_numpy(int)
    return codes


def weighted_share(flags: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """The share of true ``flags`` (1.0/0.0, NaN where not known) among the known ones, weighted
    by ``counts``, and the weight of the known ones."""
    flags = np.asarray(flags, float)
    known = np.isfinite(flags)
    total = float(counts[known].sum())
    return (float((counts[known] * flags[known]).sum() / total) if total else math.nan), total


def assess(
    statistics: Mapping[str, str], decide: Decide, population: Population, *, n: int = RESAMPLES
) -> tuple[Claim, ...]:
    """Each claim of ``statistics`` (claim -> the name of its deciding number): its outcome on
    the population, the share of ``n`` resamples giving that outcome, and the deciding number's
    percentile interval over them."""
    whole = decide(population.whole())
    draws = [decide(c) for c in population.resamples(n)] if population.size else []
    claims = []
    for claim, statistic in statistics.items():
        mine = whole[claim]
        outcomes = [d[claim].outcome for d in draws]
        values = np.array([d[claim].value for d in draws], float)
        lo, hi = percentile_interval(values, len(draws)) if draws else (math.nan, math.nan)
        claims.append(
            Claim(
                claim=claim,
                outcome=mine.outcome,
                statistic=statistic,
                value=float(mine.value),
                ci_low=lo,
                ci_high=hi,
                stability=float(np.mean([o == mine.outcome for o in outcomes])) if outcomes else math.nan,
                n_resamples=len(draws),
            )
        )
    return tuple(claims)
