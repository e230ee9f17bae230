"""Kernels for MinDiff's MMD losses."""

import keras

from keras_regkit.min_diff.kernels.base_kernel import MinDiffKernel
from keras_regkit.min_diff.kernels.gaussian_kernel import GaussianKernel
from keras_regkit.min_diff.kernels.laplacian_kernel import LaplacianKernel

_NAMES = {
    "gauss": GaussianKernel,
    "gaussian": GaussianKernel,
    "laplace": LaplacianKernel,
    "laplacian": LaplacianKernel,
}


def get(identifier, argument_name: str = "kernel"):
    """Returns a `MinDiffKernel` from a name ("gaussian", "laplacian"), config or instance."""
    if identifier is None or isinstance(identifier, MinDiffKernel):
        return identifier
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise ValueError(
                f"Unknown kernel name for argument `{argument_name}`: expected one of "
                f"{sorted(_NAMES)} (case-insensitive) or a MinDiffKernel instance. "
                f"Received: {argument_name}={identifier!r}"
            )
        return cls()
    if isinstance(identifier, dict):
        kernel = keras.saving.deserialize_keras_object(identifier)
        if isinstance(kernel, MinDiffKernel):
            return kernel
    raise ValueError(
        f"Invalid value for argument `{argument_name}`: expected a kernel name or a "
        f"MinDiffKernel instance. Received: {argument_name}={identifier!r} "
        f"of type {type(identifier).__name__}"
    )


__all__ = ["GaussianKernel", "LaplacianKernel", "MinDiffKernel", "get"]
