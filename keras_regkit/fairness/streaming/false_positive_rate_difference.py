"""`FalsePositiveRateDifference`: false positive rate difference, accumulated over batches."""

import keras

from keras_regkit.fairness.streaming.group_confusion_metric import GroupConfusionMetric


@keras.saving.register_keras_serializable(package="keras_regkit")
class FalsePositiveRateDifference(GroupConfusionMetric):
    """The false positive rate difference, accumulated over batches.

    The largest gap in false positive rate `P[h(X) = 1 | A = a, Y = 0]` between
    groups (one half of equalized odds, Hardt et al., NeurIPS 2016). A group
    without negative labels has a false positive rate of 0, as in Fairlearn.

    {{streaming_fairness_usage}}

    Example:

    >>> metric = keras_regkit.fairness.FalsePositiveRateDifference(num_groups=2)
    >>> y_true = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])  # [label, group id]
    >>> metric.update_state(y_true, np.array([0.9, 0.8, 0.7, 0.1]))
    >>> float(metric.result())
    1.0
    """

    _group_rate = "false_positive_rate"
    _aggregation = "difference"
    _direction = "down"
    _default_name = "false_positive_rate_difference"
