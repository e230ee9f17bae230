"""Group fairness metrics with Fairlearn's definitions, in NumPy.

Every disparity function takes `(y_true, y_pred, *, sensitive_features,
method="between_groups", sample_weight=None, threshold=None)` and returns the
same float as the Fairlearn function of the same name (Bird et al., "Fairlearn:
A toolkit for assessing and improving fairness in AI", Microsoft tech. report
MSR-TR-2020-32, 2020), with no pandas or Fairlearn needed:

- `y_true`: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
- `y_pred`: binary labels, or, with `threshold=t`, scores or probabilities
  turned into labels `y_pred > t` (the convention of `keras.metrics`).
- `sensitive_features`: one column (array, list, pandas Series) or several
  (2D array, dict of columns, pandas DataFrame). Several columns form
  intersectional groups, one per observed combination of values. Any number
  of groups.
- `method`: `"between_groups"` compares the largest and smallest group values
  (difference: max - min; ratio: min / max); `"to_overall"` compares each
  group with the value on all the data (difference: the largest
  |group - overall|; ratio: the smallest group/overall, inverted when above
  1).
- `sample_weight`: non-negative weights, shape `(n,)`.

Edge cases, all returning a value instead of raising:

- A combination of sensitive values that never occurs is not a group (Fairlearn
  lists it as a NaN row that every aggregation skips).
- A group with no positive labels has a true positive rate of 0, and one with
  no negative labels a false positive rate of 0 (Fairlearn and scikit-learn's
  `confusion_matrix` convention); they count in the disparities.
- A group whose weights are all zero carries no information: its rates are
  NaN and the disparities skip it (Fairlearn gives NaN for its selection rate
  and raises, through scikit-learn, for its true/false positive rates).
- All weights zero: every metric is NaN.
- A ratio whose largest value is 0 (e.g. no positive predictions at all) is
  `0 / 0` = NaN, as in Fairlearn.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from keras_regkit.fairness import _grouping

Method = Literal["between_groups", "to_overall"]
Agg = Literal["worst_case", "mean"]


def _overall_rate(y_true, y_pred, sample_weight, threshold, rate: str) -> float:
    labels, predictions, weights = _grouping.prepare(y_true, y_pred, sample_weight, threshold)
    ids = np.zeros(len(labels), dtype=np.int64)
    counts = _grouping.counts_from_ids(labels, predictions, weights, ids, ["all"], [None])
    return _grouping.metric_from_counts(rate, counts)


def _metric(name, y_true, y_pred, sensitive_features, method, sample_weight, threshold, agg=None):
    _grouping.check_method(method)
    if agg is not None:
        _grouping.check_agg(agg)
    counts = _grouping.group_counts(y_true, y_pred, sensitive_features, sample_weight, threshold)
    # stacklevel 3: the caller of the public metric function.
    _grouping.warn_if_single_group(counts, name, stacklevel=3)
    return _grouping.metric_from_counts(name, counts, method, agg or "worst_case")


def selection_rate(y_true: Any, y_pred: Any, *, sample_weight: Any = None, threshold=None) -> float:
    """The (weighted) fraction of positive predictions, `P[h(X) = 1]`.

    Equals `fairlearn.metrics.selection_rate`. `y_true` is only checked, as in
    Fairlearn. NaN when every weight is zero.

    Args:
        y_true: binary labels in {0, 1}.
        y_pred: binary predictions, or scores with `threshold`.
        sample_weight: optional non-negative weights.
        threshold: optional float; `y_pred > threshold` are positive predictions.

    Returns:
        A float in [0, 1], or NaN.

    Example:

    >>> selection_rate([0, 1, 1, 0], [0.9, 0.2, 0.7, 0.1], threshold=0.5)
    0.5
    """
    return _overall_rate(y_true, y_pred, sample_weight, threshold, "selection_rate")


def true_positive_rate(
    y_true: Any, y_pred: Any, *, sample_weight: Any = None, threshold=None
) -> float:
    """The (weighted) true positive rate, `P[h(X) = 1 | Y = 1]`.

    Equals `fairlearn.metrics.true_positive_rate`: 0 when there are no
    positive labels; NaN when every weight is zero (Fairlearn raises).

    Args:
        y_true: binary labels in {0, 1}.
        y_pred: binary predictions, or scores with `threshold`.
        sample_weight: optional non-negative weights.
        threshold: optional float; `y_pred > threshold` are positive predictions.

    Returns:
        A float in [0, 1], or NaN.

    Example:

    >>> true_positive_rate([1, 1, 0, 1], [1, 0, 1, 1])
    0.6666666666666666
    """
    return _overall_rate(y_true, y_pred, sample_weight, threshold, "true_positive_rate")


def false_positive_rate(
    y_true: Any, y_pred: Any, *, sample_weight: Any = None, threshold=None
) -> float:
    """The (weighted) false positive rate, `P[h(X) = 1 | Y = 0]`.

    Equals `fairlearn.metrics.false_positive_rate`: 0 when there are no
    negative labels; NaN when every weight is zero (Fairlearn raises).

    Args:
        y_true: binary labels in {0, 1}.
        y_pred: binary predictions, or scores with `threshold`.
        sample_weight: optional non-negative weights.
        threshold: optional float; `y_pred > threshold` are positive predictions.

    Returns:
        A float in [0, 1], or NaN.

    Example:

    >>> false_positive_rate([0, 0, 1, 0], [1, 0, 1, 0])
    0.3333333333333333
    """
    return _overall_rate(y_true, y_pred, sample_weight, threshold, "false_positive_rate")


def demographic_parity_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    threshold: float | None = None,
) -> float:
    """The demographic parity difference.

    The largest gap in selection rate `P[h(X) = 1 | A = a]` between groups
    (or to the overall rate with `method="to_overall"`); 0 means every group
    is selected at the same rate (Agarwal et al., "A Reductions Approach to
    Fair Classification", ICML 2018). Equals
    `fairlearn.metrics.demographic_parity_difference`.

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.

    Returns:
        A float in [0, 1], or NaN when no group has a defined selection rate.

    Example:

    >>> y_true = [0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    >>> y_pred = [0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0]
    >>> sex = list("bbabbcccaacabccbcc")
    >>> demographic_parity_difference(y_true, y_pred, sensitive_features=sex)
    0.25
    """
    return _metric(
        "demographic_parity_difference",
        y_true,
        y_pred,
        sensitive_features,
        method,
        sample_weight,
        threshold,
    )


def demographic_parity_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    threshold: float | None = None,
) -> float:
    """The demographic parity ratio.

    The smallest ratio of group selection rates, smaller over larger (or each
    group to the overall rate with `method="to_overall"`); 1 means every group
    is selected at the same rate. Equals
    `fairlearn.metrics.demographic_parity_ratio`.

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.

    Returns:
        A float in [0, 1], or NaN (e.g. when nothing is selected: 0 / 0).

    Example:

    >>> demographic_parity_ratio([0, 1, 0, 1], [1, 1, 0, 1], sensitive_features=list("aabb"))
    0.5
    """
    return _metric(
        "demographic_parity_ratio",
        y_true,
        y_pred,
        sensitive_features,
        method,
        sample_weight,
        threshold,
    )


def equal_opportunity_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    threshold: float | None = None,
) -> float:
    """The equal opportunity difference.

    The largest gap in true positive rate `P[h(X) = 1 | A = a, Y = 1]`
    between groups (Hardt et al., "Equality of Opportunity in Supervised
    Learning", NeurIPS 2016). Equals
    `fairlearn.metrics.equal_opportunity_difference`; a group without
    positive labels has a true positive rate of 0.

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.

    Returns:
        A float in [0, 1], or NaN when every weight is zero.

    Example:

    >>> equal_opportunity_difference(
    ...     [1, 1, 1, 1], [1, 1, 1, 0], sensitive_features=list("aabb"))
    0.5
    """
    return _metric(
        "equal_opportunity_difference",
        y_true,
        y_pred,
        sensitive_features,
        method,
        sample_weight,
        threshold,
    )


def equal_opportunity_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    threshold: float | None = None,
) -> float:
    """The equal opportunity ratio.

    The smallest ratio of group true positive rates, smaller over larger.
    Equals `fairlearn.metrics.equal_opportunity_ratio`.

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.

    Returns:
        A float in [0, 1], or NaN (e.g. when no positive is ever predicted).

    Example:

    >>> equal_opportunity_ratio([1, 1, 1, 1], [1, 1, 1, 0], sensitive_features=list("aabb"))
    0.5
    """
    return _metric(
        "equal_opportunity_ratio",
        y_true,
        y_pred,
        sensitive_features,
        method,
        sample_weight,
        threshold,
    )


def equalized_odds_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    agg: Agg = "worst_case",
    threshold: float | None = None,
) -> float:
    """The equalized odds difference.

    Combines the true positive rate difference and the false positive rate
    difference (Hardt et al., NeurIPS 2016): their maximum with
    `agg="worst_case"` (default), their mean with `agg="mean"`. Equals
    `fairlearn.metrics.equalized_odds_difference`.

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.
        agg: `"worst_case"` (default) or `"mean"`.

    Returns:
        A float in [0, 1], or NaN when every weight is zero.

    Example:

    >>> equalized_odds_difference(
    ...     [1, 0, 1, 0], [1, 1, 1, 0], sensitive_features=list("aabb"))
    1.0
    """
    return _metric(
        "equalized_odds_difference",
        y_true,
        y_pred,
        sensitive_features,
        method,
        sample_weight,
        threshold,
        agg,
    )


def equalized_odds_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    agg: Agg = "worst_case",
    threshold: float | None = None,
) -> float:
    """The equalized odds ratio.

    Combines the true positive rate ratio and the false positive rate ratio:
    their minimum with `agg="worst_case"` (default), their mean with
    `agg="mean"`. Equals `fairlearn.metrics.equalized_odds_ratio`, including
    its NaN rule for `"worst_case"`: NaN when the true positive rate ratio is
    NaN; a NaN false positive rate ratio alone is passed over. `"mean"` skips
    a NaN ratio.

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.
        agg: `"worst_case"` (default) or `"mean"`.

    Returns:
        A float in [0, 1], or NaN.

    Example:

    >>> equalized_odds_ratio(
    ...     [1, 0, 1, 0], [1, 1, 1, 0], sensitive_features=list("aabb"))
    0.0
    """
    return _metric(
        "equalized_odds_ratio",
        y_true,
        y_pred,
        sensitive_features,
        method,
        sample_weight,
        threshold,
        agg,
    )


def true_positive_rate_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    threshold: float | None = None,
) -> float:
    """The true positive rate difference.

    The same value as `equal_opportunity_difference`, under Fairlearn's other
    name (`fairlearn.metrics.true_positive_rate_difference`).

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.

    Returns:
        A float in [0, 1], or NaN when every weight is zero.

    Example:

    >>> true_positive_rate_difference(
    ...     [1, 1, 1, 1], [1, 1, 1, 0], sensitive_features=list("aabb"))
    0.5
    """
    return equal_opportunity_difference(
        y_true,
        y_pred,
        sensitive_features=sensitive_features,
        method=method,
        sample_weight=sample_weight,
        threshold=threshold,
    )


def true_positive_rate_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    threshold: float | None = None,
) -> float:
    """The true positive rate ratio.

    The same value as `equal_opportunity_ratio`, under Fairlearn's other name
    (`fairlearn.metrics.true_positive_rate_ratio`).

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.

    Returns:
        A float in [0, 1], or NaN.

    Example:

    >>> true_positive_rate_ratio([1, 1, 1, 1], [1, 1, 1, 0], sensitive_features=list("aabb"))
    0.5
    """
    return equal_opportunity_ratio(
        y_true,
        y_pred,
        sensitive_features=sensitive_features,
        method=method,
        sample_weight=sample_weight,
        threshold=threshold,
    )


def false_positive_rate_difference(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    threshold: float | None = None,
) -> float:
    """The false positive rate difference.

    The largest gap in false positive rate `P[h(X) = 1 | A = a, Y = 0]`
    between groups. Equals `fairlearn.metrics.false_positive_rate_difference`;
    a group without negative labels has a false positive rate of 0.

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.

    Returns:
        A float in [0, 1], or NaN when every weight is zero.

    Example:

    >>> false_positive_rate_difference(
    ...     [0, 0, 0, 0], [1, 0, 0, 0], sensitive_features=list("aabb"))
    0.5
    """
    return _metric(
        "false_positive_rate_difference",
        y_true,
        y_pred,
        sensitive_features,
        method,
        sample_weight,
        threshold,
    )


def false_positive_rate_ratio(
    y_true: Any,
    y_pred: Any,
    *,
    sensitive_features: Any,
    method: Method = "between_groups",
    sample_weight: Any = None,
    threshold: float | None = None,
) -> float:
    """The false positive rate ratio.

    The smallest ratio of group false positive rates, smaller over larger.
    Equals `fairlearn.metrics.false_positive_rate_ratio`.

    Args:
        y_true: binary labels in {0, 1} (or booleans), shape `(n,)` or `(n, 1)`.
        y_pred: binary predictions, or scores/probabilities with `threshold`.
        sensitive_features: the sensitive feature(s): an array or list (one
            column), a 2D array, dict of columns or pandas DataFrame
            (intersectional groups), or a pandas Series.
        method: `"between_groups"` (default) or `"to_overall"`.
        sample_weight: optional non-negative weights, shape `(n,)`.
        threshold: optional float. When set, `y_pred` holds scores and
            `y_pred > threshold` are the positive predictions.

    Returns:
        A float in [0, 1], or NaN (e.g. when there is no false positive).

    Example:

    >>> false_positive_rate_ratio(
    ...     [0, 0, 0, 0], [1, 0, 1, 1], sensitive_features=list("aabb"))
    0.5
    """
    return _metric(
        "false_positive_rate_ratio",
        y_true,
        y_pred,
        sensitive_features,
        method,
        sample_weight,
        threshold,
    )


def encode_groups(sensitive_features: Any) -> tuple[np.ndarray, list[Any]]:
    """Integer group ids for the streaming metrics, and the group each id stands for.

    The groups are the ones every function of `keras_regkit.fairness` uses:
    the observed values (or, for several columns, observed combinations) of
    the sensitive features, sorted. Pass `num_groups=len(groups)` to a
    streaming metric such as `DemographicParityDifference` and pack the ids
    next to the labels: `y = np.stack([labels, ids], axis=-1)`.

    Args:
        sensitive_features: an array or list (one column), a 2D array, a dict
            of columns, or a pandas Series/DataFrame.

    Returns:
        `(ids, groups)`: an int32 array of shape `(n,)` with values in
        `[0, len(groups))`, and the group labels (tuples for several columns).

    Example:

    >>> ids, groups = encode_groups(["b", "a", "b"])
    >>> ids.tolist(), groups
    ([1, 0, 1], ['a', 'b'])
    """
    _, groups, ids = _grouping.encode(sensitive_features)
    return ids.astype(np.int32), groups
