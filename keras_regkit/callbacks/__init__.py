"""keras_regkit.callbacks."""

from keras_regkit.callbacks.fairness_metrics_callback import FairnessMetricsCallback
from keras_regkit.callbacks.multi_metric_early_stopping import MultiMetricEarlyStopping
from keras_regkit.callbacks.regularization_monitor import RegularizationMonitor

__all__: list[str] = []
__all__ += ["FairnessMetricsCallback"]
__all__ += ["MultiMetricEarlyStopping"]
__all__ += ["RegularizationMonitor"]
