"""keras_regkit.optimizers: optimizer wrappers."""

from keras_regkit.optimizers.adaptive_gradient_clipping import AdaptiveGradientClipping
from keras_regkit.optimizers.gradient_centralization import GradientCentralization
from keras_regkit.optimizers.gradient_noise import GradientNoise
from keras_regkit.optimizers.lookahead import Lookahead

__all__ = ["AdaptiveGradientClipping", "GradientCentralization", "GradientNoise", "Lookahead"]
