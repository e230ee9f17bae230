"""MinDiffModel: a Keras 3 model wrapper that trains with a MinDiff penalty."""

from __future__ import annotations

import copy

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend
from keras_regkit.min_diff import input_utils, transforms
from keras_regkit.min_diff import losses as losses_module
from keras_regkit.min_diff.input_utils import MinDiffPackedInputs
from keras_regkit.min_diff.min_diff_py_dataset import MinDiffPyDataset


def _structure_keys(structure):
    return sorted(structure) if isinstance(structure, dict) else None


@keras.saving.register_keras_serializable(package="keras_regkit")
class MinDiffModel(keras.Model):
    """Wraps a model to train it with task loss + `loss_weight` x MinDiff loss.

    MinDiff (Prost et al., "Toward a better trade-off between performance and
    fairness with kernel-based distribution matching", arXiv:1910.11779, 2019)
    penalises the difference between the distributions of the model's predictions
    on a sensitive and a nonsensitive group of examples. This is TensorFlow Model
    Remediation's `min_diff.keras.MinDiffModel` for Keras 3, with the same
    arguments, data structures and loss math, on the TensorFlow, JAX and PyTorch
    backends.

    Each training batch carries MinDiff data packed into its inputs
    (`MinDiffPackedInputs`; see `pack_min_diff_data` for tf.data and
    `MinDiffPyDataset` for NumPy). The wrapper runs the original model on the
    original inputs for the task loss, and a second forward pass on the MinDiff
    examples (with the same `training` flag, so Dropout and BatchNorm behave as in
    the main pass) for the MinDiff loss. Weight-regularization losses are counted
    once, and activity-regularization losses of the MinDiff pass are discarded,
    as in TFMR. The weighted MinDiff loss is logged as `min_diff_loss` (or
    `<key>_min_diff_loss` for a dict of losses).

    Called on plain inputs (`predict`, `__call__`), it is the original model.
    `evaluate` works with and without MinDiff data (without it, no
    `min_diff_loss` is added or logged). `fit` without MinDiff data raises.

    Under a `tf.distribute` strategy, the MinDiff loss is computed on the global
    batch (predictions are gathered across replicas), so it equals the
    single-device value; under `keras.distribution` (JAX) the computation is
    already global.

    Args:
        original_model: the `keras.Model` to train.
        loss: a MinDiff loss name (e.g. "mmd"), a `MinDiffLoss`, or a dict of them
            for several MinDiff applications (the MinDiff data is then a dict
            with the same keys).
        loss_weight: a float, or a dict of floats keyed like `loss` (missing
            keys default to 1.0).
        predictions_transform: applied to the original model's outputs before
            the MinDiff loss: a registered activation name ("sigmoid"), an output
            key (dict-output models) or index (list outputs), a registered
            serializable object, or a list of these applied in order. No lambdas,
            so the model reloads with `safe_mode=True`.
        fuse_forward_passes: "auto" (default), True or False. When fused, the
            original and MinDiff examples go through the original model in one
            forward pass over their concatenation, which gives the same
            per-example outputs as two passes at a fraction of the per-step
            overhead. "auto" fuses only when every layer of the model is a Keras
            layer known to treat examples independently (Dense, Conv, Dropout,
            LayerNormalization, ...; not BatchNormalization, nor layers with an
            activity regularizer, nor custom layers) and the MinDiff inputs have
            the original inputs' structure. A single loss only.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    ```python
    original = keras.Sequential([keras.Input((n,)), keras.layers.Dense(1, "sigmoid")])
    model = MinDiffModel(original, loss=MMDLoss("gaussian"), loss_weight=1.5)
    model.compile("adam", "binary_crossentropy")
    model.fit(MinDiffPyDataset(x, y, sensitive_x=xs, nonsensitive_x=xn, batch_size=128))
    model.predict(x)  # the original model's predictions
    ```
    """

    def __init__(
        self,
        original_model: keras.Model,
        loss,
        loss_weight=1.0,
        predictions_transform=None,
        fuse_forward_passes="auto",
        **kwargs,
    ):
        if _functional_base(type(self)) is not None:
            # `class CustomMinDiffModel(MinDiffModel, CustomModel)` where a functional
            # `CustomModel(inputs, outputs)` exists: Keras rebased CustomModel on
            # Functional, whose __init__ needs a graph. This wrapper is a subclassed
            # model: initialise it as one and keep Functional's methods out of its way.
            _use_model_methods_over_functional(type(self))
            keras.Model.__init__(self, **kwargs)
        else:
            super().__init__(**kwargs)
        if not isinstance(original_model, keras.Model):
            raise ValueError(
                "Invalid value for argument `original_model`: expected a keras.Model. "
                f"Received: original_model={original_model!r}"
            )
        self.original_model = original_model
        # Inside, one loss is a dict of one entry under `_SINGLE`, so every path is the
        # dict path; `loss_config`, `loss_weight` and `compute_min_diff_loss` give the
        # user's shape back.
        self._single = not isinstance(loss, dict)
        if self._single:
            self._loss = {_SINGLE: losses_module.get(loss, "loss")}
        else:
            if not loss:
                raise ValueError("Invalid value for argument `loss`: the dict is empty.")
            self._loss = {k: losses_module.get(v, f"loss[{k!r}]") for k, v in loss.items()}
        self._loss_weight = _conform_weights(self._loss, loss_weight, self._single)
        self._predictions_transform = transforms.validate_transform(predictions_transform)
        self._trackers = {
            k: keras.metrics.Mean(name="min_diff_loss" if k is _SINGLE else f"{k}_min_diff_loss")
            for k in self._loss
        }
        if fuse_forward_passes not in ("auto", True, False):
            raise ValueError(
                "Invalid value for argument `fuse_forward_passes`: expected 'auto', True or "
                f"False. Received: fuse_forward_passes={fuse_forward_passes!r}"
            )
        self.fuse_forward_passes = fuse_forward_passes
        self._fuse = self._single and (
            fuse_forward_passes is True
            or (fuse_forward_passes == "auto" and _is_per_example(original_model))
        )
        self._fused_min_diff_predictions = None
        self._logs_min_diff_loss = True
        self._validation_has_min_diff_data = True
        if original_model.built:
            self.built = True

    def _user_shape(self, by_key):
        """A dict keyed like `_loss` in the shape the user gave `loss` (one value or a dict)."""
        return by_key[_SINGLE] if self._single else dict(by_key)

    @property
    def loss_config(self):
        return self._user_shape(self._loss)

    @property
    def loss_weight(self):
        return self._user_shape(self._loss_weight)

    @property
    def predictions_transform(self):
        return self._predictions_transform

    def _tracker_list(self):
        return list(self._trackers.values())

    @property
    def metrics(self):
        metrics = super().metrics
        ids = {id(m) for m in metrics}
        return metrics + [t for t in self._tracker_list() if id(t) not in ids]

    def build(self, input_shape=None):
        if not self.original_model.built and input_shape is not None:
            self.original_model.build(self.unpack_original_inputs(input_shape))
        self.built = True

    def unpack_original_inputs(self, inputs):
        """The original model's inputs in a batch's `x` (TFMR's hook).

        `call`, `compute_loss`, `fit` and `evaluate` read batches through this method
        and `unpack_min_diff_data`: override both to use a custom batch structure.
        The default is `min_diff.keras.utils.unpack_original_inputs`.
        """
        return input_utils.unpack_original_inputs(inputs)

    def unpack_min_diff_data(self, inputs):
        """The MinDiff data in a batch's `x`, or None (TFMR's hook; see
        `unpack_original_inputs`). The default is `min_diff.keras.utils.unpack_min_diff_data`.
        """
        return input_utils.unpack_min_diff_data(inputs)

    def call(self, inputs, training=None, mask=None):
        original_inputs = self.unpack_original_inputs(inputs)
        min_diff_data = self.unpack_min_diff_data(inputs)
        self._fused_min_diff_predictions = None
        if self._fuse and _fusable(original_inputs, min_diff_data):
            # One forward pass over [original; MinDiff] examples: the same per-example
            # results as two passes, at a fraction of the per-step overhead.
            min_diff_x = min_diff_data[0]
            n = ops.shape(keras.tree.flatten(original_inputs)[0])[0]
            combined = keras.tree.map_structure(
                lambda a, b: ops.concatenate([a, ops.cast(b, a.dtype)], axis=0),
                original_inputs,
                min_diff_x,
            )
            outputs = self.original_model(combined, training=training)
            self._fused_min_diff_predictions = keras.tree.map_structure(lambda t: t[n:], outputs)
            return keras.tree.map_structure(lambda t: t[:n], outputs)
        return self.original_model(original_inputs, training=training)

    def compute_min_diff_loss(self, min_diff_data, training=None, mask=None):
        """The weighted MinDiff loss(es) of a batch of MinDiff data.

        Args:
            min_diff_data: `(x, membership[, sample_weight])`, or a dict of them
                keyed like `loss`.
            training: passed to the original model's forward pass.
            mask: unused (TFMR's signature; masking is the original model's).

        Returns:
            A scalar, or a dict of scalars for a dict of losses (each already
            multiplied by its `loss_weight`).
        """
        if self._single:
            if isinstance(min_diff_data, dict):
                raise ValueError(
                    "The MinDiff data is a dict but `loss` is a single loss. Pass a dict of "
                    f"losses with keys {sorted(min_diff_data)}."
                )
            min_diff_data = {_SINGLE: min_diff_data}
        elif not isinstance(min_diff_data, dict) or set(min_diff_data) != set(self._loss):
            raise ValueError(
                "The MinDiff data must be a dict with the same keys as `loss` "
                f"{_structure_keys(self._loss)}. Received keys: "
                f"{_structure_keys(min_diff_data) if isinstance(min_diff_data, dict) else type(min_diff_data).__name__}"  # noqa: E501
            )
        return self._user_shape(
            {
                k: self._single_min_diff_loss(
                    min_diff_data[k], self._loss[k], self._loss_weight[k], training
                )
                for k in self._loss
            }
        )

    def _single_min_diff_loss(self, data, loss, weight, training):
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError(
                "Each MinDiff data element must be a tuple (x, membership) or "
                f"(x, membership, sample_weight). Received: {type(data).__name__}"
            )
        x, membership, sample_weight = keras.utils.unpack_x_y_sample_weight(tuple(data))
        if self._fused_min_diff_predictions is not None:
            predictions = self._fused_min_diff_predictions
            self._fused_min_diff_predictions = None
        else:
            # `super().compute_loss` has already read the main pass's losses, so the
            # activity losses this extra pass records are never added to the total;
            # weight penalties are computed from the weights once, in the task loss.
            predictions = self.original_model(x, training=training)
        predictions = transforms.apply_transform(self._predictions_transform, predictions)
        if isinstance(predictions, (dict, list, tuple)):
            raise ValueError(
                "The original model returns several outputs: pass `predictions_transform` "
                "(an output key or index) to choose the one MinDiff compares. Received "
                f"outputs: {type(predictions).__name__}"
            )
        membership = regkit_backend.all_gather_batch(
            ops.cast(ops.convert_to_tensor(membership), "float32")
        )
        predictions = regkit_backend.all_gather_batch(predictions)
        if sample_weight is not None:
            sample_weight = regkit_backend.all_gather_batch(
                ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            )
        return weight * loss(membership, predictions, sample_weight)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        min_diff_data = self.unpack_min_diff_data(x)
        if min_diff_data is None:
            if training:
                raise ValueError(
                    "MinDiffModel is training without MinDiff data. Pack it into the "
                    "inputs with `keras_regkit.min_diff.MinDiffPyDataset` (NumPy) or "
                    "`pack_min_diff_data` (tf.data)."
                )
            return total
        min_diff_losses = self.compute_min_diff_loss(min_diff_data, training=training)
        if self._single:
            min_diff_losses = {_SINGLE: min_diff_losses}
        for key, value in min_diff_losses.items():
            self._trackers[key].update_state(value)
        min_diff_total = ops.sum(ops.stack(list(min_diff_losses.values())))
        # Keras divides the task loss by the replica count under tf.distribute;
        # the MinDiff loss is a global-batch value, so it is divided the same way.
        replicas = regkit_backend.num_replicas_in_sync()
        if total is None:
            total = ops.zeros((), dtype="float32")
        min_diff_total = ops.cast(min_diff_total, total.dtype)
        return total + (min_diff_total if replicas == 1 else min_diff_total / replicas)

    def get_metrics_result(self):
        results = super().get_metrics_result()
        if not self._logs_min_diff_loss:
            # Evaluating without MinDiff data: there is no MinDiff loss to report.
            for tracker in self._tracker_list():
                results.pop(tracker.name, None)
        return results

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        self._validation_has_min_diff_data = validation_data is None or _contains_min_diff_data(
            self, validation_data[0] if isinstance(validation_data, tuple) else validation_data
        )
        self._logs_min_diff_loss = True
        if not args and y is None and _gathers_in_tf_data(x, kwargs):
            # The same batches, gathered by tf.data instead of a Python generator.
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _PyDatasetEpochs(x)]
            x = x.as_tf_dataset(shuffle_batches=bool(kwargs.get("shuffle", True)))
            kwargs["shuffle"] = False
        try:
            return super().fit(x, y, *args, validation_data=validation_data, **kwargs)
        finally:
            self._logs_min_diff_loss = True

    def evaluate(self, x=None, *args, **kwargs):
        if kwargs.get("_use_cached_eval_dataset"):
            has_data = self._validation_has_min_diff_data
        else:
            has_data = _contains_min_diff_data(self, x)
        self._logs_min_diff_loss = has_data
        try:
            return super().evaluate(x, *args, **kwargs)
        finally:
            self._logs_min_diff_loss = True

    def save_original_model(self, filepath, *args, **kwargs):
        """Saves only the original model (e.g. to serve it without MinDiff)."""
        return self.original_model.save(filepath, *args, **kwargs)

    def export(self, filepath, *args, **kwargs):
        """Exports the original model: the serving signature takes plain inputs."""
        return self.original_model.export(filepath, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "original_model": keras.saving.serialize_keras_object(self.original_model),
                "loss": keras.saving.serialize_keras_object(self.loss_config),
                "loss_weight": self.loss_weight,
                "predictions_transform": transforms.serialize_transform(
                    self._predictions_transform
                ),
                "fuse_forward_passes": self.fuse_forward_passes,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)  # Keras's deserialization consumes nested dicts
        config["original_model"] = keras.saving.deserialize_keras_object(
            config["original_model"], custom_objects=custom_objects
        )
        loss = config["loss"]
        if isinstance(loss, dict) and "class_name" not in loss:
            config["loss"] = {k: losses_module.get(v) for k, v in loss.items()}
        else:
            config["loss"] = losses_module.get(loss)
        config["predictions_transform"] = transforms.deserialize_transform(
            config.get("predictions_transform")
        )
        return cls(**config)


