"""Per-group counts and rates: `group_report` and the `GroupReport` it returns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from keras_regkit.fairness import _grouping

COLUMNS = (
    "count",
    "weight",
    "true_positives",
    "false_positives",
    "true_negatives",
    "false_negatives",
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
)


def _columns(counts: _grouping.GroupCounts) -> dict[str, np.ndarray]:
    columns = {
        "count": counts.count.astype(np.int64),
        "weight": counts.weight,
        "true_positives": counts.true_positives,
        "false_positives": counts.false_positives,
        "true_negatives": counts.negatives - counts.false_positives,
        "false_negatives": counts.positives - counts.true_positives,
    }
    columns.update(_grouping.rates(counts))
    return columns


class GroupReport:
    """Per-group counts and rates, returned by `group_report`.

    Attributes:
        feature_names: the names of the sensitive features (pandas column or
            Series names, dict keys, else `"sensitive_feature_<i>"`).
        groups: the group labels, one per row (a tuple per row when there are
            several sensitive features).
        by_group: dict mapping each column name in `COLUMNS` to a NumPy array
            with one value per group.
        overall: dict mapping each column name to its value on all the data.

    Use `report.to_dict()` to build a table, e.g.
    `pandas.DataFrame(report.to_dict())`; `print(report)` shows one.
    """

    COLUMNS = COLUMNS

    def __init__(
        self,
        feature_names: tuple[str, ...],
        groups: list[Any],
        by_group: dict[str, np.ndarray],
        overall: dict[str, float],
    ):
        self.feature_names = tuple(feature_names)
        self.groups = list(groups)
        self.by_group = by_group
        self.overall = overall

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, column: str) -> np.ndarray:
        if column not in self.by_group:
            raise KeyError(f"Unknown column {column!r}. Available columns: {list(self.by_group)}")
        return self.by_group[column]

    def _group_columns(self) -> dict[str, list[Any]]:
        if len(self.feature_names) == 1:
            return {self.feature_names[0]: list(self.groups)}
        return {
            name: [group[i] for group in self.groups] for i, name in enumerate(self.feature_names)
        }

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name -> list of values, one per group; the sensitive features first."""
        columns = self._group_columns()
        columns.update({name: values.tolist() for name, values in self.by_group.items()})
        return columns

    def __str__(self) -> str:
        def fmt(value: Any) -> str:
            if isinstance(value, float):
                return "nan" if math.isnan(value) else f"{value:.4g}"
            return str(value)

        header = [*self.feature_names, *self.by_group]
        rows = [[fmt(v) for v in row] for row in zip(*self.to_dict().values(), strict=True)]
        blanks = [""] * (len(self.feature_names) - 1)
        rows.append(["overall", *blanks, *(fmt(self.overall[c]) for c in self.by_group)])
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
        lines = [
            "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
            for line in [header, *rows]
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"GroupReport(feature_names={self.feature_names}, groups={self.groups})\n{self}"


def group_report(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    sample_weight: Any = None,
    threshold: float | None = None,
) -> GroupReport:
    """Per-group counts and rates, the numbers behind every fairness metric.

    One row per group (observed value, or observed combination of values for
    several sensitive features, sorted as in Fairlearn's
    `MetricFrame.by_group`), with:

    - `count`: number of samples (unweighted, like `fairlearn.metrics.count`);
    - `weight`: sum of the sample weights;
    - `true_positives`, `false_positives`, `true_negatives`, `false_negatives`:
      weighted confusion counts;
    - `selection_rate`, `true_positive_rate`, `false_positive_rate`: the rates
      of `fairlearn.metrics`, with the same edge cases as the metric functions
      (a group without positives has a true positive rate of 0; a group whose
      weights are all zero has NaN rates).

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.

    Returns:
        A `GroupReport`.

    Example:

    >>> report = group_report(
    ...     [1, 0, 1, 1], [0.9, 0.6, 0.2, 0.8], sensitive_features=["a", "a", "b", "b"],
    ...     threshold=0.5)
    >>> report["selection_rate"].tolist()
    [1.0, 0.5]
    >>> report.overall["true_positive_rate"]
    0.6666666666666666
    """
    counts = _grouping.group_counts(y_true, y_pred, sensitive_features, sample_weight, threshold)
    overall = {
        name: values[0].item() for name, values in _columns(_grouping.overall(counts)).items()
    }
    return GroupReport(counts.feature_names, counts.groups, _columns(counts), overall)
