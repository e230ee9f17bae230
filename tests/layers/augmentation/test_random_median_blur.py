import numpy as np
import pytest
from keras import ops
from scipy import ndimage

from keras_regkit.layers import RandomMedianBlur
from tests.layers.augmentation.layer_zoo import BATCH, run_harness

X = np.random.default_rng(0).uniform(0, 255, (4, 10, 9, 3)).astype("float32")


def test_matches_scipy_median_filter():
    for size in (3, 5):
        out = ops.convert_to_numpy(RandomMedianBlur(kernel_size=size, seed=0)(X))
        # NumPy's "reflect" padding is SciPy's "mirror".
        ref = ndimage.median_filter(X, size=(1, size, size, 1), mode="mirror")
        np.testing.assert_array_equal(out, ref)
    layer = RandomMedianBlur(factor=0.5, seed=1)
    t = layer.get_random_transformation(X)
    out = ops.convert_to_numpy(layer.transform_images(X, t))
    ref = ndimage.median_filter(X, size=(1, 3, 3, 1), mode="mirror")
    for applied, image, result, filtered in zip(
        ops.convert_to_numpy(t["apply"]), X, out, ref, strict=True
    ):
        np.testing.assert_array_equal(result, filtered if applied else image)
    # Salt-and-pepper noise on a flat image disappears.
    flat = np.full((1, 8, 8, 1), 100.0, "float32")
    flat[0, 3, 4, 0] = 255.0
    np.testing.assert_array_equal(ops.convert_to_numpy(RandomMedianBlur(seed=0)(flat)), 100.0)


def test_harness():
    run_harness(RandomMedianBlur, BATCH)


def test_invalid_arguments():
    for value in (2, 1, 3.0):
        with pytest.raises(ValueError, match="Invalid value for argument `kernel_size`"):
            RandomMedianBlur(kernel_size=value)
    with pytest.raises(ValueError, match="Invalid value for argument `factor`"):
        RandomMedianBlur(factor=1.1)
