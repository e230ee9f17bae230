"""Stochastic depth (DropPath) for residual branches."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_regkit")
class StochasticDepth(keras.layers.Layer):
    """Randomly drops whole residual branches, per example (stochastic depth).

    In training, each example's residual branch is kept with probability
    `1 - rate` and zeroed otherwise; kept branches are scaled by
    `1 / (1 - rate)`, so the expected output is unchanged and the layer is the
    identity at inference. This is the per-example, "inverted" form used by
    timm's `drop_path`, keras_cv's `DropPath` and most ViT/ConvNeXt training
    recipes.

    Reference: G. Huang, Y. Sun, Z. Liu, D. Sedra and K. Q. Weinberger, "Deep
    networks with stochastic depth", ECCV 2016 (https://arxiv.org/abs/1603.09382);
    per-example DropPath: G. Larsson, M. Maire and G. Shakhnarovich,
    "FractalNet", ICLR 2017.

    Convention, compared with Huang et al. and `keras_cv.layers.StochasticDepth`:
    they drop the branch for the whole batch at once and do not rescale in
    training, then multiply the branch by `1 - rate` at inference. Both give the
    same expected output; with the inverted convention the trained model needs no
    change at inference. Weights trained with one convention are not
    interchangeable with the other unless the last layer of each branch is
    rescaled by `1 - rate`.

    Two call forms:

    - `StochasticDepth(rate)(branch)` returns the (dropped, rescaled) branch,
      like timm's/keras_cv's DropPath: `x = x + StochasticDepth(0.1)(f(x))`.
    - `StochasticDepth(rate)([shortcut, branch])` returns
      `shortcut + dropped branch`, the call signature of
      `keras_cv.layers.StochasticDepth`, so it is a drop-in replacement for the
      residual addition.

    Args:
        rate: float in [0, 1), the probability of dropping a branch for an
            example. Huang et al. let it grow linearly with depth, from 0 at the
            input to 0.5 at the last block.
        seed: int or None, seed of the drop decisions.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: the residual branch, a tensor of shape `(batch, ...)`, or a list
            `[shortcut, branch]` of two tensors of the same shape.
        training: bool; branches are dropped only when True.

    Returns:
        The rescaled branch, or `shortcut + branch`, of the inputs' shape.

    Example:

    >>> inputs = keras.Input((8, 8, 16))
    >>> branch = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    >>> outputs = StochasticDepth(0.2, seed=1)([inputs, branch])
    >>> model = keras.Model(inputs, outputs)
    """

    def __init__(self, rate: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(
                "Invalid value for argument `rate`: expected a float in [0, 1). "
                f"Received: rate={rate}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(
                "Invalid value for argument `seed`: expected an int or None. "
                f"Received: seed={seed!r}"
            )
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError(
                    "StochasticDepth expects a tensor (the residual branch) or a list "
                    f"[shortcut, branch] of 2 tensors. Received a list of {len(inputs)}."
                )
            shortcut, branch = inputs
            return ops.add(shortcut, self._drop(branch, training))
        return self._drop(inputs, training)

    def _drop(self, branch, training):
        if not training or self.rate == 0.0:
            return branch
        rank = len(branch.shape)
        noise_shape = (ops.shape(branch)[0],) + (1,) * (rank - 1)
        return keras.random.dropout(
            branch, self.rate, noise_shape=noise_shape, seed=self.seed_generator
        )

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], tuple):
            return input_shape[1]
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


DropPath = StochasticDepth
