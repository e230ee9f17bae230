"""Streaming counterfactual flip rate and mean score gap."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit import _validation


class _CounterfactualPairMetric(keras.metrics.Metric):
    """Weighted mean of a per-pair value over all batches seen.

    `y_pred` holds the pair in its last axis, shape `(batch_size, 2)`: column 0 the score
    on an example, column 1 the score on its counterfactual (e.g. a model that returns
    `ops.concatenate([f(x), f(x_counterfactual)], axis=-1)`). `y_true` is not read. Before
    any example with positive weight, `result()` is 0 (like `keras.metrics.Mean`).

    Why `update_state(y_true, y_pred, sample_weight)` with the pair in `y_pred` rather than
    `update_state(y_pred_original, y_pred_counterfactual)`: `model.compile(metrics=...)`
    calls every metric with `(y_true, y_pred, sample_weight)`, so only this signature lets
    the metrics run inside `fit`/`evaluate` (and XLA-compiled steps) as well as by hand.
    Outside a model, stack the two score vectors: `update_state(None,
    ops.stack([p, p_cf], axis=-1), w)`.
    """

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.weight = self.add_variable(shape=(), initializer="zeros", name="weight")

    def _per_pair(self, original, counterfactual):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) != 2 or y_pred.shape[-1] != 2:
            raise _validation.invalid(
                "y_pred",
                f"shape (batch_size, 2) for {type(self).__name__}: the score on each example "
                "in column 0 and on its counterfactual in column 1",
                received=f"y_pred of shape {tuple(y_pred.shape)}",
            )
        y_pred = ops.cast(y_pred, "float32")
        values = ops.cast(self._per_pair(y_pred[:, 0], y_pred[:, 1]), self.dtype)
        weights = ops.ones_like(values)
        if sample_weight is not None:
            weights = ops.reshape(ops.cast(sample_weight, self.dtype), (-1,))
        self.total.assign_add(ops.sum(values * weights))
        self.weight.assign_add(ops.sum(weights))

    def result(self):
        total = ops.convert_to_tensor(self.total)
        weight = ops.convert_to_tensor(self.weight)
        safe = ops.where(weight > 0, weight, ops.ones_like(weight))
        return ops.where(weight > 0, total / safe, ops.zeros_like(total))

    def reset_state(self):
        self.total.assign(0.0)
        self.weight.assign(0.0)


@keras.saving.register_keras_serializable(package="keras_regkit")
class CounterfactualFlipRate(_CounterfactualPairMetric):
    """Streaming `keras_regkit.fairness.counterfactual_flip_rate`.

    The weighted share of pairs whose thresholded decision differs. `y_pred` has shape
    `(batch_size, 2)`: the score on each example, then on its counterfactual; `y_true` is
    not read. Over many batches the result equals the function on all of them.

    Args:
        threshold: a score above it is a positive decision (a finite float).
        name: defaults to "counterfactual_flip_rate".
        dtype: the state's dtype.

    Example:

    >>> metric = CounterfactualFlipRate()
    >>> metric.update_state(None, [[0.2, 0.7], [0.6, 0.6]])
    >>> float(metric.result())
    0.5
    """

    def __init__(self, threshold: float = 0.5, name="counterfactual_flip_rate", dtype=None):
        self.threshold = _validation.check_float("threshold", threshold)
        super().__init__(name=name, dtype=dtype)

    def _per_pair(self, original, counterfactual):
        return ops.not_equal(original > self.threshold, counterfactual > self.threshold)

    def get_config(self):
        config = super().get_config()
        config.update({"threshold": self.threshold})
        return config


@keras.saving.register_keras_serializable(package="keras_regkit")
class MeanCounterfactualScoreGap(_CounterfactualPairMetric):
    """Streaming `keras_regkit.fairness.mean_counterfactual_score_gap`.

    The weighted mean of `|score(x) - score(x_counterfactual)|`. `y_pred` has shape
    `(batch_size, 2)` as for `CounterfactualFlipRate`; `y_true` is not read.

    Args:
        name: defaults to "mean_counterfactual_score_gap".
        dtype: the state's dtype.

    Example:

    >>> metric = MeanCounterfactualScoreGap()
    >>> metric.update_state(None, [[0.2, 0.5], [0.6, 0.5]])
    >>> round(float(metric.result()), 6)
    0.2
    """

    def __init__(self, name="mean_counterfactual_score_gap", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _per_pair(self, original, counterfactual):
        return ops.absolute(original - counterfactual)
