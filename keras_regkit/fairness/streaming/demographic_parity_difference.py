"""`DemographicParityDifference`: demographic parity difference, accumulated over batches."""

import keras

from keras_regkit.fairness.streaming.group_confusion_metric import GroupConfusionMetric


@keras.saving.register_keras_serializable(package="keras_regkit")
class DemographicParityDifference(GroupConfusionMetric):
    """The demographic parity difference, accumulated over batches.

    The largest gap in selection rate `P[h(X) = 1 | A = a]` between groups (or
    to the overall rate with `method="to_overall"`); 0 means parity (Agarwal et
    al., "A Reductions Approach to Fair Classification", ICML 2018).

    {{streaming_fairness_usage}}

    Example:

    >>> metric = keras_regkit.fairness.DemographicParityDifference(num_groups=2)
    >>> y_true = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])  # [label, group id]
    >>> metric.update_state(y_true, np.array([0.9, 0.8, 0.7, 0.1]))
    >>> float(metric.result())
    0.5
    """

    _group_rate = "selection_rate"
    _aggregation = "difference"
    _direction = "down"
    _default_name = "demographic_parity_difference"
