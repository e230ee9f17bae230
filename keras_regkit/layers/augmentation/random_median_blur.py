"""RandomMedianBlur: median filtering of random images."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit import _validation
from keras_regkit._validation import check_probability
from keras_regkit.layers.augmentation import image_utils
from keras_regkit.layers.augmentation.base_image_augmentation_layer import (
    BaseImageAugmentationLayer,
)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomMedianBlur(BaseImageAugmentationLayer):
    """Replaces each pixel by the median of its `kernel_size x kernel_size` neighbourhood.

    The median filter (Tukey, 1974; see Huang, Yang and Tang, "A fast
    two-dimensional median filtering algorithm", IEEE TASSP 1979) removes
    salt-and-pepper noise and fine texture while keeping edges sharp, unlike
    the Gaussian blur of `keras.layers.RandomGaussianBlur`. Each channel is
    filtered separately; borders are reflected (NumPy's `"reflect"`, SciPy's
    `"mirror"` mode). Each image is filtered with probability `factor`.

    Memory grows with `kernel_size ** 2` copies of the batch; sizes 3 and 5 are
    the usual choices.

    Active in training only: inside a model, inference returns the images
    unchanged. Works in a `tf.data` pipeline on every backend; compiles with XLA.

    Args:
        kernel_size: odd side of the neighbourhood, at least 3.
        factor: probability that an image is filtered, in [0, 1].
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
        The filtered images, in the layer's compute dtype.

    Example:

    ```python
    layer = keras_regkit.layers.RandomMedianBlur(kernel_size=3, factor=0.5, seed=0)
    images = np.random.uniform(0, 255, size=(8, 64, 64, 3))
    filtered = layer(images)
    ```
    """

    def __init__(
        self,
        kernel_size: int = 3,
        factor: float = 1.0,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        if not (_validation.is_number(kernel_size) and kernel_size >= 3 and kernel_size % 2 == 1):
            raise _validation.invalid("kernel_size", "an odd int >= 3", kernel_size)
        kernel_size = _validation.check_int("kernel_size", kernel_size, 3)
        self.kernel_size = kernel_size
        self.factor = check_probability("factor", factor)

    def _random_transformation(self, images: Any, seed: Any) -> dict:
        batch = ops.shape(images)[0]
        return {"apply": keras.random.uniform((batch,), seed=seed) < self.factor}

    def _transform(self, images: Any, transformation: dict) -> Any:
        return ops.where(
            image_utils.per_image(transformation["apply"]), self.median_filter(images), images
        )

    def median_filter(self, images: Any) -> Any:
        """The median-filtered channels-last batch (every image)."""
        size = self.kernel_size
        half = size // 2
        shape = ops.shape(images)
        height, width = shape[1], shape[2]
        padded = ops.pad(images, [[0, 0], [half, half], [half, half], [0, 0]], mode="reflect")
        windows = [
            ops.slice(padded, (0, i, j, 0), (shape[0], height, width, shape[3]))
            for i in range(size)
            for j in range(size)
        ]
        if size == 3:
            return _median_of_9(windows)
        # An odd number of values: the median is the middle order statistic.
        return ops.sort(ops.stack(windows, axis=-1), axis=-1)[..., size * size // 2]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size, "factor": self.factor})
        return config


# Paeth's 19 compare-exchanges that leave the median of 9 values in position 4
# (Graphics Gems, 1990; Devillard's `opt_med9`): elementwise min/max, several times
# faster than sorting a stacked axis on every backend, and exact.
_MEDIAN_OF_9_NETWORK = (
    (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2),
)  # fmt: skip


def _median_of_9(values: list) -> Any:
    values = list(values)
    for i, j in _MEDIAN_OF_9_NETWORK:
        values[i], values[j] = ops.minimum(values[i], values[j]), ops.maximum(values[i], values[j])
    return values[4]
