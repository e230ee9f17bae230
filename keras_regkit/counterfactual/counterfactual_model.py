"""CounterfactualModel: a Keras 3 model wrapper that trains with Counterfactual Logit Pairing."""

from __future__ import annotations

import copy

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend
from keras_regkit.counterfactual import input_utils
from keras_regkit.counterfactual import losses as losses_module

# A stack of per-example Keras layers gives the same outputs on [x; x_o; x_c] in one
# forward pass as in three (MinDiffModel's criterion, shared).
from keras_regkit.min_diff.min_diff_model import _is_per_example


def _functional_base(cls):
    """Keras's `Functional` class when it is in `cls`'s hierarchy, else None.

    `keras.Model(inputs, outputs)` called on a subclass rewrites the subclass's bases
    to put `Functional` in them; a class that also inherits from `CounterfactualModel`
    must then skip `Functional.__init__` (it has no `inputs`/`outputs` of its own).
    """
    for base in cls.__mro__:
        if base.__name__ == "Functional" and base.__module__.startswith("keras."):
            return base
    return None


@keras.saving.register_keras_serializable(package="keras_regkit")
class CounterfactualModel(keras.Model):
    """Wraps a model to train it with task loss + `loss_weight` x a pairwise counterfactual loss.

    Counterfactual Logit Pairing (CLP; Garg et al., "Counterfactual Fairness in Text
    Classification through Robustness", AIES 2019) penalises the difference between
    the model's outputs on an example and on its counterfactual, the same example with
    only the sensitive attribute changed (an identity term removed or swapped, the
    value of a sensitive column swapped). This is TensorFlow Model Remediation's
    `counterfactual.keras.CounterfactualModel` for Keras 3, with the same arguments,
    data and loss math, on the TensorFlow, JAX and PyTorch backends.

    Each training batch carries counterfactual pairs packed into its inputs:
    `CounterfactualPackedInputs(x, (original_x, counterfactual_x[, cf_sample_weight]))`
    (`pack_counterfactual_data` for tf.data, `CounterfactualPyDataset` for NumPy). The
    loss is `task_loss(y, f(x)) + loss_weight * loss(f(original_x), f(counterfactual_x),
    cf_sample_weight)`, all passes with the step's `training` flag; the weighted pairwise
    loss is logged as `counterfactual_loss` and the task loss as `original_loss`
    (TFMR's names; `loss` is the total). Called on plain inputs (`predict`,
    `__call__`), it is the original model. `evaluate` works with and without
    counterfactual data; `fit` without it raises.

    When every layer treats examples independently (Dense, Conv, Dropout, ...; see
    MinDiffModel's `fuse_forward_passes`), the three batches go through the model in one
    forward pass over their concatenation.

    Customization (TFMR's hooks): override `unpack_original_inputs(inputs)` and
    `unpack_counterfactual_data(inputs)` to read another batch structure, and
    `compute_counterfactual_loss(original_predictions, counterfactual_predictions,
    counterfactual_sample_weight)` to change the penalty. A class inheriting from
    `CounterfactualModel` and then from the original model's own class keeps that
    class's `train_step` (also for a functional model whose class Keras has rewritten).

    Under a `tf.distribute` strategy the pairwise loss is computed on the global batch,
    so training equals the single-device run; under `keras.distribution` (JAX) the
    computation is already global.

    Differences from TFMR: the original model's regularization losses are part of the
    total loss (TFMR's train step leaves them out); the forward passes run in training
    mode during `fit` (TFMR's ran Dropout and BatchNorm in inference mode); a single
    loss only.

    Args:
        original_model: the `keras.Model` to train.
        loss: a `CounterfactualLoss` or its name (default `PairwiseMSELoss`).
        loss_weight: a finite, non-negative float.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    ```python
    original = keras.Sequential([keras.Input((n,)), keras.layers.Dense(1, "sigmoid")])
    model = CounterfactualModel(original, "pairwise_mse", loss_weight=5.0)
    model.compile("adam", "binary_crossentropy")
    x_cf = swap_sensitive_columns(x, [i_female, i_male])
    model.fit(CounterfactualPyDataset(x, y, counterfactual_x=x_cf, batch_size=128))
    model.predict(x)  # the original model's predictions
    ```
    """

    # When `Functional` is in the hierarchy (see `_functional_base`), these come from
    # `keras.Model` rather than from `Functional`, which needs a graph of its own.
    layers = keras.Model.layers
    compute_output_spec = keras.Model.compute_output_spec
    compute_output_shape = keras.Model.compute_output_shape
    add_loss = keras.Model.add_loss
    _assert_input_compatibility = keras.Model._assert_input_compatibility
    _lock_state = keras.Model._lock_state

    def __init__(
        self,
        original_model: keras.Model,
        loss="pairwise_mse",
        loss_weight: float = 1.0,
        **kwargs,
    ):
        if _functional_base(type(self)) is not None:
            keras.Model.__init__(self, **kwargs)
            self.input_spec = None
        else:
            super().__init__(**kwargs)
        if not isinstance(original_model, keras.Model):
            raise _validation.invalid("original_model", "a keras.Model", original_model)
        if loss is None:
            loss = "pairwise_mse"
        self._original_model = original_model
        self._loss = losses_module.get(loss, "loss")
        self._loss_weight = _validation.check_float("loss_weight", loss_weight, 0)
        self._counterfactual_loss_tracker = keras.metrics.Mean(name="counterfactual_loss")
        self._original_loss_tracker = keras.metrics.Mean(name="original_loss")
        self._fuse = _is_per_example(original_model)
        self._fused_predictions = None
        self._logs_counterfactual_loss = True
        self._validation_has_counterfactual_data = True
        if original_model.built:
            self.built = True

    @property
    def original_model(self) -> keras.Model:
        """The wrapped model: inference and evaluation outputs come from it."""
        return self._original_model

    @property
    def loss_config(self):
        """The `CounterfactualLoss` in use."""
        return self._loss

    @property
    def loss_weight(self) -> float:
        return self._loss_weight

    @property
    def metrics(self):
        metrics = super().metrics
        ids = {id(m) for m in metrics}
        own = [self._counterfactual_loss_tracker, self._original_loss_tracker]
        return metrics + [m for m in own if id(m) not in ids]

    # --- TFMR's customization hooks -------------------------------------------------

    def unpack_original_inputs(self, inputs):
        """The original model's inputs of a batch's `x` (override for custom structures)."""
        return input_utils.unpack_original_inputs(inputs)

    def unpack_counterfactual_data(self, inputs):
        """`(original_x, counterfactual_x[, weight])` of a batch's `x`, or None."""
        return input_utils.unpack_counterfactual_data(inputs)

    def compute_counterfactual_loss(
        self, original_predictions, counterfactual_predictions, counterfactual_sample_weight
    ):
        """The weighted counterfactual loss of a batch of pairs.

        Args:
            original_predictions: the original model's outputs on `original_x`.
            counterfactual_predictions: its outputs on `counterfactual_x`.
            counterfactual_sample_weight: per-pair weights, or None.

        Returns:
            `loss_weight * loss(original_predictions, counterfactual_predictions, weight)`.
        """
        return self._loss_weight * self._loss(
            original_predictions, counterfactual_predictions, counterfactual_sample_weight
        )

    # --- Keras API --------------------------------------------------------------------

    def build(self, input_shape=None):
        if not self._original_model.built and input_shape is not None:
            self._original_model.build(self.unpack_original_inputs(input_shape))
        self.built = True

    def call(self, inputs, training=None, mask=None):
        original_inputs = self.unpack_original_inputs(inputs)
        counterfactual_data = self.unpack_counterfactual_data(inputs)
        self._fused_predictions = None
        if counterfactual_data is not None and self._fuse:
            original_x, counterfactual_x, _ = input_utils.check_counterfactual_data(
                counterfactual_data
            )
            if _concatenable(original_inputs, original_x, counterfactual_x):
                # One forward pass over [x; original_x; counterfactual_x]: the same
                # per-example outputs as three passes, at a third of the step overhead.
                sizes = [
                    ops.shape(keras.tree.flatten(part)[0])[0]
                    for part in (original_inputs, original_x)
                ]
                combined = keras.tree.map_structure(
                    lambda a, b, c: ops.concatenate(
                        [a, ops.cast(b, a.dtype), ops.cast(c, a.dtype)], axis=0
                    ),
                    original_inputs,
                    original_x,
                    counterfactual_x,
                )
                outputs = self._original_model(combined, training=training)
                n, m = sizes
                self._fused_predictions = (
                    _take(outputs, n, n + m),
                    _take(outputs, n + m, None),
                )
                return _take(outputs, 0, n)
        return self._original_model(original_inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        original_loss = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        if original_loss is None:
            original_loss = ops.zeros((), dtype="float32")
        counterfactual_data = self.unpack_counterfactual_data(x)
        if counterfactual_data is None:
            self._fused_predictions = None
            if training:
                raise ValueError(
                    "CounterfactualModel is training without counterfactual data. Pack it "
                    "into the inputs with `keras_regkit.counterfactual.CounterfactualPyDataset` "
                    "(NumPy) or `pack_counterfactual_data` (tf.data)."
                )
            self._original_loss_tracker.update_state(original_loss)
            return original_loss
        original_x, counterfactual_x, weight = input_utils.check_counterfactual_data(
            counterfactual_data
        )
        if self._fused_predictions is not None:
            original_predictions, counterfactual_predictions = self._fused_predictions
            self._fused_predictions = None
        else:
            # Activity losses of these passes are not added: Keras has already read the
            # main pass's losses in `super().compute_loss`.
            original_predictions = self._original_model(original_x, training=training)
            counterfactual_predictions = self._original_model(counterfactual_x, training=training)
        original_predictions = regkit_backend.all_gather_batch(original_predictions)
        counterfactual_predictions = regkit_backend.all_gather_batch(counterfactual_predictions)
        if weight is not None:
            weight = regkit_backend.all_gather_batch(
                ops.cast(ops.convert_to_tensor(weight), "float32")
            )
        counterfactual_loss = self.compute_counterfactual_loss(
            original_predictions, counterfactual_predictions, weight
        )
        self._counterfactual_loss_tracker.update_state(counterfactual_loss)
        self._original_loss_tracker.update_state(original_loss)
        # Keras divides the task loss by the replica count under tf.distribute; the
        # counterfactual loss is a global-batch value, so it is divided the same way.
        replicas = regkit_backend.num_replicas_in_sync()
        return original_loss + ops.cast(counterfactual_loss, original_loss.dtype) / replicas

    def get_metrics_result(self):
        results = super().get_metrics_result()
        if not self._logs_counterfactual_loss:
            results.pop(self._counterfactual_loss_tracker.name, None)
        return results

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        self._validation_has_counterfactual_data = validation_data is None or _contains_data(
            self,
            validation_data[0]
            if isinstance(validation_data, tuple)
            and not isinstance(validation_data, input_utils.CounterfactualPackedInputs)
            else validation_data,
        )
        self._logs_counterfactual_loss = True
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        if kwargs.get("_use_cached_eval_dataset"):
            has_data = self._validation_has_counterfactual_data
        else:
            has_data = _contains_data(self, x)
        self._logs_counterfactual_loss = has_data
        try:
            return super().evaluate(x, *args, **kwargs)
        finally:
            self._logs_counterfactual_loss = True

    def save_original_model(self, filepath, *args, **kwargs):
        """Saves only the original model (to serve it, or to wrap it again later)."""
        return self._original_model.save(filepath, *args, **kwargs)

    def export(self, filepath, *args, **kwargs):
        """Exports the original model: the serving signature takes plain inputs."""
        return self._original_model.export(filepath, *args, **kwargs)

    def get_config(self):
        config = keras.layers.Layer.get_config(self)
        config.update(
            {
                "original_model": keras.saving.serialize_keras_object(self._original_model),
                "loss": keras.saving.serialize_keras_object(self._loss),
                "loss_weight": self._loss_weight,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)  # Keras's deserialization consumes nested dicts
        config["original_model"] = keras.saving.deserialize_keras_object(
            config["original_model"], custom_objects=custom_objects
        )
        config["loss"] = losses_module.get(config["loss"])
        return cls(**config)


def _take(outputs, start, stop):
    return keras.tree.map_structure(lambda t: t[start:stop], outputs)


def _concatenable(original_inputs, original_x, counterfactual_x) -> bool:
    try:
        keras.tree.assert_same_structure(original_inputs, original_x)
    except (ValueError, TypeError):
        return False
    for a, b in zip(
        keras.tree.flatten(original_inputs), keras.tree.flatten(original_x), strict=True
    ):
        if not hasattr(a, "shape") or not hasattr(b, "shape"):
            return False
        if len(a.shape) == 0 or tuple(a.shape[1:]) != tuple(b.shape[1:]):
            return False
    return True


def _contains_data(model, x) -> bool:
    """Whether evaluation data carries counterfactual data (decided before any tracing),
    read through the model's `unpack_counterfactual_data` hook."""

    def has(sample):
        try:
            return model.unpack_counterfactual_data(sample) is not None
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            return False

    packed = input_utils.CounterfactualPackedInputs
    if isinstance(x, keras.utils.PyDataset):
        first = x[0]
        return has(
            first[0] if isinstance(first, tuple) and not isinstance(first, packed) else first
        )
    if regkit_backend.is_tf_dataset(x):
        spec = x.element_spec
        first = spec[0] if isinstance(spec, tuple) and not isinstance(spec, packed) else spec
        return has(first)
    if x is None or isinstance(x, (dict, list, tuple)) or hasattr(x, "shape"):
        return has(x)
    return True  # an iterator we cannot peek at: keep the metric
