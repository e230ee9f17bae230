"""keras_regkit.optimizers: optimizer wrappers."""

from keras_regkit.optimizers.gradient_noise import GradientNoise

__all__ = ["GradientNoise"]
