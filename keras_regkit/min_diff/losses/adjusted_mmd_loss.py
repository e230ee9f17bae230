"""Variance-adjusted MMD MinDiff loss."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit.min_diff.losses.base_loss import both_groups_present, divide_no_nan
from keras_regkit.min_diff.losses.mmd_loss import MMDLoss

# TFMR's floor on the variance estimate.
_EPSILON = 1e-2


@keras.saving.register_keras_serializable(package="keras_regkit")
class AdjustedMMDLoss(MMDLoss):
    """MMD divided by the (stop-gradient) variance of the two group means.

    TensorFlow Model Remediation's `AdjustedMMDLoss`: the MMD of `MMDLoss` is
    scaled by `1 / (Var[mean_s] + Var[mean_n] + 0.01)`, the standard errors of the
    weighted group means of the kernel, so the penalty is measured relative to the
    noise of its own estimate. Empty groups give 0.0, as for `MMDLoss`.

    Args:
        kernel: "gaussian" (default), "laplacian", or a `MinDiffKernel`.
        predictions_transform: see `MinDiffLoss`.
        name: defaults to "adjusted_mmd_loss".

    Example:

    >>> loss = AdjustedMMDLoss()
    >>> round(float(loss(membership=[[1.0], [0.0], [1.0]], predictions=[[0.9], [0.1], [0.7]])), 3)
    5.909
    """

    def __init__(self, kernel="gaussian", predictions_transform=None, name: str | None = None):
        super().__init__(
            kernel=kernel,
            predictions_transform=predictions_transform,
            name=name or "adjusted_mmd_loss",
        )

    def call(self, membership, predictions, normed_weights):
        m = self._group_means(membership, predictions, normed_weights)
        kernel_matrix, a, b = m.kernel_matrix, m.a, m.b
        diag = ops.expand_dims(ops.diagonal(kernel_matrix), -1)

        def var_of_mean(weights, mask, mean):
            square_mean = divide_no_nan(ops.sum(weights * diag), ops.sum(weights))
            var = square_mean - mean
            n = ops.sum(mask)
            weights_mean = divide_no_nan(ops.sum(weights), n)
            weights_square_mean = divide_no_nan(ops.sum(weights * weights), n)
            return divide_no_nan(var * weights_square_mean, n * weights_mean * weights_mean)

        var = ops.stop_gradient(
            var_of_mean(a, m.pos_mask, m.pos_mean) + var_of_mean(b, m.neg_mask, m.neg_mean)
        )
        loss = divide_no_nan(m.pos_mean - 2.0 * m.pos_neg_mean + m.neg_mean, var + _EPSILON)
        return ops.where(both_groups_present(a, b), loss, ops.zeros_like(loss))
