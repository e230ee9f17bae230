"""RandomTranspose: swaps the height and width axes of random images."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit._validation import check_probability
from keras_regkit.layers.augmentation.base_image_augmentation_layer import (
    BaseImageAugmentationLayer,
)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomTranspose(BaseImageAugmentationLayer):
    """Transposes each image (reflects it about its main diagonal) with probability `factor`.

    `image[i, j] -> image[j, i]`: with `keras.layers.RandomFlip` and
    `RandomRotate90` it generates the eight symmetries of the square (the
    dihedral group D4), the "flips and transpositions" used for
    orientation-free images (e.g. Dieleman et al., MNRAS 2015; albumentations'
    `Transpose`). Exact: no interpolation.

    Images must be square. Segmentation masks passed in a dict are transposed
    with their image. Active in training only: inside a model, inference returns
    the images unchanged. Works in a `tf.data` pipeline on every backend.

    Args:
        factor: probability that an image is transposed, in [0, 1].
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
        The images (and masks), some transposed, in the layer's compute dtype.

    Example:

    ```python
    layer = keras_regkit.layers.RandomTranspose(factor=0.5, seed=0)
    images = np.random.uniform(0, 255, size=(8, 32, 32, 3))
    outputs = layer(images)  # about half of the images transposed
    ```
    """

    _geometric = True

    def __init__(
        self,
        factor: float = 0.5,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = check_probability("factor", factor)

    def _check_images(self, images: Any) -> None:
        height, width = self._spatial_shape(images)
        if height is not None and width is not None and height != width:
            raise ValueError(
                "RandomTranspose needs square images: a transpose swaps height and width. "
                f"Received: height={height}, width={width}. Crop or resize the images to "
                "a square first."
            )

    def _random_transformation(self, images: Any, seed: Any) -> dict:
        batch = ops.shape(images)[0]
        return {"transpose": keras.random.uniform((batch,), seed=seed) < self.factor}

    def _transform(self, images: Any, transformation: dict) -> Any:
        transpose = ops.reshape(transformation["transpose"], (-1, 1, 1, 1))
        return ops.where(transpose, ops.transpose(images, (0, 2, 1, 3)), images)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"factor": self.factor})
        return config
