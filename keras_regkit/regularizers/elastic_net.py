"""Elastic Net weight penalty."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit import _validation


@keras.saving.register_keras_serializable(package="keras_regkit")
class ElasticNet(keras.regularizers.Regularizer):
    """Elastic Net penalty: a convex mix of L1 and squared L2 (Zou & Hastie, 2005).

    `penalty = factor * (l1_ratio * sum(|w|) + (1 - l1_ratio) * sum(w ** 2))`

    Reference: H. Zou and T. Hastie, "Regularization and variable selection via
    the elastic net", JRSS-B 67(2), 2005.

    Relation to other APIs:

    - Keras: `ElasticNet(factor, l1_ratio)` equals
      `keras.regularizers.L1L2(l1=factor * l1_ratio, l2=factor * (1 - l1_ratio))`;
      it is parametrised by strength and mix, so tuning one does not move the other.
    - scikit-learn: `sklearn.linear_model.ElasticNet(alpha, l1_ratio=rho)` minimises
      `1/(2n) ||y - Xw||^2 + alpha * rho * ||w||_1 + alpha * (1 - rho) / 2 * ||w||^2`.
      With a mean-squared-error loss (`1/n ||y - Xw||^2`, twice sklearn's data
      term) the same coefficients minimise the Keras objective with
      `factor = alpha * (1 + rho)` and `l1_ratio = 2 * rho / (1 + rho)`
      (`tests/regularizers/test_elastic_net.py` checks this against sklearn).

    Args:
        factor: overall strength, a non-negative float.
        l1_ratio: share of the L1 term, in [0, 1]. 1 gives pure L1 (lasso),
            0 gives pure squared L2 (ridge).

    Example:

    >>> layer = keras.layers.Dense(4, kernel_regularizer=ElasticNet(0.01, l1_ratio=0.3))
    """

    def __init__(self, factor: float = 0.01, l1_ratio: float = 0.5):
        self.factor = _validate_factor(factor)
        self.l1_ratio = _validation.check_probability("l1_ratio", l1_ratio)

    def __call__(self, x):
        # Two fused reductions, the same work as keras.regularizers.L1L2.
        l1 = self.factor * self.l1_ratio
        l2 = self.factor * (1.0 - self.l1_ratio)
        return l1 * ops.sum(ops.absolute(x)) + l2 * ops.sum(ops.square(x))

    def get_config(self):
        return {"factor": self.factor, "l1_ratio": self.l1_ratio}


def _validate_factor(factor) -> float:
    return _validation.check_float("factor", factor, 0)
