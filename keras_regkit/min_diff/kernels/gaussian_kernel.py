"""Gaussian (radial basis function) kernel."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit.min_diff.kernels.base_kernel import MinDiffKernel, validate_kernel_length


@keras.saving.register_keras_serializable(package="keras_regkit")
class GaussianKernel(MinDiffKernel):
    """Gaussian kernel `k(x, y) = exp(-||x - y||^2 / kernel_length^2)`.

    The formula of TensorFlow Model Remediation's `GaussianKernel` (note: no factor 2
    in the denominator). Used for MinDiff's MMD loss (Prost et al., "Toward a better
    trade-off between performance and fairness with kernel-based distribution
    matching", 2019, arXiv:1910.11779).

    Args:
        kernel_length: the length scale, a positive float. Too large loses the
            kernel's non-linearity; too small makes it sensitive to noise.
        tile_input: see `MinDiffKernel`.

    Example:

    >>> kernel = GaussianKernel(0.1)
    >>> np.round(keras.ops.convert_to_numpy(kernel([[0.0], [0.1]])), 4)  # e^-1 off the diagonal
    array([[1.    , 0.3679],
           [0.3679, 1.    ]], dtype=float32)
    """

    def __init__(self, kernel_length: float = 0.1, tile_input: bool = True):
        super().__init__(tile_input=tile_input)
        self.kernel_length = validate_kernel_length(kernel_length)

    def call(self, x, y):
        return ops.exp(-ops.sum(ops.square(x - y), axis=-1) / (self.kernel_length**2))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"kernel_length": self.kernel_length})
        return config
