"""RandomMotionBlur: convolution with a random line kernel."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_regkit import _validation
from keras_regkit._validation import check_probability
from keras_regkit.layers.augmentation import image_utils
from keras_regkit.layers.augmentation.base_augmentation_layer import check_range
from keras_regkit.layers.augmentation.base_image_augmentation_layer import (
    BaseImageAugmentationLayer,
)


def check_odd_sizes(name: str, value: Any, minimum: int = 3) -> tuple[int, int]:
    """Validates an odd kernel size or a `(min, max)` pair of odd sizes."""

    def is_size(v):
        return (
            isinstance(v, (int, np.integer))
            and not isinstance(v, bool)
            and v >= minimum
            and v % 2 == 1
        )

    if is_size(value):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(is_size, value)):
        if value[0] <= value[1]:
            return int(value[0]), int(value[1])
    raise _validation.invalid(
        name,
        f"an odd int >= {minimum} or a tuple (min, max) of odd ints >= {minimum} with min <= max",
        value,
    )


def line_kernels(lengths: Any, angles: Any, size: int) -> Any:
    """Normalized anti-aliased line kernels.

    Args:
        lengths: `(batch,)` line lengths in pixels (at most `size`).
        angles: `(batch,)` angles in radians, counter-clockwise from the
            width axis (rows grow downwards).
        size: the odd side of the kernels.

    Returns:
        `(batch, size, size)` kernels: each tap weighs `max(0, 1 - distance)`
        from its centre to the segment of length `length - 1` through the
        kernel's centre, normalized to sum to 1. At angles that are multiples of
        90 degrees this is exactly a box of `length` taps.
    """
    half = size // 2
    offsets = ops.cast(ops.arange(-half, half + 1), "float32")
    dy, dx = ops.meshgrid(offsets, offsets, indexing="ij")
    dx = ops.expand_dims(dx, 0)
    dy = ops.expand_dims(dy, 0)
    angles = ops.reshape(ops.cast(angles, "float32"), (-1, 1, 1))
    radius = ops.reshape((ops.cast(lengths, "float32") - 1) / 2, (-1, 1, 1))
    direction_x, direction_y = ops.cos(angles), -ops.sin(angles)
    along = ops.clip(dx * direction_x + dy * direction_y, -radius, radius)
    distance = ops.sqrt(ops.square(dx - along * direction_x) + ops.square(dy - along * direction_y))
    weights = ops.relu(1 - distance)
    return weights / ops.sum(weights, axis=(1, 2), keepdims=True)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomMotionBlur(BaseImageAugmentationLayer):
    """Blurs each image along a random direction, as a moving camera would.

    Each image is convolved with a normalized line kernel of random length (an
    odd number of pixels in `kernel_size`) and random angle (in `angle_range`),
    with reflected borders. This is the motion-blur model of image restoration
    (a uniform linear motion during the exposure; e.g. Kupyn et al.,
    "DeblurGAN", CVPR 2018) and the augmentation of albumentations'
    `MotionBlur`; Keras offers `RandomGaussianBlur` only. The line is
    anti-aliased: each kernel tap weighs `max(0, 1 - d)`, `d` its distance to
    the segment, so horizontal and vertical lines are exact boxes.

    Active in training only: inside a model, inference returns the images
    unchanged. Works in a `tf.data` pipeline on every backend; compiles with XLA
    (one depthwise convolution per batch).

    Args:
        kernel_size: odd line length in pixels, or a `(min, max)` range of odd
            lengths drawn per image. At least 3.
        angle_range: `(min, max)` angle of the motion in degrees,
            counter-clockwise from the horizontal; a float `a` means `(-a, a)`.
            Defaults to every direction.
        factor: probability that an image is blurred, in [0, 1].
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        seed: int, the seed of the layer's random generator.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: images `(batch, height, width, channels)` or `(height, width,
            channels)`, or a dict with `"images"` (and `"labels"`,
            `"segmentation_masks"`, `"bounding_boxes"`, passed through).
        training: whether to augment. None (default): True when the layer is
            called on its own (or in a `tf.data` pipeline), False inside a model
            except in `fit`, so exported models serve unaugmented inputs.

    Returns:
        The blurred images, in the layer's compute dtype.

    Example:

    ```python
    layer = keras_regkit.layers.RandomMotionBlur(kernel_size=(3, 9), seed=0)
    images = np.random.uniform(0, 255, size=(8, 64, 64, 3))
    blurred = layer(images)
    ```
    """

    def __init__(
        self,
        kernel_size: int | tuple = (3, 7),
        angle_range: float | tuple = (0.0, 180.0),
        factor: float = 1.0,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self._sizes = check_odd_sizes("kernel_size", kernel_size)
        self._angles = check_range("angle_range", angle_range, -360.0, 360.0, symmetric=True)
        self.kernel_size = kernel_size
        self.angle_range = angle_range
        self.factor = check_probability("factor", factor)

    def _random_transformation(self, images: Any, seed: Any) -> dict:
        batch = ops.shape(images)[0]
        low, high = self._sizes
        # An odd length: low + 2 * randint(0, number of odd sizes).
        steps = keras.random.randint((batch,), 0, (high - low) // 2 + 1, seed=seed)
        return {
            "length": ops.cast(low + 2 * steps, "float32"),
            "angle": keras.random.uniform((batch,), *self._angles, seed=seed) * (math.pi / 180),
            "apply": keras.random.uniform((batch,), seed=seed) < self.factor,
        }

    def _transform(self, images: Any, transformation: dict) -> Any:
        kernels = line_kernels(transformation["length"], transformation["angle"], self._sizes[1])
        blurred = image_utils.filter_per_image(images, kernels)
        return ops.where(image_utils.per_image(transformation["apply"]), blurred, images)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "angle_range": self.angle_range,
                "factor": self.factor,
            }
        )
        return config
