"""Behaviour every image augmentation layer shares: data formats, single images,
dict inputs, replaying a transformation."""

import numpy as np
import pytest
from keras import ops

from keras_regkit import testing
from keras_regkit.layers import GridMask, RandomGridDistortion, RandomRotate90
from tests.layers.augmentation.layer_zoo import BATCH as IMAGES
from tests.layers.augmentation.layer_zoo import CONFIGS, IMAGE_LAYERS

# The data-format, single-image and replay logic lives in the shared base class:
# a pixel layer and two geometric layers cover it (AutoAugment: test_auto_augment.py).
REPRESENTATIVES = [(cls, CONFIGS[cls]) for cls in (GridMask, RandomGridDistortion, RandomRotate90)]


def test_data_format_single_images_and_replay():
    channels_first = np.transpose(IMAGES, (0, 3, 1, 2))
    for cls, kwargs in REPRESENTATIVES:
        name = cls.__name__
        expected = ops.convert_to_numpy(cls(seed=4, **kwargs)(IMAGES, training=True))
        out = cls(seed=4, data_format="channels_first", **kwargs)(channels_first, training=True)
        out = np.transpose(ops.convert_to_numpy(out), (0, 2, 3, 1))
        testing.assert_allclose(out, expected, atol=1e-3, err_msg=name)
        # get_random_transformation + transform_images is the call, replayable.
        layer = cls(seed=4, **kwargs)
        transformation = layer.get_random_transformation(IMAGES)
        replayed = layer.transform_images(IMAGES, transformation)
        testing.assert_allclose(replayed, expected, atol=1e-3, err_msg=name)
        assert layer.get_random_transformation(IMAGES, training=False) is None
        # One image (rank 3) is a batch of one.
        single = cls(seed=4, **kwargs)(IMAGES[0], training=True)
        layer = cls(seed=4, **kwargs)
        batch = layer.transform_images(IMAGES[:1], layer.get_random_transformation(IMAGES[:1]))
        testing.assert_allclose(single, batch[0], atol=1e-3, err_msg=name)


def test_dict_inputs():
    labels = np.arange(4)
    boxes = {"boxes": np.zeros((4, 1, 4), "float32"), "labels": np.zeros((4, 1), "int32")}
    out = GridMask(seed=0)({"images": IMAGES, "labels": labels, "bounding_boxes": boxes})
    np.testing.assert_array_equal(ops.convert_to_numpy(out["labels"]), labels)
    assert set(out["bounding_boxes"]) == {"boxes", "labels"}
    with pytest.raises(ValueError, match="does not transform `bounding_boxes`"):
        RandomRotate90(seed=0)({"images": IMAGES, "bounding_boxes": boxes})
    with pytest.raises(ValueError, match="Received keys"):
        GridMask()({"image": IMAGES})
    with pytest.raises(ValueError, match="rank 3"):
        GridMask()(IMAGES[0, ..., 0])


def test_invalid_data_format():
    for cls, kwargs in IMAGE_LAYERS:
        with pytest.raises(ValueError, match="Invalid value for argument `data_format`"):
            cls(data_format="NHWC", **kwargs)
