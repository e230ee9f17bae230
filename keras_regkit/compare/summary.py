"""The runs of one table row of `compare`, over the repeats, and their intervals."""

from __future__ import annotations

import dataclasses

from keras_regkit.compare import stats
from keras_regkit.compare.engine import Comparison, RunResult

BASELINE = "none"  # the technique every other is compared with


@dataclasses.dataclass
class Summary:
    """The runs of one table row (one technique, or MinDiff at one weight), over the repeats."""

    technique: str
    label: str
    min_diff_weight: float | None
    runs: list[RunResult]

    def values(self, attribute: str) -> dict[int, float]:
        """`{seed: value}` of one measurement."""
        return {run.seed: float(getattr(run, attribute)) for run in self.runs}

    def interval(self, attribute: str) -> stats.Interval:
        return stats.t_interval(self.values(attribute).values())

    def difference(self, other: Summary, attribute: str) -> stats.Interval:
        """The paired interval of `self - other`, seed by seed."""
        return stats.paired_difference(self.values(attribute), other.values(attribute))


def summarize(comparison: Comparison) -> list[Summary]:
    """One `Summary` per table row, in the order the techniques ran."""
    rows: dict[str, Summary] = {}
    for run in comparison.runs:
        if run.label not in rows:
            rows[run.label] = Summary(run.technique, run.label, run.min_diff_weight, [])
        rows[run.label].runs.append(run)
    return list(rows.values())
