"""TFMR-compatible path of the counterfactual input utilities."""

from keras_regkit.counterfactual.counterfactual_model import CounterfactualModel
from keras_regkit.counterfactual.counterfactual_py_dataset import CounterfactualPyDataset
from keras_regkit.counterfactual.input_utils import (
    CounterfactualPackedInputs,
    build_counterfactual_data,
    pack_counterfactual_data,
    unpack_counterfactual_data,
    unpack_original_inputs,
)

__all__ = [
    "CounterfactualModel",
    "CounterfactualPackedInputs",
    "CounterfactualPyDataset",
    "build_counterfactual_data",
    "pack_counterfactual_data",
    "unpack_counterfactual_data",
    "unpack_original_inputs",
]
