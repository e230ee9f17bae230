"""Adaptive gradient clipping (AGC), as an optimizer wrapper."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit.optimizers._wrapper import OptimizerWrapper, unitwise_axes


@keras.saving.register_keras_serializable(package="keras_regkit")
class AdaptiveGradientClipping(OptimizerWrapper):
    """Clips each unit's gradient relative to the norm of its weights (AGC).

    For every unit `i` of every variable (an output column of a `Dense`
    kernel, an output filter of a `Conv` kernel; a vector such as a bias is
    one unit), with `W_i` its weights and `G_i` its gradient,

    `G_i <- G_i * min(1, clip_factor * max(||W_i||, eps) / max(||G_i||, 1e-6))`

    so no update can change a unit's weights by more than a fraction of their
    norm (Brock et al., 2021, eq. 3; the floor `1e-6` on `||G_i||` is timm's
    and the NFNets code's). The norms are Frobenius norms over all axes but
    the last, the output axis in Keras's kernel layout, which is the unit-wise
    rule of the paper (and of timm's `adaptive_clip_grad` in PyTorch's
    `(out, in, ...)` layout). The paper does not clip the final classifier
    layer; wrap the optimizer of a model whose last layer is excluded by
    giving that layer its own optimizer, or accept the (usually small)
    difference.

    A wrapper rather than a Keras `clipnorm`-like argument because Keras 3
    optimizers have no gradient hook; the wrapper composes with any optimizer
    and with the other keras_regkit wrappers (e.g.
    `AdaptiveGradientClipping(GradientCentralization("sgd"))`), serializes
    with its inner optimizer, and works in XLA-compiled steps on every backend.

    Reference: A. Brock, S. De, S. L. Smith and K. Simonyan, "High-Performance
    Large-Scale Image Recognition Without Normalization", ICML 2021.

    Args:
        optimizer: the optimizer to wrap: a `keras.optimizers.Optimizer`, or a
            name or config accepted by `keras.optimizers.get`.
        clip_factor: positive float, the largest allowed ratio of gradient to
            weight norm per unit (the paper's lambda; 0.01 for large batches,
            larger for small ones).
        eps: positive float, the floor on the weight norm, so units
            initialised at zero can still move.
        name: optional name of the optimizer.

    Example:

    >>> optimizer = AdaptiveGradientClipping(keras.optimizers.SGD(0.1), clip_factor=0.01)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0)
    >>> int(optimizer.iterations)
    1
    """

    def __init__(
        self,
        optimizer: Any,
        clip_factor: float = 0.01,
        eps: float = 1e-3,
        name: str | None = None,
    ):
        clip_factor = _validation.check_float("clip_factor", clip_factor, 0, min_inclusive=False)
        eps = _validation.check_float("eps", eps, 0, min_inclusive=False)
        super().__init__(optimizer, name=name)
        self.clip_factor = clip_factor
        self.eps = eps

    def transform_gradients(self, grads, variables):
        clipped = []
        for grad, variable in zip(grads, variables, strict=True):
            if grad is None or self._overwrite_variable_with_gradient(variable):
                clipped.append(grad)
                continue
            grad = ops.convert_to_tensor(grad)
            weight = ops.cast(ops.convert_to_tensor(variable), grad.dtype)
            axes = unitwise_axes(len(grad.shape))
            weight_norm = ops.sqrt(ops.sum(ops.square(weight), axis=axes, keepdims=True))
            grad_norm = ops.sqrt(ops.sum(ops.square(grad), axis=axes, keepdims=True))
            max_norm = self.clip_factor * ops.maximum(weight_norm, self.eps)
            scale = ops.minimum(1.0, max_norm / ops.maximum(grad_norm, 1e-6))
            clipped.append(grad * ops.cast(scale, grad.dtype))
        return clipped

    def get_config(self):
        config = super().get_config()
        config.update({"clip_factor": self.clip_factor, "eps": self.eps})
        return config
