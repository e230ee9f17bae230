"""`EqualizedOddsDifference`: equalized odds difference, accumulated over batches."""

import keras

from keras_regkit.fairness.streaming.group_confusion_metric import EqualizedOddsMetric


@keras.saving.register_keras_serializable(package="keras_regkit")
class EqualizedOddsDifference(EqualizedOddsMetric):
    """The equalized odds difference, accumulated over batches.

    The larger (`agg="worst_case"`) or the mean (`agg="mean"`) of the true
    positive rate difference and the false positive rate difference between
    groups (Hardt et al., "Equality of Opportunity in Supervised Learning",
    NeurIPS 2016).

    {{streaming_fairness_usage}}

    Example:

    >>> metric = keras_regkit.fairness.EqualizedOddsDifference(num_groups=2)
    >>> y_true = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])  # [label, group id]
    >>> metric.update_state(y_true, np.array([0.9, 0.8, 0.7, 0.1]))
    >>> float(metric.result())
    1.0
    """

    _aggregation = "difference"
    _direction = "down"
    _default_name = "equalized_odds_difference"