# The key of a single (non-dict) `loss` in the internal dicts.
_SINGLE = None

# Keras layers whose output for one example depends only on that example (and that add
# no activity loss): a model made of them gives the same results on [x; min_diff_x]
# in one pass as in two. BatchNormalization and in-model MixUp-like layers are not
# per-example; unknown layers are assumed not to be.
_PER_EXAMPLE_LAYERS = tuple(
    getattr(keras.layers, name)
    for name in (
        "InputLayer",
        "Dense",
        "EinsumDense",
        "Embedding",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "Normalization",
        "Rescaling",
        "Identity",
        "Flatten",
        "Reshape",
        "Permute",
        "RepeatVector",
        "Concatenate",
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
        "Dot",
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Conv1DTranspose",
        "Conv2DTranspose",
        "Conv3DTranspose",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "AveragePooling1D",
        "AveragePooling2D",
        "AveragePooling3D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalAveragePooling3D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalMaxPooling3D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
    )
    if hasattr(keras.layers, name)
)


def _is_per_example(model) -> bool:
    """Whether `model` is a Sequential/Functional stack of per-example Keras layers."""
    if type(model) not in (keras.Sequential, keras.Model) and not (
        isinstance(model, keras.Model) and type(model).__name__ == "Functional"
    ):
        return False
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            if not _is_per_example(layer):
                return False
        elif type(layer) not in _PER_EXAMPLE_LAYERS or layer.activity_regularizer is not None:
            return False
    return True


