"""Element-wise value bounds for weights."""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_regkit import _validation


@keras.saving.register_keras_serializable(package="keras_regkit")
class ValueRange(keras.constraints.Constraint):
    """Clips every weight into `[min_value, max_value]` after each update.

    This bounds values, element by element (projected gradient descent onto a
    box). Keras's `MinMaxNorm` bounds the *norm* of each weight vector instead.
    Box constraints on weights appear e.g. as weight clipping in WGAN
    (Arjovsky et al., ICML 2017).

    Args:
        min_value: lower bound, or None for no lower bound.
        max_value: upper bound, or None for no upper bound.

    Example:

    >>> layer = keras.layers.Dense(4, kernel_constraint=ValueRange(-0.1, 0.1))
    """

    def __init__(self, min_value: float | None = None, max_value: float | None = None):
        for name, value in (("min_value", min_value), ("max_value", max_value)):
            # Infinite bounds are allowed: they leave that side open.
            if value is not None and (not _validation.is_number(value) or math.isnan(value)):
                raise _validation.invalid(name, "a float or None", value)
        if min_value is None and max_value is None:
            raise ValueError(
                "ValueRange needs at least one bound. Received: min_value=None, max_value=None"
            )
        if min_value is not None and max_value is not None and min_value > max_value:
            raise ValueError(
                "Invalid bounds: expected min_value <= max_value. "
                f"Received: min_value={min_value}, max_value={max_value}"
            )
        self.min_value = None if min_value is None else float(min_value)
        self.max_value = None if max_value is None else float(max_value)

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        if self.min_value is not None:
            w = ops.maximum(w, ops.cast(self.min_value, w.dtype))
        if self.max_value is not None:
            w = ops.minimum(w, ops.cast(self.max_value, w.dtype))
        return w

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value}
