"""Adversarial training (FGSM and PGD) as a model wrapper."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit import backend as regkit_backend

_METHODS = ("fgsm", "pgd")


@keras.saving.register_keras_serializable(package="keras_regkit")
class AdversarialModel(keras.Model):
    """Trains a model on clean and adversarially perturbed inputs.

    At every training step the wrapper perturbs the batch's inputs within an
    L-infinity ball of radius `epsilon` so as to increase the model's loss, and
    minimises

    `(1 - adversarial_weight) * loss(x) + adversarial_weight * loss(x_adv)`

    where `loss` is the loss given to `compile()`. Two attacks are available:

    - `"fgsm"`, the fast gradient sign method (Goodfellow et al., 2015):
      `x_adv = x + epsilon * sign(grad_x loss(x))`.
    - `"pgd"`, projected gradient descent with a random start (Madry et al.,
      2018): start from a uniform draw in the ball, then take `steps` steps
      `x_adv <- project(x_adv + step_size * sign(grad_x loss(x_adv)))`, where
      `project` clips to the ball around `x`. The default
      `step_size = 2.5 * epsilon / steps` follows the Madry lab's `robustness`
      library: it lets the walk cross the ball from any point, with room for
      the projection to bounce back.

    Adversarial examples are clipped to `[clip_min, clip_max]` (set these to the
    valid input range, e.g. 0 and 1 for scaled pixels) and are constants for the
    weight update (their own dependence on the weights is not differentiated).
    The attack runs the model in inference mode (dropout off, batch-norm moving
    statistics, no state updated), as cleverhans does; the adversarial loss is
    then computed in the step's mode. Only floating-point inputs are perturbed;
    integer inputs (token ids, categories) pass through unchanged. Additional
    losses (weight regularizers, `add_loss`) enter the total once.

    `fit` logs `clean_loss` and `adversarial_loss` next to the combined `loss`;
    `evaluate` reports the same quantities (the attack runs there too), while
    compiled metrics are computed on the clean predictions (the per-output loss
    metrics of a multi-output model count the clean and the adversarial pass). `predict` and
    calling the model take plain inputs and run the wrapped model. Use
    `adversarial_examples(x, y)` to attack the current model, e.g. to measure
    accuracy under attack.

    References: I. J. Goodfellow, J. Shlens and C. Szegedy, "Explaining and
    Harnessing Adversarial Examples", ICLR 2015; A. Madry, A. Makelov,
    L. Schmidt, D. Tsipras and A. Vladu, "Towards Deep Learning Models
    Resistant to Adversarial Attacks", ICLR 2018.

    Args:
        model: the `keras.Model` to train.
        epsilon: positive float, the L-infinity radius of the perturbation, in
            input units.
        method: `"fgsm"` or `"pgd"`.
        steps: positive int, the number of PGD steps (ignored by FGSM). Each
            costs a forward and a backward pass; the steps are unrolled in the
            compiled train step, so XLA compile time grows with `steps`.
        step_size: positive float or None, the size of each PGD step. None
            means `2.5 * epsilon / steps`.
        adversarial_weight: float in [0, 1], the weight of the adversarial loss.
            0 trains on clean inputs only (while still logging the adversarial
            loss); 1 trains on adversarial inputs only.
        clip_min: float or None, the smallest valid input value.
        clip_max: float or None, the largest valid input value.
        seed: int or None, seed of PGD's random start.
        **kwargs: base model arguments (`name`, ...).

    Example:

    >>> base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model = AdversarialModel(base, epsilon=0.1, method="pgd", steps=3, seed=1)
    >>> model.compile(
    ...     optimizer="adam",
    ...     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ... )
    >>> x, y = np.random.rand(16, 4).astype("float32"), np.arange(16) % 3
    >>> history = model.fit(x, y, epochs=1, verbose=0)
    >>> model.predict(x, verbose=0).shape
    (16, 3)
    >>> x_adv = model.adversarial_examples(x, y)  # |x_adv - x| <= 0.1
    """

    def __init__(
        self,
        model: keras.Model,
        epsilon: float = 0.01,
        method: str = "fgsm",
        steps: int = 10,
        step_size: float | None = None,
        adversarial_weight: float = 0.5,
        clip_min: float | None = None,
        clip_max: float | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        if not isinstance(model, keras.Model):
            raise _validation.invalid("model", "a keras.Model", model)
        epsilon = _validation.check_float("epsilon", epsilon, 0, min_inclusive=False)
        method = _validation.check_choice("method", method, _METHODS)
        steps = _validation.check_int("steps", steps, 1)
        if step_size is not None:
            step_size = _validation.check_float("step_size", step_size, 0, min_inclusive=False)
        adversarial_weight = _validation.check_probability("adversarial_weight", adversarial_weight)
        clip_min = _validation.check_float("clip_min", clip_min, allow_none=True)
        clip_max = _validation.check_float("clip_max", clip_max, allow_none=True)
        if clip_min is not None and clip_max is not None and clip_min >= clip_max:
            raise ValueError(
                "Invalid values for arguments `clip_min` and `clip_max`: expected "
                f"clip_min < clip_max. Received: clip_min={clip_min}, clip_max={clip_max}"
            )
        seed = _validation.check_seed(seed)
        super().__init__(**kwargs)
        self.model = model
        self.epsilon = epsilon
        self.method = method
        self.steps = steps
        self.step_size = step_size
        self.adversarial_weight = adversarial_weight
        self.clip_min = clip_min
        self.clip_max = clip_max
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.clean_loss_tracker = keras.metrics.Mean(name="clean_loss")
        self.adversarial_loss_tracker = keras.metrics.Mean(name="adversarial_loss")
        if model.built:
            self.built = True

    def build(self, input_shape=None):
        if not self.model.built:
            self.model.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        return self.model(inputs, training=training)

    def export(self, filepath, *args, **kwargs):
        """Exports the wrapped model (adversarial training changes only training)."""
        return self.model.export(filepath, *args, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        clean_loss = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        x_adv = self._perturb(x, y, sample_weight)
        y_adv = self(x_adv, training=training)
        adversarial_loss = super().compute_loss(
            x=x_adv, y=y, y_pred=y_adv, sample_weight=sample_weight, training=training
        )
        batch_size = ops.shape(keras.tree.flatten(x)[0])[0]
        self.clean_loss_tracker.update_state(clean_loss, sample_weight=batch_size)
        self.adversarial_loss_tracker.update_state(adversarial_loss, sample_weight=batch_size)
        weight = self.adversarial_weight
        return (1.0 - weight) * clean_loss + weight * adversarial_loss

    def adversarial_examples(self, x: Any, y: Any, sample_weight: Any = None) -> Any:
        """Attacks the current model on one batch, with the configured method.

        Uses the loss given to `compile()`. Runs eagerly on the whole batch it is
        given; split large datasets into batches.

        Args:
            x: inputs (a tensor, array, or the structure the model takes).
            y: targets.
            sample_weight: optional sample weights of the loss.

        Returns:
            The adversarial inputs, as backend tensors with the structure of `x`.
        """
        if not self.compiled or self.loss is None:
            raise ValueError(
                "AdversarialModel.adversarial_examples() attacks the loss given to "
                "compile(); call `model.compile(loss=...)` first."
            )
        x = keras.tree.map_structure(ops.convert_to_tensor, x)
        y = keras.tree.map_structure(ops.convert_to_tensor, y)
        if sample_weight is not None:
            sample_weight = ops.convert_to_tensor(sample_weight)
        return self._perturb(x, y, sample_weight)

    def _perturb(self, x, y, sample_weight):
        """Returns adversarial inputs, treated as constants by autodiff."""
        leaves = keras.tree.flatten(x)
        is_float = [
            keras.backend.is_float_dtype(keras.backend.standardize_dtype(leaf.dtype))
            for leaf in leaves
        ]
        if not any(is_float):
            raise ValueError(
                "AdversarialModel perturbs floating-point inputs, but the model received "
                "only inputs of dtypes "
                f"{[keras.backend.standardize_dtype(leaf.dtype) for leaf in leaves]}."
            )
        clean = [ops.stop_gradient(leaf) for leaf, f in zip(leaves, is_float, strict=True) if f]

        # The attack sees the current weights as constants and must not change
        # any state (metrics, seeds, add_loss) or feed the weights' gradients.
        state = [(v, ops.stop_gradient(v.value)) for v in self.variables + self.metrics_variables]
        parent_compute_loss = super().compute_loss

        def attack_loss(perturbed):
            replaced = iter(perturbed)
            inputs = [
                next(replaced) if f else leaf for leaf, f in zip(leaves, is_float, strict=True)
            ]
            inputs = keras.tree.pack_sequence_as(x, inputs)
            with keras.StatelessScope(state_mapping=state):
                y_pred = self.model(inputs, training=False)
                loss = parent_compute_loss(
                    x=inputs, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
                )
            # A mean over the batch makes per-example gradients shrink with the
            # batch size; only their sign matters, so undo it to keep them away
            # from float16 underflow.
            return loss * ops.cast(ops.shape(perturbed[0])[0], loss.dtype)

        def ascend(perturbed, step_size):
            grads = regkit_backend.input_gradient(attack_loss, perturbed)
            return [
                self._project(p + ops.cast(step_size, p.dtype) * ops.sign(g), c)
                for p, g, c in zip(perturbed, grads, clean, strict=True)
            ]

        if self.method == "fgsm":
            perturbed = ascend(clean, self.epsilon)
        else:
            start = [
                self._project(
                    c
                    + keras.random.uniform(
                        ops.shape(c),
                        minval=-self.epsilon,
                        maxval=self.epsilon,
                        dtype=c.dtype,
                        seed=self.seed_generator,
                    ),
                    c,
                )
                for c in clean
            ]
            step_size = self.step_size or 2.5 * self.epsilon / self.steps
            perturbed = start
            for _ in range(self.steps):
                perturbed = ascend(perturbed, step_size)

        perturbed = iter([ops.stop_gradient(p) for p in perturbed])
        outputs = [next(perturbed) if f else leaf for leaf, f in zip(leaves, is_float, strict=True)]
        return keras.tree.pack_sequence_as(x, outputs)

    def _project(self, perturbed, clean):
        """Clips into the epsilon ball around `clean` and the valid input range."""
        epsilon = ops.cast(self.epsilon, clean.dtype)
        perturbed = ops.minimum(ops.maximum(perturbed, clean - epsilon), clean + epsilon)
        if self.clip_min is not None:
            perturbed = ops.maximum(perturbed, ops.cast(self.clip_min, clean.dtype))
        if self.clip_max is not None:
            perturbed = ops.minimum(perturbed, ops.cast(self.clip_max, clean.dtype))
        return perturbed

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "model": keras.saving.serialize_keras_object(self.model),
                "epsilon": self.epsilon,
                "method": self.method,
                "steps": self.steps,
                "step_size": self.step_size,
                "adversarial_weight": self.adversarial_weight,
                "clip_min": self.clip_min,
                "clip_max": self.clip_max,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(
            config["model"], custom_objects=custom_objects
        )
        return cls(**config)
