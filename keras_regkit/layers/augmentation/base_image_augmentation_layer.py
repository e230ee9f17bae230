"""Shared machinery of the keras_regkit image augmentation layers."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_regkit import backend as regkit_backend
from keras_regkit.layers.augmentation.base_augmentation_layer import BaseAugmentationLayer

_DICT_KEYS = ("images", "labels", "segmentation_masks", "bounding_boxes")


def _eager_jax(data: Any) -> bool:
    """True for concrete arrays on JAX, where a compiled call beats op-by-op dispatch."""
    return keras.backend.backend() == "jax" and all(
        regkit_backend.is_concrete(leaf) for leaf in keras.tree.flatten(data)
    )


def _as_tensors(transformation: dict) -> dict:
    """Converts the arrays of a (possibly hand-made) transformation to tensors."""
    return {key: ops.convert_to_tensor(value) for key, value in transformation.items()}


class BaseImageAugmentationLayer(BaseAugmentationLayer):
    """Base of the image augmentation layers.

    Follows the contract of Keras's own image preprocessing layers:

    - inputs are a batch `(batch, height, width, channels)` or a single image
      `(height, width, channels)` (channels first with
      `data_format="channels_first"`), or a dict with `"images"` and optionally
      `"labels"`, `"segmentation_masks"` (moved with the images by geometric
      layers, with nearest-neighbour sampling) and, for layers that do not move
      pixels, `"bounding_boxes"` (passed through);
    - outputs have the layer's compute dtype (`float32`, or `float16` under
      `mixed_float16`); the arithmetic runs in `float32`;
    - `get_random_transformation(images)` draws the random parameters of a batch
      and `transform_images(images, transformation)` applies them, so the same
      transformation can be replayed on other data.

    Subclasses implement `_random_transformation(images, seed)` and
    `_transform(images, transformation)` on channels-last `float32` batches, and
    set `_geometric = True` if they move pixels.
    """

    _geometric = False

    def __init__(
        self, data_format: str | None = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        if data_format is not None and data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "Invalid value for argument `data_format`: expected 'channels_last', "
                f"'channels_first' or None. Received: data_format={data_format}"
            )
        self.data_format = data_format or keras.config.image_data_format()

    # -- public Keras-style API ---------------------------------------------------

    def get_random_transformation(
        self, images: Any, training: bool = True, seed: Any = None
    ) -> dict | None:
        """Draws the random parameters for a batch of images.

        Args:
            images: a batch of images in the layer's `data_format`.
            training: returns `None` when False.
            seed: a `keras.random.SeedGenerator` or int; defaults to the layer's
                generator.

        Returns:
            A dict of tensors with a leading batch dimension.
        """
        if not training:
            return None
        if seed is None and _eager_jax(images):
            return regkit_backend.jax_compiled_call(self, images, {}, "_draw_transformation")
        return self._draw_transformation(images, seed)

    def _draw_transformation(self, images: Any, seed: Any = None) -> dict:
        return self._random_transformation(
            self._to_channels_last(images), self.seed_generator if seed is None else seed
        )

    def transform_images(self, images: Any, transformation: dict | None, training: bool = True):
        """Applies `transformation` to a batch of images in the layer's `data_format`."""
        if not training or transformation is None:
            return ops.cast(images, self.compute_dtype)
        if _eager_jax((images, transformation)):
            return regkit_backend.jax_compiled_call(
                self, images, {"transformation": dict(transformation)}, "_apply_transformation"
            )
        return self._apply_transformation(images, transformation)

    def _apply_transformation(self, images: Any, transformation: dict) -> Any:
        x = self._to_channels_last(ops.cast(images, "float32"))
        x = self._transform(x, _as_tensors(transformation))
        return ops.cast(self._from_channels_last(x), self.compute_dtype)

    def transform_segmentation_masks(
        self, segmentation_masks: Any, transformation: dict | None, training: bool = True
    ):
        """Moves segmentation masks with the images (geometric layers only)."""
        if not training or transformation is None or not self._geometric:
            return segmentation_masks
        dtype = keras.backend.standardize_dtype(segmentation_masks.dtype)
        x = self._to_channels_last(ops.cast(segmentation_masks, "float32"))
        transformation = dict(_as_tensors(transformation), interpolation="nearest")
        x = self._transform(x, transformation)
        return ops.cast(self._from_channels_last(x), dtype)

    # -- Layer API ----------------------------------------------------------------

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        training = self._resolve_training(training)
        if isinstance(inputs, dict):
            unknown = sorted(set(inputs) - set(_DICT_KEYS))
            if "images" not in inputs or unknown:
                raise ValueError(
                    f"{type(self).__name__} expects a tensor of images or a dict with the "
                    f"key 'images' and optionally {list(_DICT_KEYS[1:])}. "
                    f"Received keys: {sorted(inputs)}"
                )
            if "bounding_boxes" in inputs and self._geometric:
                raise ValueError(
                    f"{type(self).__name__} moves pixels and does not transform "
                    "`bounding_boxes`. Drop them from the inputs, or apply this layer to "
                    "images (and segmentation masks) only."
                )
            images = inputs["images"]
        else:
            images = inputs
        rank = len(images.shape)
        if rank not in (3, 4):
            raise ValueError(
                f"{type(self).__name__} expects images of rank 3 (one image) or 4 (a batch). "
                f"Received: images.shape={tuple(images.shape)}"
            )
        unbatched = rank == 3
        batch = (lambda t: ops.expand_dims(t, 0)) if unbatched else (lambda t: t)
        unbatch = (lambda t: ops.squeeze(t, 0)) if unbatched else (lambda t: t)
        images = batch(ops.cast(images, self.compute_dtype))
        self._check_images(images)
        transformation = self.get_random_transformation(images, training=training)
        outputs = unbatch(self.transform_images(images, transformation, training=training))
        if not isinstance(inputs, dict):
            return outputs
        result = dict(inputs, images=outputs)
        if "segmentation_masks" in inputs:
            result["segmentation_masks"] = unbatch(
                self.transform_segmentation_masks(
                    batch(inputs["segmentation_masks"]), transformation, training=training
                )
            )
        return result

    def compute_output_dtypes(self, inputs: Any) -> Any:
        if isinstance(inputs, dict):
            dtypes = keras.tree.map_structure(
                lambda x: keras.backend.standardize_dtype(x.dtype), inputs
            )
            dtypes["images"] = self.compute_dtype
            return dtypes
        return self.compute_dtype

    def compute_output_spec(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        dtypes = self.compute_output_dtypes(inputs)
        return keras.tree.map_structure(
            lambda x, dtype: keras.KerasTensor(x.shape, dtype=dtype), inputs, dtypes
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"data_format": self.data_format})
        return config

    # -- helpers --------------------------------------------------------------------

    def _check_images(self, images: Any) -> None:
        """Hook for static shape checks on a batch in the layer's data format."""

    def _spatial_shape(self, images: Any) -> tuple:
        if self.data_format == "channels_first":
            return tuple(images.shape[2:4])
        return tuple(images.shape[1:3])

    def _to_channels_last(self, images: Any) -> Any:
        if self.data_format == "channels_first":
            return ops.transpose(images, (0, 2, 3, 1))
        return images

    def _from_channels_last(self, images: Any) -> Any:
        if self.data_format == "channels_first":
            return ops.transpose(images, (0, 3, 1, 2))
        return images

    def _random_transformation(self, images: Any, seed: Any) -> dict:
        raise NotImplementedError

    def _transform(self, images: Any, transformation: dict) -> Any:
        raise NotImplementedError
