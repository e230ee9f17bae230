import math

import numpy as np
import pytest
from keras import ops

from keras_regkit.layers import GridMask
from tests.layers.augmentation.layer_zoo import BATCH, run_harness

X = np.random.default_rng(0).uniform(1, 255, (4, 20, 20, 3)).astype("float32")


def reference_mask(height, width, d, removed, offset_x, offset_y):
    """The paper's construction: in each d x d unit, a `removed` x `removed` square.

    Squares start where (coordinate + offset) is a multiple of d.
    """
    mask = np.zeros((height, width), bool)
    for top in range(-offset_y, height, d):
        for left in range(-offset_x, width, d):
            mask[max(top, 0) : max(top + removed, 0), max(left, 0) : max(left + removed, 0)] = True
    return mask


def test_matches_the_papers_grid():
    layer = GridMask(fill_value=-1.0)
    units = np.array([5, 7, 8, 20])
    removed = np.array([2, 4, 3, 9])
    offsets = np.array([(0, 0), (3, 1), (7, 2), (11, 19)]) % units[:, None]
    transformation = {
        "unit_size": units.astype("float32"),
        # A ratio just under removed / d keeps float rounding away from the edges.
        "ratio": ((removed - 0.5) / units).astype("float32"),
        "offset_x": offsets[:, 0].astype("float32"),
        "offset_y": offsets[:, 1].astype("float32"),
        "angle": np.zeros(4, "float32"),
        "apply": np.array([True, True, True, True]),
    }
    out = ops.convert_to_numpy(layer.transform_images(X, transformation))
    for i in range(4):
        mask = reference_mask(20, 20, units[i], removed[i], *offsets[i])
        np.testing.assert_array_equal(out[i] == -1.0, np.repeat(mask[..., None], 3, -1))
        np.testing.assert_array_equal(out[i][~mask], X[i][~mask])


def test_rotated_grid_and_drop_rate():
    # A quarter turn of the grid about the centre of a square image turns the mask:
    # turned[i, j] = straight[n - 1 - j, i], numpy's clockwise np.rot90(straight, -1).
    layer = GridMask()
    base = {
        "unit_size": np.array([5.0]),
        "ratio": np.array([0.45]),
        # Half-pixel offsets (and a 2.25-pixel side) keep the float error of
        # cos(pi / 2) away from the square edges.
        "offset_x": np.array([0.5]),
        "offset_y": np.array([0.5]),
        "apply": np.array([True]),
    }
    x = X[:1]
    straight = GridMask.grid_mask(x, dict(base, angle=np.array([0.0])))
    turned = GridMask.grid_mask(x, dict(base, angle=np.array([math.pi / 2])))
    np.testing.assert_array_equal(
        ops.convert_to_numpy(turned)[0], np.rot90(ops.convert_to_numpy(straight)[0], -1)
    )
    # The expected removed fraction is ratio ** 2 whatever the rotation and offsets.
    layer = GridMask(ratio_factor=0.5, unit_size_factor=(0.1, 0.3), rotation_factor=0.5, seed=0)
    out = ops.convert_to_numpy(layer(np.ones((200, 32, 32, 1), "float32")))
    assert abs((out == 0).mean() - 0.25) < 0.02
    assert np.all(ops.convert_to_numpy(GridMask(factor=0.0, seed=0)(X)) == X)


def test_harness():
    run_harness(GridMask, BATCH)


def test_invalid_arguments():
    cases = [
        ({"ratio_factor": 1.5}, "ratio_factor"),
        ({"ratio_factor": (0.6, 0.2)}, "ratio_factor"),
        ({"unit_size_factor": 0.0}, "unit_size_factor"),
        ({"rotation_factor": 2.0}, "rotation_factor"),
        ({"fill_value": "black"}, "fill_value"),
        ({"factor": -0.1}, "factor"),
    ]
    for kwargs, argument in cases:
        with pytest.raises(ValueError, match=f"Invalid value for argument `{argument}`"):
            GridMask(**kwargs)
