"""Maximum Mean Discrepancy MinDiff loss."""

from __future__ import annotations

import collections

import keras
from keras import ops

from keras_regkit.min_diff import kernels
from keras_regkit.min_diff.losses.base_loss import MinDiffLoss, divide_no_nan, group_weights

GroupMeans = collections.namedtuple(
    "GroupMeans",
    ["kernel_matrix", "a", "b", "pos_mask", "neg_mask", "pos_mean", "neg_mean", "pos_neg_mean"],
)
GroupMeans.__doc__ = """The weighted kernel means of `MMDLoss`: the kernel matrix, each group's
normalised weights (`a` sensitive, `b` nonsensitive) and masks, and the mean kernel value
over sensitive pairs, nonsensitive pairs and cross pairs."""


@keras.saving.register_keras_serializable(package="keras_regkit")
class MMDLoss(MinDiffLoss):
    """Maximum Mean Discrepancy between the predictions on two groups.

    The squared, biased (V-statistic) MMD estimate of TensorFlow Model
    Remediation's `MMDLoss` with weighted examples:

    `loss = E_ss[k] - 2 E_sn[k] + E_nn[k]`

    where `E_ss` is the weighted mean of the kernel over pairs of sensitive
    examples (diagonal included), `E_nn` over nonsensitive pairs and `E_sn` over
    cross pairs. It is 0 iff the two (empirical) distributions match. The square
    root is not taken: its gradient blows up near 0.

    Difference from TFMR: when one group is empty (or has zero total weight) in a
    batch, this loss is 0.0; TFMR returns the other group's mean kernel value,
    which is not a discrepancy and pushes predictions apart.

    References: Gretton et al., "A Kernel Method for the Two-Sample Problem",
    NeurIPS 2006; Prost et al., arXiv:1910.11779 (MinDiff).

    Args:
        kernel: "gaussian" (default), "laplacian", or a `MinDiffKernel`.
        predictions_transform: see `MinDiffLoss`.
        name: defaults to "mmd_loss".

    Example:

    >>> loss = MMDLoss("gaussian")
    >>> round(float(loss(membership=[[1.0], [0.0]], predictions=[[0.9], [0.1]])), 4)
    2.0
    """

    def __init__(self, kernel="gaussian", predictions_transform=None, name: str | None = None):
        super().__init__(predictions_transform=predictions_transform, name=name or "mmd_loss")
        self.kernel = kernels.get(kernel, "kernel")
        if self.kernel is None:
            raise ValueError("Invalid value for argument `kernel`: expected a kernel, not None.")

    def _group_means(self, membership, predictions, normed_weights) -> GroupMeans:
        kernel_matrix = self.kernel(predictions)
        a, b, pos_mask, neg_mask = group_weights(membership, normed_weights)
        # Each group's weights normalized to sum to 1 first (TFMR divides the weighted
        # sums by sum_a * sum_a, ... afterwards: the same value, but products of tiny
        # weights underflow to 0 in float32 and the means collapse to 0).
        a = divide_no_nan(a, ops.sum(a))
        b = divide_no_nan(b, ops.sum(b))
        kernel_a = ops.matmul(kernel_matrix, a)
        kernel_b = ops.matmul(kernel_matrix, b)
        pos_mean = ops.sum(a * kernel_a)
        neg_mean = ops.sum(b * kernel_b)
        pos_neg_mean = ops.sum(a * kernel_b)
        return GroupMeans(kernel_matrix, a, b, pos_mask, neg_mask, pos_mean, neg_mean, pos_neg_mean)

    def call(self, membership, predictions, normed_weights):
        kernel_matrix = self.kernel(predictions)
        a, b, _, _ = group_weights(membership, normed_weights)
        sum_a, sum_b = ops.sum(a), ops.sum(b)
        # E_ss[k] - 2 E_sn[k] + E_nn[k] = v^T K v with v = a / sum(a) - b / sum(b): one
        # matrix-vector product (not three quadratic forms), and no cancellation between
        # the three means. An empty group (sum 0, all its weights 0) gives 0 below.
        v = a / ops.where(sum_a > 0.0, sum_a, 1.0) - b / ops.where(sum_b > 0.0, sum_b, 1.0)
        loss = ops.sum(v * ops.matmul(kernel_matrix, v))
        present = ops.logical_and(sum_a > 0.0, sum_b > 0.0)
        return ops.where(present, loss, ops.zeros_like(loss))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"kernel": keras.saving.serialize_keras_object(self.kernel)})
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if isinstance(config.get("kernel"), dict):
            config["kernel"] = keras.saving.deserialize_keras_object(config["kernel"])
        return super().from_config(config)
