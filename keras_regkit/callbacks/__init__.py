"""keras_regkit.callbacks."""

from keras_regkit.callbacks.multi_metric_early_stopping import MultiMetricEarlyStopping
from keras_regkit.callbacks.regularization_monitor import RegularizationMonitor
from keras_regkit.callbacks.stochastic_weight_averaging import (
    StochasticWeightAveraging,
    update_batch_norm,
)

# The callback lives with the metrics it computes (keras_regkit.fairness), so imports
# run one way: callbacks -> fairness.
from keras_regkit.fairness.fairness_metrics_callback import FairnessMetricsCallback

__all__: list[str] = []
__all__ += ["FairnessMetricsCallback"]
__all__ += ["MultiMetricEarlyStopping"]
__all__ += ["RegularizationMonitor"]
__all__ += ["StochasticWeightAveraging", "update_batch_norm"]
