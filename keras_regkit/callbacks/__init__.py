"""keras_regkit.callbacks."""

from keras_regkit.callbacks.multi_metric_early_stopping import MultiMetricEarlyStopping
from keras_regkit.callbacks.regularization_monitor import RegularizationMonitor

__all__: list[str] = []
__all__ += ["MultiMetricEarlyStopping"]
__all__ += ["RegularizationMonitor"]
