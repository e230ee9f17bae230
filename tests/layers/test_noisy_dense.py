import keras
import numpy as np
import pytest
from scipy import stats

from keras_regkit import testing
from keras_regkit.layers import NoisyDense

X = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")


def test_harness():
    testing.run_layer_test(
        NoisyDense,
        {
            "units": 3,
            "stddev": 0.1,
            "seed": 1,
            "activation": "relu",
            "kernel_initializer": keras.initializers.GlorotUniform(seed=0),
            "kernel_regularizer": "l2",
            "kernel_constraint": "max_norm",
        },
        X,
        expected_output_shape=(8, 3),
        random=True,
    )


def test_inference_is_exactly_dense():
    layer = NoisyDense(5, stddev=1.0, activation="tanh", seed=1)
    layer.build((None, 4))
    layer.bias.assign(np.linspace(-1, 1, 5).astype("float32"))
    dense = keras.layers.Dense(5, activation="tanh")
    dense.build((None, 4))
    dense.set_weights(layer.get_weights())
    testing.assert_allclose(layer(X), dense(X), atol=0, rtol=0)
    testing.assert_allclose(layer(X, training=False), dense(X), atol=0, rtol=0)


def test_noise_is_gaussian_with_stddev():
    # With x = I (and no bias) output row i is kernel row i + noise row i.
    stddev = 0.05
    layer = NoisyDense(64, stddev=stddev, use_bias=False, seed=2)
    layer.build((None, 64))
    kernel = testing.to_numpy(layer.kernel)
    noise = testing.to_numpy(layer(np.eye(64, dtype="float32"), training=True)) - kernel
    # 4096 draws: the standard error of the std is ~1.1%.
    assert abs(noise.mean()) < 4 * stddev / 64
    assert abs(noise.std() / stddev - 1) < 0.05
    assert stats.kstest(noise.ravel() / stddev, "norm").pvalue > 1e-3
    # A new draw at every training call.
    again = testing.to_numpy(layer(np.eye(64, dtype="float32"), training=True)) - kernel
    assert np.corrcoef(noise.ravel(), again.ravel())[0, 1] < 0.1


def test_output_variance_matches_closed_form():
    # y = x (W + E): Var[y_j] = stddev^2 * ||x||^2 for every unit; one draw per call
    # is shared by the batch, so the 8 examples are correlated but unbiased.
    stddev, n = 0.2, 200
    layer = NoisyDense(3, stddev=stddev, seed=3)
    layer.build((None, 4))
    outs = np.stack([testing.to_numpy(layer(X, training=True)) for _ in range(n)])
    clean = testing.to_numpy(layer(X))
    variance = stddev**2 * np.sum(X**2, axis=1, keepdims=True) * np.ones((1, 3))
    assert np.all(np.abs(outs.mean(axis=0) - clean) < 4 * np.sqrt(variance / n))
    testing.assert_allclose(outs.var(axis=0), variance, rtol=0.35)


def test_stored_weights_never_drift():
    layer = NoisyDense(3, stddev=0.5, seed=4)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layer(inputs))
    before = [testing.to_numpy(w) for w in layer.weights]
    for _ in range(3):
        layer(X, training=True)
    # Zero learning rate: only the noise could move the weights, and it must not.
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "mse")
    history = model.fit(X, np.ones((8, 3), "float32"), epochs=3, batch_size=4, verbose=0)
    after = [testing.to_numpy(w) for w in layer.weights]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    # The training loss was computed with noise: it differs from the clean loss.
    clean_loss = model.evaluate(X, np.ones((8, 3), "float32"), verbose=0)
    assert not np.allclose(history.history["loss"], clean_loss, rtol=1e-6, atol=0)


def test_linear_fit_converges_to_the_clean_solution():
    # For a linear model and MSE, E_noise[loss] = clean loss + stddev^2 * E||x||^2,
    # a constant in the weights: weight noise leaves the minimiser unchanged, and
    # SGD on noisy forward passes still finds it.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(256, 4)).astype("float32")
    w_true = rng.normal(size=(4, 1)).astype("float32")
    y = x @ w_true
    model = keras.Sequential([keras.Input((4,)), NoisyDense(1, stddev=0.05, seed=6)])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    testing.assert_allclose(model.layers[0].kernel, w_true, atol=0.05)


@pytest.mark.parametrize("stddev", [-0.1, "0.1", True, float("inf"), None])
def test_bad_stddev(stddev):
    with pytest.raises(ValueError, match=r"`stddev`: expected a non-negative float. Received"):
        NoisyDense(3, stddev=stddev)


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match=r"`seed`: expected an int or None. Received"):
        NoisyDense(3, seed=seed)