def _fusable(original_inputs, min_diff_data) -> bool:
    if not isinstance(min_diff_data, (tuple, list)) or len(min_diff_data) not in (2, 3):
        return False
    try:
        keras.tree.assert_same_structure(original_inputs, min_diff_data[0])
    except (ValueError, TypeError):
        return False
    for a, b in zip(
        keras.tree.flatten(original_inputs), keras.tree.flatten(min_diff_data[0]), strict=True
    ):
        if not hasattr(a, "shape") or not hasattr(b, "shape"):
            return False
        if len(a.shape) == 0 or tuple(a.shape[1:]) != tuple(b.shape[1:]):
            return False
    return True


def _gathers_in_tf_data(x, fit_kwargs) -> bool:
    """Whether `fit` feeds `x` through `MinDiffPyDataset.as_tf_dataset`: on the tensorflow
    backend, for a `MinDiffPyDataset` itself (a subclass may change its batches) that Keras
    would read in this process, one epoch after another (no `steps_per_epoch`, whose epochs
    resume the previous one's iterator; no `class_weight`, which Keras applies to PyDataset
    batches in NumPy)."""
    if not regkit_backend.prefers_tf_data() or type(x) is not MinDiffPyDataset:
        return False
    if x.workers > 1 or x.use_multiprocessing:
        return False
    if any(
        fit_kwargs.get(name) is not None
        for name in ("steps_per_epoch", "class_weight", "sample_weight")
    ):
        return False
    if fit_kwargs.get("validation_split") or isinstance(
        fit_kwargs.get("callbacks"), keras.callbacks.CallbackList
    ):
        return False
    return not getattr(keras.config, "max_steps_per_epoch", lambda: None)()


