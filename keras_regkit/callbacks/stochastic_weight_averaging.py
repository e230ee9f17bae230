"""Stochastic weight averaging (SWA) as a callback."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend


@keras.saving.register_keras_serializable(package="keras_regkit")
class StochasticWeightAveraging(keras.callbacks.Callback):
    """Averages the weights over the last epochs of training (SWA).

    Stochastic weight averaging (Izmailov et al., UAI 2018) keeps an
    equal-weight running average of the trainable weights at the end of every
    epoch from `start_epoch` on, `w_swa <- w_swa + (w - w_swa) / (n + 1)`, and
    puts it into the model when training ends. The average lies in a flatter
    region of the loss than the individual iterates and often generalizes
    better.

    Averaged weights do not match the BatchNormalization moving statistics
    collected along the way, so at the end of training the statistics are
    recomputed: one pass over `bn_data` in training mode, each batch weighted
    equally (a cumulative average of the batch means and variances), as
    `torch.optim.swa_utils.update_bn` does. The variance is Keras's biased
    batch variance, the one Keras's BatchNormalization tracks (PyTorch uses the
    unbiased one). Other layers run in training mode during that pass too
    (dropout is active, as in PyTorch). Models with BatchNormalization layers
    need `bn_data`.

    Learning rate: with `swa_lr` set, the optimizer's learning rate is
    `swa_lr` from `start_epoch` on (the constant SWA schedule); with
    `swa_lr_min` set too, it is cyclic with a cycle of one epoch, decreasing
    linearly from `swa_lr` to `swa_lr_min` over the epoch's batches, so the
    weights are averaged at the low point of each cycle (the cyclic schedule
    of Izmailov et al.). With `swa_lr=None` the learning rate is left alone
    (combine with your own schedule). The optimizer must have been created with
    a float learning rate when `swa_lr` is set.

    Place it after callbacks that change the weights at the end of training
    (e.g. `EarlyStopping(restore_best_weights=True)` would otherwise overwrite
    the average). If training stops (e.g. early stopping) before `start_epoch`,
    the weights are left as they are, with a warning.

    Reference: P. Izmailov, D. Podoprikhin, T. Garipov, D. Vetrov and
    A. G. Wilson, "Averaging Weights Leads to Wider Optima and Better
    Generalization", UAI 2018.

    Args:
        start_epoch: int >= 0, the first epoch (0-based, as in Keras's `epoch`
            argument) whose final weights enter the average. Must be smaller
            than the `epochs` given to `fit`.
        swa_lr: positive float or None, the SWA learning rate.
        swa_lr_min: positive float or None, the lowest learning rate of the
            cyclic schedule; needs `swa_lr`.
        bn_data: the inputs over which to recompute BatchNormalization
            statistics: an array, a list or dict of arrays (as given to
            `fit`'s `x`), a `tf.data.Dataset` or a `keras.utils.PyDataset`
            (whose elements may be `(x, y)` tuples). Data, not configuration:
            left out of `get_config`.
        batch_size: int >= 1, the batch size for array `bn_data`.

    Example:

    >>> x, y = np.random.rand(64, 4).astype("float32"), np.random.rand(64, 1)
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(8, activation="relu"),
    ...     keras.layers.BatchNormalization(),
    ...     keras.layers.Dense(1),
    ... ])
    >>> model.compile(keras.optimizers.SGD(0.05), "mse")
    >>> swa = StochasticWeightAveraging(start_epoch=2, swa_lr=0.01, bn_data=x)
    >>> history = model.fit(x, y, epochs=4, callbacks=[swa], verbose=0)
    >>> swa.averaged_epochs
    [2, 3]
    """

    def __init__(
        self,
        start_epoch: int,
        swa_lr: float | None = None,
        swa_lr_min: float | None = None,
        bn_data: Any = None,
        batch_size: int = 32,
    ) -> None:
        super().__init__()
        self.start_epoch = _validation.check_int("start_epoch", start_epoch, minimum=0)
        self.swa_lr = _validation.check_float(
            "swa_lr", swa_lr, minimum=0.0, min_inclusive=False, allow_none=True
        )
        self.swa_lr_min = _validation.check_float(
            "swa_lr_min", swa_lr_min, minimum=0.0, min_inclusive=False, allow_none=True
        )
        if self.swa_lr_min is not None and self.swa_lr is None:
            raise _validation.invalid(
                "swa_lr_min",
                "None when `swa_lr` is None (the cyclic schedule runs from `swa_lr` down "
                "to `swa_lr_min`)",
                swa_lr_min,
            )
        self.bn_data = bn_data
        self.batch_size = _validation.check_int("batch_size", batch_size, minimum=1)
        self.averaged_epochs: list[int] = []
        self._average: list[np.ndarray] | None = None

    def on_train_begin(self, logs=None):
        epochs = self.params.get("epochs") if self.params else None
        if epochs is not None and self.start_epoch >= epochs:
            raise ValueError(
                "Invalid value for argument `start_epoch`: expected an epoch of the run, "
                f"smaller than fit's epochs={epochs}, so that at least one epoch is "
                f"averaged. Received: start_epoch={self.start_epoch}"
            )
        if self.bn_data is None and _batch_norm_layers(self.model):
            raise ValueError(
                "StochasticWeightAveraging recomputes the BatchNormalization statistics "
                "for the averaged weights, but `bn_data` is None. Pass the training "
                "inputs, e.g. StochasticWeightAveraging(start_epoch, bn_data=x_train)."
            )
        if self.swa_lr is not None and not isinstance(
            self.model.optimizer.learning_rate, keras.Variable
        ):
            raise ValueError(
                "StochasticWeightAveraging with `swa_lr` sets the optimizer's learning "
                "rate, which needs an optimizer created with a float learning rate, not a "
                "LearningRateSchedule. Received: swa_lr="
                f"{self.swa_lr}, learning_rate={self.model.optimizer.learning_rate!r}"
            )
        self.averaged_epochs = []
        self._average = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.swa_lr is None or epoch < self.start_epoch:
            return
        if self.swa_lr_min is not None and not self.params.get("steps"):
            raise ValueError(
                "The cyclic SWA schedule (`swa_lr_min`) needs the number of steps per "
                "epoch; pass `steps_per_epoch` to fit() or data of known length."
            )
        self.model.optimizer.learning_rate = self.swa_lr

    def on_train_batch_begin(self, batch, logs=None):
        if self.swa_lr_min is None or self._epoch < self.start_epoch:
            return
        self.model.optimizer.learning_rate = cyclic_learning_rate(
            batch, self.params["steps"], self.swa_lr, self.swa_lr_min
        )

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_epoch:
            return
        weights = [np.asarray(ops.convert_to_numpy(v), np.float64) for v in self._variables()]
        if self._average is None:
            self._average = weights
        else:
            n = len(self.averaged_epochs)
            self._average = [
                a + (w - a) / (n + 1) for a, w in zip(self._average, weights, strict=True)
            ]
        self.averaged_epochs.append(epoch)

    def on_train_end(self, logs=None):
        if self._average is None:
            warnings.warn(
                f"StochasticWeightAveraging: training ended before start_epoch="
                f"{self.start_epoch}; no weights were averaged and the model is unchanged.",
                stacklevel=2,
            )
            return
        for variable, value in zip(self._variables(), self._average, strict=True):
            variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
        if self.bn_data is not None:
            update_batch_norm(self.model, self.bn_data, batch_size=self.batch_size)

    def _variables(self):
        return self.model.trainable_variables

    def get_config(self):
        return {
            "start_epoch": self.start_epoch,
            "swa_lr": self.swa_lr,
            "swa_lr_min": self.swa_lr_min,
            "batch_size": self.batch_size,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StochasticWeightAveraging:
        return cls(**config)


def cyclic_learning_rate(batch: int, steps: int, high: float, low: float) -> float:
    """Izmailov et al.'s cyclic rate `(1 - t) * high + t * low`, `t = (batch + 1) / steps`."""
    t = (batch + 1) / steps
    return (1.0 - t) * high + t * low


