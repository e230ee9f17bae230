"""`keras.ops` image helpers shared by the augmentation layers.

All functions take channels-last `float32` batches `(batch, height, width,
channels)`, use only static-shaped ops, and compile with XLA on every backend.
"""

from __future__ import annotations

from typing import Any

from keras import ops


def sample(
    images: Any, x: Any, y: Any, interpolation: str = "bilinear", fill_value: Any = 0.0
) -> Any:
    """Samples `images` at per-pixel source coordinates.

    `keras.ops.image.map_coordinates` samples one array at a time and
    `keras.ops.image.affine_transform` relies on TensorFlow's
    `ImageProjectiveTransformV3`, which XLA cannot compile; this gather-based
    sampler is batched and compiles everywhere.

    Args:
        images: `(batch, height, width, channels)`.
        x: `(batch, out_height, out_width)` source column of each output pixel,
            with pixel centres at integer coordinates.
        y: `(batch, out_height, out_width)` source row of each output pixel.
        interpolation: `"nearest"` (round to the nearest centre) or `"bilinear"`.
        fill_value: value of samples outside the image; a scalar, or a tensor
            broadcastable to `(batch, 1, 1, channels)`.

    Returns:
        `(batch, out_height, out_width, channels)`.
    """
    if interpolation == "nearest":
        return _gather(images, ops.floor(x + 0.5), ops.floor(y + 0.5), fill_value)
    x0 = ops.floor(x)
    y0 = ops.floor(y)
    wx = ops.expand_dims(x - x0, -1)
    wy = ops.expand_dims(y - y0, -1)
    top = (
        _gather(images, x0, y0, fill_value) * (1 - wx)
        + _gather(images, x0 + 1, y0, fill_value) * wx
    )
    bottom = (
        _gather(images, x0, y0 + 1, fill_value) * (1 - wx)
        + _gather(images, x0 + 1, y0 + 1, fill_value) * wx
    )
    return top * (1 - wy) + bottom * wy


def _gather(images: Any, xi: Any, yi: Any, fill_value: Any) -> Any:
    shape = ops.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    out_shape = ops.shape(xi)
    inside = (xi >= 0) & (xi <= ops.cast(width - 1, xi.dtype))
    inside = inside & (yi >= 0) & (yi <= ops.cast(height - 1, yi.dtype))
    xi = ops.cast(ops.clip(xi, 0, ops.cast(width - 1, xi.dtype)), "int32")
    yi = ops.cast(ops.clip(yi, 0, ops.cast(height - 1, yi.dtype)), "int32")
    flat_index = ops.reshape(yi * width + xi, (batch, -1, 1))
    flat_images = ops.reshape(images, (batch, -1, channels))
    values = ops.take_along_axis(flat_images, flat_index, axis=1)
    values = ops.reshape(values, (batch, out_shape[1], out_shape[2], channels))
    fill = ops.cast(fill_value, values.dtype)
    return ops.where(ops.expand_dims(inside, -1), values, fill)


def pixel_grid(images: Any) -> tuple:
    """`(x, y)` coordinates of the pixel centres, each `(1, height, width)` float32."""
    shape = ops.shape(images)
    ys = ops.cast(ops.arange(shape[1]), "float32")
    xs = ops.cast(ops.arange(shape[2]), "float32")
    y, x = ops.meshgrid(ys, xs, indexing="ij")
    return ops.expand_dims(x, 0), ops.expand_dims(y, 0)


def filter_per_image(images: Any, kernels: Any) -> Any:
    """Correlates each image with its own `(k, k)` kernel, reflecting at borders.

    Folds the batch into the channels of one depthwise convolution, so a batch
    of different kernels costs one `keras.ops.depthwise_conv`.

    Args:
        images: `(batch, height, width, channels)`.
        kernels: `(batch, k, k)` with `k` odd.

    Returns:
        `(batch, height, width, channels)`: `out[b, i, j, c] = sum_{u, v}
        kernels[b, u, v] * padded[b, i + u, j + v, c]` with `padded` the image
        reflected by `k // 2` pixels (NumPy's `"reflect"` mode).
    """
    size = kernels.shape[-1]
    half = size // 2
    shape = ops.shape(images)
    height, width, channels = shape[1], shape[2], images.shape[3]
    padded = ops.pad(images, [[0, 0], [half, half], [half, half], [0, 0]], mode="reflect")
    folded = ops.reshape(
        ops.transpose(padded, (1, 2, 0, 3)), (1, height + 2 * half, width + 2 * half, -1)
    )
    kernel = ops.expand_dims(ops.transpose(kernels, (1, 2, 0)), -1) * ops.ones(
        (1, 1, 1, channels), kernels.dtype
    )
    kernel = ops.reshape(kernel, (size, size, -1, 1))
    out = ops.depthwise_conv(folded, kernel, strides=1, padding="valid")
    out = ops.reshape(out, (height, width, -1, channels))
    return ops.transpose(out, (2, 0, 1, 3))


def per_image(values: Any) -> Any:
    """Reshapes `(batch,)` values to broadcast against `(batch, h, w, c)`."""
    return ops.reshape(values, (-1, 1, 1, 1))
