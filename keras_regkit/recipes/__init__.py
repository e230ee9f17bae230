"""keras_regkit.recipes: rule-based regularization recipes for dense networks.

`recommend(problem_type, n_samples, n_features, depth)` returns a `Recipe` that
builds its own Keras objects (kernel regularizer, layers, training data,
callbacks); `keras-regkit compare` measures it against each technique alone.
"""

from keras_regkit.recipes.mix_up_py_dataset import MixUpPyDataset
from keras_regkit.recipes.recipe import PROBLEM_TYPES, Recipe, recommend

__all__ = ["MixUpPyDataset", "PROBLEM_TYPES", "Recipe", "recommend"]
