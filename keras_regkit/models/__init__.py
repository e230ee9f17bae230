"""keras_regkit.models: model wrappers."""

from keras_regkit.models.adversarial_model import AdversarialModel
from keras_regkit.models.sharpness_aware_model import SharpnessAwareModel

__all__ = ["AdversarialModel", "SharpnessAwareModel"]
