"""Absolute difference of group means."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit.min_diff.losses.base_loss import (
    MinDiffLoss,
    both_groups_present,
    divide_no_nan,
    group_weights,
)


def group_mean_gap(membership, values, normed_weights):
    """Mean over columns of |weighted mean over S - weighted mean over N|; 0 if a group is empty."""
    a, b, _, _ = group_weights(membership, normed_weights)
    mean_s = divide_no_nan(ops.sum(a * values, axis=0), ops.sum(a))
    mean_n = divide_no_nan(ops.sum(b * values, axis=0), ops.sum(b))
    gap = ops.mean(ops.absolute(mean_s - mean_n))
    return ops.where(both_groups_present(a, b), gap, ops.zeros_like(gap))


@keras.saving.register_keras_serializable(package="keras_regkit")
class AbsoluteDifferenceLoss(MinDiffLoss):
    """Weighted `|mean(predictions | S) - mean(predictions | N)|`.

    The first moment of the distributions MMD compares: cheaper and easier to
    read (in the units of the predictions) than MMD, but blind to differences in
    spread. With probabilities as predictions it is the gap in mean score; on a
    batch of negatives only it targets false-positive-rate parity (Beutel et al.,
    "Data Decisions and Theoretical Implications when Adversarially Learning Fair
    Representations", 2017). For `[batch, d]` predictions the gaps are averaged
    over columns. 0.0 when a group is empty.

    Args:
        predictions_transform: see `MinDiffLoss`.
        name: defaults to "absolute_difference_loss".

    Example:

    >>> round(float(AbsoluteDifferenceLoss()(membership=[1.0, 0.0], predictions=[0.9, 0.1])), 4)
    0.8
    """

    def __init__(self, predictions_transform=None, name: str | None = None):
        super().__init__(
            predictions_transform=predictions_transform,
            name=name or "absolute_difference_loss",
        )

    def call(self, membership, predictions, normed_weights):
        return group_mean_gap(membership, predictions, normed_weights)
