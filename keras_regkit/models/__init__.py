"""keras_regkit.models: model wrappers."""

from keras_regkit.models.adversarial_debiasing_model import AdversarialDebiasingModel
from keras_regkit.models.adversarial_model import AdversarialModel
from keras_regkit.models.sharpness_aware_model import SharpnessAwareModel

__all__ = ["AdversarialDebiasingModel", "AdversarialModel", "SharpnessAwareModel"]
