"""Counterfactual Logit Pairing losses, with TensorFlow Model Remediation's names and math."""

import keras

from keras_regkit import _validation
from keras_regkit.counterfactual.losses.base_loss import CounterfactualLoss
from keras_regkit.counterfactual.losses.pairwise_absolute_difference_loss import (
    PairwiseAbsoluteDifferenceLoss,
)
from keras_regkit.counterfactual.losses.pairwise_cosine_loss import PairwiseCosineLoss
from keras_regkit.counterfactual.losses.pairwise_mse_loss import PairwiseMSELoss

_NAMES = {
    "pairwise_mse": PairwiseMSELoss,
    "pairwise_mse_loss": PairwiseMSELoss,
    "mse": PairwiseMSELoss,
    "pairwise_absolute_difference": PairwiseAbsoluteDifferenceLoss,
    "pairwise_absolute_difference_loss": PairwiseAbsoluteDifferenceLoss,
    "mae": PairwiseAbsoluteDifferenceLoss,
    "pairwise_cosine": PairwiseCosineLoss,
    "pairwise_cosine_loss": PairwiseCosineLoss,
    "cosine": PairwiseCosineLoss,
}


def get(identifier, argument_name: str = "loss") -> CounterfactualLoss:
    """Returns a `CounterfactualLoss` from a name, a serialized config or an instance.

    Names (case-insensitive) are TFMR's ("pairwise_mse_loss", "pairwise_absolute_difference_loss",
    "pairwise_cosine_loss", each also without "_loss") plus "mse", "mae" and "cosine".

    Example:

    >>> get("pairwise_mse")
    PairwiseMSELoss(name='pairwise_mse_loss')
    """
    if isinstance(identifier, CounterfactualLoss):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise _validation.invalid(
                argument_name,
                f"a Counterfactual loss name, one of {sorted(_NAMES)} (case-insensitive), "
                "or a CounterfactualLoss instance",
                identifier,
            )
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        loss = keras.saving.deserialize_keras_object(identifier)
        if isinstance(loss, CounterfactualLoss):
            return loss
    raise _validation.invalid(
        argument_name, "a Counterfactual loss name or a CounterfactualLoss instance", identifier
    )


def serialize(loss):
    return keras.saving.serialize_keras_object(loss)


def deserialize(config):
    return get(config)


__all__ = [
    "CounterfactualLoss",
    "PairwiseAbsoluteDifferenceLoss",
    "PairwiseCosineLoss",
    "PairwiseMSELoss",
    "deserialize",
    "get",
    "serialize",
]
