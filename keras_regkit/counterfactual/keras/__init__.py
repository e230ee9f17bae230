"""TFMR-compatible namespace: `counterfactual.keras.CounterfactualModel`, `.keras.utils.*`."""

from keras_regkit.counterfactual.counterfactual_model import CounterfactualModel
from keras_regkit.counterfactual.keras import utils

__all__ = ["CounterfactualModel", "utils"]
