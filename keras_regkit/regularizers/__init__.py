"""Weight regularizers Keras lacks. Keras's own L1, L2, L1L2 and OrthogonalRegularizer
remain the ones to use for those penalties; `get()` resolves both families."""

import keras

from keras_regkit.regularizers.elastic_net import ElasticNet
from keras_regkit.regularizers.group_lasso import GroupLasso

ALL_OBJECTS = {"ElasticNet": ElasticNet, "GroupLasso": GroupLasso}
ALIASES = {
    "elastic_net": ElasticNet,
    "elasticnet": ElasticNet,
    "group_lasso": GroupLasso,
    "grouplasso": GroupLasso,
}


def serialize(regularizer):
    return keras.saving.serialize_keras_object(regularizer)


def deserialize(config, custom_objects=None):
    return keras.saving.deserialize_keras_object(
        config, module_objects={**ALL_OBJECTS, **ALIASES}, custom_objects=custom_objects
    )


def get(identifier):
    """Returns a regularizer from a keras_regkit or Keras name, config dict or instance.

    Example:

    >>> type(get("elastic_net")).__name__  # keras_regkit
    'ElasticNet'
    >>> type(get("l2")).__name__  # falls back to keras.regularizers.get
    'L2'

    `keras.layers.Dense(kernel_regularizer="elastic_net")` needs an object: Keras's
    own lookup knows only its built-in names, so pass `get("elastic_net")`.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = ALIASES.get(identifier.lower()) or ALL_OBJECTS.get(identifier)
        if cls is not None:
            return cls()
        return keras.regularizers.get(identifier)
    if isinstance(identifier, dict):
        if identifier.get("class_name") in {**ALL_OBJECTS, **ALIASES}:
            return deserialize(identifier)
        return keras.regularizers.get(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(
        "Could not interpret regularizer identifier: expected a name, a config dict or a "
        f"callable. Received: identifier={identifier!r}"
    )


__all__ = ["ElasticNet", "GroupLasso", "deserialize", "get", "serialize"]
