"""Serializable prediction transforms for MinDiff (no lambdas: configs reload safely)."""

from __future__ import annotations

import keras


def validate_transform(transform, argument_name: str = "predictions_transform"):
    """Checks and normalises a `predictions_transform` argument.

    Accepted: None; a registered activation name (`"sigmoid"`, `"softmax"`, any
    `keras.activations` name or registered activation); an output key (str) or index
    (int) selecting one output of a dict- or list-output model; a registered
    serializable callable object; or a list of these, applied in order (e.g.
    `["logits", "sigmoid"]`).

    Returns:
        The normalised transform (None, a str/int, an object, or a list of them).
    """
    if transform is None:
        return None
    if isinstance(transform, (list, tuple)):
        if not transform:
            raise ValueError(
                f"Invalid value for argument `{argument_name}`: expected a non-empty list. "
                f"Received: {argument_name}={transform!r}"
            )
        return [validate_transform(t, argument_name) for t in transform]
    if isinstance(transform, (str, int)) and not isinstance(transform, bool):
        return transform
    if isinstance(transform, dict):
        return validate_transform(keras.saving.deserialize_keras_object(transform))
    if callable(transform) and hasattr(transform, "get_config"):
        return transform
    raise ValueError(
        f"Invalid value for argument `{argument_name}`: expected a registered name "
        "(e.g. 'sigmoid'), an output key or index, a registered serializable object, or a "
        "list of these. Lambdas and plain functions are refused because a saved model "
        f"could not reload them with safe_mode=True. Received: {argument_name}={transform!r}"
    )


def apply_transform(transform, predictions):
    """Applies a transform normalised by `validate_transform`."""
    if transform is None:
        return predictions
    if isinstance(predictions, (list, tuple)) and not all(hasattr(p, "shape") for p in predictions):
        predictions = keras.ops.convert_to_tensor(predictions)  # nested Python numbers
    if isinstance(transform, list):
        for t in transform:
            predictions = apply_transform(t, predictions)
        return predictions
    if isinstance(transform, (str, int)):
        if isinstance(predictions, dict):
            if transform not in predictions:
                raise ValueError(
                    f"`predictions_transform`={transform!r} is not a key of the model's "
                    f"outputs: {sorted(predictions)}"
                )
            return predictions[transform]
        if isinstance(predictions, (list, tuple)):
            if not isinstance(transform, int):
                raise ValueError(
                    "The model returns a list of outputs: `predictions_transform` must "
                    f"select one by index. Received: predictions_transform={transform!r}"
                )
            return predictions[transform]
        return keras.activations.get(transform)(predictions)
    return transform(predictions)


def serialize_transform(transform):
    if transform is None or isinstance(transform, (str, int)):
        return transform
    if isinstance(transform, list):
        return [serialize_transform(t) for t in transform]
    return keras.saving.serialize_keras_object(transform)


def deserialize_transform(config):
    if isinstance(config, list):
        return [deserialize_transform(c) for c in config]
    if isinstance(config, dict):
        return keras.saving.deserialize_keras_object(config)
    return config
