"""RandomRotate90: rotations by multiples of 90 degrees."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit.layers.augmentation.base_image_augmentation_layer import (
    BaseImageAugmentationLayer,
)


@keras.saving.register_keras_serializable(package="keras_regkit")
class RandomRotate90(BaseImageAugmentationLayer):
    """Rotates each image by 0, 90, 180 or 270 degrees, drawn uniformly.

    Unlike `keras.layers.RandomRotation(0.5)`, which interpolates and fills the
    corners, a quarter turn only permutes pixels: nothing is lost or blurred.
    The dihedral symmetries of images without a canonical orientation (aerial,
    microscopy, medical imaging) make this a standard augmentation there
    (e.g. Dieleman et al., "Rotation-invariant convolutional neural networks for
    galaxy morphology prediction", MNRAS 2015). A rotation by `k` quarter turns
    is `numpy.rot90(image, k)`: counter-clockwise, from the height axis towards
    the width axis.

    Images must be square (a quarter turn swaps height and width, and a batch
    keeps one shape). Segmentation masks passed in a dict turn with their image.
    Active in training only: inside a model, inference returns the images
    unchanged. Works in a `tf.data` pipeline on every backend.

    Args:
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        seed: int, the seed of the layer's random generator.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: images `(batch, height, width, channels)` or `(height, width,
            channels)`, or a dict with `"images"` (and `"labels"`,
            `"segmentation_masks"`).
        training: whether to augment. None (default): True when the layer is
            called on its own (or in a `tf.data` pipeline), as for Keras's image
            preprocessing layers, and False inside a model except in `fit`, so
            exported models serve unaugmented inputs.

    Returns:
        The rotated images (and masks), in the layer's compute dtype.

    Example:

    ```python
    layer = keras_regkit.layers.RandomRotate90(seed=0)
    images = np.random.uniform(0, 255, size=(8, 32, 32, 3))
    rotated = layer(images)  # each image turned by a random multiple of 90 degrees
    ```
    """

    _geometric = True

    def __init__(
        self, data_format: str | None = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(data_format=data_format, seed=seed, **kwargs)

    def _check_images(self, images: Any) -> None:
        height, width = self._spatial_shape(images)
        if height is not None and width is not None and height != width:
            raise ValueError(
                "RandomRotate90 needs square images: a quarter turn swaps height and "
                f"width. Received: height={height}, width={width}. Crop or resize the "
                "images to a square first."
            )

    def _random_transformation(self, images: Any, seed: Any) -> dict:
        batch = ops.shape(images)[0]
        rotations = keras.random.randint((batch,), 0, 4, seed=seed, dtype="int32")
        return {"rotations": rotations}

    def _transform(self, images: Any, transformation: dict) -> Any:
        rotations = ops.reshape(transformation["rotations"], (-1, 1, 1, 1))
        outputs = images
        for k in (1, 2, 3):
            outputs = ops.where(rotations == k, ops.rot90(images, k=k, axes=(1, 2)), outputs)
        return outputs
