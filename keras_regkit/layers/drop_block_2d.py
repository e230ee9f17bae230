"""DropBlock for 2D feature maps."""

from __future__ import annotations

import keras
from keras import ops

from keras_regkit import _validation


@keras.saving.register_keras_serializable(package="keras_regkit")
class DropBlock2D(keras.layers.Layer):
    """Drops contiguous square regions of 2D feature maps (DropBlock).

    Dropout on convolutional features is weak because neighbouring activations
    are correlated: the information of a dropped unit survives next to it.
    DropBlock drops whole `block_size x block_size` blocks instead.

    Reference: G. Ghiasi, T.-Y. Lin and Q. V. Le, "DropBlock: A regularization
    method for convolutional networks", NeurIPS 2018
    (https://arxiv.org/abs/1810.12890).

    Algorithm (Ghiasi et al., Algorithm 1, as in the authors' TPU
    implementation), in training only:

    1. Block centres are sampled independently for every example and channel,
       only where a whole block fits inside the feature map, with probability
       `gamma = rate / (bh * bw) * (H * W) / ((H - bh + 1) * (W - bw + 1))`
       (the paper's Eq. 1, for a `bh x bw` block on an `H x W` map).
    2. Every unit inside a block around a sampled centre is set to zero.
    3. The result is scaled by `count(mask) / count_ones(mask)` (over the whole
       batch), so the total activation is preserved on average.

    Blocks may overlap, which the paper's `gamma` ignores; the dropped fraction
    is therefore slightly below `rate` (about `1 - exp(-rate)` in the interior
    of large maps, e.g. 0.095 for `rate=0.1`). At inference the layer is the
    identity. A block larger than the feature map is shrunk to the map.

    Args:
        rate: float in [0, 1), the target fraction of units to drop (the paper's
            `1 - keep_prob`). The paper uses 0.1 with a linear schedule.
        block_size: int or tuple of 2 ints `(height, width)`, the size of a
            dropped block. The paper uses 7 on 14x14 (ResNet-50 group 4) maps.
        data_format: `"channels_last"` (`(batch, H, W, C)`) or
            `"channels_first"` (`(batch, C, H, W)`); defaults to
            `keras.config.image_data_format()`.
        seed: int or None, seed of the mask generator.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a 4D tensor.
        training: bool; DropBlock is applied only when True.

    Returns:
        A tensor of the same shape and dtype as `inputs`.

    Example:

    >>> layer = DropBlock2D(rate=0.1, block_size=3, seed=1)
    >>> x = np.ones((2, 16, 16, 8), "float32")
    >>> y = layer(x, training=True)  # zeroed 3x3 blocks, the rest scaled up
    >>> bool(np.all(np.asarray(layer(x)) == x))  # identity at inference
    True
    """

    def __init__(
        self,
        rate: float,
        block_size: int | tuple[int, int],
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rate = _validation.check_probability("rate", rate, include_one=False)
        self.block_size = _validate_block_size(block_size)
        if data_format is None:
            data_format = keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise _validation.invalid(
                "data_format", "'channels_last' or 'channels_first'", data_format
            )
        self.data_format = data_format
        self.seed = _validation.check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.input_spec = keras.layers.InputSpec(ndim=4)
        self.supports_masking = True

    def _spatial_axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def block_shape(self, input_shape) -> tuple[int, int]:
        """The block actually used for a given (static) input shape."""
        block = list(self.block_size)
        for i, axis in enumerate(self._spatial_axes()):
            if input_shape[axis] is not None:
                block[i] = min(block[i], int(input_shape[axis]))
        return tuple(block)

    def gamma(self, height, width):
        """The block-centre sampling probability (Ghiasi et al., Eq. 1)."""
        bh, bw = self.block_shape(
            (None, height, width, None)
            if self.data_format == "channels_last"
            else (None, None, height, width)
        )
        return self.rate / (bh * bw) * (height * width) / ((height - bh + 1) * (width - bw + 1))

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        static_shape = inputs.shape
        bh, bw = self.block_shape(static_shape)
        shape = ops.shape(inputs)
        h_axis, w_axis = self._spatial_axes()
        height, width = shape[h_axis], shape[w_axis]
        if isinstance(height, int) and isinstance(width, int):
            gamma = self.gamma(height, width)
        else:
            h = ops.cast(height, "float32")
            w = ops.cast(width, "float32")
            gamma = self.rate / (bh * bw) * (h * w) / ((h - bh + 1) * (w - bw + 1))

        # Sample block *corners* on the (H - bh + 1) x (W - bw + 1) grid where a
        # whole block fits, then count, for every unit, the corners of the blocks
        # covering it: a bh x bw box sum, separable and computed with two cumulative
        # sums and differences. (A stride-1 max-pool does the same dilation, but on
        # PyTorch's CPU kernels it costs more than the rest of the step.)
        corner_shape = list(shape)
        corner_shape[h_axis] = height - bh + 1
        corner_shape[w_axis] = width - bw + 1
        noise = keras.random.uniform(tuple(corner_shape), seed=self.seed_generator)
        counts = ops.cast(noise < gamma, "float32")
        for axis, size in ((h_axis, bh), (w_axis, bw)):
            if size > 1:
                counts = _box_sum(counts, axis, size)
        keep = ops.cast(ops.equal(counts, 0.0), "float32")
        total = ops.cast(ops.size(keep), "float32")
        kept = ops.sum(keep)
        scale = ops.where(kept > 0, total / ops.maximum(kept, 1.0), 0.0)
        return inputs * ops.cast(keep * scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rate": self.rate,
                "block_size": self.block_size,
                "data_format": self.data_format,
                "seed": self.seed,
            }
        )
        return config


def _validate_block_size(block_size) -> tuple[int, int]:
    values = (block_size, block_size) if _validation.is_number(block_size) else block_size
    expected = "a positive int or a tuple of 2 positive ints"
    if not isinstance(values, (tuple, list)) or len(values) != 2:
        raise _validation.invalid("block_size", expected, block_size)
    try:
        return tuple(_validation.check_int("block_size", v, 1) for v in values)
    except ValueError:
        raise _validation.invalid("block_size", expected, block_size) from None


def _box_sum(x, axis, size):
    """Sums of `size` consecutive entries along `axis`, zero-padded by `size - 1` on each
    side: the output is `size - 1` longer than `x` along `axis` (a "full" convolution
    with a box of ones). Exact for the small integer counts it is used on."""
    pad = [[0, 0]] * len(x.shape)
    pad[axis] = [size, size - 1]
    totals = ops.cumsum(ops.pad(x, pad), axis=axis)
    head = [slice(None)] * len(x.shape)
    tail = list(head)
    head[axis] = slice(size, None)
    tail[axis] = slice(None, -size)
    return totals[tuple(head)] - totals[tuple(tail)]
