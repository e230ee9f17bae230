"""Laplacian kernel."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit.min_diff.kernels.base_kernel import MinDiffKernel, validate_kernel_length

# TFMR adds this inside the norm so the gradient at x == y is defined.
_EPSILON = 1.0e-8


@keras.saving.register_keras_serializable(package="keras_regkit")
class LaplacianKernel(MinDiffKernel):
    """Laplacian kernel `k(x, y) = exp(-||x - y + 1e-8||_2 / kernel_length)`.

    The formula of TensorFlow Model Remediation's `LaplacianKernel`, including its
    1e-8 shift that keeps the gradient of the norm finite where `x == y`. Used for
    MinDiff's MMD loss (Prost et al., 2019, arXiv:1910.11779).

    Args:
        kernel_length: the length scale, a positive float.
        tile_input: see `MinDiffKernel`.

    Example:

    >>> kernel = LaplacianKernel(0.1)
    >>> np.round(keras.ops.convert_to_numpy(kernel([[0.0], [0.1]])), 4)  # e^-1 off the diagonal
    array([[1.    , 0.3679],
           [0.3679, 1.    ]], dtype=float32)
    """

    def __init__(self, kernel_length: float = 0.1, tile_input: bool = True):
        super().__init__(tile_input=tile_input)
        self.kernel_length = validate_kernel_length(kernel_length)

    def call(self, x, y):
        diff = x - y + _EPSILON
        return ops.exp(-ops.sqrt(ops.sum(ops.square(diff), axis=-1)) / self.kernel_length)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"kernel_length": self.kernel_length})
        return config
