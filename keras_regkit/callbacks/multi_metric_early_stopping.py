"""Early stopping on several metrics at once."""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import keras

from keras_regkit._validation import check_bool, check_choice, check_float, check_int, invalid

_MODES = ("auto", "min", "max")
_STOP_WHEN = ("all", "any")

# Name fragments used by `mode="auto"` when the model holds no metric object that
# declares its direction. Names are split on "_" and compared token by token, so
# "val_sparse_categorical_accuracy" is maximised and "mean_squared_error" minimised.
_MIN_TOKENS = frozenset(
    {
        "loss",
        "error",
        "mse",
        "mae",
        "mape",
        "msle",
        "rmse",
        "crossentropy",
        "hinge",
        "divergence",
        "logcosh",
        "poisson",
    }
)
_MAX_TOKENS = frozenset(
    {
        "accuracy",
        "acc",
        "auc",
        "precision",
        "recall",
        "f1",
        "fbeta",
        "iou",
        "r2",
        "specificity",
        "sensitivity",
    }
)


@keras.saving.register_keras_serializable(package="keras_regkit")
class MultiMetricEarlyStopping(keras.callbacks.Callback):
    """Stops training when several monitored metrics have stopped improving.

    The multi-metric generalisation of `keras.callbacks.EarlyStopping`
    (early stopping as regularisation: L. Prechelt, "Early Stopping - But When?",
    Neural Networks: Tricks of the Trade, 1998). Every monitored metric keeps its
    own best value and patience counter, with exactly the rules of
    `keras.callbacks.EarlyStopping`:

    - a value improves on the best when it is lower (`"min"`) or higher
      (`"max"`) than it by more than `min_delta`;
    - with a `baseline`, the patience counter is reset only by an improvement
      that also beats the baseline, so training stops if the model does not
      show improvement over the baseline within `patience` epochs;
    - a metric is *exhausted* at the end of an epoch in which it did not
      improve and has gone `patience` epochs without resetting its counter.

    Training stops at the end of an epoch in which all (`stop_when="all"`) or
    any (`stop_when="any"`) monitored metrics are exhausted. With one monitored
    metric this callback makes the same decisions as
    `keras.callbacks.EarlyStopping`. The metric(s) that triggered the stop are
    stored in `stopped_by` and, with `verbose > 0`, printed.

    An epoch whose logs lack one of the monitored metrics is skipped with a
    warning naming the available keys (e.g. epochs without validation when
    `validation_freq > 1`), as Keras does for its single metric. Epochs before
    `start_from_epoch` are a warm-up and are not monitored.

    The callback can be reused across `fit` calls: `on_train_begin` resets its
    state.

    Args:
        monitor: the metrics to monitor: a list of log names
            (`["val_loss", "val_auc"]`), a single name, or a dict mapping
            names to `"min"`, `"max"` or `"auto"`.
        mode: one of `"auto"`, `"min"`, `"max"`: the direction of every metric
            that `monitor` does not give one for. `"auto"` infers it as Keras
            does: losses are minimised; otherwise the direction declared by the
            model's metric object of that name is used; otherwise the name
            decides (`error`, `mse`, `crossentropy`, ... are minimised;
            `accuracy`, `auc`, `precision`, `recall`, ... maximised). A
            metric whose direction cannot be inferred raises a `ValueError`
            at the end of the first epoch.
        patience: number of epochs without improvement after which a metric
            is exhausted.
        min_delta: minimum change that counts as an improvement: a
            non-negative float, or a dict of per-metric values (metrics not
            in it use 0).
        stop_when: `"all"` stops when every monitored metric is exhausted,
            `"any"` as soon as one is.
        restore_best_weights: whether to restore, at the end of training, the
            model weights of the epoch with the best value of `best_metric`
            (bit-identical copies taken with `model.get_weights()`). As in
            Keras, weights are restored whether or not training stopped early.
        best_metric: the monitored metric that defines the best epoch for
            `best_epoch` and `restore_best_weights`. Defaults to the first
            monitored metric.
        baseline: value each metric must improve on: a float, or a dict of
            per-metric values (metrics not in it have no baseline).
        start_from_epoch: number of warm-up epochs before monitoring starts.
        verbose: 0 is silent; 1 prints which metric(s) stopped training and
            when the best weights are restored.

    Attributes:
        stopped_epoch: the epoch (0-based) at which training stopped; 0 if it
            did not stop early.
        stopped_by: names of the metrics exhausted at `stopped_epoch`, in
            monitoring order; empty if training did not stop early.
        best_epoch: the epoch (0-based) of the best value of `best_metric`.
        best_values: dict of each monitored metric's best value (`None` until
            it is first seen).
        best_epochs: dict of the epoch of each metric's best value.
        wait: dict of each metric's patience counter.
        best_weights: the weights of `best_epoch` (with
            `restore_best_weights=True`).

    Example:

    >>> x = np.random.rand(64, 8).astype("float32")
    >>> y = (x.sum(axis=1) > 4).astype("float32")
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, "sigmoid")])
    >>> model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    >>> callback = MultiMetricEarlyStopping(
    ...     monitor={"val_loss": "min", "val_auc": "max"},
    ...     patience=3,
    ...     min_delta={"val_loss": 1e-3},
    ...     stop_when="all",
    ...     restore_best_weights=True,
    ...     best_metric="val_auc",
    ... )
    >>> history = model.fit(x, y, validation_split=0.25, epochs=50, verbose=0,
    ...                     callbacks=[callback])
    >>> sorted(callback.best_values)  # the monitored values at `callback.best_epoch`
    ['val_auc', 'val_loss']
    """

    def __init__(
        self,
        monitor: Sequence[str] | Mapping[str, str] | str,
        mode: str = "auto",
        patience: int = 0,
        min_delta: float | Mapping[str, float] = 0,
        stop_when: str = "all",
        restore_best_weights: bool = False,
        best_metric: str | None = None,
        baseline: float | Mapping[str, float] | None = None,
        start_from_epoch: int = 0,
        verbose: int = 0,
    ):
        super().__init__()
        self.monitor = _validate_monitor(monitor)
        names = list(self.monitor)
        self.mode = check_choice("mode", mode, _MODES)
        self.patience = check_int("patience", patience, 0)
        self.min_delta = _validate_per_metric("min_delta", min_delta, names, allow_none=False)
        self.stop_when = check_choice("stop_when", stop_when, _STOP_WHEN)
        self.restore_best_weights = check_bool("restore_best_weights", restore_best_weights)
        if best_metric is not None:
            check_choice("best_metric", best_metric, names)
        self.best_metric = best_metric
        self.baseline = _validate_per_metric("baseline", baseline, names, allow_none=True)
        self.start_from_epoch = check_int("start_from_epoch", start_from_epoch, 0)
        self.verbose = check_int("verbose", verbose, 0)

        self._names = names
        self._best_name = best_metric if best_metric is not None else names[0]
        self._min_deltas = {
            name: float(
                self.min_delta.get(name, 0.0)
                if isinstance(self.min_delta, Mapping)
                else self.min_delta
            )
            for name in names
        }
        self._baselines = {
            name: (self.baseline.get(name) if isinstance(self.baseline, Mapping) else self.baseline)
            for name in names
        }
        self._reset()

    def _reset(self) -> None:
        self._directions: dict[str, str] = {}
        self._warned_non_finite: set[str] = set()
        self.wait = {name: 0 for name in self._names}
        self.best_values: dict[str, float | None] = {name: None for name in self._names}
        self.best_epochs = {name: 0 for name in self._names}
        self.best_epoch = 0
        self.best_weights = None
        self.stopped_epoch = 0
        self.stopped_by: list[str] = []

    @property
    def directions(self) -> dict[str, str] | None:
        """Each metric's direction (`"min"` or `"max"`), once known (None before any epoch)."""
        return dict(self._directions) if self._directions else None

    def on_train_begin(self, logs=None):
        # Allow instances to be re-used across `model.fit()` calls.
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        current = self._get_monitor_values(logs)
        if current is None:
            return
        for name in self._names:
            if name not in self._directions:
                # Delayed like Keras's EarlyStopping: compiled metrics are built by now,
                # and a metric is known to exist before its direction is asked for.
                self._directions[name] = self._infer_direction(name)
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # If best weights were never set, the current weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch

        exhausted = []
        for name in self._names:
            value = current[name]
            if not math.isfinite(value):
                self._warn_non_finite(name, value, epoch)
                if self.best_values[name] is None:
                    # No finite value yet: wait for one without spending patience.
                    continue
            self.wait[name] += 1
            if math.isfinite(value) and self._is_improvement(name, value, self.best_values[name]):
                self.best_values[name] = value
                self.best_epochs[name] = epoch
                if name == self._best_name:
                    self.best_epoch = epoch
                    if self.restore_best_weights:
                        self.best_weights = self.model.get_weights()
                # Only restart the wait if the value beats both the baseline and
                # the previous best, as keras.callbacks.EarlyStopping does.
                baseline = self._baselines[name]
                if baseline is None or self._is_improvement(name, value, baseline):
                    self.wait[name] = 0
                continue
            if self.wait[name] >= self.patience and epoch > 0:
                exhausted.append(name)

        stop = len(exhausted) == len(self._names) if self.stop_when == "all" else bool(exhausted)
        if stop:
            self.stopped_epoch = epoch
            self.stopped_by = exhausted
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            details = ", ".join(
                f"`{name}` (best {self.best_values[name]:.6g} at epoch "
                f"{self.best_epochs[name] + 1}, {self.wait[name]} epochs without improvement)"
                for name in self.stopped_by
            )
            _print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping triggered by {details}.")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print_msg(
                    "Restoring model weights from the end of the best epoch "
                    f"by `{self._best_name}`: {self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def _get_monitor_values(self, logs) -> dict[str, float] | None:
        logs = logs or {}
        missing = [name for name in self._names if logs.get(name) is None]
        if missing:
            warnings.warn(
                f"Early stopping conditioned on metric(s) {', '.join(f'`{n}`' for n in missing)} "
                "which are not available; skipping this epoch. "
                f"Available metrics are: {','.join(list(logs.keys()))}",
                stacklevel=3,
            )
            return None
        return {name: float(logs[name]) for name in self._names}

    def _warn_non_finite(self, name: str, value: float, epoch: int) -> None:
        if name in self._warned_non_finite:
            return
        self._warned_non_finite.add(name)
        if self.best_values[name] is None:
            action = "waiting for its first finite value before it can be a best value"
        else:
            action = "it does not count as an improvement"
        warnings.warn(
            f"{type(self).__name__}: the monitored metric `{name}` is {value} at epoch "
            f"{epoch + 1}; a non-finite value is never taken as the best, {action}. "
            "(Warned once per metric and fit.)",
            stacklevel=3,
        )

    def _is_improvement(self, name: str, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self._directions[name] == "min":
            return value + self._min_deltas[name] < reference
        return value - self._min_deltas[name] > reference

    def _infer_direction(self, name: str) -> str:
        requested = self.monitor[name] if isinstance(self.monitor, Mapping) else "auto"
        if requested == "auto":
            requested = self.mode
        if requested != "auto":
            return requested
        metric_name = name.removeprefix("val_")
        if metric_name == "loss" or metric_name.endswith("_loss"):
            return "min"
        # Like Keras's MonitorCallback: the direction the model's metric object
        # declares wins over the name. `_direction` ("up"/"down") is set by every
        # built-in Keras metric that has a natural direction and by the streaming
        # fairness metrics; unlike Keras, output-prefixed names match too.
        metrics = _flatten_metrics(getattr(self._model, "metrics", None) or [])
        exact = [m for m in metrics if getattr(m, "name", None) == metric_name]
        # A metric of one output of a multi-output model logs as "<output>_<name>".
        prefixed = [m for m in metrics if metric_name.endswith(f"_{getattr(m, 'name', None)}")]
        for candidates in (exact,) if exact else (prefixed,):
            directions = {getattr(m, "_direction", None) for m in candidates} - {None}
            if len(directions) == 1 and directions <= {"up", "down"}:
                return "max" if directions == {"up"} else "min"
        tokens = set(metric_name.lower().split("_"))
        if tokens & _MIN_TOKENS:
            return "min"
        if tokens & _MAX_TOKENS:
            return "max"
        raise ValueError(
            f"{type(self).__name__} callback received monitor={name!r}, but Keras isn't "
            "able to automatically determine whether that metric should be maximized or "
            f"minimized. Pass `monitor={{{name!r}: 'max'}}` (or `mode='max'`) in order to "
            "monitor based on the highest metric value, or `'min'` in order to use the "
            "lowest value."
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "patience": self.patience,
            "min_delta": self.min_delta,
            "stop_when": self.stop_when,
            "restore_best_weights": self.restore_best_weights,
            "best_metric": self.best_metric,
            "baseline": self.baseline,
            "start_from_epoch": self.start_from_epoch,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MultiMetricEarlyStopping:
        return cls(**config)


def _flatten_metrics(metrics) -> list:
    """Expands Keras's metric containers (compiled metrics, metric lists)."""
    flat = []
    for metric in metrics:
        inner = getattr(metric, "metrics", None)
        if isinstance(inner, (list, tuple)) and inner is not metrics:
            flat.extend(_flatten_metrics(inner))
        else:
            flat.append(metric)
    return flat


def _print_msg(message: str) -> None:
    # Mirrors keras's io_utils.print_msg, which is not public API.
    if keras.config.is_interactive_logging_enabled():
        sys.stdout.write(message + "\n")
        sys.stdout.flush()
    else:
        logging.getLogger("keras_regkit").info(message)


def _validate_monitor(monitor) -> list[str] | dict[str, str]:
    if isinstance(monitor, str):
        monitor = [monitor]
    if isinstance(monitor, Mapping):
        names = list(monitor)
        bad_modes = {k: v for k, v in monitor.items() if v not in _MODES}
    elif isinstance(monitor, (list, tuple)):
        names = list(monitor)
        bad_modes = {}
    else:
        names, bad_modes = None, {}
    if (
        not names
        or not all(isinstance(name, str) and name for name in names)
        or len(set(names)) != len(names)
    ):
        raise invalid(
            "monitor",
            "a non-empty list of distinct metric names or a dict mapping metric names to "
            "'min', 'max' or 'auto'",
            monitor,
        )
    if bad_modes:
        raise invalid("monitor", f"every direction to be one of {_MODES}", monitor)
    return dict(monitor) if isinstance(monitor, Mapping) else names


def _validate_per_metric(name: str, value, names: list[str], allow_none: bool):
    """A scalar or a {metric: scalar} dict over monitored metrics."""
    minimum = 0 if name == "min_delta" else None
    kind = "a finite float >= 0" if name == "min_delta" else "a finite float"
    expected = (
        f"{kind}{', None,' if allow_none else ''} or a dict mapping monitored metrics "
        f"{names} to such values"
    )
    if value is None and allow_none:
        return None
    try:
        if isinstance(value, Mapping):
            unknown = [key for key in value if key not in names]
            if not unknown:
                return {key: check_float(name, v, minimum) for key, v in value.items()}
        else:
            return check_float(name, value, minimum)
    except ValueError:
        pass
    raise invalid(name, expected, value)