def _batch_norm_layers(model: keras.Model) -> list:
    layers = model._flatten_layers(include_self=False)  # also layers inside custom layers
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


def _input_batches(data: Any, batch_size: int):
    if regkit_backend.is_tf_dataset(data) or isinstance(data, keras.utils.PyDataset):
        for element in data:
            if isinstance(element, tuple):
                element = keras.utils.unpack_x_y_sample_weight(element)[0]
            yield keras.tree.map_structure(np.asarray, element)
        return
    leaves = keras.tree.flatten(data)
    n = len(leaves[0])
    for start in range(0, n, batch_size):
        batch = slice(start, start + batch_size)
        yield keras.tree.map_structure(lambda a, batch=batch: np.asarray(a[batch]), data)


def update_batch_norm(model: keras.Model, data: Any, batch_size: int = 32) -> None:
    """Recomputes BatchNormalization moving statistics as equal-weight batch averages.

    Keras's update `moving = momentum * moving + (1 - momentum) * batch` with
    `momentum = (k - 1) / k` at the k-th batch gives the cumulative average of
    the batch statistics, as `torch.optim.swa_utils.update_bn` computes.
    """
    layers = _batch_norm_layers(model)
    if not layers:
        return
    momenta = [layer.momentum for layer in layers]
    try:
        count = 0
        for x in _input_batches(data, batch_size):
            count += 1
            for layer in layers:
                layer.momentum = (count - 1) / count
            model(x, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
