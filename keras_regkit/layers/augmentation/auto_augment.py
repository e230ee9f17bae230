"""AutoAugment (Cubuk et al., CVPR 2019) with its published policies."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_regkit import _validation
from keras_regkit.layers.augmentation import image_utils
from keras_regkit.layers.augmentation.auto_augment_policies import (
    GEOMETRIC_OPERATIONS,
    OPERATIONS,
    POLICIES,
)
from keras_regkit.layers.augmentation.base_image_augmentation_layer import (
    BaseImageAugmentationLayer,
)

# Magnitude levels are divided by this (the paper's code, PARAMETER_MAX = 10).
_LEVEL_MAX = 10.0
# The paper's translation range, 150 pixels of a 331-pixel image, as a fraction.
_TRANSLATE_MAX = 150.0 / 331.0


def magnitude_to_argument(operation: str, level: Any, image_size: Any = None) -> Any:
    """The argument an operation receives at magnitude `level` (0-10).

    | operation | argument | range |
    | --- | --- | --- |
    | ShearX, ShearY | shear factor, random sign | `0.3 * level / 10` |
    | TranslateX, TranslateY | pixels, random sign | `150 / 331 * size * level / 10` |
    | Rotate | degrees, random sign | `30 * level / 10` |
    | Solarize | threshold | `256 - 256 * level / 10` |
    | Posterize | bits kept | `8 - floor(4 * level / 10)` |
    | Color, Contrast, Brightness, Sharpness | enhance factor | `0.1 + 1.8 * level / 10` |

    AutoContrast, Equalize and Invert take no argument. Works on floats and tensors.
    """
    fraction = level / _LEVEL_MAX
    if operation in ("ShearX", "ShearY"):
        return 0.3 * fraction
    if operation in ("TranslateX", "TranslateY"):
        return _TRANSLATE_MAX * image_size * fraction
    if operation == "Rotate":
        return 30.0 * fraction
    if operation == "Solarize":
        return 256.0 - 256.0 * fraction
    if operation == "Posterize":
        return 8.0 - ops.floor(4.0 * fraction)
    if operation in ("Color", "Contrast", "Brightness", "Sharpness"):
        return 0.1 + 1.8 * fraction
    raise ValueError(f"{operation} takes no magnitude.")


@keras.saving.register_keras_serializable(package="keras_regkit")
class AutoAugment(BaseImageAugmentationLayer):
    """AutoAugment with the policies learned on ImageNet, CIFAR-10 or SVHN.

    AutoAugment (Cubuk, Zoph, Mane, Vasudevan and Le, "AutoAugment: Learning
    Augmentation Strategies from Data", CVPR 2019) searched, with reinforcement
    learning, for a policy of 25 sub-policies; each sub-policy is two image
    operations applied in turn, each with a probability and a magnitude. For
    every image, one sub-policy is drawn uniformly, then each of its two
    operations is applied with its probability. The tables are those of the
    paper's appendix (`AutoAugment.sub_policies`), the operations are built from
    Keras layers and ops (`keras.layers.AutoContrast`,
    `keras.ops.image.rgb_to_grayscale`, `keras.ops.depthwise_conv`, ...) and
    follow PIL, which the paper used. Keras's own `keras.layers.RandAugment`
    draws random operations instead of a learned policy, one choice per batch.

    Magnitudes (levels 0-9) map linearly onto the paper's ranges as in the
    paper's code (`level / 10` of the range, severity increasing with the
    level): shear 0.3, translation 150/331 of the image size, rotation 30
    degrees (each with a random sign), solarize threshold 256 down to 0,
    posterize 8 down to 4 bits, and enhancement factors (Color, Contrast,
    Brightness, Sharpness) 0.1 to 1.9; see `magnitude_to_argument`. Geometric
    operations use the corner-aligned coordinates of PIL and fill with
    `fill_value`. Implementations differ in some of these choices (torchvision
    uses signed enhancements around 1 and 10 bins up to the range's end; timm's
    posterize counts bits the other way).

    Active in training only: inside a model, inference returns the images
    unchanged. Works in a `tf.data` pipeline on every backend and compiles with
    XLA (the affine warps use a gather-based sampler rather than
    `keras.ops.image.affine_transform`, which XLA cannot compile on TensorFlow).
    Segmentation masks passed in a dict follow the geometric operations.

    Args:
        policy: `"imagenet"`, `"cifar10"` or `"svhn"`.
        value_range: `(min, max)` of the input pixel values, e.g. `(0, 255)` or
            `(0, 1)`.
        interpolation: `"nearest"` (the paper's) or `"bilinear"`, for the
            geometric operations.
        fill_value: value of the pixels that geometric operations uncover, in
            `value_range` units. Defaults to mid-gray (128 of 255).
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        seed: int, the seed of the layer's random generator.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: RGB or grayscale images `(batch, height, width, channels)` or
            `(height, width, channels)`, or a dict with `"images"` (and
            `"labels"`, `"segmentation_masks"`).
        training: whether to augment. None (default): True when the layer is
            called on its own (or in a `tf.data` pipeline), False inside a model
            except in `fit`, so exported models serve unaugmented inputs.

    Returns:
        The augmented images, in the layer's compute dtype.

    Example:

    ```python
    layer = keras_regkit.layers.AutoAugment(policy="cifar10", seed=0)
    images = np.random.uniform(0, 255, size=(8, 32, 32, 3))
    augmented = layer(images)
    ```
    """

    _geometric = True

    def __init__(
        self,
        policy: str = "imagenet",
        value_range: tuple = (0, 255),
        interpolation: str = "nearest",
        fill_value: float | None = None,
        data_format: str | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        _validation.check_choice("policy", policy, sorted(POLICIES))
        if (
            not isinstance(value_range, (tuple, list))
            or len(value_range) != 2
            or not all(map(_validation.is_number, value_range))
            or not value_range[0] < value_range[1]
        ):
            raise _validation.invalid(
                "value_range", "a tuple (min, max) of two numbers with min < max", value_range
            )
        _validation.check_choice("interpolation", interpolation, ("nearest", "bilinear"))
        fill_value = _validation.check_float("fill_value", fill_value, allow_none=True)
        self.policy = policy
        self.value_range = tuple(np.asarray(v).item() for v in value_range)
        self.interpolation = interpolation
        self.fill_value = fill_value
        table = POLICIES[policy]
        self._operation_ids = np.array(
            [[OPERATIONS.index(op) for op, _, _ in sub_policy] for sub_policy in table], "int32"
        )
        self._probabilities = np.array(
            [[p for _, p, _ in sub_policy] for sub_policy in table], "float32"
        )
        self._levels = np.array([[m for _, _, m in sub_policy] for sub_policy in table], "float32")
        self._auto_contrast = keras.layers.AutoContrast(value_range=(0, 255), dtype="float32")

    @property
    def sub_policies(self) -> tuple:
        """The policy's `((op, probability, magnitude), (op, probability, magnitude))` rows."""
        return POLICIES[self.policy]

    def _check_images(self, images: Any) -> None:
        channels = images.shape[1] if self.data_format == "channels_first" else images.shape[-1]
        if channels not in (1, 3):
            raise ValueError(
                "AutoAugment expects RGB (3 channels) or grayscale (1 channel) images. "
                f"Received: images.shape={tuple(images.shape)}"
            )

    def _random_transformation(self, images: Any, seed: Any) -> dict:
        batch = ops.shape(images)[0]
        sub_policy = keras.random.randint((batch,), 0, len(self.sub_policies), seed=seed)
        sub_policy = ops.cast(sub_policy, "int32")
        probabilities = ops.take(ops.convert_to_tensor(self._probabilities), sub_policy, axis=0)
        apply = keras.random.uniform((batch, 2), seed=seed) < probabilities
        sign = ops.where(keras.random.uniform((batch, 2), seed=seed) < 0.5, -1.0, 1.0)
        return {"sub_policy": sub_policy, "apply": apply, "sign": sign}

    def _transform(self, images: Any, transformation: dict) -> Any:
        low, high = self.value_range
        scale = 255.0 / (high - low)
        fill = 128.0 if self.fill_value is None else (self.fill_value - low) * scale
        x = (images - low) * scale
        x = self._apply(x, transformation, False, self.interpolation, fill)
        return x / scale + low

    def transform_segmentation_masks(
        self, segmentation_masks: Any, transformation: dict | None, training: bool = True
    ):
        if not training or transformation is None:
            return segmentation_masks
        dtype = keras.backend.standardize_dtype(segmentation_masks.dtype)
        x = self._to_channels_last(ops.cast(segmentation_masks, "float32"))
        transformation = {k: ops.convert_to_tensor(v) for k, v in transformation.items()}
        x = self._apply(x, transformation, True, "nearest", 0.0)
        return ops.cast(self._from_channels_last(x), dtype)

    def _apply(
        self, x: Any, transformation: dict, geometric_only: bool, interpolation: str, fill: float
    ) -> Any:
        sub_policy = ops.cast(transformation["sub_policy"], "int32")
        operation_ids = ops.take(ops.convert_to_tensor(self._operation_ids), sub_policy, axis=0)
        levels = ops.take(ops.convert_to_tensor(self._levels), sub_policy, axis=0)
        for stage in (0, 1):
            operation = operation_ids[:, stage]
            level = levels[:, stage]
            sign = ops.cast(transformation["sign"][:, stage], "float32")
            apply = transformation["apply"][:, stage]
            present = {sub_policy_[stage][0] for sub_policy_ in self.sub_policies}

            def selected(name, operation=operation, apply=apply):
                return apply & (operation == OPERATIONS.index(name))

            geometric = [name for name in GEOMETRIC_OPERATIONS if name in present]
            if geometric:
                batch = ops.shape(x)[0]
                matrix = ops.broadcast_to(
                    ops.convert_to_tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), (batch, 6)
                )
                moved = ops.zeros((batch,), "bool")
                for name in geometric:
                    mask = selected(name)
                    matrix = ops.where(
                        ops.expand_dims(mask, -1), self._matrix(name, level, sign, x), matrix
                    )
                    moved = moved | mask
                warped = self._warp(x, matrix, interpolation, fill)
                x = ops.where(image_utils.per_image(moved), warped, x)
            if geometric_only:
                continue
            for name in OPERATIONS:
                if name in present and name not in GEOMETRIC_OPERATIONS:
                    x = ops.where(
                        image_utils.per_image(selected(name)), self._pixel_op(name, x, level), x
                    )
        return x

    # -- geometric operations (PIL's affine convention) -------------------------------

    @staticmethod
    def _matrix(name: str, level: Any, sign: Any, images: Any) -> Any:
        """`(batch, 6)` PIL affine data: output corner coords -> input corner coords."""
        shape = ops.shape(images)
        height = ops.cast(shape[1], "float32")
        width = ops.cast(shape[2], "float32")
        zeros = ops.zeros_like(level)
        ones = ops.ones_like(level)
        if name in ("ShearX", "ShearY"):
            shear = sign * magnitude_to_argument(name, level)
            if name == "ShearX":
                rows = [ones, shear, zeros, zeros, ones, zeros]
            else:
                rows = [ones, zeros, zeros, shear, ones, zeros]
        elif name == "TranslateX":
            shift = sign * magnitude_to_argument(name, level, width)
            rows = [ones, zeros, shift, zeros, ones, zeros]
        elif name == "TranslateY":
            shift = sign * magnitude_to_argument(name, level, height)
            rows = [ones, zeros, zeros, zeros, ones, shift]
        else:  # Rotate: counter-clockwise about the image centre, as PIL's Image.rotate.
            angle = -sign * magnitude_to_argument(name, level) * (math.pi / 180.0)
            a, b = ops.cos(angle), ops.sin(angle)
            d, e = -ops.sin(angle), ops.cos(angle)
            c = width / 2 - a * width / 2 - b * height / 2
            f = height / 2 - d * width / 2 - e * height / 2
            rows = [a, b, c, d, e, f]
        return ops.stack(rows, axis=-1)

    @staticmethod
    def _warp(images: Any, matrix: Any, interpolation: str, fill: float) -> Any:
        x, y = image_utils.pixel_grid(images)

        def coefficient(i):
            return ops.reshape(matrix[:, i], (-1, 1, 1))

        # Pixel centres sit at +0.5 in PIL's corner coordinates.
        corner_x, corner_y = x + 0.5, y + 0.5
        source_x = coefficient(0) * corner_x + coefficient(1) * corner_y + coefficient(2) - 0.5
        source_y = coefficient(3) * corner_x + coefficient(4) * corner_y + coefficient(5) - 0.5
        return image_utils.sample(images, source_x, source_y, interpolation, fill)

    # -- pixel operations (PIL's ImageOps and ImageEnhance on [0, 255]) ---------------

    def _pixel_op(self, name: str, x: Any, level: Any) -> Any:
        if name == "AutoContrast":
            return self._auto_contrast(x)
        if name == "Invert":
            return 255.0 - x
        if name == "Equalize":
            return equalize(x)
        if name == "Solarize":
            threshold = image_utils.per_image(magnitude_to_argument(name, level))
            return ops.where(x < threshold, x, 255.0 - x)
        if name == "Posterize":
            bits = image_utils.per_image(magnitude_to_argument(name, level))
            step = ops.power(2.0, 8.0 - bits)
            return ops.where(bits >= 8, x, ops.floor(x / step) * step)
        factor = image_utils.per_image(magnitude_to_argument(name, level))
        if name == "Brightness":
            degenerate = ops.zeros_like(x)
        elif name == "Color":
            degenerate = _grayscale(x)
        elif name == "Contrast":
            degenerate = ops.round(ops.mean(_grayscale(x), axis=(1, 2, 3), keepdims=True))
        else:  # Sharpness
            degenerate = _smooth(x)
        return ops.clip(degenerate + factor * (x - degenerate), 0.0, 255.0)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "policy": self.policy,
                "value_range": self.value_range,
                "interpolation": self.interpolation,
                "fill_value": self.fill_value,
            }
        )
        return config


