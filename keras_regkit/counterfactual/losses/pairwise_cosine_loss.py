"""Pairwise cosine loss."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit.counterfactual.losses.base_loss import CounterfactualLoss


def _l2_normalize(x):
    # tf.math.l2_normalize: x / sqrt(max(sum(x^2), 1e-12)), so a zero vector stays 0.
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-12))


@keras.saving.register_keras_serializable(package="keras_regkit")
class PairwiseCosineLoss(CounterfactualLoss):
    """Negative cosine similarity between the outputs on each example and its counterfactual.

    `-cos(f(x), f(x'))` over the last axis (as `keras.losses.CosineSimilarity`: -1 for
    outputs pointing the same way, 0 for orthogonal ones), then weighted and averaged
    over pairs (see `CounterfactualLoss`). TFMR's `counterfactual.losses.PairwiseCosineLoss`.
    It compares directions only, so it suits multi-dimensional outputs (logits of several
    classes, embeddings); on one output per example it sees only the sign.

    Args:
        name: defaults to "pairwise_cosine_loss".

    Example:

    >>> loss = PairwiseCosineLoss()
    >>> round(float(loss([[1.0, 0.0], [1.0, 1.0]], [[0.0, 2.0], [2.0, 2.0]])), 4)
    -0.5
    """

    def __init__(self, name: str | None = None):
        super().__init__(name=name or "pairwise_cosine_loss")

    def per_pair(self, original, counterfactual):
        return -ops.sum(_l2_normalize(original) * _l2_normalize(counterfactual), axis=-1)
