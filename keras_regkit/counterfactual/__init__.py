"""Counterfactual Logit Pairing for Keras 3 (TensorFlow Model Remediation's API).

Migrating from TFMR is a change of import:

    from tensorflow_model_remediation import counterfactual   # before (tf_keras only)
    from keras_regkit import counterfactual                   # after (Keras 3, any backend)

`counterfactual.keras.CounterfactualModel`, `counterfactual.keras.utils.pack_counterfactual_data`
and `counterfactual.losses.PairwiseMSELoss` keep their TFMR paths; the same objects are
also at `counterfactual.CounterfactualModel`, `counterfactual.pack_counterfactual_data`, ...
"""

from keras_regkit.counterfactual import keras, losses  # noqa: I001  (TFMR-style namespaces)
from keras_regkit.counterfactual.counterfactual_model import CounterfactualModel
from keras_regkit.counterfactual.counterfactual_py_dataset import CounterfactualPyDataset
from keras_regkit.counterfactual.input_utils import (
    CounterfactualPackedInputs,
    build_counterfactual_data,
    pack_counterfactual_data,
    unpack_counterfactual_data,
    unpack_original_inputs,
)
from keras_regkit.counterfactual.losses import (
    CounterfactualLoss,
    PairwiseAbsoluteDifferenceLoss,
    PairwiseCosineLoss,
    PairwiseMSELoss,
)
from keras_regkit.counterfactual.tabular import swap_sensitive_columns

__all__ = [
    "CounterfactualLoss",
    "CounterfactualModel",
    "CounterfactualPackedInputs",
    "CounterfactualPyDataset",
    "PairwiseAbsoluteDifferenceLoss",
    "PairwiseCosineLoss",
    "PairwiseMSELoss",
    "build_counterfactual_data",
    "keras",
    "losses",
    "pack_counterfactual_data",
    "swap_sensitive_columns",
    "unpack_counterfactual_data",
    "unpack_original_inputs",
]