def _grayscale(x: Any) -> Any:
    if x.shape[-1] == 1:
        return x
    return ops.image.rgb_to_grayscale(x, data_format="channels_last")


def _smooth(x: Any) -> Any:
    """PIL's `ImageFilter.SMOOTH` (3x3, centre weight 5 of 13); borders unchanged."""
    channels = x.shape[-1]
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], "float32") / 13.0
    kernel = np.tile(kernel[:, :, None, None], (1, 1, channels, 1))
    smoothed = ops.depthwise_conv(x, ops.convert_to_tensor(kernel), padding="same")
    shape = ops.shape(x)
    rows = ops.arange(shape[1])
    cols = ops.arange(shape[2])
    interior_rows = (rows > 0) & (rows < shape[1] - 1)
    interior_cols = (cols > 0) & (cols < shape[2] - 1)
    interior = ops.expand_dims(interior_rows, 1) & ops.expand_dims(interior_cols, 0)
    return ops.where(ops.reshape(interior, (1, shape[1], shape[2], 1)), smoothed, x)


def equalize(x: Any) -> Any:
    """PIL's `ImageOps.equalize`, per image and channel, on `[0, 255]` values.

    `keras.layers.Equalization` pools one histogram over the whole batch and
    reads a data-dependent index, which XLA cannot compile; this follows PIL
    (and the TensorFlow implementation of the paper's authors) image by image:
    `lut[v] = (step // 2 + #{pixels < v}) // step` with
    `step = (#pixels - #{pixels in the last non-empty bin}) // 255`, and the
    identity when `step` is 0.
    """
    shape = ops.shape(x)
    batch, height, width, channels = shape[0], shape[1], shape[2], x.shape[-1]
    values = ops.cast(ops.clip(ops.floor(x), 0, 255), "int32")
    rows = ops.reshape(ops.transpose(values, (0, 3, 1, 2)), (batch * channels, -1))
    offsets = ops.expand_dims(ops.arange(batch * channels, dtype="int32") * 256, 1)
    histogram = ops.segment_sum(
        ops.ones_like(ops.reshape(rows, (-1,)), "float32"),
        ops.reshape(rows + offsets, (-1,)),
        num_segments=batch * channels * 256,
    )
    histogram = ops.reshape(histogram, (-1, 256))
    last_bin = 255 - ops.argmax(ops.flip(ops.cast(histogram > 0, "int32"), axis=1), axis=1)
    last_count = ops.take_along_axis(
        histogram, ops.expand_dims(ops.cast(last_bin, "int32"), 1), axis=1
    )
    total = ops.sum(histogram, axis=1, keepdims=True)
    step = ops.floor((total - last_count) / 255.0)
    below = ops.cumsum(histogram, axis=1) - histogram
    lut = ops.floor((ops.floor(step / 2.0) + below) / ops.maximum(step, 1.0))
    lut = ops.clip(lut, 0.0, 255.0)
    equalized = ops.take_along_axis(lut, rows, axis=1)
    original = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (batch * channels, -1))
    equalized = ops.where(step > 0, equalized, original)
    equalized = ops.reshape(equalized, (batch, channels, height, width))
    return ops.transpose(equalized, (0, 2, 3, 1))
