import numpy as np
import pytest
from keras import ops

from keras_regkit.layers import RandomTranspose
from tests.layers.augmentation.layer_zoo import BATCH, run_harness

X = np.random.default_rng(0).uniform(0, 255, (8, 6, 6, 2)).astype("float32")


def test_matches_numpy_transpose():
    layer = RandomTranspose(factor=0.5, seed=0)
    transformation = layer.get_random_transformation(X)
    flags = ops.convert_to_numpy(transformation["transpose"])
    out = ops.convert_to_numpy(layer.transform_images(X, transformation))
    for image, flag, result in zip(X, flags, out, strict=True):
        np.testing.assert_array_equal(result, np.transpose(image, (1, 0, 2)) if flag else image)
    for factor in (0.0, 0.3, 1.0):
        many = RandomTranspose(factor=factor, seed=1).get_random_transformation(
            np.zeros((4000, 2, 2, 1), "float32")
        )
        rate = ops.convert_to_numpy(many["transpose"]).mean()
        assert abs(rate - factor) < 0.03, (factor, rate)


def test_harness():
    run_harness(RandomTranspose, BATCH)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="Invalid value for argument `factor`"):
        RandomTranspose(factor=1.5)
    with pytest.raises(ValueError, match="square images"):
        RandomTranspose(seed=0)(np.zeros((2, 4, 6, 1), "float32"))
