"""Pairwise mean squared difference."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit.counterfactual.losses.base_loss import CounterfactualLoss


@keras.saving.register_keras_serializable(package="keras_regkit")
class PairwiseMSELoss(CounterfactualLoss):
    """Mean squared difference between the outputs on each example and its counterfactual.

    The Counterfactual Logit Pairing penalty of Garg et al., "Counterfactual Fairness in
    Text Classification through Robustness" (AIES 2019): `mean((f(x) - f(x'))^2)` over
    the last axis, then weighted and averaged over pairs (see `CounterfactualLoss`).
    TFMR's `counterfactual.losses.PairwiseMSELoss`.

    Args:
        name: defaults to "pairwise_mse_loss".

    Example:

    >>> loss = PairwiseMSELoss()
    >>> round(float(loss([[1.0, 9.0], [2.0, -5.0]], [[4.0, 8.0], [12.0, 8.0]])), 4)
    69.75
    >>> round(float(loss([[0.2], [0.9]], [[0.4], [0.9]], sample_weight=[2.0, 1.0])), 4)
    0.04
    """

    def __init__(self, name: str | None = None):
        super().__init__(name=name or "pairwise_mse_loss")

    def per_pair(self, original, counterfactual):
        return ops.mean(ops.square(original - counterfactual), axis=-1)
