import warnings

import keras
import numpy as np
import pytest

from keras_regkit import testing
from keras_regkit.layers import WeightNormalization

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 4)).astype("float32")
V = RNG.normal(size=(4, 3)).astype("float32")
B = RNG.normal(size=(3,)).astype("float32")
G = RNG.uniform(0.5, 2.0, size=(3,)).astype("float32")


def weight_normalized_dense(data_init=False, dtype=None, **kwargs):
    const = keras.initializers.Constant
    dense = keras.layers.Dense(
        3, kernel_initializer=const(V), bias_initializer=const(B), dtype=dtype
    )
    return WeightNormalization(dense, data_init=data_init, dtype=dtype, **kwargs)


def test_harness():
    # g starts at ||v||, so the wrapped layer computes x v + b.
    testing.run_layer_test(
        weight_normalized_dense,
        {"data_init": False},
        X,
        expected_output_shape=(6, 3),
        expected_output=X @ V + B,
        atol=1e-5,
    )


def test_dense_forward_matches_formula():
    layer = weight_normalized_dense()
    layer.build((None, 4))
    layer.g.assign(G)
    w = G * V / np.linalg.norm(V, axis=0)
    testing.assert_allclose(layer(X), X @ w + B, atol=1e-5, rtol=1e-5)


def test_conv2d_forward_matches_keras_conv_with_normalized_kernel():
    x = RNG.normal(size=(2, 5, 5, 2)).astype("float32")
    conv = keras.layers.Conv2D(3, 3, activation="tanh")
    layer = WeightNormalization(conv, data_init=False)
    layer.build(x.shape)
    g = RNG.uniform(0.5, 2.0, size=(3,)).astype("float32")
    layer.g.assign(g)
    v = testing.to_numpy(conv.kernel)
    w = g * v / np.sqrt((v**2).sum(axis=(0, 1, 2)))
    reference = keras.layers.Conv2D(3, 3, activation="tanh")
    reference.build(x.shape)
    reference.set_weights([w, testing.to_numpy(conv.bias)])
    testing.assert_allclose(layer(x), reference(x), atol=1e-5, rtol=1e-5)


def test_data_dependent_initialization():
    layer = weight_normalized_dense(data_init=True)
    layer.layer.activation = keras.activations.get("relu")
    layer.build((None, 4))
    out = testing.to_numpy(layer(X))
    t = X @ (V / np.linalg.norm(V, axis=0))
    scale = 1 / np.sqrt(t.var(0) + 1e-10)
    testing.assert_allclose(layer.g, scale, atol=1e-5, rtol=1e-5)
    testing.assert_allclose(layer.layer.bias, -t.mean(0) * scale, atol=1e-5, rtol=1e-5)
    # Pre-activations are standardized; the activation is still applied.
    testing.assert_allclose(out, np.maximum((t - t.mean(0)) * scale, 0), atol=1e-5, rtol=1e-5)
    assert int(testing.to_numpy(layer.data_initialized)) == 1
    # Only the first call initializes.
    out_again = testing.to_numpy(layer(X[:3] * 3.0))
    testing.assert_allclose(out_again, np.maximum((3 * t[:3] - t.mean(0)) * scale, 0), atol=1e-4)


def test_reload_keeps_g_v_and_initialization():
    inputs = keras.Input((4,))
    outputs = weight_normalized_dense(data_init=True)(inputs)
    model = keras.Model(inputs, outputs)
    model(X)  # data-dependent initialization, eagerly
    model.compile(optimizer="adam", loss="mse", jit_compile=testing.jit_compile_options()[-1])
    model.fit(X, np.ones((6, 3), "float32"), epochs=1, batch_size=6, verbose=0)
    revived = testing.run_model_saving_test(model, X)
    layer, revived_layer = model.layers[1], revived.layers[1]
    testing.assert_allclose(revived_layer.g, layer.g, atol=0, rtol=0)
    testing.assert_allclose(revived_layer.layer.kernel, layer.layer.kernel, atol=0, rtol=0)
    assert revived_layer._data_initialized
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reloaded: no re-initialization, no warning
        revived.compile(optimizer="adam", loss="mse")
        revived.fit(X, np.ones((6, 3), "float32"), epochs=1, batch_size=6, verbose=0)


def test_gradients_reach_g_and_v():
    model = keras.Sequential([keras.Input((4,)), weight_normalized_dense()])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [testing.to_numpy(w) for w in model.trainable_weights]
    model.fit(X, np.ones((6, 3), "float32"), epochs=1, batch_size=6, verbose=0)
    after = [testing.to_numpy(w) for w in model.trainable_weights]
    assert len(before) == 3  # v, bias, g
    for a, b in zip(before, after, strict=True):
        assert np.abs(a - b).max() > 1e-5


def test_layer_without_kernel_raises():
    with pytest.raises(ValueError, match=r"Invalid value for argument `layer`: expected a layer"):
        WeightNormalization(keras.layers.Dropout(0.1))(X)
    normalization = keras.layers.LayerNormalization()
    normalization.build((None, 4))
    with pytest.raises(ValueError, match=r"argument `layer`: expected a layer with a `kernel`"):
        WeightNormalization(normalization)
    with pytest.raises(ValueError, match=r"argument `layer`: expected a layer with a `kernel`"):
        WeightNormalization(keras.layers.Conv2DTranspose(2, 3))
    with pytest.raises(ValueError, match=r"argument `layer`: expected a Keras layer"):
        WeightNormalization("dense")
    with pytest.raises(ValueError, match=r"argument `data_init`: expected a bool"):
        WeightNormalization(keras.layers.Dense(2), data_init=1)


def test_fit_without_an_eager_call_initializes_on_torch_and_warns_elsewhere():
    model = keras.Sequential([keras.Input((4,)), weight_normalized_dense(data_init=True)])
    model.compile(optimizer="sgd", loss="mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, np.ones((6, 3), "float32"), epochs=1, batch_size=6, verbose=0)
    warned = any("data-dependent initialization" in str(w.message) for w in caught)
    initialized = int(testing.to_numpy(model.layers[0].data_initialized))
    # The PyTorch backend runs the train step eagerly; TF and JAX compile it.
    if testing.backend() == "torch":
        assert (initialized, warned) == (1, False)
    else:
        assert (initialized, warned) == (0, True)
