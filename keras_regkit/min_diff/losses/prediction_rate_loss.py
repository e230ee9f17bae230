"""Difference of soft positive-prediction rates (demographic-parity surrogate)."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit.min_diff.losses.absolute_difference_loss import group_mean_gap
from keras_regkit.min_diff.losses.base_loss import MinDiffLoss


@keras.saving.register_keras_serializable(package="keras_regkit")
class PredictionRateLoss(MinDiffLoss):
    """`|rate(S) - rate(N)|` with a soft positive-prediction indicator.

    Each prediction `p` counts as positive with weight
    `sigmoid((p - threshold) / temperature)`, a differentiable stand-in for
    `p > threshold`; the loss is the absolute difference of the weighted rates of
    the two groups — the demographic-parity difference (Fairlearn's
    `demographic_parity_difference` for two groups) made smooth. As `temperature`
    goes to 0 it tends to the hard rate gap. Relaxed rate constraints of this kind
    are discussed by Zafar et al., "Fairness Constraints", AISTATS 2017, and
    Cotter et al., JMLR 2019. 0.0 when a group is empty.

    Args:
        threshold: decision threshold on the predictions (after the transform).
        temperature: softness of the indicator, a positive float.
        predictions_transform: see `MinDiffLoss`; use "sigmoid" for logits.
        name: defaults to "prediction_rate_loss".

    Example:

    >>> loss = PredictionRateLoss(temperature=0.01)
    >>> round(float(loss(membership=[1.0, 0.0], predictions=[0.9, 0.1])), 4)
    1.0
    """

    def __init__(
        self,
        threshold: float = 0.5,
        temperature: float = 0.05,
        predictions_transform=None,
        name: str | None = None,
    ):
        super().__init__(
            predictions_transform=predictions_transform, name=name or "prediction_rate_loss"
        )
        self.threshold = _validation.check_float("threshold", threshold)
        self.temperature = _validation.check_float(
            "temperature", temperature, 0, min_inclusive=False
        )

    def call(self, membership, predictions, normed_weights):
        soft_positive = ops.sigmoid((predictions - self.threshold) / self.temperature)
        return group_mean_gap(membership, soft_positive, normed_weights)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"threshold": self.threshold, "temperature": self.temperature})
        return config
