"""Absolute correlation MinDiff loss."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit.min_diff.losses.base_loss import MinDiffLoss, divide_no_nan

# TFMR's epsilon keeping the gradient of the square roots defined.
_EPSILON = 1.0e-7


@keras.saving.register_keras_serializable(package="keras_regkit")
class AbsoluteCorrelationLoss(MinDiffLoss):
    """Absolute weighted Pearson correlation between membership and predictions.

    TensorFlow Model Remediation's `AbsoluteCorrelationLoss`, formula for formula
    (including its sums over all prediction columns):

    `|cov_w(m, p)| / (sqrt(var_w(m) + 1e-7) * sqrt(var_w(p) + 1e-7))`

    Reference: Beutel et al., "Putting Fairness Principles into Practice:
    Challenges, Metrics, and Improvements", AIES 2019.

    Args:
        predictions_transform: see `MinDiffLoss`.
        name: defaults to "absolute_correlation_loss".

    Example:

    >>> loss = AbsoluteCorrelationLoss()
    >>> round(float(loss(membership=[[1.0], [0.0]], predictions=[[0.9], [0.1]])), 4)
    1.0
    """

    def __init__(self, predictions_transform=None, name: str | None = None):
        super().__init__(
            predictions_transform=predictions_transform,
            name=name or "absolute_correlation_loss",
        )

    def call(self, membership, predictions, normed_weights):
        mean_m = ops.sum(normed_weights * membership)
        mean_p = ops.sum(normed_weights * predictions)
        var_m = ops.sum(normed_weights * ops.square(membership - mean_m))
        var_p = ops.sum(normed_weights * ops.square(predictions - mean_p))
        covariance = ops.sum(normed_weights * (membership - mean_m) * (predictions - mean_p))
        correlation = divide_no_nan(
            covariance, ops.sqrt(var_m + _EPSILON) * ops.sqrt(var_p + _EPSILON)
        )
        return ops.absolute(correlation)
