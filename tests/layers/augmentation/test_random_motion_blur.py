import math

import numpy as np
import pytest
from keras import ops
from scipy import ndimage

from keras_regkit.layers import RandomMotionBlur
from tests.layers.augmentation.layer_zoo import BATCH, run_harness

X = np.random.default_rng(0).uniform(0, 255, (3, 12, 14, 2)).astype("float32")


def numpy_line_kernel(length, degrees, size):
    """Anti-aliased segment through the centre: weight max(0, 1 - distance)."""
    half = size // 2
    theta = math.radians(degrees)
    direction = np.array([math.cos(theta), -math.sin(theta)])  # (x, y), rows grow down
    kernel = np.zeros((size, size))
    r = (length - 1) / 2
    for row in range(size):
        for col in range(size):
            p = np.array([col - half, row - half])
            t = np.clip(p @ direction, -r, r)
            kernel[row, col] = max(0.0, 1 - np.linalg.norm(p - t * direction))
    return kernel / kernel.sum()


def blur(layer, lengths, degrees):
    transformation = {
        "length": np.array(lengths, "float32"),
        "angle": np.radians(np.array(degrees, "float32")),
        "apply": np.ones(len(lengths), bool),
    }
    return ops.convert_to_numpy(layer.transform_images(X, transformation))


def test_horizontal_and_vertical_lines_are_box_filters():
    out = blur(RandomMotionBlur(kernel_size=7), [5, 7, 3], [0, 90, 180])
    # NumPy's "reflect" padding is SciPy's "mirror".
    np.testing.assert_allclose(
        out[0], ndimage.uniform_filter1d(X[0], 5, axis=1, mode="mirror"), atol=1e-3
    )
    np.testing.assert_allclose(
        out[1], ndimage.uniform_filter1d(X[1], 7, axis=0, mode="mirror"), atol=1e-3
    )
    np.testing.assert_allclose(
        out[2], ndimage.uniform_filter1d(X[2], 3, axis=1, mode="mirror"), atol=1e-3
    )


def test_oblique_lines_match_numpy_convolution():
    lengths, degrees = [7, 5, 7], [30, 135, 71]
    out = blur(RandomMotionBlur(kernel_size=(3, 7)), lengths, degrees)
    for image, result, length, angle in zip(X, out, lengths, degrees, strict=True):
        kernel = numpy_line_kernel(length, angle, 7)
        ref = np.stack(
            [ndimage.correlate(image[..., c], kernel, mode="mirror") for c in range(2)], -1
        )
        np.testing.assert_allclose(result, ref, atol=1e-3)
    # Random draws: odd lengths in the range, angles in the range, factor as probability.
    layer = RandomMotionBlur(kernel_size=(3, 9), angle_range=(10, 20), factor=0.5, seed=0)
    t = layer.get_random_transformation(np.zeros((2000, 4, 4, 1), "float32"))
    lengths = ops.convert_to_numpy(t["length"])
    assert set(np.unique(lengths)) == {3, 5, 7, 9}
    angles = np.degrees(ops.convert_to_numpy(t["angle"]))
    assert angles.min() >= 10 - 1e-4 and angles.max() <= 20 + 1e-4
    assert abs(ops.convert_to_numpy(t["apply"]).mean() - 0.5) < 0.04


def test_harness():
    run_harness(RandomMotionBlur, BATCH)


def test_invalid_arguments():
    cases = [
        ({"kernel_size": 4}, "kernel_size"),
        ({"kernel_size": (7, 3)}, "kernel_size"),
        ({"angle_range": (0, 400)}, "angle_range"),
        ({"factor": 2}, "factor"),
    ]
    for kwargs, argument in cases:
        with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
            RandomMotionBlur(**kwargs)
