"""keras-regkit: regularization and fairness (MinDiff) tools for Keras 3.

Every sub-package is one hop away: `keras_regkit.regularizers.ElasticNet`,
`keras_regkit.min_diff.MinDiffModel`, `keras_regkit.datasets.load_adult`, ...
Importing keras_regkit imports no deep-learning framework beyond what Keras's
configured backend imports.
"""

from keras_regkit import (
    callbacks,
    constraints,
    counterfactual,
    datasets,
    fairness,
    layers,
    min_diff,
    models,
    optimizers,
    recipes,
    regularizers,
    wrappers,
)
from keras_regkit.version import __version__

__all__ = [
    "__version__",
    "callbacks",
    "constraints",
    "counterfactual",
    "datasets",
    "fairness",
    "layers",
    "min_diff",
    "models",
    "optimizers",
    "recipes",
    "regularizers",
    "wrappers",
]
