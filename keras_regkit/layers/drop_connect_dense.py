"""Dense layer with DropConnect."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit import backend

# Masks are drawn as 16-bit uniform integers, two from each random 32-bit word: the
# generator's cost per mask entry is halved against one float32 uniform each.
_FIELD_BITS = 16
_FIELD_VALUES = 2**_FIELD_BITS
_FIELDS_PER_WORD = 32 // _FIELD_BITS


@keras.saving.register_keras_serializable(package="keras_regkit")
class DropConnectDense(keras.layers.Dense):
    """A `Dense` layer that drops weights instead of activations (DropConnect).

    In training, every element of the kernel and of the bias is kept with
    probability `1 - rate` and set to zero otherwise; kept weights are scaled by
    `1 / (1 - rate)` ("inverted" DropConnect, like Keras's inverted `Dropout`), so
    the expected output equals the `Dense` output and inference needs no
    rescaling. At inference the layer is exactly `keras.layers.Dense`: same
    weights, same arithmetic, same output.

    The keep probability is `1 - rate` rounded to a multiple of `2**-16` (exact
    for rates such as 0.5 or 0.25, within `2**-17` otherwise), and kept weights are
    scaled by the inverse of that probability, so the expected weight is exactly
    the weight. The masks are drawn as 16-bit uniform integers, two per random
    32-bit word, which halves the random bits drawn per step.

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
        # One draw covers the kernel and the bias: row `input_dim` is the bias mask.
        if self.per_sample:
            batch_size = ops.shape(inputs)[0]
            keep = _keep_mask((batch_size, rows, self.units), self.rate, self.seed_generator)
            kernel_keep, bias_keep = keep[:, :input_dim], keep[:, input_dim:]
        else:
            keep = _keep_mask((rows, self.units), self.rate, self.seed_generator)
            kernel_keep, bias_keep = keep[:input_dim], keep[input_dim:]
        kernel = self._drop(kernel, kernel_keep)
        if self.per_sample:
            # (batch, ..., input_dim) -> (batch, positions, input_dim): a batched matmul
            # with one (input_dim, units) kernel per example.
            flat = ops.reshape(inputs, (batch_size, -1, input_dim))
            outputs = ops.reshape(ops.matmul(flat, kernel), (*ops.shape(inputs)[:-1], self.units))
        else:
            outputs = ops.matmul(inputs, kernel)
        if bias is not None:
            bias = self._drop(bias, bias_keep)  # (1, units), or (batch, 1, units)
            if self.per_sample:
                # One bias row per example, broadcast over any middle axes.
                bias = ops.reshape(
                    bias, (batch_size,) + (1,) * (len(inputs.shape) - 2) + (self.units,)
                )
            outputs = ops.add(outputs, bias)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _drop(self, weights, keep):
        scale = ops.cast(_FIELD_VALUES / _keep_threshold(self.rate), weights.dtype)
        return ops.where(keep, weights * scale, ops.zeros_like(weights))

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "per_sample": self.per_sample, "seed": self.seed})
        return config


def _keep_threshold(rate: float) -> int:
    """A 16-bit field is kept when below this: `round((1 - rate) * 2**16)`, at least 1."""
    return max(1, min(_FIELD_VALUES, round((1.0 - rate) * _FIELD_VALUES)))


def _keep_mask(shape: tuple, rate: float, seed) -> object:
    """A boolean mask of `shape`, True with probability `_keep_threshold(rate) / 2**16`.

    That probability is `1 - rate` rounded to a multiple of 2**-16 (it is exact for
    rates such as 0.5 or 0.25); the layer scales kept weights by its inverse, so the
    expected weight is exactly the weight. The last axis is split across the fields
    of each 32-bit word, the other axes are not touched.
    """
    *outer, last = shape
    words = -(-last // _FIELDS_PER_WORD)  # ceil
    bits = backend.random_bits((*outer, words), seed)
    fields = [
        ops.bitwise_and(ops.right_shift(bits, _FIELD_BITS * i), _FIELD_VALUES - 1)
        for i in range(_FIELDS_PER_WORD)
    ]
    fields = ops.concatenate(fields, axis=-1)[..., :last]
    return ops.less(fields, _keep_threshold(rate))
