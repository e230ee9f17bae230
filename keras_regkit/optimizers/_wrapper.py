"""The base of keras_regkit's optimizer wrappers (not public).

Built like `keras.optimizers.LossScaleOptimizer`: the wrapper is itself a
`keras.optimizers.Optimizer`, owns no learning rate or step counter of its own
(both are the wrapped optimizer's), lists the wrapped optimizer's variables as
its own so that `stateless_apply` (JAX) and `.keras` saving see all the state,
and serializes the wrapped optimizer with `serialize_keras_object`.
"""

from __future__ import annotations

from typing import Any

import keras

from keras_regkit import _validation


class OptimizerWrapper(keras.optimizers.Optimizer):
    """Wraps `inner`; subclasses transform gradients or add state around its `apply`."""

    def __init__(self, optimizer: Any, name: str | None = None):
        inner = get_optimizer(optimizer)
        super().__init__(learning_rate=0.0, name=name)
        self._untrack_variable(self._iterations)
        self._untrack_variable(self._learning_rate)
        self.inner_optimizer = inner

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

    def transform_gradients(self, grads: list, variables: list) -> list:
        """Returns the gradients the wrapped optimizer applies (identity here)."""
        return grads

    def _build_and_resolve(self, trainable_variables):
        if not self.built:
            if trainable_variables is None:
                raise ValueError(
                    "When passing `grads` without `variables`, the optimizer must already "
                    "be built on a list of variables. Call "
                    "`optimizer.build(trainable_variables)` first."
                )
            self.build(list(trainable_variables))
        if trainable_variables is None:
            return list(self._trainable_variables)
        return list(trainable_variables)

    def apply(self, grads, trainable_variables=None):
        variables = self._build_and_resolve(trainable_variables)
        grads = self.transform_gradients(list(grads), variables)
        self.inner_optimizer.apply(grads, trainable_variables)

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
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer"] = keras.saving.deserialize_keras_object(
            config["optimizer"], custom_objects=custom_objects
        )
        return cls(**config)


def get_optimizer(optimizer: Any) -> keras.optimizers.Optimizer:
    """A Keras optimizer from an instance, name or config; a Keras-style error otherwise."""
    try:
        resolved = keras.optimizers.get(optimizer)
    except (ValueError, TypeError):
        resolved = None
    expected = "a keras.optimizers.Optimizer or an optimizer name such as 'adam'"
    if not isinstance(resolved, keras.optimizers.Optimizer):
        raise _validation.invalid("optimizer", expected, optimizer)
    if isinstance(resolved, keras.optimizers.LossScaleOptimizer):
        # Its gradients are still multiplied by the loss scale, which would
        # change the wrapper's (scale-dependent) transformation.
        raise _validation.invalid(
            "optimizer",
            "an optimizer that is not a LossScaleOptimizer (wrap the other way around, "
            "`LossScaleOptimizer(wrapper)`, as `compile()` does automatically under the "
            "mixed_float16 policy)",
            optimizer,
        )
    return resolved


def unitwise_axes(ndim: int) -> tuple[int, ...] | None:
    """The axes a unit-wise norm or mean reduces over, in Keras's kernel layout.

    Keras kernels put the output units last (`Dense`: `(in, out)`; `Conv2D`:
    `(h, w, in, out)`), as haiku does in the NFNets reference code, so a unit is
    a slice along the last axis. Vectors (biases, scales) are one unit.
    """
    if ndim <= 1:
        return None
    return tuple(range(ndim - 1))
