"""Dense layer with DropConnect."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_regkit")
class DropConnectDense(keras.layers.Dense):
    """A `Dense` layer that drops weights instead of activations (DropConnect).

    In training, every element of the kernel and of the bias is kept with
    probability `1 - rate` and set to zero otherwise; kept weights are scaled by
    `1 / (1 - rate)` ("inverted" DropConnect, like Keras's inverted `Dropout`), so
    the expected output equals the `Dense` output and inference needs no
    rescaling. At inference the layer is exactly `keras.layers.Dense`: same
    weights, same arithmetic, same output.

    Reference: L. Wan, M. Zeiler, S. Zhang, Y. LeCun and R. Fergus,
    "Regularization of neural networks using DropConnect", ICML 2013.
    (The paper's inference rule is a Gaussian moment-matching approximation; the
    inverted scaling used here gives the plain mean-network rule the paper
    compares it with, which is what `Dropout` does as well.)

    Masks: by default one mask is drawn per forward pass and shared by the whole
    batch (`per_sample=False`). This costs one `(input_dim, units)` mask per
    step, the same matmul as `Dense`, and is the fast choice. With
    `per_sample=True` each example gets its own mask, as in the paper; this
    materialises a `(batch_size, input_dim, units)` tensor (e.g. 256 x 1024 x
    1024 float32 = 1 GiB) and replaces the matmul by a batched matmul, so keep it
    for small layers.

    Every `Dense` argument is supported and serialized (`activation`,
    `use_bias`, initializers, regularizers, constraints, LoRA). A quantized
    layer runs the quantized `Dense` computation without DropConnect.

    Args:
        units: positive int, dimensionality of the output space.
        rate: float in [0, 1), the probability of dropping each weight.
        per_sample: bool; if True, draw an independent mask for every example of
            the batch (memory `batch_size * input_dim * units`).
        seed: int or None, seed of the mask generator.
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint, lora_rank, lora_alpha: as in
            `keras.layers.Dense`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a tensor of shape `(..., input_dim)`.
        training: bool; DropConnect is applied only when True.

    Returns:
        A tensor of shape `(..., units)`.

    Example:

    >>> layer = DropConnectDense(16, rate=0.5, activation="relu", seed=1)
    >>> x = np.ones((4, 8), "float32")
    >>> tuple(layer(x, training=True).shape)  # a fresh weight mask per call
    (4, 16)
    >>> dense = keras.layers.Dense(16, activation="relu")
    >>> dense.build((None, 8)); dense.set_weights(layer.get_weights())
    >>> bool(keras.ops.all(layer(x) == dense(x)))  # inference is exactly Dense
    True
    """

    def __init__(
        self,
        units: int,
        rate: float = 0.5,
        per_sample: bool = False,
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
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(
                "Invalid value for argument `rate`: expected a float in [0, 1). "
                f"Received: rate={rate}"
            )
        if not isinstance(per_sample, bool):
            raise ValueError(
                "Invalid value for argument `per_sample`: expected a bool. "
                f"Received: per_sample={per_sample!r}"
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
        self.rate = float(rate)
        self.per_sample = per_sample
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return super().call(inputs)
        # Reading the variables as tensors here also applies autocasting.
        kernel = ops.convert_to_tensor(self.kernel)
        bias = None if self.bias is None else ops.convert_to_tensor(self.bias)
        input_dim = kernel.shape[0]
        rows = input_dim + (bias is not None)
        # One uniform draw covers the kernel and the bias: row `input_dim` is the bias mask.
        if self.per_sample:
            batch_size = ops.shape(inputs)[0]
            noise = keras.random.uniform((batch_size, rows, self.units), seed=self.seed_generator)
            kernel_noise, bias_noise = noise[:, :input_dim], noise[:, input_dim:]
        else:
            noise = keras.random.uniform((rows, self.units), seed=self.seed_generator)
            kernel_noise, bias_noise = noise[:input_dim], noise[input_dim:]
        kernel = self._drop(kernel, kernel_noise)
        if self.per_sample:
            # (batch, ..., input_dim) -> (batch, positions, input_dim): a batched matmul
            # with one (input_dim, units) kernel per example.
            flat = ops.reshape(inputs, (batch_size, -1, input_dim))
            outputs = ops.reshape(ops.matmul(flat, kernel), (*ops.shape(inputs)[:-1], self.units))
        else:
            outputs = ops.matmul(inputs, kernel)
        if bias is not None:
            bias = self._drop(bias, bias_noise)  # (1, units), or (batch, 1, units)
            if self.per_sample:
                # One bias row per example, broadcast over any middle axes.
                bias = ops.reshape(
                    bias, (batch_size,) + (1,) * (len(inputs.shape) - 2) + (self.units,)
                )
            outputs = ops.add(outputs, bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _drop(self, weights, noise):
        keep = 1.0 - self.rate
        scaled = weights / ops.cast(keep, weights.dtype)
        return ops.where(noise < keep, scaled, ops.zeros_like(scaled))

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "per_sample": self.per_sample, "seed": self.seed})
        return config
