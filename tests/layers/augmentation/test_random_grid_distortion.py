import numpy as np
import pytest
from keras import ops
from scipy import ndimage

from keras_regkit.layers import RandomGridDistortion
from tests.layers.augmentation.layer_zoo import BATCH, run_harness

X = np.random.default_rng(0).uniform(0, 255, (2, 12, 15, 2)).astype("float32")


def numpy_map(steps, size):
    """Output knots every (size - 1) / n pixels; source knots at the normalized
    cumulative step sizes; linear in between."""
    n = len(steps)
    out_knots = np.arange(n + 1) * (size - 1) / n
    source_knots = np.concatenate([[0.0], np.cumsum(steps) / np.sum(steps) * (size - 1)])
    return np.interp(np.arange(size), out_knots, source_knots)


def test_matches_numpy_remap():
    rng = np.random.default_rng(1)
    x_steps = 1 + rng.uniform(-0.4, 0.4, (2, 4))
    y_steps = 1 + rng.uniform(-0.4, 0.4, (2, 4))
    transformation = {
        "x_steps": x_steps.astype("float32"),
        "y_steps": y_steps.astype("float32"),
        "apply": np.array([True, True]),
    }
    for interpolation, order in (("bilinear", 1), ("nearest", 0)):
        layer = RandomGridDistortion(num_steps=4, interpolation=interpolation)
        out = ops.convert_to_numpy(layer.transform_images(X, transformation))
        for i in range(2):
            rows = numpy_map(y_steps[i], 12)
            cols = numpy_map(x_steps[i], 15)
            grid = np.meshgrid(rows, cols, indexing="ij")
            ref = np.stack(
                [ndimage.map_coordinates(X[i, ..., c], grid, order=order) for c in range(2)], -1
            )
            if order == 1:
                np.testing.assert_allclose(out[i], ref, atol=1e-2)
            else:  # nearest: exact up to ties at half pixels
                assert np.mean(out[i] != ref) < 0.02
    # No distortion is the identity; segmentation masks follow with nearest sampling.
    layer = RandomGridDistortion(distort_limit=0.0, seed=0)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(X)), X, atol=1e-2)
    masks = np.random.default_rng(2).integers(0, 4, (2, 12, 15, 1)).astype("int32")
    layer = RandomGridDistortion(num_steps=4, interpolation="nearest")
    out = layer.transform_segmentation_masks(masks, transformation)
    ref = layer.transform_images(masks.astype("float32"), transformation)
    np.testing.assert_array_equal(ops.convert_to_numpy(out), ops.convert_to_numpy(ref))


def test_harness():
    run_harness(RandomGridDistortion, BATCH)


def test_invalid_arguments():
    cases = [
        ({"num_steps": 0}, "num_steps"),
        ({"distort_limit": 1.0}, "distort_limit"),
        ({"distort_limit": (0.2, -0.2)}, "distort_limit"),
        ({"interpolation": "bicubic"}, "interpolation"),
        ({"factor": -1}, "factor"),
    ]
    for kwargs, argument in cases:
        with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
            RandomGridDistortion(**kwargs)
