"""GridMask (Chen et al., 2020)."""

from __future__ import annotations

import math
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


@keras.saving.register_keras_serializable(package="keras_regkit")
class GridMask(BaseImageAugmentationLayer):
    """GridMask: removes a regular grid of squares from each image.

    GridMask (Chen et al., "GridMask Data Augmentation", arXiv:2001.04086, 2020)
    tiles the image with square units of side `d` and, in each unit, removes a
    square of side `ratio * d` (the paper's `1 - r`: a fraction `ratio ** 2` of
    the pixels is removed). Unlike Cutout or random erasing it never deletes a
    whole object nor leaves one intact. Per image, `d`, `ratio`, the grid's
    offsets (uniform in `[0, d)`) and its rotation are drawn at random.

    The paper's ImageNet setting (`r = 0.6`, `d` in `[96, 224]` pixels for
    224-pixel images) is the default: `ratio_factor=0.4`,
    `unit_size_factor=(0.43, 1.0)`. The paper ramps the probability `p` up during
    training; pass the final value as `factor`.

    Active in training only: inside a model, inference returns the images
    unchanged. Works in a `tf.data` pipeline on every backend; compiles with XLA.

    Args:
        ratio_factor: side of the removed square as a fraction of the unit side,
            a float in [0, 1] or a `(min, max)` range sampled per image.
        unit_size_factor: side `d` of a grid unit as a fraction of the shorter
            image side, a float in (0, 1] or a `(min, max)` range sampled per image.
        rotation_factor: rotation of the grid as a fraction of a full turn: a
            float `f` draws from `[-f, f]`, a pair from `[min, max]`; in [-1, 1].
            Defaults to 0 (axis-aligned, as in the paper's default).
        fill_value: value written into the removed squares (in the images'
            value range).
        factor: probability that an image is masked, in [0, 1].
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
        The masked images, in the layer's compute dtype.

    Example:

    ```python
    layer = keras_regkit.layers.GridMask(ratio_factor=0.4, seed=0)
    images = np.random.uniform(0, 255, size=(8, 64, 64, 3))
    masked = layer(images)  # about 16% of each image's pixels set to 0
    ```
    """

    def __init__(
        self,
        ratio_factor: float | tuple = 0.4,
        unit_size_factor: float | tuple = (0.43, 1.0),
        rotation_factor: float | tuple = 0.0,
        fill_value: float = 0.0,
        factor: float = 1.0,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self._ratio_range = check_range("ratio_factor", ratio_factor, 0.0, 1.0)
        self._unit_size_range = check_range(
            "unit_size_factor", unit_size_factor, 0.0, 1.0, open_low=True
        )
        self._rotation_range = check_range(
            "rotation_factor", rotation_factor, -1.0, 1.0, symmetric=True
        )
        fill_value = _validation.check_float("fill_value", fill_value)
        self.ratio_factor = ratio_factor
        self.unit_size_factor = unit_size_factor
        self.rotation_factor = rotation_factor
        self.fill_value = float(fill_value)
        self.factor = check_probability("factor", factor)

    def _random_transformation(self, images: Any, seed: Any) -> dict:
        shape = ops.shape(images)
        batch = shape[0]
        short_side = ops.cast(ops.minimum(shape[1], shape[2]), "float32")

        def uniform(bounds, scale=1.0):
            return keras.random.uniform((batch,), bounds[0], bounds[1], seed=seed) * scale

        unit_size = ops.maximum(uniform(self._unit_size_range) * short_side, 1.0)
        return {
            "unit_size": unit_size,
            "ratio": ops.clip(uniform(self._ratio_range), 0.0, 1.0),
            "offset_x": uniform((0.0, 1.0)) * unit_size,
            "offset_y": uniform((0.0, 1.0)) * unit_size,
            "angle": uniform(self._rotation_range, 2 * math.pi),
            "apply": keras.random.uniform((batch,), seed=seed) < self.factor,
        }

    def _transform(self, images: Any, transformation: dict) -> Any:
        mask = self.grid_mask(images, transformation)
        fill = ops.cast(self.fill_value, images.dtype)
        return ops.where(ops.expand_dims(mask, -1), fill, images)

    @staticmethod
    def grid_mask(images: Any, transformation: dict) -> Any:
        """The boolean `(batch, height, width)` mask of removed pixels."""
        x, y = image_utils.pixel_grid(images)
        shape = ops.shape(images)
        center_x = (ops.cast(shape[2], "float32") - 1) / 2
        center_y = (ops.cast(shape[1], "float32") - 1) / 2

        def per_image(values):
            return ops.reshape(ops.cast(values, "float32"), (-1, 1, 1))

        angle = per_image(transformation["angle"])
        cos, sin = ops.cos(angle), ops.sin(angle)
        dx, dy = x - center_x, y - center_y
        # Grid coordinates: the pixel grid rotated about the image centre.
        u = cos * dx + sin * dy + center_x
        v = -sin * dx + cos * dy + center_y
        d = per_image(transformation["unit_size"])
        side = per_image(transformation["ratio"]) * d
        in_x = ops.mod(u + per_image(transformation["offset_x"]), d) < side
        in_y = ops.mod(v + per_image(transformation["offset_y"]), d) < side
        apply = ops.reshape(transformation["apply"], (-1, 1, 1))
        return in_x & in_y & apply

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "ratio_factor": self.ratio_factor,
                "unit_size_factor": self.unit_size_factor,
                "rotation_factor": self.rotation_factor,
                "fill_value": self.fill_value,
                "factor": self.factor,
            }
        )
        return config
