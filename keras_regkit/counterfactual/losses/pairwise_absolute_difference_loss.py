"""Pairwise mean absolute difference."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit.counterfactual.losses.base_loss import CounterfactualLoss


@keras.saving.register_keras_serializable(package="keras_regkit")
class PairwiseAbsoluteDifferenceLoss(CounterfactualLoss):
    """Mean absolute difference between the outputs on each example and its counterfactual.

    `mean(|f(x) - f(x')|)` over the last axis, then weighted and averaged over pairs
    (see `CounterfactualLoss`); the L1 form of Counterfactual Logit Pairing (Garg et al.,
    AIES 2019). TFMR's `counterfactual.losses.PairwiseAbsoluteDifferenceLoss`.

    Args:
        name: defaults to "pairwise_absolute_difference_loss".

    Example:

    >>> loss = PairwiseAbsoluteDifferenceLoss()
    >>> round(float(loss([[0.2], [0.9]], [[0.4], [0.6]])), 4)
    0.25
    """

    def __init__(self, name: str | None = None):
        super().__init__(name=name or "pairwise_absolute_difference_loss")

    def per_pair(self, original, counterfactual):
        return ops.mean(ops.absolute(original - counterfactual), axis=-1)
