import numpy as np
import pytest
from keras import ops

from keras_regkit.layers import RandomRotate90
from tests.layers.augmentation.layer_zoo import BATCH, run_harness

X = np.random.default_rng(0).uniform(0, 255, (8, 6, 6, 2)).astype("float32")


def test_matches_numpy_rot90():
    layer = RandomRotate90(seed=0)
    transformation = layer.get_random_transformation(X)
    rotations = ops.convert_to_numpy(transformation["rotations"])
    out = ops.convert_to_numpy(layer.transform_images(X, transformation))
    for image, k, rotated in zip(X, rotations, out, strict=True):
        np.testing.assert_array_equal(rotated, np.rot90(image, k))
    # The four quarter turns are equally likely.
    many = layer.get_random_transformation(np.zeros((4000, 2, 2, 1), "float32"))
    counts = np.bincount(ops.convert_to_numpy(many["rotations"]), minlength=4)
    np.testing.assert_allclose(counts / 4000, 0.25, atol=0.03)
    check_masks_turn_with_images()
    with pytest.raises(ValueError, match="square images"):
        RandomRotate90(seed=0)(np.zeros((2, 4, 6, 1), "float32"))


def check_masks_turn_with_images():
    masks = np.arange(8 * 36).reshape(8, 6, 6, 1).astype("int32")
    first = RandomRotate90(seed=3)({"images": X, "segmentation_masks": masks, "labels": np.ones(8)})
    images = ops.convert_to_numpy(first["images"])
    turned = ops.convert_to_numpy(first["segmentation_masks"])
    for image, mask, out_image, out_mask in zip(X, masks, images, turned, strict=True):
        k = next(k for k in range(4) if np.array_equal(np.rot90(image, k), out_image))
        np.testing.assert_array_equal(out_mask, np.rot90(mask, k))
    np.testing.assert_array_equal(ops.convert_to_numpy(first["labels"]), np.ones(8))


def test_harness():
    run_harness(RandomRotate90, BATCH)
