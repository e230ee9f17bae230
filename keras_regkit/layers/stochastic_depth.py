"""Stochastic depth (DropPath) for residual branches."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_regkit import _validation

_SCHEDULES = ("linear", "constant")


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
        self.rate = _validation.check_probability("rate", rate, include_one=False)
        self.seed = _validation.check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
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


def drop_path_rates(num_blocks: int, max_rate: float, schedule: str = "linear") -> list[float]:
    """Per-block stochastic-depth rates for a stack of residual blocks.

    `"linear"` is the rule of timm (`torch.linspace(0, drop_path_rate, depth)`,
    e.g. in its ViT, Swin and ConvNeXt models): the rate grows linearly from 0
    at the first block to `max_rate` at the last, following the linear decay of
    survival probability of Huang et al. (ECCV 2016), so early blocks, whose
    features every later block builds on, are rarely dropped. `"constant"` gives
    every block `max_rate`.

    Args:
        num_blocks: int >= 1, the number of residual blocks.
        max_rate: float in [0, 1), the rate of the last block.
        schedule: `"linear"` or `"constant"`.

    Returns:
        A list of `num_blocks` Python floats, the rate of each block in order.

    Example:

    >>> drop_path_rates(5, 0.2)
    [0.0, 0.05, 0.1, 0.15..., 0.2]

    A residual MLP stack whose blocks use them:

    >>> inputs = keras.Input((16,))
    >>> x = inputs
    >>> for i, rate in enumerate(drop_path_rates(4, 0.3)):
    ...     branch = keras.layers.Dense(16, activation="relu")(x)
    ...     branch = keras.layers.Dense(16)(branch)
    ...     x = StochasticDepth(rate, seed=i)([x, branch])
    >>> model = keras.Model(inputs, x)
    >>> [round(layer.rate, 6) for layer in model.layers if isinstance(layer, StochasticDepth)]
    [0.0, 0.1, 0.2, 0.3]
    """
    num_blocks = _validation.check_int("num_blocks", num_blocks, minimum=1)
    max_rate = _validation.check_float("max_rate", max_rate, 0.0, 1.0, max_inclusive=False)
    schedule = _validation.check_choice("schedule", schedule, _SCHEDULES)
    if schedule == "constant":
        return [max_rate] * num_blocks
    return [float(rate) for rate in np.linspace(0.0, max_rate, num_blocks)]
