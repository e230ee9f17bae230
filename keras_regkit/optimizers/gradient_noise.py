"""Annealed Gaussian gradient noise, as an optimizer wrapper."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit import _validation


@keras.saving.register_keras_serializable(package="keras_regkit")
class GradientNoise(keras.optimizers.Optimizer):
    """Adds annealed Gaussian noise to the gradients of any optimizer.

    Before the wrapped optimizer applies a step, every gradient `g` becomes
    `g + N(0, s_t^2)` with, as in Neelakantan et al. (2015),

    `s_t^2 = stddev^2 / (1 + t)^decay`

    where `t` is the number of updates already applied (the wrapped optimizer's
    `iterations` before the step). `t` starts at 0, so the first update gets the
    full variance `stddev^2`: the paper's `eta / (1 + t)^gamma` is written with
    `1 + t` for exactly that reason (it is `eta` at the first step and finite for
    every `t >= 0`); `stddev^2` is the paper's `eta` and `decay` its `gamma`.
    `decay=0` keeps the noise constant (plain noisy SGD).

    The noise is drawn independently for every element of every gradient, from a
    `keras.random.SeedGenerator` that is part of the optimizer state: saving a
    compiled model to `.keras` and reloading it resumes the same noise sequence.
    Everything else (learning rate, clipping, weight decay, loss scaling,
    gradient accumulation, EMA) is the wrapped optimizer's; clipping therefore
    applies to the noisy gradient. Built like `keras.optimizers.LossScaleOptimizer`,
    so it works on every backend and inside XLA-compiled train steps.

    Reference: A. Neelakantan, L. Vilnis, Q. V. Le, I. Sutskever, L. Kaiser,
    K. Kurach and J. Martens, "Adding Gradient Noise Improves Learning for Very
    Deep Networks", arXiv:1511.06807, 2015 (they use `decay=0.55` and
    `stddev^2` in {0.01, 0.3, 1.0}).

    Args:
        optimizer: the optimizer to wrap: a `keras.optimizers.Optimizer`, or a
            name or config accepted by `keras.optimizers.get` (e.g. `"adam"`).
        stddev: non-negative float, the standard deviation of the noise at the
            first update (`t = 0`). `stddev=0` makes the wrapper an exact
            pass-through.
        decay: non-negative float, the annealing exponent of the variance.
        seed: int or None, seed of the noise generator.
        name: optional name of the optimizer.

    Example:

    >>> optimizer = GradientNoise(keras.optimizers.SGD(0.01), stddev=0.1, seed=1)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0)
    >>> int(optimizer.iterations)
    1
    """

    def __init__(
        self,
        optimizer: Any,
        stddev: float = 0.01,
        decay: float = 0.55,
        seed: int | None = None,
        name: str | None = None,
    ):
        inner = _get_optimizer(optimizer)
        stddev = _validation.check_float("stddev", stddev, 0)
        decay = _validation.check_float("decay", decay, 0)
        seed = _validation.check_seed(seed)
        super().__init__(learning_rate=0.0, name=name)
        # The wrapper's own step counter and learning rate are never used (both
        # are the wrapped optimizer's), so they are not part of its state.
        self._untrack_variable(self._iterations)
        self._untrack_variable(self._learning_rate)
        self.inner_optimizer = inner
        self.stddev = stddev
        self.decay = decay
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="gradient_noise_seed")
        self._track_variable(self.seed_generator.state)

    @property
    def optimizer(self) -> keras.optimizers.Optimizer:
        """The wrapped optimizer (alias of `inner_optimizer`)."""
        return self.inner_optimizer

    def build(self, var_list):
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    def noise_stddev(self) -> Any:
        """The standard deviation `s_t` of the noise the next update receives."""
        t = ops.cast(self.inner_optimizer.iterations, "float32")
        return self.stddev * ops.power(1.0 + t, -0.5 * self.decay)

    def apply(self, grads, trainable_variables=None):
        if not self.built:
            if trainable_variables is None:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already "
                    "be built on a list of variables. Call "
                    "`optimizer.build(trainable_variables)` first."
                )
            self.build(list(trainable_variables))
        variables = (
            self._trainable_variables if trainable_variables is None else trainable_variables
        )
        scale = self.noise_stddev()
        noisy_grads = []
        for grad, variable in zip(grads, variables, strict=True):
            if grad is None or self._overwrite_variable_with_gradient(variable):
                # No gradient, or a variable the optimizer overwrites with its
                # "gradient" (float8 scales): nothing to perturb.
                noisy_grads.append(grad)
                continue
            grad = ops.convert_to_tensor(grad)
            noise = keras.random.normal(ops.shape(grad), dtype=grad.dtype, seed=self.seed_generator)
            noisy_grads.append(grad + ops.cast(scale, grad.dtype) * noise)
        self.inner_optimizer.apply(noisy_grads, trainable_variables)

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    def get_config(self):
        # Not super().get_config(): the base arguments (clipnorm, weight_decay,
        # ...) belong to the wrapped optimizer.
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "stddev": self.stddev,
            "decay": self.decay,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer"] = keras.saving.deserialize_keras_object(
            config["optimizer"], custom_objects=custom_objects
        )
        return cls(**config)


def _get_optimizer(optimizer: Any) -> keras.optimizers.Optimizer:
    try:
        resolved = keras.optimizers.get(optimizer)
    except (ValueError, TypeError):
        resolved = None
    if not isinstance(resolved, keras.optimizers.Optimizer):
        raise ValueError(
            "Invalid value for argument `optimizer`: expected a keras.optimizers.Optimizer "
            f"or an optimizer name such as 'adam'. Received: optimizer={optimizer!r}"
        )
    if isinstance(resolved, keras.optimizers.LossScaleOptimizer):
        # Its gradients are still multiplied by the loss scale, which would
        # shrink the noise by the same factor.
        raise ValueError(
            "Invalid value for argument `optimizer`: a LossScaleOptimizer cannot be "
            "wrapped; wrap the other way around, "
            "`LossScaleOptimizer(GradientNoise(optimizer))`, as `compile()` does "
            f"automatically under the mixed_float16 policy. Received: optimizer={optimizer!r}"
        )
    return resolved
