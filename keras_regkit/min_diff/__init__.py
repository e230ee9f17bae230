"""MinDiff fairness regularization for Keras 3 (TensorFlow Model Remediation's API).

Migrating from TFMR is a change of import:

    from tensorflow_model_remediation import min_diff   # before (tf_keras only)
    from keras_regkit import min_diff                   # after (Keras 3, any backend)

`min_diff.keras.MinDiffModel`, `min_diff.keras.utils.pack_min_diff_data` and
`min_diff.losses.MMDLoss` keep their TFMR paths; the same objects are also at
`min_diff.MinDiffModel`, `min_diff.pack_min_diff_data`, ...
"""

from keras_regkit.min_diff import (
    keras,  # noqa: E402  (TFMR-style namespace)
    kernels,
    losses,
)
from keras_regkit.min_diff.input_utils import (
    MinDiffPackedInputs,
    build_min_diff_dataset,
    pack_min_diff_data,
    unpack_min_diff_data,
    unpack_original_inputs,
)
from keras_regkit.min_diff.losses import (
    AbsoluteCorrelationLoss,
    AbsoluteDifferenceLoss,
    AdjustedMMDLoss,
    GaussianKernel,
    LaplacianKernel,
    MinDiffKernel,
    MinDiffLoss,
    MMDLoss,
    PredictionRateLoss,
)
from keras_regkit.min_diff.min_diff_model import MinDiffModel
from keras_regkit.min_diff.min_diff_py_dataset import MinDiffPyDataset

__all__ = [
    "AbsoluteCorrelationLoss",
    "AbsoluteDifferenceLoss",
    "AdjustedMMDLoss",
    "GaussianKernel",
    "LaplacianKernel",
    "MMDLoss",
    "MinDiffKernel",
    "MinDiffLoss",
    "MinDiffModel",
    "MinDiffPackedInputs",
    "MinDiffPyDataset",
    "PredictionRateLoss",
    "build_min_diff_dataset",
    "kernels",
    "keras",
    "losses",
    "pack_min_diff_data",
    "unpack_min_diff_data",
    "unpack_original_inputs",
]
