"""`DemographicParityRatio`: demographic parity ratio, accumulated over batches."""

import keras

from keras_regkit.fairness.streaming.group_confusion_metric import GroupConfusionMetric


@keras.saving.register_keras_serializable(package="keras_regkit")
class DemographicParityRatio(GroupConfusionMetric):
    """The demographic parity ratio, accumulated over batches.

    The smallest ratio of group selection rates, smaller over larger (or each
    group to the overall rate with `method="to_overall"`); 1 means parity
    (Agarwal et al., ICML 2018). NaN when nothing is selected (0 / 0).

    {{streaming_fairness_usage}}

    Example:

    >>> metric = keras_regkit.fairness.DemographicParityRatio(num_groups=2)
    >>> y_true = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])  # [label, group id]
    >>> metric.update_state(y_true, np.array([0.9, 0.8, 0.7, 0.1]))
    >>> float(metric.result())
    0.5
    """

    _group_rate = "selection_rate"
    _aggregation = "ratio"
    _direction = "up"
    _default_name = "demographic_parity_ratio"
