"""Counterfactual fairness metrics: how predictions move when only the sensitive attribute does.

Counterfactual fairness (Kusner et al., "Counterfactual Fairness", NeurIPS 2017) asks that a
prediction stay the same when only the sensitive attribute changes; Garg et al. ("Counterfactual
Fairness in Text Classification through Robustness", AIES 2019) measure it on pairs of an example
and its counterfactual. These functions take the model's scores on both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_regkit import _validation

__all__ = ["counterfactual_flip_rate", "mean_counterfactual_score_gap"]


def _scores(name: str, value: Any, length: int | None = None, length_of: str | None = None):
    array = _validation.check_array(name, value, ndim=(1, 2), length=length, length_of=length_of)
    if array.ndim == 2:
        if array.shape[1] != 1:
            raise _validation.invalid(
                name,
                "one score per example, shape (n,) or (n, 1)",
                received=_validation.describe(name, array),
            )
        array = array[:, 0]
    if array.size == 0:
        raise _validation.invalid(
            name, "at least one example", received=_validation.describe(name, array)
        )
    return array.astype(np.float64)


def _pairs(y_pred, y_pred_counterfactual, sample_weight):
    original = _scores("y_pred", y_pred)
    counterfactual = _scores(
        "y_pred_counterfactual", y_pred_counterfactual, len(original), "y_pred"
    )
    weights = _validation.check_sample_weight(sample_weight, len(original), length_of="y_pred")
    if weights is None:
        weights = np.ones_like(original)
    return original, counterfactual, weights


def counterfactual_flip_rate(
    y_pred: Any, y_pred_counterfactual: Any, threshold: float = 0.5, sample_weight: Any = None
) -> float:
    """The share of examples whose decision changes when only the sensitive attribute changes.

    `sum_i w_i [ (p_i > t) != (p'_i > t) ] / sum_i w_i`, with `p` the scores on the
    examples and `p'` those on their counterfactuals: 0 when no decision flips, 1 when
    every decision does.

    Args:
        y_pred: scores on the original examples, shape `(n,)` or `(n, 1)`.
        y_pred_counterfactual: scores on their counterfactuals, same shape.
        threshold: a score above it is a positive decision (a finite float).
        sample_weight: optional non-negative weights, one per example, not all 0.

    Returns:
        The weighted flip rate, a float in [0, 1].

    Raises:
        ValueError: for empty input, mismatched lengths, non-finite scores, or weights that
            are negative or all 0 (the rate is undefined then, rather than NaN).

    Example:

    >>> counterfactual_flip_rate([0.2, 0.6, 0.9, 0.4], [0.7, 0.6, 0.3, 0.45])
    0.5
    """
    threshold = _validation.check_float("threshold", threshold)
    original, counterfactual, weights = _pairs(y_pred, y_pred_counterfactual, sample_weight)
    flips = (original > threshold) != (counterfactual > threshold)
    return float(np.sum(weights * flips) / np.sum(weights))


def mean_counterfactual_score_gap(
    y_pred: Any, y_pred_counterfactual: Any, sample_weight: Any = None
) -> float:
    """The mean absolute change in score when only the sensitive attribute changes.

    `sum_i w_i |p_i - p'_i| / sum_i w_i`: the threshold-free counterpart of
    `counterfactual_flip_rate` (0 when every pair gets the same score).

    Args:
        y_pred: scores on the original examples, shape `(n,)` or `(n, 1)`.
        y_pred_counterfactual: scores on their counterfactuals, same shape.
        sample_weight: optional non-negative weights, one per example, not all 0.

    Returns:
        The weighted mean absolute score gap, a non-negative float.

    Raises:
        ValueError: as `counterfactual_flip_rate`.

    Example:

    >>> round(mean_counterfactual_score_gap([0.2, 0.6], [0.5, 0.5]), 6)
    0.2
    """
    original, counterfactual, weights = _pairs(y_pred, y_pred_counterfactual, sample_weight)
    return float(np.sum(weights * np.abs(original - counterfactual)) / np.sum(weights))
