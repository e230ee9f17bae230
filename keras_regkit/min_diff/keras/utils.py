"""TFMR-compatible path of the MinDiff input utilities."""

from keras_regkit.min_diff.input_utils import (
    MinDiffPackedInputs,
    build_min_diff_dataset,
    pack_min_diff_data,
    unpack_min_diff_data,
    unpack_original_inputs,
)
from keras_regkit.min_diff.min_diff_py_dataset import MinDiffPyDataset

__all__ = [
    "MinDiffPackedInputs",
    "MinDiffPyDataset",
    "build_min_diff_dataset",
    "pack_min_diff_data",
    "unpack_min_diff_data",
    "unpack_original_inputs",
]
