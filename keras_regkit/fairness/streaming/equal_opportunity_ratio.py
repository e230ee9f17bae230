"""`EqualOpportunityRatio`: equal opportunity ratio, accumulated over batches."""

import keras

from keras_regkit.fairness.streaming.group_confusion_metric import GroupConfusionMetric


@keras.saving.register_keras_serializable(package="keras_regkit")
class EqualOpportunityRatio(GroupConfusionMetric):
    """The equal opportunity ratio, accumulated over batches.

    The smallest ratio of group true positive rates, smaller over larger
    (Hardt et al., NeurIPS 2016). NaN when no positive is ever predicted
    correctly (0 / 0).

    {{streaming_fairness_usage}}

    Example:

    >>> metric = keras_regkit.fairness.EqualOpportunityRatio(num_groups=2)
    >>> y_true = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])  # [label, group id]
    >>> metric.update_state(y_true, np.array([0.9, 0.8, 0.7, 0.1]))
    >>> float(metric.result())
    1.0
    """

    _group_rate = "true_positive_rate"
    _aggregation = "ratio"
    _direction = "up"
    _default_name = "equal_opportunity_ratio"
