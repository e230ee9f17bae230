"""`EqualizedOddsRatio`: equalized odds ratio, accumulated over batches."""

import keras

from keras_regkit.fairness import _grouping
from keras_regkit.fairness.streaming.group_confusion_metric import GroupConfusionMetric


@keras.saving.register_keras_serializable(package="keras_regkit")
class EqualizedOddsRatio(GroupConfusionMetric):
    """The equalized odds ratio, accumulated over batches.

    The smaller (`agg="worst_case"`) or the mean (`agg="mean"`) of the true
    positive rate ratio and the false positive rate ratio between groups
    (Hardt et al., NeurIPS 2016). As in Fairlearn, `"worst_case"` is NaN when
    the true positive rate ratio is NaN, and passes over a NaN false positive
    rate ratio; `"mean"` skips a NaN ratio.

    Equals `keras_regkit.fairness.equalized_odds_ratio`
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
        metrics={"fairness": [keras_regkit.fairness.EqualizedOddsRatio(num_groups)]},
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
        agg: `"worst_case"` (default) or `"mean"`.
        name: name of the metric instance.
        dtype: dtype of the metric's variables and result.

    Example:

    >>> metric = keras_regkit.fairness.EqualizedOddsRatio(num_groups=2)
    >>> y_true = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])  # [label, group id]
    >>> metric.update_state(y_true, np.array([0.9, 0.8, 0.7, 0.1]))
    >>> float(metric.result())
    0.0
    """

    def __init__(
        self,
        num_groups: int,
        threshold: float = 0.5,
        method: str = "between_groups",
        agg: str = "worst_case",
        name: str | None = "equalized_odds_ratio",
        dtype=None,
    ):
        agg = _grouping.check_agg(agg)
        super().__init__(
            num_groups=num_groups, threshold=threshold, method=method, name=name, dtype=dtype
        )
        self.agg = agg

    def result(self):
        return self._equalized_odds("ratio", self.agg)

    def get_config(self):
        config = super().get_config()
        config.update({"agg": self.agg})
        return config