class _PyDatasetEpochs(keras.callbacks.Callback):
    """Moves a `MinDiffPyDataset` fed as `as_tf_dataset()` to its next epoch's draws where
    Keras's `PyDataset` adapter would: when `fit` starts (its epoch iterator's reset),
    then after every epoch."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def on_train_begin(self, logs=None):
        self.dataset.on_epoch_end()

    def on_epoch_end(self, epoch, logs=None):
        self.dataset.on_epoch_end()


def _contains_min_diff_data(model, x) -> bool:
    """Whether evaluation data carries MinDiff data (decided before any tracing),
    read through the model's `unpack_min_diff_data` hook."""

    def has(sample):
        try:
            return model.unpack_min_diff_data(sample) is not None
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            return False

    if isinstance(x, keras.utils.PyDataset):
        first = x[0]
        return has(first[0] if isinstance(first, tuple) else first)
    if regkit_backend.is_tf_dataset(x):
        spec = x.element_spec
        first = (
            spec[0]
            if isinstance(spec, tuple) and not isinstance(spec, MinDiffPackedInputs)
            else spec
        )
        return has(first)
    if x is None or isinstance(x, (dict, list, tuple)) or hasattr(x, "shape"):
        return has(x)
    return True  # an iterator we cannot peek at: keep the metric


