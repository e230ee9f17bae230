"""TFMR-compatible namespace: `min_diff.keras.MinDiffModel`, `min_diff.keras.utils.*`."""

from keras_regkit.min_diff.keras import utils
from keras_regkit.min_diff.min_diff_model import MinDiffModel

__all__ = ["MinDiffModel", "utils"]
