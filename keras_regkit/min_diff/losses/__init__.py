"""MinDiff losses, with TensorFlow Model Remediation's names and math.

`keras_regkit.min_diff.losses` also re-exports the kernels, as TFMR's
`min_diff.losses` does.
"""

import keras

from keras_regkit.min_diff.kernels import GaussianKernel, LaplacianKernel, MinDiffKernel
from keras_regkit.min_diff.losses.absolute_correlation_loss import AbsoluteCorrelationLoss
from keras_regkit.min_diff.losses.absolute_difference_loss import AbsoluteDifferenceLoss
from keras_regkit.min_diff.losses.adjusted_mmd_loss import AdjustedMMDLoss
from keras_regkit.min_diff.losses.base_loss import MinDiffLoss
from keras_regkit.min_diff.losses.mmd_loss import MMDLoss
from keras_regkit.min_diff.losses.prediction_rate_loss import PredictionRateLoss

_NAMES = {
    "mmd": MMDLoss,
    "mmd_loss": MMDLoss,
    "maximum_mean_discrepancy": MMDLoss,
    "adjusted_mmd": AdjustedMMDLoss,
    "adjusted_mmd_loss": AdjustedMMDLoss,
    "abs_corr": AbsoluteCorrelationLoss,
    "absolute_correlation": AbsoluteCorrelationLoss,
    "absolute_correlation_loss": AbsoluteCorrelationLoss,
    "abs_diff": AbsoluteDifferenceLoss,
    "absolute_difference": AbsoluteDifferenceLoss,
    "absolute_difference_loss": AbsoluteDifferenceLoss,
    "prediction_rate": PredictionRateLoss,
    "prediction_rate_loss": PredictionRateLoss,
}


def get(identifier, argument_name: str = "loss"):
    """Returns a `MinDiffLoss` from a name, a serialized config or an instance.

    Names (case-insensitive) are TFMR's ("mmd", "maximum_mean_discrepancy",
    "adjusted_mmd", "abs_corr", "absolute_correlation") plus "absolute_difference"
    and "prediction_rate".
    """
    if isinstance(identifier, MinDiffLoss):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown MinDiff loss name for argument `{argument_name}`: expected one of "
                f"{sorted(_NAMES)} (case-insensitive) or a MinDiffLoss instance. "
                f"Received: {argument_name}={identifier!r}"
            )
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        loss = keras.saving.deserialize_keras_object(identifier)
        if isinstance(loss, MinDiffLoss):
            return loss
    raise ValueError(
        f"Invalid value for argument `{argument_name}`: expected a MinDiff loss name or a "
        f"MinDiffLoss instance. Received: {argument_name}={identifier!r} "
        f"of type {type(identifier).__name__}"
    )


def serialize(loss):
    return keras.saving.serialize_keras_object(loss)


def deserialize(config):
    return get(config)


__all__ = [
    "AbsoluteCorrelationLoss",
    "AbsoluteDifferenceLoss",
    "AdjustedMMDLoss",
    "GaussianKernel",
    "LaplacianKernel",
    "MMDLoss",
    "MinDiffKernel",
    "MinDiffLoss",
    "PredictionRateLoss",
    "deserialize",
    "get",
    "serialize",
]
