"""RandomGridDistortion: a random piecewise-linear warp of the image grid."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit._validation import check_probability
from keras_regkit.layers.augmentation import image_utils
from keras_regkit.layers.augmentation.base_augmentation_layer import check_range
from keras_regkit.layers.augmentation.base_image_augmentation_layer import (
    BaseImageAugmentationLayer,
)


def distortion_map(steps: Any, size: Any) -> Any:
    """Source coordinate of each output row (or column) for random cell sizes.

    The output axis is cut into `num_steps` equal cells, with knots at
    `k * (size - 1) / num_steps`. The source knots are the cumulative sums of
    `steps`, rescaled to end at `size - 1`, and the map interpolates linearly
    between knots: a monotone bijection of `[0, size - 1]` (albumentations'
    `GridDistortion` with `normalized=True`).

    Args:
        steps: `(batch, num_steps)` positive relative cell sizes.
        size: the length of the axis.

    Returns:
        `(batch, size)` float32 source coordinates.
    """
    num_steps = steps.shape[-1]
    steps = ops.cast(steps, "float32")
    last = ops.cast(size, "float32") - 1
    cumulative = ops.cumsum(steps, axis=-1)
    knots = cumulative / cumulative[:, -1:] * last
    knots = ops.concatenate([ops.zeros_like(knots[:, :1]), knots], axis=-1)
    position = ops.cast(ops.arange(size), "float32") * (num_steps / ops.maximum(last, 1.0))
    cell = ops.clip(ops.floor(position), 0, num_steps - 1)
    fraction = position - cell
    cell = ops.cast(cell, "int32")
    start = ops.take(knots, cell, axis=1)
    end = ops.take(knots, cell + 1, axis=1)
    return ops.clip(start + fraction * (end - start), 0.0, last)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomGridDistortion(BaseImageAugmentationLayer):
    """Stretches and squeezes the rows and columns of a coarse grid at random.

    Cuts each axis into `num_steps` cells and rescales each cell by a random
    factor `1 + U(distort_limit)`, then resamples the image through the
    resulting piecewise-linear map (renormalized so the image keeps its extent).
    The grid distortion of albumentations (Buslaev et al., "Albumentations: fast
    and flexible image augmentations", Information 2020), popular in
    segmentation; Keras has `RandomElasticTransform` for smooth per-pixel warps
    but no grid distortion. Segmentation masks passed in a dict are warped with
    their image (nearest-neighbour).

    Active in training only: inside a model, inference returns the images
    unchanged. Works in a `tf.data` pipeline on every backend; compiles with XLA.

    Args:
        num_steps: number of grid cells along each axis, at least 1.
        distort_limit: range of the relative change of each cell size: a float
            `l` in [0, 1) means `(-l, l)`, a pair `(min, max)` lies in (-1, 1).
        interpolation: `"bilinear"` or `"nearest"`.
        factor: probability that an image is distorted, in [0, 1].
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        seed: int, the seed of the layer's random generator.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: images `(batch, height, width, channels)` or `(height, width,
            channels)`, or a dict with `"images"` (and `"labels"`,
            `"segmentation_masks"`).
        training: whether to augment. None (default): True when the layer is
            called on its own (or in a `tf.data` pipeline), False inside a model
            except in `fit`, so exported models serve unaugmented inputs.

    Returns:
        The distorted images (and masks), in the layer's compute dtype.

    Example:

    ```python
    layer = keras_regkit.layers.RandomGridDistortion(num_steps=5, distort_limit=0.3, seed=0)
    images = np.random.uniform(0, 255, size=(8, 64, 64, 3))
    distorted = layer(images)
    ```
    """

    _geometric = True

    def __init__(
        self,
        num_steps: int = 5,
        distort_limit: float | tuple = 0.3,
        interpolation: str = "bilinear",
        factor: float = 1.0,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        num_steps = _validation.check_int("num_steps", num_steps, 1)
        limits = check_range("distort_limit", distort_limit, -1.0, 1.0, symmetric=True)
        if limits[0] <= -1.0 or limits[1] >= 1.0:
            raise ValueError(
                "Invalid value for argument `distort_limit`: expected a float in [0, 1) or "
                "a tuple (min, max) in (-1, 1): a cell cannot shrink to nothing. "
                f"Received: distort_limit={distort_limit}"
            )
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                "Invalid value for argument `interpolation`: expected 'bilinear' or "
                f"'nearest'. Received: interpolation={interpolation}"
            )
        self._limits = limits
        self.num_steps = num_steps
        self.distort_limit = distort_limit
        self.interpolation = interpolation
        self.factor = check_probability("factor", factor)

    def _random_transformation(self, images: Any, seed: Any) -> dict:
        batch = ops.shape(images)[0]
        shape = (batch, self.num_steps)
        return {
            "x_steps": 1 + keras.random.uniform(shape, *self._limits, seed=seed),
            "y_steps": 1 + keras.random.uniform(shape, *self._limits, seed=seed),
            "apply": keras.random.uniform((batch,), seed=seed) < self.factor,
        }

    def _transform(self, images: Any, transformation: dict) -> Any:
        shape = ops.shape(images)
        map_x = distortion_map(transformation["x_steps"], shape[2])
        map_y = distortion_map(transformation["y_steps"], shape[1])
        x = ops.expand_dims(map_x, 1) + ops.zeros_like(ops.expand_dims(map_y, 2))
        y = ops.expand_dims(map_y, 2) + ops.zeros_like(ops.expand_dims(map_x, 1))
        interpolation = transformation.get("interpolation", self.interpolation)
        warped = image_utils.sample(images, x, y, interpolation=interpolation)
        return ops.where(image_utils.per_image(transformation["apply"]), warped, images)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_steps": self.num_steps,
                "distort_limit": self.distort_limit,
                "interpolation": self.interpolation,
                "factor": self.factor,
            }
        )
        return config
