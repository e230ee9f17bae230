"""Weight constraints Keras lacks (Keras's MaxNorm, NonNeg, UnitNorm, MinMaxNorm stay
the ones to use for norms)."""

from keras_regkit.constraints.compose import Compose
from keras_regkit.constraints.value_range import ValueRange

__all__ = ["Compose", "ValueRange"]
