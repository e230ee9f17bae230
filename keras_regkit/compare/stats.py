"""Statistics over the repeats of `keras-regkit compare`: means, Student-t intervals, paired tests.

Each technique runs once per seed, and repeat `r` of every technique uses the same seed, so two
techniques are compared through their paired differences (run by run, seed by seed): the
difference between their means, with the t interval of the per-seed differences. An effect is
*significant* when its interval excludes 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

import numpy as np

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean with its two-sided Student-t confidence interval.

    Attributes:
        mean: the sample mean (NaN without values).
        low, high: the interval's ends; NaN with fewer than two values.
        n: the number of (finite) values.
        confidence: the interval's level.
    """

    mean: float
    low: float
    high: float
    n: int
    confidence: float = CONFIDENCE

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0 (needs two values or more)."""
        return self.n >= 2 and (self.low > 0 or self.high < 0)


def t_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean of the finite `values` and its Student-t interval (`n - 1` degrees of freedom).

    `mean ± t_{(1 + confidence) / 2, n - 1} * s / sqrt(n)`, `s` the sample standard deviation
    (`ddof=1`). With identical values the interval is the single point.
    """
    x = np.asarray([float(v) for v in values], dtype="float64")
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, confidence)
    from scipy import stats as scipy_stats  # the `compare` extra

    half = float(scipy_stats.t.ppf((1 + confidence) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, confidence)


def paired_difference(
    a: Mapping[int, float], b: Mapping[int, float], confidence: float = CONFIDENCE
) -> Interval:
    """The interval of `a - b` over the seeds both have (a paired t interval).

    Args:
        a, b: per-seed values, `{seed: value}`.
    """
    seeds = sorted(set(a) & set(b))
    return t_interval([a[s] - b[s] for s in seeds], confidence)


def format_interval(interval: Interval, fmt: str, brackets: bool = False) -> str:
    """`mean ±half` (or `mean [low, high]` with `brackets`); just the mean with one value."""
    if math.isnan(interval.mean):
        return "n/a"
    text = fmt.format(interval.mean)
    if interval.n < 2:
        return text
    if brackets:
        return f"{text} [{fmt.format(interval.low)}, {fmt.format(interval.high)}]"
    plain = fmt.replace("+", "")
    return f"{text} ±{plain.format(interval.half_width)}"
