"""`EqualizedOddsRatio`: equalized odds ratio, accumulated over batches."""

import keras

from keras_regkit.fairness.streaming.group_confusion_metric import EqualizedOddsMetric


@keras.saving.register_keras_serializable(package="keras_regkit")
class EqualizedOddsRatio(EqualizedOddsMetric):
    """The equalized odds ratio, accumulated over batches.

    The smaller (`agg="worst_case"`) or the mean (`agg="mean"`) of the true
    positive rate ratio and the false positive rate ratio between groups
    (Hardt et al., NeurIPS 2016). As in Fairlearn, `"worst_case"` is NaN when
    the true positive rate ratio is NaN, and passes over a NaN false positive
    rate ratio; `"mean"` skips a NaN ratio.

    {{streaming_fairness_usage}}

    Example:

    >>> metric = keras_regkit.fairness.EqualizedOddsRatio(num_groups=2)
    >>> y_true = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])  # [label, group id]
    >>> metric.update_state(y_true, np.array([0.9, 0.8, 0.7, 0.1]))
    >>> float(metric.result())
    0.0
    """

    _aggregation = "ratio"
    _direction = "up"
    _default_name = "equalized_odds_ratio"
