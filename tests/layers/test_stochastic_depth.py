import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.layers import DropPath, StochasticDepth

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 4, 3)).astype("float32")
SHORTCUT = RNG.normal(size=(16, 4, 3)).astype("float32")


def test_harness_branch_form():
    testing.run_layer_test(
        StochasticDepth,
        {"rate": 0.5, "seed": 1},
        X,
        expected_output_shape=X.shape,
        expected_output=X,
        random=True,
    )


def test_harness_residual_form():
    testing.run_layer_test(
        StochasticDepth,
        {"rate": 0.5, "seed": 1},
        [SHORTCUT, X],
        expected_output_shape=X.shape,
        expected_output=SHORTCUT + X,
        random=True,
    )


def _dropped_examples(out, x):
    """Per example: True if its branch was dropped, after checking it is all-or-nothing."""
    flat_out, flat_x = out.reshape(len(out), -1), x.reshape(len(x), -1)
    dropped = np.all(flat_out == 0, axis=1)
    return dropped, flat_out[~dropped], flat_x[~dropped]


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_drops_whole_examples_at_rate_and_rescales(rate):
    n = 20000
    x = np.abs(RNG.normal(size=(n, 2, 3))).astype("float32") + 0.1
    out = testing.to_numpy(StochasticDepth(rate, seed=2)(x, training=True))
    dropped, kept_out, kept_x = _dropped_examples(out, x)
    assert abs(dropped.mean() - rate) < 4 * np.sqrt(rate * (1 - rate) / n)
    # Kept branches are whole and scaled by 1 / (1 - rate): the mean is preserved.
    testing.assert_allclose(kept_out, kept_x / (1 - rate), rtol=1e-6)


def test_residual_form_adds_the_shortcut():
    n = 20000
    shortcut = RNG.normal(size=(n, 2, 3)).astype("float32")
    branch = np.abs(RNG.normal(size=(n, 2, 3))).astype("float32") + 0.1
    out = testing.to_numpy(StochasticDepth(0.3, seed=3)([shortcut, branch], training=True))
    residual = (out - shortcut).reshape(n, -1)
    shortcut, branch = shortcut.reshape(n, -1), branch.reshape(n, -1)
    dropped = np.all(np.abs(residual) < 1e-6, axis=1)
    assert 0.28 < dropped.mean() < 0.32
    testing.assert_allclose(residual[~dropped], branch[~dropped] / 0.7, rtol=1e-5, atol=1e-5)
    testing.assert_allclose(residual[dropped], 0.0, atol=1e-6)


def test_same_seed_same_decisions_in_both_forms():
    a = testing.to_numpy(StochasticDepth(0.5, seed=4)(X, training=True))
    b = testing.to_numpy(StochasticDepth(0.5, seed=4)([SHORTCUT, X], training=True))
    testing.assert_allclose(b - SHORTCUT, a, atol=1e-6)


def test_identity_at_inference():
    layer = StochasticDepth(0.9, seed=1)
    testing.assert_allclose(layer(X), X, atol=0)
    testing.assert_allclose(layer([SHORTCUT, X], training=False), SHORTCUT + X, atol=0)
    testing.assert_allclose(StochasticDepth(0.0, seed=1)(X, training=True), X, atol=0)


def test_in_a_residual_block_fit():
    def build_model():
        inputs = keras.Input((6, 6, 4))
        branch = keras.layers.Conv2D(4, 3, padding="same")(inputs)
        x = StochasticDepth(0.2, seed=1)([inputs, branch])
        branch = keras.layers.Conv2D(4, 3, padding="same")(x)
        x = keras.layers.Add()([x, DropPath(0.2, seed=2)(branch)])
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))

    x = RNG.normal(size=(8, 6, 6, 4)).astype("float32")
    model = build_model()
    model.compile("adam", "mse", jit_compile=testing.backend() != "torch")
    history = model.fit(x, np.zeros((8, 4), "float32"), batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    testing.run_model_saving_test(model, x)


def test_drop_path_alias():
    assert DropPath is StochasticDepth


def test_bad_list_length():
    with pytest.raises(ValueError, match=r"\[shortcut, branch\] of 2 tensors"):
        StochasticDepth(0.1)([X, X, X])


@pytest.mark.parametrize("rate", [-0.1, 1.0, "0.1", True, None])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match=r"`rate`: expected a float in \[0, 1\). Received"):
        StochasticDepth(rate)


@pytest.mark.parametrize("seed", [1.5, "1"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match=r"`seed`: expected an int or None >= 0. Received"):
        StochasticDepth(0.1, seed=seed)
