"""Input checking, group encoding and per-group confusion counts (NumPy only).

Shared by the functional metrics, `group_report` and `FairnessMetricsCallback`.
Everything here works on NumPy arrays; pandas (and polars) objects are read
through their `to_numpy()` method, so pandas is never imported.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np

from keras_regkit import _validation

METHODS = ("between_groups", "to_overall")
AGGS = ("worst_case", "mean")


class GroupCounts(NamedTuple):
    """Weighted confusion counts per group (arrays of shape `(num_groups,)`)."""

    feature_names: tuple[str, ...]
    groups: list[Any]
    count: np.ndarray
    weight: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    true_positives: np.ndarray
    false_positives: np.ndarray


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "to_numpy"):  # pandas / polars Series and DataFrames
        value = value.to_numpy()
    return np.asarray(value)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):  # pandas.NA refuses to be a bool
        return True


def check_method(method: Any) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(
            f"Invalid value for argument `method`: expected one of {METHODS}. "
            f"Received: method={method!r}"
        )
    return method


def check_agg(agg: Any) -> str:
    if not isinstance(agg, str) or agg not in AGGS:
        raise ValueError(
            f"Invalid value for argument `agg`: expected one of {AGGS}. Received: agg={agg!r}"
        )
    return agg


def check_threshold(threshold: Any, allow_none: bool = True) -> float | None:
    return _validation.check_float("threshold", threshold, allow_none=allow_none)


def _one_dimensional(name: str, values: Any, what: str) -> np.ndarray:
    array = _to_numpy(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {what} of shape (num_samples,) "
            f"or (num_samples, 1). Received: {name} with shape {array.shape}"
        )
    return array


def _numeric(name: str, array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "iuf":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"Invalid value for argument `{name}`: expected {what}. "
                f"Received: {name} of dtype {array.dtype}"
            ) from None
    return array


def check_labels(name: str, values: Any, hint: str = "") -> np.ndarray:
    """Binary labels in {0, 1} (or booleans) -> a boolean array."""
    what = "binary labels in {0, 1}"
    array = _numeric(name, _one_dimensional(name, values, what), what)
    if array.dtype == bool:
        return array
    bad = ~((array == 0) | (array == 1))
    if bad.any():
        examples = np.unique(array[bad])[:5].tolist()
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {what}. "
            f"Received values such as {examples}.{hint}"
        )
    return array == 1


def check_scores(values: Any, threshold: float | None) -> np.ndarray:
    """`y_pred` as labels (threshold None) or scores to threshold -> a boolean array."""
    if threshold is None:
        return check_labels(
            "y_pred",
            values,
            hint=" To binarize scores or probabilities, pass `threshold=` (e.g. 0.5).",
        )
    what = "real-valued scores"
    array = _numeric("y_pred", _one_dimensional("y_pred", values, what), what)
    if array.dtype != bool and not np.all(np.isfinite(array)):
        raise ValueError(
            "Invalid value for argument `y_pred`: expected finite scores. "
            f"Received {int(np.sum(~np.isfinite(array)))} NaN or infinite value(s)."
        )
    return array > threshold


def check_sample_weight(sample_weight: Any, num_samples: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(num_samples)
    what = "non-negative finite weights"
    array = _numeric(
        "sample_weight", _one_dimensional("sample_weight", sample_weight, what), what
    ).astype(np.float64)
    check_length("sample_weight", len(array), num_samples)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(
            f"Invalid value for argument `sample_weight`: expected {what}. "
            f"Received values such as {array[~(np.isfinite(array) & (array >= 0))][:5].tolist()}"
        )
    return array


def check_length(name: str, length: int, num_samples: int) -> None:
    if length != num_samples:
        raise ValueError(
            f"Invalid value for argument `{name}`: expected {num_samples} samples, the "
            f"length of `y_true`. Received: {length} samples"
        )


def sensitive_columns(sensitive_features: Any) -> tuple[list[str], list[np.ndarray]]:
    """Splits sensitive features into named 1D columns (Fairlearn's naming rules)."""
    if sensitive_features is None:
        raise ValueError(
            "Invalid value for argument `sensitive_features`: expected an array, a list, a "
            "dict of columns or a pandas Series/DataFrame. Received: sensitive_features=None"
        )
    if isinstance(sensitive_features, dict):
        if not sensitive_features:
            raise ValueError(
                "Invalid value for argument `sensitive_features`: expected at least one "
                "column. Received: an empty dict"
            )
        names = [str(key) for key in sensitive_features]
        columns = [
            _one_dimensional("sensitive_features", value, "a column")
            for value in sensitive_features.values()
        ]
        return names, columns
    columns_attr = getattr(sensitive_features, "columns", None)
    if columns_attr is not None and getattr(sensitive_features, "ndim", 2) == 2:
        names = [str(name) for name in columns_attr]
        array = _to_numpy(sensitive_features)
        return names, [array[:, i] for i in range(array.shape[1])]
    name = getattr(sensitive_features, "name", None)
    array = _to_numpy(sensitive_features)
    if array.ndim == 1:
        return [name if isinstance(name, str) else "sensitive_feature_0"], [array]
    if array.ndim == 2:
        return (
            [f"sensitive_feature_{i}" for i in range(array.shape[1])],
            [array[:, i] for i in range(array.shape[1])],
        )
    raise ValueError(
        "Invalid value for argument `sensitive_features`: expected one column of shape "
        "(num_samples,) or several of shape (num_samples, num_features). "
        f"Received: sensitive_features with shape {array.shape}"
    )


def _python_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value.item() if isinstance(value, np.generic) else value


def encode(sensitive_features: Any, num_samples: int | None = None):
    """Returns `(feature_names, group_labels, group_ids)`.

    Groups are the observed combinations of the sensitive columns, sorted
    column by column (the first column varies slowest), as in Fairlearn's
    `MetricFrame.by_group`. Unobserved combinations are left out: Fairlearn
    lists them as NaN rows, which its aggregations skip.
    """
    names, columns = sensitive_columns(sensitive_features)
    uniques, inverses = [], []
    for name, column in zip(names, columns, strict=True):
        if num_samples is not None and len(column) != num_samples:
            raise ValueError(
                f"Invalid value for argument `sensitive_features`: expected {num_samples} "
                f"samples, the length of `y_true`. Received: {len(column)} samples in "
                f"column {name!r}"
            )
        if column.dtype.kind == "f":
            missing = bool(np.isnan(column).any())
        elif column.dtype.kind in "OMm":
            missing = any(_is_missing(value) for value in column)
        else:
            missing = False
        if missing:
            raise ValueError(
                f"Invalid value for argument `sensitive_features`: column {name!r} contains "
                "missing values (None or NaN). Drop those samples or give them a group "
                "of their own."
            )
        try:
            unique, inverse = np.unique(column, return_inverse=True)
        except TypeError:
            raise ValueError(
                f"Invalid value for argument `sensitive_features`: the values of column "
                f"{name!r} cannot be sorted (mixed types?). Convert them to one type, "
                "e.g. strings."
            ) from None
        uniques.append(unique)
        inverses.append(inverse.reshape(-1))
    if len(columns) == 1:
        groups = [_python_value(value) for value in uniques[0]]
        return names, groups, inverses[0]
    dims = tuple(len(unique) for unique in uniques)
    observed, ids = np.unique(np.ravel_multi_index(inverses, dims), return_inverse=True)
    positions = np.unravel_index(observed, dims)
    groups = [
        tuple(_python_value(unique[pos[g]]) for unique, pos in zip(uniques, positions, strict=True))
        for g in range(len(observed))
    ]
    return names, groups, ids.reshape(-1)


def prepare(y_true, y_pred, sample_weight, threshold):
    """Validates the inputs of every metric function. Returns boolean labels and weights."""
    threshold = check_threshold(threshold)
    labels = check_labels("y_true", y_true)
    if len(labels) == 0:
        raise ValueError(
            "Invalid value for argument `y_true`: expected at least one sample. "
            "Received: an empty array"
        )
    predictions = check_scores(y_pred, threshold)
    check_length("y_pred", len(predictions), len(labels))
    weights = check_sample_weight(sample_weight, len(labels))
    return labels, predictions, weights


def group_counts(y_true, y_pred, sensitive_features, sample_weight, threshold) -> GroupCounts:
    labels, predictions, weights = prepare(y_true, y_pred, sample_weight, threshold)
    names, groups, ids = encode(sensitive_features, len(labels))
    return counts_from_ids(labels, predictions, weights, ids, names, groups)


def counts_from_ids(labels, predictions, weights, ids, names, groups) -> GroupCounts:
    num_groups = len(groups)

    def total(values):
        return np.bincount(ids, weights=values, minlength=num_groups)

    negatives = ~labels
    return GroupCounts(
        feature_names=tuple(names),
        groups=list(groups),
        count=np.bincount(ids, minlength=num_groups),
        weight=total(weights),
        positives=total(weights * labels),
        negatives=total(weights * negatives),
        true_positives=total(weights * (labels & predictions)),
        false_positives=total(weights * (negatives & predictions)),
    )


def overall(counts: GroupCounts) -> GroupCounts:
    """The counts of all the data as a single group."""
    return counts._replace(
        groups=[None],
        **{
            field: np.sum(getattr(counts, field), keepdims=True)
            for field in (
                "count",
                "weight",
                "positives",
                "negatives",
                "true_positives",
                "false_positives",
            )
        },
    )


def _divide(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(np.shape(numerator), empty, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def rates(counts: GroupCounts) -> dict[str, np.ndarray]:
    """Per-group rates with Fairlearn's conventions.

    - selection rate: weighted share of positive predictions; NaN for a group
      whose weights are all zero (`0 / 0`, as in Fairlearn).
    - true/false positive rate: scikit-learn's row-normalised confusion matrix,
      so a group without positives (negatives) has a TPR (FPR) of 0, not NaN.
      A group whose weights are all zero has NaN: it carries no information
      (Fairlearn raises there, through scikit-learn).
    """
    empty = counts.weight == 0
    selected = counts.true_positives + counts.false_positives
    tpr = _divide(counts.true_positives, counts.positives, 0.0)
    fpr = _divide(counts.false_positives, counts.negatives, 0.0)
    return {
        "selection_rate": _divide(selected, counts.weight, np.nan),
        "true_positive_rate": np.where(empty, np.nan, tpr),
        "false_positive_rate": np.where(empty, np.nan, fpr),
    }


def difference(values: np.ndarray, overall_value: float, method: str) -> float:
    """Fairlearn's `MetricFrame.difference` (NaN groups skipped; all NaN -> NaN)."""
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        return float("nan")
    if method == "between_groups":
        return float(valid.max() - valid.min())
    gaps = np.abs(valid - overall_value)
    return float("nan") if np.isnan(overall_value) else float(gaps.max())


def ratio(values: np.ndarray, overall_value: float, method: str) -> float:
    """Fairlearn's `MetricFrame.ratio` (smaller over larger, NaN groups skipped)."""
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        return float("nan")
    if method == "between_groups":
        largest = valid.max()
        return float(valid.min() / largest) if largest != 0 else float("nan")
    if np.isnan(overall_value):
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = valid / overall_value  # 0 / 0 -> NaN (skipped), x / 0 -> inf -> 0
        ratios = np.where(ratios > 1, 1 / ratios, ratios)
    ratios = ratios[~np.isnan(ratios)]
    return float(ratios.min()) if ratios.size else float("nan")


def combine(tpr_value: float, fpr_value: float, agg: str, worst: str) -> float:
    """Fairlearn's equalized-odds aggregation of the TPR and FPR disparities.

    Fairlearn applies Python's built-in `max`/`min` to `[tpr, fpr]`, so a NaN
    TPR disparity gives NaN while a NaN FPR disparity is passed over; `mean` is
    pandas' NaN-skipping mean.
    """
    if agg == "mean":
        values = [v for v in (tpr_value, fpr_value) if not np.isnan(v)]
        return float(np.mean(values)) if values else float("nan")
    if worst == "max":
        return float(max(tpr_value, fpr_value))
    return float(min(tpr_value, fpr_value))


# name -> (rate, aggregation); rate None means equalized odds (TPR and FPR).
DISPARITIES = {
    "demographic_parity_difference": ("selection_rate", "difference"),
    "demographic_parity_ratio": ("selection_rate", "ratio"),
    "equal_opportunity_difference": ("true_positive_rate", "difference"),
    "equal_opportunity_ratio": ("true_positive_rate", "ratio"),
    "equalized_odds_difference": (None, "difference"),
    "equalized_odds_ratio": (None, "ratio"),
    "true_positive_rate_difference": ("true_positive_rate", "difference"),
    "true_positive_rate_ratio": ("true_positive_rate", "ratio"),
    "false_positive_rate_difference": ("false_positive_rate", "difference"),
    "false_positive_rate_ratio": ("false_positive_rate", "ratio"),
}
OVERALL_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")
METRIC_NAMES = (*DISPARITIES, *OVERALL_RATES)


def rates_used_by(name: str) -> tuple[str, ...]:
    """The per-group rates a metric is computed from."""
    if name in OVERALL_RATES:
        return (name,)
    rate, _ = DISPARITIES[name]
    return ("true_positive_rate", "false_positive_rate") if rate is None else (rate,)


def warn_if_single_group(counts: GroupCounts, where: str, stacklevel: int = 2) -> bool:
    """Warns (and returns True) when exactly one group carries any weight.

    A disparity over one group is 0 (a ratio 1) by definition: a perfect score that
    says nothing about fairness, usually from a filtered or mislabelled `sensitive_features`.
    (With no weighted group at all the metrics are NaN, which speaks for itself.)
    """
    present = [g for g, w in zip(counts.groups, counts.weight, strict=True) if w > 0]
    if len(present) != 1:
        return False
    warnings.warn(
        f"{where}: only 1 group of `sensitive_features` is present "
        f"({present}), so every disparity is 0 and every ratio 1 by definition, "
        "whatever the model does. Measure on data that holds at least two groups.",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
    return True


def metric_from_counts(
    name: str, counts: GroupCounts, method: str = "between_groups", agg: str = "worst_case"
) -> float:
    """Any metric of `METRIC_NAMES` from per-group counts."""
    overall_rates = rates(overall(counts))
    if name in OVERALL_RATES:
        return float(overall_rates[name][0])
    by_group = rates(counts)
    rate, kind = DISPARITIES[name]
    aggregate = difference if kind == "difference" else ratio
    if rate is not None:
        return aggregate(by_group[rate], overall_rates[rate][0], method)
    tpr, fpr = (
        aggregate(by_group[r], overall_rates[r][0], method)
        for r in ("true_positive_rate", "false_positive_rate")
    )
    return combine(tpr, fpr, agg, "max" if kind == "difference" else "min")
