"""Dense layer with Gaussian weight noise."""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_regkit")
class NoisyDense(keras.layers.Dense):
    """A `Dense` layer whose kernel is perturbed by Gaussian noise in training.

    Every training forward pass computes `activation(x @ (kernel + eps) + bias)`
    with `eps ~ N(0, stddev^2)` drawn afresh for every element of the kernel.
    The noise exists only in that forward pass: it is never written into the
    kernel variable, so the stored weights change only through the optimizer,
    and the gradient is the one of the noisy forward pass (weight-noise
    training). At inference the layer is exactly `keras.layers.Dense`.

    It is to weights what `keras.layers.GaussianNoise` is to activations: a
    regulariser with a fixed noise scale. It is *not* the `NoisyDense` of TF
    Addons / "Noisy Networks for Exploration" (Fortunato et al., 2018), whose
    noise scale is learned and which stays noisy at inference.

    References: A. Graves, "Practical variational inference for neural
    networks", NeurIPS 2011; G. An, "The effects of adding noise during
    backpropagation training on a generalization performance", Neural
    Computation 8(3), 1996.

    Args:
        units: positive int, dimensionality of the output space.
        stddev: non-negative float, standard deviation of the kernel noise (in
            the units of the kernel; Glorot-initialised kernels have standard
            deviation `sqrt(2 / (fan_in + fan_out))`).
        seed: int or None, seed of the noise generator.
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint, lora_rank, lora_alpha: as in
            `keras.layers.Dense`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a tensor of shape `(..., input_dim)`.
        training: bool; the kernel is perturbed only when True.

    Returns:
        A tensor of shape `(..., units)`.

    Example:

    >>> layer = NoisyDense(4, stddev=0.05, seed=1)
    >>> x = np.ones((2, 3), "float32")
    >>> noisy = layer(x, training=True)  # x @ (kernel + noise) + bias
    >>> clean = layer(x)  # x @ kernel + bias, the kernel is untouched
    """

    def __init__(
        self,
        units: int,
        stddev: float = 0.01,
        seed: int | None = None,
        activation=None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        if (
            isinstance(stddev, bool)
            or not isinstance(stddev, (int, float))
            or not math.isfinite(stddev)
            or stddev < 0
        ):
            raise ValueError(
                "Invalid value for argument `stddev`: expected a non-negative float. "
                f"Received: stddev={stddev}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                "Invalid value for argument `seed`: expected an int or None. "
                f"Received: seed={seed!r}"
            )
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.stddev = float(stddev)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0.0:
            return super().call(inputs)
        kernel = ops.convert_to_tensor(self.kernel)
        noise = keras.random.normal(
            ops.shape(kernel), stddev=self.stddev, dtype=kernel.dtype, seed=self.seed_generator
        )
        outputs = ops.matmul(inputs, ops.add(kernel, noise))
        if self.bias is not None:
            outputs = ops.add(outputs, self.bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config
