"""keras_regkit.models: model wrappers."""

from keras_regkit.models.adversarial_model import AdversarialModel

__all__ = ["AdversarialModel"]
