"""Adversarial debiasing (Zhang, Lemoine & Mitchell, 2018) as a model wrapper."""

from __future__ import annotations

import copy
from typing import Any

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend

_CRITERIA = ("demographic_parity", "equalized_odds")
# Keeps the projection finite when the adversary's gradient vanishes.
_NORM_EPSILON = 1e-12
FEATURES = "features"
SENSITIVE = "sensitive"


@keras.saving.register_keras_serializable(package="keras_regkit")
class AdversarialDebiasingModel(keras.Model):
    """Trains a predictor against an adversary that predicts the sensitive attribute.

    Adversarial debiasing (Zhang, Lemoine & Mitchell, "Mitigating Unwanted
    Biases with Adversarial Learning", AIES 2018). An adversary with weights
    `U` reads the predictor's output (and, for `criterion="equalized_odds"`,
    the label too) and predicts the sensitive group; it minimises its
    cross-entropy `L_A`. The predictor, with weights `W` and task loss `L_P`
    (the loss given to `compile()`), is updated along

    `g_P - proj(g_P on g_A) - loss_weight * g_A`,  `g_P = dL_P/dW`, `g_A = dL_A/dW`,

    as in eq. (1) of the paper: the projection removes the part of the task
    gradient that would help the adversary, and the last term moves the
    predictor to hurt it. The projection is taken on all of the predictor's
    trainable weights as one vector. `loss_weight=0` switches the adversary
    off for the predictor (neither term is applied: plain training), while the
    adversary still trains and its loss and accuracy are still logged.

    Both updates happen in one Keras `train_step` with the optimizer given to
    `compile()` (the adversary's weights get `dL_A/dU`), so every backend,
    `jit_compile=True`, mixed precision and callbacks work unchanged; the two
    predictor gradients come from one extra forward-backward pass
    (`keras_regkit.backend.input_gradient`). The adversary must keep up with
    the predictor: with a slow adversary, `- loss_weight * g_A` makes the
    prediction confidently *anti*-correlated with the group (a larger gap).
    Zhang et al. decay the learning rate and grow `alpha` over training;
    start with a small `loss_weight` (0.1) and watch `adversary_accuracy`.

    Data: the sensitive attribute travels in the inputs, as a dict
    `{"features": x, "sensitive": s}` with `s` the integer group of each
    example in `[0, num_groups)`, shape `(n,)` or `(n, 1)`: e.g.
    `model.fit({"features": x, "sensitive": s}, y)`. `predict`, `__call__` and
    `export()` take plain features (a packed dict is also accepted and its
    sensitive attribute ignored) and run the predictor alone.

    `fit` and `evaluate` log `adversary_loss` and `adversary_accuracy` (on
    packed data); an adversary at chance level means the predictor's output
    carries no information about the group (given the label, for equalized
    odds).

    Args:
        predictor: the `keras.Model` to train and serve.
        adversary: a `keras.Model` or layer mapping the predictor's output
            (concatenated with the label for equalized odds) to one logit for
            two groups or `num_groups` logits otherwise. None gives a logistic
            regression (one `Dense` layer), the paper's adversary.
        loss_weight: non-negative float, the paper's `alpha`.
        criterion: `"demographic_parity"` (the adversary sees the prediction)
            or `"equalized_odds"` (the prediction and the label).
        num_groups: int >= 2, the number of sensitive groups.
        project_gradient: bool, whether to remove the projection (False keeps
            only the `- loss_weight * g_A` term, plain gradient reversal).
        **kwargs: base model arguments (`name`, ...).

    Example:

    >>> predictor = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model = AdversarialDebiasingModel(predictor, loss_weight=1.0)
    >>> model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    >>> x = np.random.rand(16, 4).astype("float32")
    >>> y, s = np.arange(16) % 2, (np.arange(16) // 2) % 2
    >>> history = model.fit({"features": x, "sensitive": s}, y, epochs=1, verbose=0)
    >>> model.predict(x, verbose=0).shape
    (16, 1)
    """

    def __init__(
        self,
        predictor: keras.Model,
        adversary: keras.layers.Layer | None = None,
        loss_weight: float = 1.0,
        criterion: str = "demographic_parity",
        num_groups: int = 2,
        project_gradient: bool = True,
        **kwargs,
    ) -> None:
        if not isinstance(predictor, keras.Model):
            raise _validation.invalid("predictor", "a keras.Model", predictor)
        if adversary is not None and not isinstance(adversary, keras.layers.Layer):
            raise _validation.invalid("adversary", "a keras.Model, a layer or None", adversary)
        loss_weight = _validation.check_float("loss_weight", loss_weight, minimum=0.0)
        criterion = _validation.check_choice("criterion", criterion, _CRITERIA)
        num_groups = _validation.check_int("num_groups", num_groups, minimum=2)
        project_gradient = _validation.check_bool("project_gradient", project_gradient)
        super().__init__(**kwargs)
        self.predictor = predictor
        self.adversary = adversary or keras.Sequential(
            [keras.layers.Dense(self._adversary_units(num_groups))], name="adversary"
        )
        self.loss_weight = loss_weight
        self.criterion = criterion
        self.num_groups = num_groups
        self.project_gradient = project_gradient
        self.adversary_loss_tracker = keras.metrics.Mean(name="adversary_loss")
        self.adversary_accuracy_tracker = keras.metrics.Mean(name="adversary_accuracy")
        self._loss_override = None

    @staticmethod
    def _adversary_units(num_groups: int) -> int:
        return 1 if num_groups == 2 else num_groups

    @staticmethod
    def unpack_inputs(inputs: Any) -> tuple[Any, Any]:
        """`(features, sensitive)` of a batch's `x`; `sensitive` is None for plain features."""
        if isinstance(inputs, dict) and set(inputs) == {FEATURES, SENSITIVE}:
            return inputs[FEATURES], inputs[SENSITIVE]
        return inputs, None

    def build(self, input_shape=None):
        features_shape, _ = self.unpack_inputs(input_shape)
        if not self.predictor.built:
            self.predictor.build(features_shape)
        spec = keras.tree.map_shape_structure(keras.KerasTensor, features_shape)
        output = self.predictor.compute_output_spec(spec)
        if isinstance(output, (dict, list, tuple)):
            raise _validation.invalid(
                "predictor",
                "a model with one output (the adversary reads it)",
                received=f"outputs of type {type(output).__name__}",
            )
        width = 1
        for dim in output.shape[1:]:
            width *= dim
        if self.criterion == "equalized_odds":
            width = 2 * width
        if not self.adversary.built:
            self.adversary.build((None, width))
        expected = self._adversary_units(self.num_groups)
        shape = tuple(self.adversary.compute_output_spec(keras.KerasTensor((None, width))).shape)
        if len(shape) != 2 or shape[-1] != expected:
            raise _validation.invalid(
                "adversary",
                f"an output of shape (batch, {expected}) for num_groups={self.num_groups} "
                "(one logit for two groups, else one per group)",
                received=f"an adversary whose output has shape {shape}",
            )
        self.built = True

    def call(self, inputs, training=None):
        features, _ = self.unpack_inputs(inputs)
        return self.predictor(features, training=training)

    def export(self, filepath, *args, **kwargs):
        """Exports the predictor alone: the serving signature takes plain features."""
        return self.predictor.export(filepath, *args, **kwargs)

    @property
    def losses(self):
        # Lets `compute_loss` count the additional losses of the extra pass.
        if self._loss_override is not None:
            return self._loss_override
        return super().losses

    def _adversary_logits(self, y_pred, y, training):
        inputs = ops.reshape(ops.cast(y_pred, "float32"), (ops.shape(y_pred)[0], -1))
        if self.criterion == "equalized_odds":
            label = ops.reshape(ops.cast(y, "float32"), ops.shape(inputs))
            inputs = ops.concatenate([inputs, label], axis=-1)
        return self.adversary(inputs, training=training)

    def _adversary_loss(self, logits, sensitive, sample_weight):
        groups = ops.reshape(ops.cast(sensitive, "int32"), (-1,))
        if self.num_groups == 2:
            target = ops.cast(groups, "float32")
            logit = ops.reshape(ops.cast(logits, "float32"), (-1,))
            losses = ops.maximum(logit, 0) - logit * target + ops.log1p(ops.exp(-ops.abs(logit)))
            correct = ops.cast(ops.equal(ops.cast(logit > 0, "int32"), groups), "float32")
        else:
            logits = ops.cast(logits, "float32")
            losses = -ops.take_along_axis(
                ops.log_softmax(logits, axis=-1), ops.expand_dims(groups, -1), axis=-1
            )[:, 0]
            correct = ops.cast(ops.equal(ops.argmax(logits, axis=-1), groups), "float32")
        if sample_weight is None:
            return ops.mean(losses), ops.mean(correct)
        weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        total = ops.maximum(ops.sum(weight), _NORM_EPSILON)
        return ops.sum(weight * losses) / total, ops.sum(weight * correct) / total

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        task_loss = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        features, sensitive = self.unpack_inputs(x)
        if sensitive is None:
            if training:
                raise ValueError(
                    "AdversarialDebiasingModel is training without the sensitive attribute. "
                    'Pass it with the features: fit({"features": x, "sensitive": s}, y).'
                )
            return task_loss
        # The adversary learns from the prediction as a constant: dL_A/dU only.
        logits = self._adversary_logits(ops.stop_gradient(y_pred), y, training)
        adversary_loss, accuracy = self._adversary_loss(logits, sensitive, sample_weight)
        batch_size = ops.shape(sensitive)[0]
        self.adversary_loss_tracker.update_state(adversary_loss, sample_weight=batch_size)
        self.adversary_accuracy_tracker.update_state(accuracy, sample_weight=batch_size)
        # Value L_P; gradient dL_P/dW + dL_A/dU (+ the correction below).
        total = task_loss + ops.cast(
            adversary_loss - ops.stop_gradient(adversary_loss), task_loss.dtype
        )
        if not training or self.loss_weight == 0.0:
            return total
        correction = self._predictor_correction(features, y, sensitive, sample_weight)
        weights = [v.value for v in self.predictor.trainable_variables]
        linear = sum(
            ops.sum(ops.cast(w, "float32") * ops.stop_gradient(c))
            for w, c in zip(weights, correction, strict=True)
        )
        return total + ops.cast(linear - ops.stop_gradient(linear), total.dtype)

    def _predictor_correction(self, features, y, sensitive, sample_weight):
        """`-proj(g_P on g_A) - loss_weight * g_A` per predictor weight (float32)."""
        trainable = self.predictor.trainable_variables
        state = [ops.stop_gradient(v.value) for v in self.predictor.non_trainable_variables]
        adversary_state = [(v, ops.stop_gradient(v.value)) for v in self.adversary.variables]
        parent_compute_loss = super().compute_loss

        def both_losses(values):
            # Two copies of W: one backward pass gives g_P (first) and g_A (second).
            task_values, adversary_values = values
            y_task, _, losses = self.predictor.stateless_call(
                task_values, state, features, return_losses=True, training=True
            )
            self._loss_override = list(losses)
            try:
                task = parent_compute_loss(
                    x=features, y=y, y_pred=y_task, sample_weight=sample_weight, training=True
                )
            finally:
                self._loss_override = None
            y_adv, _ = self.predictor.stateless_call(
                adversary_values, state, features, training=True
            )
            with keras.StatelessScope(state_mapping=adversary_state):
                logits = self._adversary_logits(y_adv, y, training=True)
            adversary, _ = self._adversary_loss(logits, sensitive, sample_weight)
            return ops.cast(task, "float32") + adversary

        constants = [ops.stop_gradient(v.value) for v in trainable]
        task_grads, adversary_grads = regkit_backend.input_gradient(
            both_losses, [constants, list(constants)]
        )
        return projection_correction(
            task_grads, adversary_grads, self.loss_weight, self.project_gradient
        )

    def fit(self, x=None, y=None, *args, **kwargs):
        _, sensitive = self.unpack_inputs(x)
        if sensitive is not None and regkit_backend.is_concrete(sensitive):
            _validation.check_membership(sensitive, name="sensitive", min_groups=2)
            groups = _validation.check_array("sensitive", sensitive, ndim=(1, 2))
            if groups.min() < 0 or groups.max() >= self.num_groups:
                raise _validation.invalid(
                    "sensitive",
                    f"integer groups in [0, {self.num_groups}) (num_groups={self.num_groups})",
                    received=f"groups from {groups.min()} to {groups.max()}",
                )
        return super().fit(x, y, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "predictor": keras.saving.serialize_keras_object(self.predictor),
                "adversary": keras.saving.serialize_keras_object(self.adversary),
                "loss_weight": self.loss_weight,
                "criterion": self.criterion,
                "num_groups": self.num_groups,
                "project_gradient": self.project_gradient,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        for key in ("predictor", "adversary"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)


def projection_correction(task_grads, adversary_grads, loss_weight, project=True):
    """The paper's change to the task gradient: `-proj(g_P on g_A) - loss_weight * g_A`.

    The gradients are lists of tensors, taken together as one vector; the
    projection is `(g_P . g_A) / ||g_A||^2 * g_A`. Computed in float32.
    """
    task = [ops.cast(g, "float32") for g in task_grads]
    adversary = [ops.cast(g, "float32") for g in adversary_grads]
    factor = ops.cast(loss_weight, "float32")
    if project:
        dot = sum(ops.sum(p * a) for p, a in zip(task, adversary, strict=True))
        norm = sum(ops.sum(ops.square(a)) for a in adversary)
        factor = factor + dot / (norm + _NORM_EPSILON)
    return [-factor * a for a in adversary]