def _functional_base(cls):
    """Keras's Functional class when it is in `cls`'s MRO (through a rebased user class)."""
    for klass in cls.__mro__:
        if klass.__name__ == "Functional" and klass.__module__.startswith("keras."):
            return klass
    return None


def _use_model_methods_over_functional(cls) -> None:
    """Makes `cls` resolve every attribute Functional (or its base Function) defines
    to `keras.Model`'s, unless a class before them in the MRO overrides it.

    A MinDiffModel subclass that also inherits from a user's functional model class
    keeps that class's own methods (e.g. its `train_step`) and loses only the
    graph-network machinery, which needs a Functional `__init__` it never gets.
    """
    if cls.__dict__.get("_regkit_functional_shadowed"):
        return
    functional = _functional_base(cls)
    graph_classes = [k for k in functional.__mro__ if k not in keras.Model.__mro__]
    skip = {"__doc__", "__module__", "__init__", "__dict__", "__weakref__", "__qualname__"}
    for name in {n for k in graph_classes for n in vars(k)} - skip:
        owner = next(k for k in cls.__mro__ if name in vars(k))
        if owner not in graph_classes:
            continue  # defined by the user's class or by MinDiffModel
        model_owner = next((k for k in keras.Model.__mro__ if name in vars(k)), None)
        if model_owner is not None:
            setattr(cls, name, vars(model_owner)[name])
    cls._regkit_functional_shadowed = True


def _conform_weights(loss, loss_weight, single):
    """`loss_weight` as a dict keyed like the (normalized) `loss` dict."""

    def check(value, where):
        # NaN and inf are refused (NaN slips through `value < 0`); NumPy scalars pass.
        return _validation.check_float(f"loss_weight{where}", value, 0.0)

    if loss_weight is None:
        loss_weight = 1.0
    if single and isinstance(loss_weight, dict):
        raise ValueError(
            "`loss_weight` is a dict but `loss` is a single loss. Received: "
            f"loss_weight={loss_weight!r}"
        )
    if not isinstance(loss_weight, dict):
        value = check(loss_weight, "")
        return {k: value for k in loss}
    unknown = set(loss_weight) - set(loss)
    if unknown:
        raise ValueError(
            f"`loss_weight` has keys {sorted(unknown)} that are not keys of `loss` {sorted(loss)}."
        )
    return {k: check(loss_weight.get(k, 1.0), f"[{k!r}]") for k in loss}
