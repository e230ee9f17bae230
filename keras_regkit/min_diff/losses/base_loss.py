"""Base class of the MinDiff losses."""

from __future__ import annotations

import re

import keras
import numpy as np
from keras import ops

from keras_regkit import backend as regkit_backend
from keras_regkit.min_diff import transforms


def _snake_case(name: str) -> str:
    name = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def divide_no_nan(numerator, denominator):
    """`numerator / denominator`, and 0 where the denominator is 0 (as `tf.math.divide_no_nan`)."""
    safe = ops.where(ops.equal(denominator, 0.0), ops.ones_like(denominator), denominator)
    return ops.where(ops.equal(denominator, 0.0), ops.zeros_like(numerator), numerator / safe)


@keras.saving.register_keras_serializable(package="keras_regkit")
class MinDiffLoss:
    """Base class of MinDiff losses: a penalty on the difference between the
    predictions on a sensitive and a nonsensitive group of examples.

    The contract of TensorFlow Model Remediation's `min_diff.losses.MinDiffLoss`:
    `loss(membership, predictions, sample_weight=None)` returns a scalar that is 0
    when the two groups' predictions are indistinguishable.

    - `membership`: `[batch]` or `[batch, 1]`, 1.0 for the sensitive group, 0.0 for
      the nonsensitive group (hard membership only).
    - `predictions`: `[batch]` or `[batch, d]`.
    - `sample_weight`: `[batch]` or `[batch, 1]`, non-negative; normalised to sum
      to 1 (all-zero weights give a loss of 0, never NaN).

    Values are computed in float32 whatever the model's dtype policy. Membership
    and weight *values* are validated when they are concrete (eager calls, the
    data packers); inside compiled functions only shapes can be checked.

    Subclasses implement `call(membership, predictions, normed_weights)` on
    float32 tensors of shapes `[batch, 1]`, `[batch, d]`, `[batch, 1]`.

    Args:
        predictions_transform: optional transform applied to the predictions
            first: a registered name (e.g. "sigmoid"), an output key, or a
            registered serializable object (see `MinDiffModel`).
        name: name used for logging.
    """

    def __init__(self, predictions_transform=None, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise ValueError(
                f"Invalid value for argument `name`: expected a string. Received: name={name!r}"
            )
        self.predictions_transform = transforms.validate_transform(predictions_transform)
        self.name = name or _snake_case(type(self).__name__)

    def __call__(self, membership, predictions, sample_weight=None):
        membership, predictions, normed_weights = self._preprocess_inputs(
            membership, predictions, sample_weight
        )
        return self.call(membership, predictions, normed_weights)

    def call(self, membership, predictions, normed_weights):
        raise NotImplementedError(f"{type(self).__name__} must implement `call`.")

    def _preprocess_inputs(self, membership, predictions, sample_weight):
        predictions = transforms.apply_transform(self.predictions_transform, predictions)
        predictions = ops.cast(ops.convert_to_tensor(predictions), "float32")
        membership = ops.cast(ops.convert_to_tensor(membership), "float32")
        if len(predictions.shape) == 1:
            predictions = ops.expand_dims(predictions, -1)
        if len(predictions.shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects predictions of shape [batch] or "
                f"[batch, d]. Received: predictions.shape={tuple(predictions.shape)}"
            )
        membership = _as_column(membership, "membership", type(self).__name__)
        _check_batch(membership, predictions, "membership", type(self).__name__)
        if sample_weight is None:
            # 1 / batch, the value `ones / sum(ones)` has, in two ops instead of eight.
            _check_values(membership, None)
            count = ops.cast(ops.shape(membership)[0], "float32")
            return membership, predictions, ops.ones_like(membership) / count
        weights = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
        weights = _as_column(weights, "sample_weight", type(self).__name__)
        _check_batch(weights, predictions, "sample_weight", type(self).__name__)
        _check_values(membership, weights)
        normed_weights = divide_no_nan(weights, ops.sum(weights))
        return membership, predictions, normed_weights

    def get_config(self) -> dict:
        return {
            "predictions_transform": transforms.serialize_transform(self.predictions_transform),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if "predictions_transform" in config:
            config["predictions_transform"] = transforms.deserialize_transform(
                config["predictions_transform"]
            )
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _as_column(x, what: str, owner: str):
    if len(x.shape) == 1:
        return ops.expand_dims(x, -1)
    if len(x.shape) == 2 and x.shape[1] == 1:
        return x
    raise ValueError(
        f"{owner} expects `{what}` of shape [batch] or [batch, 1]. "
        f"Received: {what}.shape={tuple(x.shape)}"
    )


def _check_batch(x, predictions, what: str, owner: str):
    n, m = x.shape[0], predictions.shape[0]
    if n is not None and m is not None and n != m:
        raise ValueError(
            f"{owner}: `{what}` and `predictions` must have the same batch size. "
            f"Received: {what}.shape={tuple(x.shape)}, "
            f"predictions.shape={tuple(predictions.shape)}"
        )


def _check_values(membership, weights):
    if regkit_backend.is_concrete(membership):
        values = np.asarray(ops.convert_to_numpy(membership))
        bad = values[(values != 0.0) & (values != 1.0)]
        if bad.size:
            raise ValueError(
                "MinDiff `membership` must be 1.0 (sensitive group) or 0.0 (nonsensitive "
                f"group). Received values: {np.unique(bad)[:5].tolist()}"
            )
    if weights is not None and regkit_backend.is_concrete(weights):
        values = np.asarray(ops.convert_to_numpy(weights))
        if (values < 0).any() or not np.isfinite(values).all():
            raise ValueError(
                "MinDiff `sample_weight` must be finite and non-negative. Received values "
                f"such as: {values[(values < 0) | ~np.isfinite(values)][:5].tolist()}"
            )


def group_weights(membership, normed_weights):
    """Per-example weights of the sensitive (`a`) and nonsensitive (`b`) groups."""
    pos_mask = ops.cast(ops.equal(membership, 1.0), "float32")
    neg_mask = ops.cast(ops.equal(membership, 0.0), "float32")
    return normed_weights * pos_mask, normed_weights * neg_mask, pos_mask, neg_mask


def both_groups_present(a, b):
    return ops.logical_and(ops.sum(a) > 0.0, ops.sum(b) > 0.0)
