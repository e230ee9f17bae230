"""Gradient centralization, as an optimizer wrapper."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit.optimizers._wrapper import OptimizerWrapper, unitwise_axes


@keras.saving.register_keras_serializable(package="keras_regkit")
class GradientCentralization(OptimizerWrapper):
    """Centres each unit's gradient to zero mean before the wrapped optimizer's step.

    For every kernel with at least `min_ndim` axes, each unit's gradient (an
    output column of a `Dense` kernel, an output filter of a `Conv` kernel)
    loses its mean over the unit's inputs:

    `G_i <- G_i - mean(G_i)`

    the operator `Phi_GC` of Yong et al. (2020), which constrains the weights
    of each unit to a hyperplane and regularizes the weight space and the
    output features. Vectors (biases, batch-norm scales) are left unchanged,
    as in the paper (`min_ndim=2`); the paper's "GC-conv" variant, which
    centralizes convolution kernels only, is `min_ndim=3`.

    A wrapper rather than a `gradient_transform` function: Keras 3 optimizers
    have no gradient-transform hook, and a wrapper is a registered,
    serializable Keras object (no callables in the config, so `.keras` files
    reload with `safe_mode=True`) that composes with any optimizer and the
    other keras_regkit wrappers.

    Reference: H. Yong, J. Huang, X. Hua and L. Zhang, "Gradient
    Centralization: A New Optimization Technique for Deep Neural Networks",
    ECCV 2020.

    Args:
        optimizer: the optimizer to wrap: a `keras.optimizers.Optimizer`, or a
            name or config accepted by `keras.optimizers.get`.
        min_ndim: int >= 2, the smallest number of axes a gradient must have
            to be centralized.
        name: optional name of the optimizer.

    Example:

    >>> optimizer = GradientCentralization("adam")
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> history = model.fit(np.ones((8, 3)), np.ones((8, 2)), verbose=0)
    >>> int(optimizer.iterations)
    1
    """

    def __init__(self, optimizer: Any, min_ndim: int = 2, name: str | None = None):
        min_ndim = _validation.check_int("min_ndim", min_ndim, 2)
        super().__init__(optimizer, name=name)
        self.min_ndim = min_ndim

    def transform_gradients(self, grads, variables):
        centred = []
        for grad, variable in zip(grads, variables, strict=True):
            if (
                grad is None
                or len(grad.shape) < self.min_ndim
                or self._overwrite_variable_with_gradient(variable)
            ):
                centred.append(grad)
                continue
            grad = ops.convert_to_tensor(grad)
            axes = unitwise_axes(len(grad.shape))
            centred.append(grad - ops.mean(grad, axis=axes, keepdims=True))
        return centred

    def get_config(self):
        config = super().get_config()
        config.update({"min_ndim": self.min_ndim})
        return config
