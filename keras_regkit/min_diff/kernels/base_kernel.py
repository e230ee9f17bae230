"""Base class of the MinDiff kernels."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit import _validation


@keras.saving.register_keras_serializable(package="keras_regkit")
class MinDiffKernel:
    """A positive-definite kernel `k(x, y)` between two batches of predictions.

    Same contract as TensorFlow Model Remediation's `min_diff.losses.MinDiffKernel`:
    `kernel(x, y)` with `x` of shape `[N, D]` and `y` of shape `[M, D]` returns the
    `[N, M]` matrix of kernel values (`y` defaults to `x`). With
    `tile_input=False` the inputs are taken as already broadcastable,
    `[N, 1, D]` and `[1, M, D]`.

    Subclasses implement `call(x, y)` on the broadcast inputs and reduce the last axis.

    Args:
        tile_input: whether to broadcast `x` against `y` before `call`.
    """

    def __init__(self, tile_input: bool = True):
        self.tile_input = _validation.check_bool("tile_input", tile_input)

    def __call__(self, x, y=None):
        x = ops.convert_to_tensor(x)
        y = x if y is None else ops.convert_to_tensor(y)
        if self.tile_input:
            x = ops.expand_dims(x, 1)
            y = ops.expand_dims(y, 0)
        return self.call(x, y)

    def call(self, x, y):
        raise NotImplementedError(f"{type(self).__name__} must implement `call(x, y)`.")

    def get_config(self) -> dict:
        return {"tile_input": self.tile_input}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def validate_kernel_length(kernel_length) -> float:
    return _validation.check_float("kernel_length", kernel_length, 0, min_inclusive=False)
