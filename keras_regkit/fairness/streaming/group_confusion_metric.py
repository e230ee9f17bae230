"""Base class of the streaming fairness metrics: per-group weighted confusion counts."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit.fairness import _grouping

# What every metric's docstring says about its inputs, filled in for each class
# (as Keras fills `{{base_optimizer_keyword_args}}` into its optimizers' docstrings).
_USAGE_DOC = """Equals `keras_regkit.fairness.{function}`
    (and Fairlearn's function of the same name) on all the samples seen
    since the last `reset_state()`, with the same edge cases, so it can be
    used in `model.compile(metrics=...)`, `model.evaluate` and with
    `jit_compile=True` on every backend.

    The sensitive attribute reaches the metric through `y_true`, which must
    have shape `(batch_size, 2)`: the binary label in column 0 and the integer
    group id in `[0, num_groups)` in column 1 (build the ids with
    `keras_regkit.fairness.encode_groups`). Ids outside that range are
    ignored; groups with no (non-zero weighted) samples are skipped. `y_pred`
    holds one score or probability per sample and `y_pred > threshold` is a
    positive prediction. `sample_weight` weights the samples.

    To train with an ordinary loss on the labels while the metric sees the
    packed targets, give the model a second output that repeats the
    prediction and put the loss on the first output only:

    ```python
    inputs = keras.Input((num_features,))
    probability = keras.layers.Dense(1, activation="sigmoid")(inputs)
    model = keras.Model(
        inputs, {"label": probability, "fairness": keras.layers.Identity()(probability)}
    )
    model.compile(
        optimizer="adam",
        loss={"label": "binary_crossentropy"},
        metrics={"fairness": [keras_regkit.fairness.{cls}(num_groups)]},
    )
    group_ids, groups = keras_regkit.fairness.encode_groups(sensitive_features)
    model.fit(x, {"label": y, "fairness": np.stack([y, group_ids], axis=-1)})
    ```

    Args:
        num_groups: the number of groups (group ids run from 0 to
            `num_groups - 1`).
        threshold: float; scores above it are positive predictions. Use 0.0
            for logits.
        method: `"between_groups"` (default) or `"to_overall"`.
{agg}        name: name of the metric instance.
        dtype: dtype of the metric's variables and result."""
_AGG_DOC = '        agg: `"worst_case"` (default) or `"mean"`.\n'


class GroupConfusionMetric(keras.metrics.Metric):
    """Accumulates weighted confusion counts per group; subclasses aggregate them.

    Not used directly: see `DemographicParityDifference` and its siblings, which
    are this class with a row of the table below filled in.
    The metric reads `y_true` of shape `(batch_size, 2)`: column 0 holds the
    binary label, column 1 the integer group id in `[0, num_groups)` (see
    `keras_regkit.fairness.encode_groups`). `y_pred` holds one score or
    probability per sample; `y_pred > threshold` is a positive prediction.

    State: one `(4, num_groups)` variable with the weighted positives,
    negatives, true positives and false positives of every group, so the
    result over many batches is exactly the functional metric on all of them.
    Group ids outside `[0, num_groups)` are ignored. A group that has not
    received any (non-zero weighted) sample yet is skipped, like an unobserved
    group in the functional API.
    """

    # The table: which per-group rate is compared ("selection_rate",
    # "true_positive_rate", "false_positive_rate"; None for both TPR and FPR, as
    # equalized odds), how ("difference" or "ratio"), and the direction Keras's
    # EarlyStopping/ModelCheckpoint (and MultiMetricEarlyStopping) read for
    # mode="auto" ("down": gaps shrink, "up": ratios grow).
    _group_rate: str | None = None
    _aggregation: str = "difference"
    _direction: str = "down"
    _default_name: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__ and "{{streaming_fairness_usage}}" in cls.__doc__:
            usage = (
                _USAGE_DOC.replace("{function}", cls._default_name)
                .replace("{cls}", cls.__name__)
                .replace("{agg}", _AGG_DOC if cls._group_rate is None else "")
            )
            cls.__doc__ = cls.__doc__.replace("{{streaming_fairness_usage}}", usage)

    def __init__(
        self,
        num_groups: int,
        threshold: float = 0.5,
        method: str = "between_groups",
        name: str | None = None,
        dtype=None,
    ):
        num_groups = _validation.check_int("num_groups", num_groups, 1)
        threshold = _grouping.check_threshold(threshold, allow_none=False)
        _grouping.check_method(method)
        super().__init__(name=name or self._default_name, dtype=dtype)
        self.num_groups = num_groups
        self.threshold = threshold
        self.method = method
        self.confusion = self.add_variable(
            shape=(4, self.num_groups), initializer="zeros", name="group_confusion"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_true.shape) < 1 or y_true.shape[-1] != 2:
            raise ValueError(
                f"Invalid value for argument `y_true` of {type(self).__name__}: expected "
                "shape (batch_size, 2), the label in column 0 and the integer group id "
                "in column 1 (e.g. `np.stack([labels, group_ids], axis=-1)`). "
                f"Received: y_true with shape {tuple(y_true.shape)}"
            )
        if len(y_pred.shape) > 1 and y_pred.shape[-1] not in (1, None):
            raise ValueError(
                f"Invalid value for argument `y_pred` of {type(self).__name__}: expected one "
                "score per sample, shape (batch_size,) or (batch_size, 1). "
                f"Received: y_pred with shape {tuple(y_pred.shape)}"
            )
        y_true = ops.reshape(y_true, (-1, 2))
        labels = ops.cast(ops.greater(y_true[:, 0], 0.5), self.dtype)
        groups = ops.cast(ops.round(ops.cast(y_true[:, 1], "float32")), "int32")
        predicted = ops.cast(
            ops.greater(ops.cast(ops.reshape(y_pred, (-1,)), "float32"), self.threshold),
            self.dtype,
        )
        weights = ops.ones_like(labels)
        if sample_weight is not None:
            weights = ops.reshape(ops.cast(sample_weight, self.dtype), (-1,))
        positives = labels * weights
        negatives = (1 - labels) * weights
        stats = ops.stack(
            [positives, negatives, positives * predicted, negatives * predicted], axis=0
        )
        members = ops.cast(
            ops.equal(ops.expand_dims(groups, 1), ops.arange(self.num_groups, dtype="int32")),
            self.dtype,
        )
        # A masked sum rather than a matmul: exact in float32 on every device.
        self.confusion.assign_add(ops.sum(ops.expand_dims(stats, -1) * members, axis=1))

    # Rates and aggregations, mirroring `keras_regkit.fairness._grouping` with keras.ops.

    def _nan(self):
        return ops.convert_to_tensor(float("nan"), dtype=self.dtype)

    def _divide(self, numerator, denominator, empty):
        safe = ops.where(denominator > 0, denominator, ops.ones_like(denominator))
        return ops.where(denominator > 0, numerator / safe, empty)

    def _rate(self, rate, positives, negatives, true_positives, false_positives):
        weight = positives + negatives
        if rate == "selection_rate":
            return self._divide(true_positives + false_positives, weight, self._nan())
        # A group without positives (negatives) has a TPR (FPR) of 0, as in Fairlearn.
        numerator, denominator = (
            (true_positives, positives)
            if rate == "true_positive_rate"
            else (false_positives, negatives)
        )
        value = self._divide(numerator, denominator, ops.zeros_like(weight))
        return ops.where(weight > 0, value, self._nan())

    def group_rates(self, rate: str):
        """`(per_group, overall)` values of a rate: `"selection_rate"`,
        `"true_positive_rate"` or `"false_positive_rate"`. Per-group values have
        shape `(num_groups,)`, NaN for groups without any weight."""
        confusion = ops.convert_to_tensor(self.confusion)
        by_group = self._rate(rate, *(confusion[i] for i in range(4)))
        overall = self._rate(rate, *(ops.sum(confusion[i]) for i in range(4)))
        return by_group, overall

    def _difference(self, values, overall):
        valid = ops.logical_not(ops.isnan(values))
        inf = ops.convert_to_tensor(float("inf"), dtype=self.dtype)
        if self.method == "between_groups":
            result = ops.max(ops.where(valid, values, -inf)) - ops.min(
                ops.where(valid, values, inf)
            )
        else:
            result = ops.max(ops.where(valid, ops.abs(values - overall), -inf))
            result = ops.where(ops.isnan(overall), self._nan(), result)
        return ops.where(ops.any(valid), result, self._nan())

    def _ratio(self, values, overall):
        nan = self._nan()
        inf = ops.convert_to_tensor(float("inf"), dtype=self.dtype)
        if self.method == "between_groups":
            valid = ops.logical_not(ops.isnan(values))
            largest = ops.max(ops.where(valid, values, -inf))
            smallest = ops.min(ops.where(valid, values, inf))
            result = self._divide(smallest, largest, nan)
            return ops.where(ops.any(valid), result, nan)
        # Fairlearn: group / overall, inverted above 1; 0 / 0 is NaN, x / 0 gives 0.
        safe = ops.where(overall != 0, overall, ops.ones_like(overall))
        ratios = ops.where(overall != 0, values / safe, ops.where(values > 0, inf, nan))
        ratios = ops.where(ratios > 1, 1 / ratios, ratios)
        valid = ops.logical_not(ops.isnan(ratios))
        result = ops.min(ops.where(valid, ratios, inf))
        return ops.where(ops.any(valid), result, nan)

    def _disparity(self, rate: str, kind: str):
        by_group, overall = self.group_rates(rate)
        aggregate = self._difference if kind == "difference" else self._ratio
        return aggregate(by_group, overall)

    def _equalized_odds(self, kind: str, agg: str):
        tpr = self._disparity("true_positive_rate", kind)
        fpr = self._disparity("false_positive_rate", kind)
        if agg == "mean":
            both = (tpr + fpr) / 2
            return ops.where(ops.isnan(tpr), fpr, ops.where(ops.isnan(fpr), tpr, both))
        # Python's max/min over [tpr, fpr], as Fairlearn: a NaN tpr wins, a NaN fpr loses.
        if kind == "difference":
            return ops.where(fpr > tpr, fpr, tpr)
        return ops.where(fpr < tpr, fpr, tpr)

    def result(self):
        return self._disparity(self._group_rate, self._aggregation)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_groups": self.num_groups, "threshold": self.threshold, "method": self.method}
        )
        return config


class EqualizedOddsMetric(GroupConfusionMetric):
    """Equalized odds: the TPR and FPR disparities combined by `agg`."""

    def __init__(
        self,
        num_groups: int,
        threshold: float = 0.5,
        method: str = "between_groups",
        agg: str = "worst_case",
        name: str | None = None,
        dtype=None,
    ):
        agg = _grouping.check_agg(agg)
        super().__init__(
            num_groups=num_groups, threshold=threshold, method=method, name=name, dtype=dtype
        )
        self.agg = agg

    def result(self):
        return self._equalized_odds(self._aggregation, self.agg)

    def get_config(self):
        config = super().get_config()
        config.update({"agg": self.agg})
        return config
