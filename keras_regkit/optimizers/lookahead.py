"""Lookahead, as an optimizer wrapper."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit.optimizers._wrapper import OptimizerWrapper


@keras.saving.register_keras_serializable(package="keras_regkit")
class Lookahead(OptimizerWrapper):
    """Lookahead: the wrapped ("fast") optimizer explores, slow weights follow.

    The wrapper keeps a copy `phi` of the weights (the slow weights, taken at
    the first step). The wrapped optimizer updates the model's weights `theta`
    as usual; after every `sync_period`-th update,

    `phi <- phi + slow_step_size * (theta - phi)` and then `theta <- phi`

    (Zhang et al., 2019, Algorithm 1). The slow weights are optimizer
    variables, so they are saved in `.keras` files and training resumes
    identically. After training the model holds the fast weights, as in TF
    Addons' `Lookahead`; they equal the slow weights when the number of steps
    is a multiple of `sync_period`.

    The synchronisation is computed with `ops.where` on the step counter, not
    a Python `if`, so the step compiles with XLA on TensorFlow and JAX.

    Reference: M. R. Zhang, J. Lucas, G. Hinton and J. Ba, "Lookahead
    Optimizer: k steps forward, 1 step back", NeurIPS 2019 (they use
    `sync_period` in {5, 10} and `slow_step_size` in {0.5, 0.8}).

    Args:
        optimizer: the fast optimizer: a `keras.optimizers.Optimizer`, or a
            name or config accepted by `keras.optimizers.get`.
        sync_period: positive int, the paper's `k`, fast steps between two
            synchronisations.
        slow_step_size: float in (0, 1], the paper's `alpha`. 1 makes the
            wrapper a pass-through.
        name: optional name of the optimizer.

    Example:

    >>> optimizer = Lookahead(keras.optimizers.SGD(0.1), sync_period=2)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=4, verbose=0)
    >>> int(optimizer.iterations)
    2
    """

    def __init__(
        self,
        optimizer: Any,
        sync_period: int = 5,
        slow_step_size: float = 0.5,
        name: str | None = None,
    ):
        sync_period = _validation.check_int("sync_period", sync_period, 1)
        slow_step_size = _validation.check_float(
            "slow_step_size", slow_step_size, 0, 1, min_inclusive=False
        )
        super().__init__(optimizer, name=name)
        self.sync_period = sync_period
        self.slow_step_size = slow_step_size

    def build(self, var_list):
        super().build(var_list)
        self._slow_weights = [
            self.add_variable_from_reference(variable, name="slow") for variable in var_list
        ]

    def apply(self, grads, trainable_variables=None):
        variables = self._build_and_resolve(trainable_variables)
        # The slow weights start as the weights of the first step (not at
        # build time), so weights loaded after compile() are picked up.
        first = ops.equal(self.iterations, 0)
        for slow, variable in zip(self._slow_weights, variables, strict=True):
            fast = ops.cast(ops.convert_to_tensor(variable), slow.dtype)
            slow.assign(ops.where(first, fast, ops.convert_to_tensor(slow)))
        self.inner_optimizer.apply(grads, trainable_variables)
        sync = ops.equal(ops.mod(self.iterations, self.sync_period), 0)
        alpha = self.slow_step_size
        for slow, variable in zip(self._slow_weights, variables, strict=True):
            fast = ops.cast(ops.convert_to_tensor(variable), slow.dtype)
            old = ops.convert_to_tensor(slow)
            new_slow = ops.where(sync, old + alpha * (fast - old), old)
            slow.assign(new_slow)
            variable.assign(ops.cast(ops.where(sync, new_slow, fast), variable.dtype))

    @property
    def slow_weights(self) -> list:
        """The slow weights `phi`, one per trainable variable."""
        return list(self._slow_weights)

    def get_config(self):
        config = super().get_config()
        config.update({"sync_period": self.sync_period, "slow_step_size": self.slow_step_size})
        return config
